/* duet install: puts duet's netboot tree under TFTP_ROOT/duet, writes the
 * dnsmasq snippet that boots classroom PCs into it (proxy-DHCP by default,
 * next to the school's DHCP server) or, where LTSP's dnsmasq already
 * answers the network, adds duet to LTSP's iPXE menu; a starter duet.conf
 * when there is none. Idempotent: a second run changes nothing and says so.
 * --dry-run says what would change; --uninstall takes it all out again.
 * docs/duet-install.md. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "duet.h"
#include "install.h"
#include "util.h"

#define DNSMASQ_DIR_DEFAULT "/etc/dnsmasq.d"
#define SNIPPET_NAME "duet.conf"
#define LTSP_DNSMASQ_NAME "ltsp-dnsmasq.conf"
/* Where --replace-ltsp-dnsmasq moves LTSP's file: dnsmasq's conf-dir skips
 * names that start with a dot. */
#define LTSP_DNSMASQ_ASIDE ".ltsp-dnsmasq.conf.duet-replaced"
/* Every snippet duet writes says so (the templates' header). */
#define SNIPPET_SIGNATURE "Written from duet's netboot/dnsmasq-duet-"

void install_change(struct install *in, const char *verb, const char *fmt, ...)
{
	va_list ap;

	in->changes++;
	printf("%s%s ", in->dry_run ? "would " : "", verb);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void install_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

int install_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("duet: install: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

int write_if_different(struct install *in, const char *path, const char *text, const char *why)
{
	size_t len = strlen(text);
	int same = file_has_content(path, text, len);
	if (same < 0)
		return install_error("%s: %s", path, strerror(-same));
	if (same)
		return 0;
	install_change(in, "write", "%s%s%s%s", path, why ? " (" : "", why ? why : "", why ? ")" : "");
	if (in->dry_run)
		return 1;
	int err = write_file_atomic(path, text, len, 0644);
	if (err < 0)
		return install_error("%s: %s", path, strerror(-err));
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: duet install [OPTIONS]\n\n"
		"Puts duet's netboot tree under TFTP_ROOT/duet and makes classroom PCs boot it:\n"
		"a dnsmasq snippet (proxy-DHCP next to the school's DHCP server by default) or,\n"
		"where LTSP's dnsmasq already answers the network, an entry in LTSP's iPXE menu.\n"
		"Changes only what differs; a second run changes nothing.\n\n"
		"Options:\n"
		"  --from DIR              the netboot tree (holding duet/vmlinuz); default: the\n"
		"                          build's (build/netboot next to bin/duet), else\n"
		"                          /usr/lib/duet/netboot\n"
		"  --tftp-root DIR         the TFTP root (default: [server] tftp-root, /srv/tftp)\n"
		"  --dhcp proxy|full|none  proxy: proxy-DHCP next to the school's DHCP server (the\n"
		"                          default); full: dnsmasq hands out addresses (--range);\n"
		"                          none: no dnsmasq snippet\n"
		"  --subnet A.B.C.D/NN     the classroom network (default: the subnet of the\n"
		"                          interface holding the server's address)\n"
		"  --range START,END       the addresses --dhcp full hands out\n"
		"  --pxe-boot ipxe|pxelinux  what a plain PXE ROM gets: duet/undionly.kpxe (iPXE:\n"
		"                          HTTP, per-PC scripts; the default) or duet/pxelinux.0\n"
		"  --dnsmasq-dir DIR       where the snippet goes (default " DNSMASQ_DIR_DEFAULT
		"), as " SNIPPET_NAME "\n"
		"  --replace-ltsp-dnsmasq  write the snippet even where LTSP's " LTSP_DNSMASQ_NAME
		"\n"
		"                          is, moving that aside (one dnsmasq answers a subnet)\n"
		"  --restart               restart dnsmasq (systemctl) when its configuration changed\n"
		"  -n, --dry-run           print what would change, change nothing\n"
		"  --uninstall             remove what install added (the tree's files, the\n"
		"                          snippet, the LTSP menu entry); the admin's files stay\n"
		"  -h, --help              this help\n\n"
		"See docs/duet-install.md.\n");
}

struct options {
	const char *from, *tftp_root, *dnsmasq_dir, *subnet, *range;
	enum dhcp_mode dhcp;
	bool dhcp_given;
	const char *pxe_boot;
	bool replace_ltsp, restart, uninstall;
};

static int parse_options(int argc, char **argv, struct options *o, struct install *in)
{
	enum { OPT_FROM = 256, OPT_TFTP_ROOT, OPT_DHCP, OPT_SUBNET, OPT_RANGE, OPT_PXE_BOOT,
	       OPT_DNSMASQ_DIR, OPT_REPLACE_LTSP, OPT_RESTART, OPT_UNINSTALL };
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, OPT_FROM },
		{ "tftp-root", required_argument, NULL, OPT_TFTP_ROOT },
		{ "dhcp", required_argument, NULL, OPT_DHCP },
		{ "subnet", required_argument, NULL, OPT_SUBNET },
		{ "range", required_argument, NULL, OPT_RANGE },
		{ "pxe-boot", required_argument, NULL, OPT_PXE_BOOT },
		{ "dnsmasq-dir", required_argument, NULL, OPT_DNSMASQ_DIR },
		{ "replace-ltsp-dnsmasq", no_argument, NULL, OPT_REPLACE_LTSP },
		{ "restart", no_argument, NULL, OPT_RESTART },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "uninstall", no_argument, NULL, OPT_UNINSTALL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct options){ .dnsmasq_dir = DNSMASQ_DIR_DEFAULT, .dhcp = DHCP_PROXY,
			       .pxe_boot = "duet/undionly.kpxe" };
	while ((c = getopt_long(argc, argv, "nh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FROM:
			o->from = optarg;
			break;
		case OPT_TFTP_ROOT:
			o->tftp_root = optarg;
			break;
		case OPT_DHCP:
			o->dhcp_given = true;
			if (!strcmp(optarg, "proxy"))
				o->dhcp = DHCP_PROXY;
			else if (!strcmp(optarg, "full"))
				o->dhcp = DHCP_FULL;
			else if (!strcmp(optarg, "none"))
				o->dhcp = DHCP_NONE;
			else {
				fprintf(stderr, "duet: install: --dhcp '%s': proxy, full or none\n", optarg);
				return 2;
			}
			break;
		case OPT_SUBNET:
			o->subnet = optarg;
			break;
		case OPT_RANGE:
			o->range = optarg;
			break;
		case OPT_PXE_BOOT:
			if (!strcmp(optarg, "ipxe"))
				o->pxe_boot = "duet/undionly.kpxe";
			else if (!strcmp(optarg, "pxelinux"))
				o->pxe_boot = "duet/pxelinux.0";
			else {
				fprintf(stderr, "duet: install: --pxe-boot '%s': ipxe or pxelinux\n", optarg);
				return 2;
			}
			break;
		case OPT_DNSMASQ_DIR:
			o->dnsmasq_dir = optarg;
			break;
		case OPT_REPLACE_LTSP:
			o->replace_ltsp = true;
			break;
		case OPT_RESTART:
			o->restart = true;
			break;
		case 'n':
			in->dry_run = true;
			break;
		case OPT_UNINSTALL:
			o->uninstall = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "duet: install: see duet install --help\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "duet: install: unexpected argument '%s' (see duet install --help)\n",
			argv[optind]);
		return 2;
	}
	if (o->range && o->dhcp != DHCP_FULL) {
		fprintf(stderr, "duet: install: --range goes with --dhcp full\n");
		return 2;
	}
	if (o->dhcp == DHCP_FULL && !o->range && !o->uninstall) {
		fprintf(stderr, "duet: install: --dhcp full needs --range START,END (the addresses "
				"dnsmasq hands out)\n");
		return 2;
	}
	const char *paths[] = { o->tftp_root, o->dnsmasq_dir };
	const char *names[] = { "--tftp-root", "--dnsmasq-dir" };
	for (int i = 0; i < 2; i++) {
		if (paths[i] && paths[i][0] != '/') {
			fprintf(stderr, "duet: install: %s '%s': give an absolute path\n", names[i], paths[i]);
			return 2;
		}
	}
	return -1;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* find_source: the netboot tree to install, into src. */
static int find_source(const struct duet_ctx *ctx, const char *from, char src[PATH_MAX])
{
	if (from) {
		if (!realpath(from, src))
			return install_error("--from %s: %s", from, strerror(errno));
		const char *missing = install_tree_missing(src);
		if (missing)
			return install_error("%s has no %s: not a built netboot tree (`make image netboot` "
					     "builds one in build/netboot)", src, missing);
		return 0;
	}
	char candidates[2][PATH_MAX];
	snprintf(candidates[0], PATH_MAX, "%s/../netboot", ctx->argv0_dir ? ctx->argv0_dir : ".");
	snprintf(candidates[1], PATH_MAX, "/usr/lib/duet/netboot");
	for (int i = 0; i < 2; i++) {
		char vmlinuz[PATH_MAX + 16];
		if (snprintf(vmlinuz, sizeof vmlinuz, "%s/duet/vmlinuz", candidates[i]) >= (int)sizeof vmlinuz ||
		    !exists(vmlinuz) || !realpath(candidates[i], src))
			continue;
		const char *missing = install_tree_missing(src);
		if (missing)
			return install_error("%s has no %s: an unfinished netboot tree (`make image netboot` "
					     "builds it)", src, missing);
		return 0;
	}
	return install_error("no netboot tree with duet/vmlinuz in %s or %s: build one with `make image "
			     "netboot`, or give --from DIR", candidates[0], candidates[1]);
}

/* find_templates: the directory with the dnsmasq templates: netboot/ of
 * the checkout duet (build/bin/duet) or the tree (build/netboot) was built
 * in, else the installed share/duet. */
static int find_templates(const struct duet_ctx *ctx, const char *src, char dir[PATH_MAX])
{
	const char *formats[] = { "%s/../../netboot", "%s/../../netboot", "%s/../share/duet", "%s" };
	const char *bases[] = { ctx->argv0_dir ? ctx->argv0_dir : ".", src,
				ctx->argv0_dir ? ctx->argv0_dir : ".", "/usr/share/duet" };
	for (int i = 0; i < 4; i++) {
		char candidate[PATH_MAX], probe[PATH_MAX + 32];
		if (snprintf(candidate, sizeof candidate, formats[i], bases[i]) < (int)sizeof candidate &&
		    snprintf(probe, sizeof probe, "%s/dnsmasq-duet-proxy.conf.in", candidate) <
			    (int)sizeof probe &&
		    exists(probe) && realpath(candidate, dir))
			return 0;
	}
	return install_error("no dnsmasq templates (dnsmasq-duet-proxy.conf.in) in the checkout's "
			     "netboot/ or in /usr/share/duet");
}

static int path_join(char out[PATH_MAX], const char *dir, const char *name)
{
	if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		return install_error("%s/%s: path too long", dir, name);
	return 0;
}

/* What install does to dnsmasq's configuration, decided (and checked)
 * before anything changes. */
struct dnsmasq_job {
	char snippet_path[PATH_MAX], ltsp_conf[PATH_MAX], aside[PATH_MAX];
	char *text;     /* the snippet; NULL: none to write */
	char why[128];  /* what it does, for the "write" line */
	bool move_ltsp; /* move LTSP's ltsp-dnsmasq.conf aside */
};

static int dnsmasq_paths(struct dnsmasq_job *job, const struct options *o)
{
	if (path_join(job->snippet_path, o->dnsmasq_dir, SNIPPET_NAME) < 0 ||
	    path_join(job->ltsp_conf, o->dnsmasq_dir, LTSP_DNSMASQ_NAME) < 0 ||
	    path_join(job->aside, o->dnsmasq_dir, LTSP_DNSMASQ_ASIDE) < 0)
		return -1;
	return 0;
}

/* dnsmasq_plan: the snippet to write or, with LTSP's dnsmasq there (and no
 * --replace-ltsp-dnsmasq), the reason there is none. */
static int dnsmasq_plan(struct duet_ctx *ctx, const struct options *o, const char *src,
			const char *tftp_root, bool ltsp_menu, struct dnsmasq_job *job)
{
	if (dnsmasq_paths(job, o) < 0)
		return -1;
	bool ltsp_dnsmasq = exists(job->ltsp_conf);

	if (o->dhcp == DHCP_NONE)
		return 0;
	if (ltsp_dnsmasq && !o->replace_ltsp) {
		if (o->dhcp_given)
			return install_error("LTSP's %s answers this network (one dnsmasq answers a "
					     "subnet): leave out --dhcp to offer duet in LTSP's menu, or "
					     "add --replace-ltsp-dnsmasq", job->ltsp_conf);
		install_note("keep LTSP's %s (one dnsmasq answers a subnet): PCs get duet from "
			     "LTSP's iPXE menu", job->ltsp_conf);
		if (!ltsp_menu)
			install_note("warning: %s/ltsp/ltsp.ipxe is missing, so no PC sees duet yet: run "
				     "`ltsp ipxe`, then duet install again", tftp_root);
		if (exists(job->snippet_path))
			install_note("warning: %s is there too: two configurations answer the same "
				     "PCs; remove one (duet install --replace-ltsp-dnsmasq keeps duet's)",
				     job->snippet_path);
		return 0;
	}

	struct dnsmasq_plan plan = { .mode = o->dhcp, .pxe_boot = o->pxe_boot, .tftp_root = tftp_root };
	if (o->subnet) {
		if (dnsmasq_parse_subnet(&plan, o->subnet) < 0)
			return -1;
	} else {
		char address[64];
		if (conf_server_address(ctx->conf, address, sizeof address) < 0)
			return install_error("this host has no IPv4 address to take the classroom subnet "
					     "from: give --subnet A.B.C.D/NN");
		if (dnsmasq_subnet_of(&plan, address) < 0)
			return -1;
	}
	if (o->range && dnsmasq_parse_range(&plan, o->range) < 0)
		return -1;
	char templates[PATH_MAX];
	if (find_templates(ctx, src, templates) < 0)
		return -1;
	job->text = dnsmasq_snippet(&plan, templates);
	if (!job->text)
		return -1;
	int checked = dnsmasq_check(job->text);
	if (checked < 0)
		return -1;
	if (checked == 1)
		install_note("warning: dnsmasq is not installed (apt install dnsmasq): nothing serves "
			     "the snippet yet");
	if (plan.mode == DHCP_FULL)
		snprintf(job->why, sizeof job->why, "DHCP for %s-%s, PXE ROMs get %s", plan.range_start,
			 plan.range_end, plan.pxe_boot);
	else
		snprintf(job->why, sizeof job->why, "proxy-DHCP for %s/%d, PXE ROMs get %s", plan.subnet,
			 plan.prefix, plan.pxe_boot);
	job->move_ltsp = ltsp_dnsmasq;
	return 0;
}

static int dnsmasq_apply(struct install *in, const struct options *o, struct dnsmasq_job *job)
{
	if (!job->text)
		return 0;
	if (job->move_ltsp) {
		install_change(in, "move", "%s to %s (dnsmasq skips dot files; --uninstall moves it back)",
			       job->ltsp_conf, job->aside);
		in->dnsmasq_changed = true;
		if (!in->dry_run && rename(job->ltsp_conf, job->aside) < 0)
			return install_error("%s: %s", job->ltsp_conf, strerror(errno));
	}
	if (!exists(o->dnsmasq_dir)) {
		install_change(in, "mkdir", "%s", o->dnsmasq_dir);
		int err = in->dry_run ? 0 : mkdir_p(o->dnsmasq_dir, 0755);
		if (err < 0)
			return install_error("%s: %s", o->dnsmasq_dir, strerror(-err));
	}
	int changed = write_if_different(in, job->snippet_path, job->text, job->why);
	if (changed < 0)
		return -1;
	if (changed)
		in->dnsmasq_changed = true;
	return 0;
}

static int uninstall_dnsmasq(struct install *in, const struct options *o)
{
	struct dnsmasq_job job;
	if (dnsmasq_paths(&job, o) < 0)
		return -1;
	const char *snippet_path = job.snippet_path, *ltsp_conf = job.ltsp_conf, *aside = job.aside;
	char *text;
	int err = read_file(snippet_path, 1 << 20, &text, NULL);
	if (err == 0) {
		bool ours = strstr(text, SNIPPET_SIGNATURE) != NULL;
		free(text);
		if (!ours) {
			install_note("note: %s is not duet's (no \"%s\" in it): left as it is",
				     snippet_path, SNIPPET_SIGNATURE);
		} else {
			install_change(in, "remove", "%s", snippet_path);
			in->dnsmasq_changed = true;
			if (!in->dry_run && unlink(snippet_path) < 0)
				return install_error("%s: %s", snippet_path, strerror(errno));
		}
	} else if (err != -ENOENT) {
		return install_error("%s: %s", snippet_path, strerror(-err));
	}
	if (exists(aside)) {
		if (exists(ltsp_conf)) {
			install_note("note: %s is back already; %s stays", ltsp_conf, aside);
			return 0;
		}
		install_change(in, "move", "%s back to %s", aside, ltsp_conf);
		in->dnsmasq_changed = true;
		if (!in->dry_run && rename(aside, ltsp_conf) < 0)
			return install_error("%s: %s", aside, strerror(errno));
	}
	return 0;
}

/* starter_conf: a commented duet.conf where there is none. */
static int starter_conf(struct duet_ctx *ctx, struct install *in, const char *tftp_root)
{
	const char *path = ctx->conf->path;
	if (ctx->conf->exists || !path[0] || exists(path))
		return 0;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *d = dirname(dir);
	char probe[PATH_MAX];
	snprintf(probe, sizeof probe, "%s", d);
	while (!exists(probe) && strcmp(probe, "/") && strcmp(probe, "."))
		memmove(probe, dirname(probe), strlen(dirname(probe)) + 1);
	if (access(probe, W_OK) < 0) {
		install_note("note: no %s, and %s is not writable: duet runs on its defaults", path, probe);
		return 0;
	}
	char tftp_line[PATH_MAX + 32];
	if (strcmp(tftp_root, "/srv/tftp"))
		snprintf(tftp_line, sizeof tftp_line, "tftp-root = %s\n", tftp_root);
	else
		snprintf(tftp_line, sizeof tftp_line, "# tftp-root = /srv/tftp\n");
	char text[PATH_MAX + 2048];
	snprintf(text, sizeof text,
		 "# duet's configuration: this server and every classroom PC, in the style\n"
		 "# of LTSP's ltsp.conf. `duet install` wrote this starter; it is yours now\n"
		 "# (install never overwrites it). `duet config check` checks it.\n"
		 "\n"
		 "[server]\n"
		 "# Where duet's netboot tree goes (TFTP_ROOT/duet) and dnsmasq serves it.\n"
		 "%s"
		 "# How the PCs reach this server (default: its first IPv4 address).\n"
		 "# address = 10.0.0.1\n"
		 "# images = /srv/duet/images\n"
		 "# vms = /srv/duet/vms\n"
		 "\n"
		 "[clients]\n"
		 "# Every classroom PC: its guests, in hotkey order (Right-Ctrl+1, +2, ...).\n"
		 "# The Windows guest needs its golden image first (duet image import);\n"
		 "# then: guests = windows ltsp, and windows.disk = windows below.\n"
		 "guests = ltsp\n"
		 "ltsp.kernel = guests/ltsp/vmlinuz\n"
		 "ltsp.initrd = guests/ltsp/initrd.img\n"
		 "# windows.disk = windows\n"
		 "# windows.memory = 3G\n"
		 "\n"
		 "# One PC, by its MAC (globs such as [52:54:00:12:*] take several):\n"
		 "# [52:54:00:12:34:56]\n"
		 "# hostname = pc01\n"
		 "# screen = windows\n"
		 "\n"
		 "# docs/duet.md has every key; `duet config publish` hands them to the PCs.\n",
		 tftp_line);
	if (!in->dry_run) {
		int err = mkdir_p(d, 0755);
		if (err < 0)
			return install_error("%s: %s", d, strerror(-err));
	}
	return write_if_different(in, path, text, "a starter configuration") < 0 ? -1 : 0;
}

int duet_install_main(struct duet_ctx *ctx, int argc, char **argv)
{
	struct install in = { 0 };
	struct options o;
	int status = parse_options(argc, argv, &o, &in);
	if (status >= 0)
		return status;

	const char *tftp_root = o.tftp_root ? o.tftp_root : ctx->conf->server.tftp_root;
	char root[PATH_MAX];
	snprintf(root, sizeof root, "%s", tftp_root);
	for (size_t n = strlen(root); n > 1 && root[n - 1] == '/'; n--)
		root[n - 1] = '\0';
	if (root[0] != '/')
		return install_error("the TFTP root '%s' is not an absolute path", root), 1;

	char src[PATH_MAX];
	if (find_source(ctx, o.from, src) < 0)
		return 1;
	char ltsp_ipxe[PATH_MAX], entry[PATH_MAX];
	if (path_join(ltsp_ipxe, root, "ltsp/ltsp.ipxe") < 0 ||
	    path_join(entry, src, "duet/ltsp-entry.ipxe") < 0)
		return 1;
	bool ltsp_menu = exists(ltsp_ipxe);
	if (ltsp_menu && !o.uninstall && !exists(entry))
		return install_error("%s has no duet/ltsp-entry.ipxe for LTSP's menu (`make netboot` "
				     "builds it)", src), 1;

	printf("duet install%s: %s/duet %s %s/duet%s\n", o.uninstall ? " --uninstall" : "", src,
	       o.uninstall ? "from" : "->", root, in.dry_run ? " (dry run: nothing is changed)" : "");
	fflush(stdout);
	int err;
	bool tree_changed = false;
	if (o.uninstall) {
		err = ltsp_menu ? install_ltsp_menu(&in, ltsp_ipxe, NULL, false) : 0;
		if (!err)
			err = uninstall_dnsmasq(&in, &o);
		if (!err)
			err = uninstall_tree(&in, src, root);
	} else {
		struct dnsmasq_job job = { .text = NULL };
		err = dnsmasq_plan(ctx, &o, src, root, ltsp_menu, &job);
		int before = in.changes;
		if (!err)
			err = install_tree(&in, src, root);
		tree_changed = in.changes > before;
		if (!err && ltsp_menu)
			err = install_ltsp_menu(&in, ltsp_ipxe, entry, true);
		if (!err)
			err = dnsmasq_apply(&in, &o, &job);
		if (!err)
			err = starter_conf(ctx, &in, root);
		free(job.text);
	}
	if (err)
		return 1;

	if (in.changes == 0) {
		printf(o.uninstall ? "nothing changed: nothing of duet's is installed there\n"
				   : "nothing changed: everything is in place\n");
		return 0;
	}
	if (in.dry_run) {
		printf("dry run: %d change%s to make, none made\n", in.changes, in.changes == 1 ? "" : "s");
		return 0;
	}
	printf("%d change%s made\n", in.changes, in.changes == 1 ? "" : "s");
	if (in.dnsmasq_changed) {
		if (o.restart) {
			char *restart[] = { "systemctl", "restart", "dnsmasq", NULL };
			int rc = run_program(restart, false);
			if (rc != 0) {
				install_error("systemctl restart dnsmasq %s%s: see journalctl -u dnsmasq",
					      rc < 0 ? "failed: " : "failed", rc < 0 ? strerror(-rc) : "");
				return 1;
			}
			printf("restarted dnsmasq\n");
		} else {
			printf("next: systemctl restart dnsmasq (it reads its configuration when it "
			       "starts)\n");
		}
	}
	char sums[PATH_MAX], config[PATH_MAX];
	if (!o.uninstall && path_join(sums, root, "duet/SHA256SUMS") == 0 &&
	    path_join(config, root, "duet/config") == 0) {
		if (!exists(config))
			printf("next: duet config publish (the PCs' configuration, duet/config/)\n");
		else if (tree_changed && exists(sums))
			printf("next: duet config publish (duet/SHA256SUMS is older than the new files)\n");
	}
	return 0;
}

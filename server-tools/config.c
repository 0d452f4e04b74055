/* duet config: check duet.conf, show what a PC gets, and publish every
 * PC's files into the netboot tree the way the classroom image fetches
 * them (docs/image.md): duet/config/<mac-with-dashes>/ or config/default/,
 * and duet/SHA256SUMS over every file of the tree. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "conf_keys.h"
#include "duet.h"
#include "image.h"
#include "remote.h"
#include "util.h"

#define PUBLISH_FILES_MAX (GUESTS_MAX + 4)
#define GEN_FILE_MAX (64 * 1024)

/* One file of a PC's config folder. */
struct gen_file {
	char name[64];
	char *data;
	size_t len;
};

struct file_set {
	struct gen_file files[PUBLISH_FILES_MAX];
	size_t count;
};

/* Errors of the per-PC checks: each (line, message) printed once, however
 * many PCs share it. */
struct report {
	const char *path;
	int errors;
	char **seen;
	size_t seen_count;
};

static void report_error(struct report *r, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report_error(struct report *r, int line, const char *fmt, ...)
{
	char msg[512], key[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(key, sizeof key, "%d:%s", line, msg);
	for (size_t i = 0; i < r->seen_count; i++)
		if (!strcmp(r->seen[i], key))
			return;
	char **seen = realloc(r->seen, (r->seen_count + 1) * sizeof *seen);
	char *copy = strdup(key);
	if (seen && copy) {
		r->seen = seen;
		r->seen[r->seen_count++] = copy;
	} else {
		free(copy);
	}
	if (line > 0)
		fprintf(stderr, "%s:%d: %s\n", r->path, line, msg);
	else
		fprintf(stderr, "%s: %s\n", r->path, msg);
	r->errors++;
}

static void report_free(struct report *r)
{
	for (size_t i = 0; i < r->seen_count; i++)
		free(r->seen[i]);
	free(r->seen);
}

/* A growing text buffer for one generated file. */
struct text {
	char *buf;
	size_t len, cap;
	bool overflow;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || t->len + (size_t)n + 1 > GEN_FILE_MAX) {
		t->overflow = true;
		return;
	}
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = (t->len + (size_t)n + 1) * 2;
		char *b = realloc(t->buf, cap);
		if (!b) {
			t->overflow = true;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

static void set_add(struct file_set *set, const char *name, struct text *t)
{
	if (set->count == PUBLISH_FILES_MAX || t->overflow) {
		free(t->buf);
		return;
	}
	struct gen_file *f = &set->files[set->count++];
	snprintf(f->name, sizeof f->name, "%s", name);
	f->data = t->buf ? t->buf : strdup("");
	f->len = t->len;
	*t = (struct text){ 0 };
}

static void set_free(struct file_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		free(set->files[i].data);
	set->count = 0;
}

static bool sets_equal(const struct file_set *a, const struct file_set *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->files[i].name, b->files[i].name) || a->files[i].len != b->files[i].len ||
		    memcmp(a->files[i].data, b->files[i].data, a->files[i].len))
			return false;
	return true;
}

/* The guests of a PC, split from its `guests` value. */
struct guest_list {
	char names[GUESTS_MAX][GUEST_NAME_MAX + 1];
	int count;
};

static void split_guests(const char *v, struct guest_list *g)
{
	g->count = 0;
	for (const char *p = v; p && *p && g->count < GUESTS_MAX;) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, " \t");
		if (!n)
			break;
		if (n <= GUEST_NAME_MAX) {
			memcpy(g->names[g->count], p, n);
			g->names[g->count++][n] = '\0';
		}
		p += n;
	}
}

static bool guest_listed(const struct guest_list *g, const char *name)
{
	for (int i = 0; i < g->count; i++)
		if (!strcmp(g->names[i], name))
			return true;
	return false;
}

struct pc_build {
	struct duet_ctx *ctx;
	const struct pc_id *pc;
	struct report *report;
	char address[64]; /* the server as PCs reach it, "" if unknown */
	bool create_key;  /* make the server's remote key when missing */
};

static const char *get(struct pc_build *b, const char *key)
{
	return conf_pc_get(b->ctx->conf, b->pc, key);
}

static int line_of(struct pc_build *b, const char *key)
{
	return conf_pc_get_line(b->ctx->conf, b->pc, key);
}

static const char *guest_get(struct pc_build *b, const char *guest, const char *key)
{
	char full[64];

	snprintf(full, sizeof full, "%s.%s", guest, key);
	return get(b, full);
}

static int guest_line(struct pc_build *b, const char *guest, const char *key)
{
	char full[64];

	snprintf(full, sizeof full, "%s.%s", guest, key);
	return line_of(b, full);
}

static const char *pc_label(const struct pc_id *pc, char *buf, size_t size)
{
	if (!pc->mac[0])
		snprintf(buf, size, "the default PC");
	else if (pc->hostname[0])
		snprintf(buf, size, "PC %s (%s)", pc->mac, pc->hostname);
	else
		snprintf(buf, size, "PC %s", pc->mac);
	return buf;
}

/* A file of the duet tree a PC fetches must be there. */
static void check_tree_file(struct pc_build *b, const char *rel, int line, const char *key)
{
	char path[PATH_MAX];
	struct stat st;

	path_fmt(path, sizeof path, "%s/duet/%s", b->ctx->conf->server.tftp_root, rel);
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		report_error(b->report, line, "%s: %s is not there", key, path);
}

/* The disk line of a guest's duet-vmm file, or "" with an error reported. */
static void guest_disk(struct pc_build *b, const char *guest, bool maintenance, char *out, size_t size)
{
	const char *disk = guest_get(b, guest, "disk");
	int line = guest_line(b, guest, "disk");

	out[0] = '\0';
	if (!disk)
		return;
	if (!strncmp(disk, "nbd://", 6) || !strncmp(disk, "nbd+unix://", 11)) {
		if (maintenance)
			report_error(b->report, line_of(b, "maintenance"),
				     "maintenance = %s: its disk is %s, not a golden image", guest, disk);
		snprintf(out, size, "%s,overlay=ram", disk);
		return;
	}
	if (!b->address[0]) {
		report_error(b->report, line, "%s.disk: the server's address is unknown; set address in [server]",
			     guest);
		return;
	}
	char url[512];
	int err = image_nbd_url(b->ctx->conf, disk, false, b->address, url, sizeof url);
	if (!err && maintenance)
		err = image_nbd_url(b->ctx->conf, disk, true, b->address, url, sizeof url) == -ENOENT
			      ? -ECHILD : err;
	if (err == -ECHILD)
		report_error(b->report, line_of(b, "maintenance"),
			     "maintenance = %s: image '%s' has no open edit (duet image edit %s)", guest, disk,
			     disk);
	else if (err == -ENOENT)
		report_error(b->report, line, "%s.disk: no golden image '%s' (duet image list)", guest, disk);
	else if (err < 0)
		report_error(b->report, line, "%s.disk: %s", guest, strerror(-err));
	else
		snprintf(out, size, maintenance ? "%s" : "%s,overlay=ram", url);
}

/* guest-NAME.conf: duet-vmm's INI file for one guest. */
static void build_guest(struct pc_build *b, const char *guest, bool maintenance, struct file_set *set,
			struct text *files)
{
	const char *boot = guest_get(b, guest, "boot");
	const char *kernel = guest_get(b, guest, "kernel");
	const char *initrd = guest_get(b, guest, "initrd");
	const char *cdrom = guest_get(b, guest, "cdrom");
	const char *append = guest_get(b, guest, "append");
	const char *memory = guest_get(b, guest, "memory");
	const char *cpus = guest_get(b, guest, "cpus");
	char disk[600], name[64];
	struct text t = { 0 };

	if (!boot)
		boot = kernel ? "kernel" : "bios";
	guest_disk(b, guest, maintenance, disk, sizeof disk);
	int boot_line = guest_line(b, guest, "boot");
	if (!boot_line)
		boot_line = line_of(b, "guests");

	text_add(&t, "# %s, written by duet config publish from %s\n[vm]\n", guest, b->ctx->conf->path);
	if (memory)
		text_add(&t, "memory = %s\n", memory);
	if (cpus)
		text_add(&t, "cpus = %s\n", cpus);
	if (!strcmp(boot, "kernel")) {
		if (!kernel)
			report_error(b->report, boot_line, "%s boots a kernel: set %s.kernel", guest, guest);
		else
			text_add(&t, "kernel = /run/duet/files/%s\n", kernel);
		if (initrd)
			text_add(&t, "initrd = /run/duet/files/%s\n", initrd);
		if (append)
			text_add(&t, "append = %s\n", append);
		if (cdrom)
			report_error(b->report, guest_line(b, guest, "cdrom"),
				     "%s.cdrom: only a bios or net guest has a CD-ROM", guest);
	} else {
		text_add(&t, "bios = yes\n");
		if (!strcmp(boot, "net"))
			text_add(&t, "boot = net\n");
		else if (!disk[0] && !cdrom && !guest_get(b, guest, "disk"))
			report_error(b->report, boot_line, "%s boots from its BIOS: set %s.disk or %s.cdrom",
				     guest, guest, guest);
		if (cdrom)
			text_add(&t, "cdrom = /run/duet/files/%s\n", cdrom);
		if (kernel || initrd || append)
			report_error(b->report,
				     guest_line(b, guest, kernel ? "kernel" : initrd ? "initrd" : "append"),
				     "%s.%s: only a guest with boot = kernel has one", guest,
				     kernel ? "kernel" : initrd ? "initrd" : "append");
	}
	if (disk[0])
		text_add(&t, "disk = %s\n", disk);
	const char *tree_keys[] = { "kernel", "initrd", "cdrom" };
	for (size_t i = 0; i < 3; i++) {
		const char *v = guest_get(b, guest, tree_keys[i]);
		if (!v)
			continue;
		char key[64];
		snprintf(key, sizeof key, "%s.%s", guest, tree_keys[i]);
		check_tree_file(b, v, guest_line(b, guest, tree_keys[i]), key);
		text_add(files, "%s%s", files->len ? " " : "", v);
	}
	snprintf(name, sizeof name, "guest-%s.conf", guest);
	set_add(set, name, &t);
}

/* A file on the server whose first line the PC gets (the VNC password). */
static int first_line_of(const char *path, char *out, size_t size)
{
	char *data;
	int err = read_file(path, 4096, &data, NULL);

	if (err < 0)
		return err;
	size_t n = strcspn(data, "\r\n");
	if (n == 0 || n >= size) {
		free(data);
		return -EINVAL;
	}
	memcpy(out, data, n);
	out[n] = '\0';
	free(data);
	return 0;
}

static bool is_loopback(const char *ip)
{
	return !strncmp(ip, "127.", 4) || !strcmp(ip, "::1");
}

/* display.conf and the files it names (vnc.passwd, remote.pub). */
static void build_display(struct pc_build *b, struct file_set *set)
{
	static const char *const passthrough[] = {
		"vnc-listen", "vnc-base-port", "vnc-input", "hotkey-modifier", "hotkey-next",
		"hotkey-slots", "edge-width", "banner-time", "remote-listen", "remote-port",
	};
	struct text t = { 0 };
	bool any = false;

	text_add(&t, "# written by duet config publish from %s\n[display]\n", b->ctx->conf->path);
	for (size_t i = 0; i < sizeof passthrough / sizeof passthrough[0]; i++) {
		const char *v = get(b, passthrough[i]);
		if (v) {
			text_add(&t, "%s = %s\n", passthrough[i], v);
			any = true;
		}
	}
	const char *listen = get(b, "vnc-listen");
	const char *pwfile = get(b, "vnc-password-file");
	char password[256];
	if (pwfile) {
		int err = first_line_of(pwfile, password, sizeof password);
		if (err < 0) {
			report_error(b->report, line_of(b, "vnc-password-file"), "vnc-password-file: %s: %s",
				     pwfile, err == -EINVAL ? "its first line is empty" : strerror(-err));
			pwfile = NULL;
		} else {
			text_add(&t, "vnc-password-file = /run/duet/config/vnc.passwd\n");
			any = true;
		}
	} else if (listen && strcmp(listen, "none") && !is_loopback(listen)) {
		report_error(b->report, line_of(b, "vnc-listen"),
			     "vnc-listen = %s needs vnc-password-file (VNC off the PC wants a password)", listen);
	}
	const char *remote = get(b, "remote-listen");
	char pub[65] = "";
	if (remote && strcmp(remote, "none")) {
		/* publish makes the server's key on first use; check and
		 * show only look (and say nothing when it is not made yet). */
		int err = remote_public_key_hex(b->ctx->conf->server.key_file, b->create_key, pub);
		if (err < 0 && !(err == -ENOENT && !b->create_key))
			report_error(b->report, line_of(b, "remote-listen"), "remote-listen: key %s: %s",
				     b->ctx->conf->server.key_file, remote_key_strerror(err));
		text_add(&t, "remote-public-key-file = /run/duet/config/remote.pub\n");
		any = true;
		if (err == -ENOENT && !b->create_key)
			strcpy(pub, "(made by duet config publish)");
	}
	if (any)
		set_add(set, "display.conf", &t);
	else
		free(t.buf);
	if (pub[0]) {
		struct text k = { 0 };
		text_add(&k, "%s\n", pub);
		set_add(set, "remote.pub", &k);
	}
	if (pwfile) {
		struct text p = { 0 };
		text_add(&p, "%s\n", password);
		set_add(set, "vnc.passwd", &p);
	}
}

/* Every file a PC gets, in a fixed order; errors go to b->report. */
static void build_pc(struct pc_build *b, struct file_set *set)
{
	const char *guests_value = get(b, "guests");
	struct guest_list g;
	char label[300];
	struct text client = { 0 }, files = { 0 };

	pc_label(b->pc, label, sizeof label);
	if (!guests_value) {
		report_error(b->report, 0, "%s has no guests: set guests in [clients]", label);
		return;
	}
	split_guests(guests_value, &g);
	const char *screen = get(b, "screen");
	if (screen && !guest_listed(&g, screen))
		report_error(b->report, line_of(b, "screen"), "screen = %s: not one of guests (%s), for %s",
			     screen, guests_value, label);
	const char *maintenance = get(b, "maintenance");
	if (maintenance && !guest_listed(&g, maintenance))
		report_error(b->report, line_of(b, "maintenance"), "maintenance = %s: not one of guests (%s)",
			     maintenance, guests_value);
	const char *syslog = get(b, "syslog");

	text_add(&client, "# written by duet config publish from %s\n", b->ctx->conf->path);
	text_add(&client, "GUESTS=\"%s\"\n", guests_value);
	if (screen)
		text_add(&client, "SCREEN=%s\n", screen);
	if (syslog && !strcmp(syslog, "yes")) {
		if (!b->address[0])
			report_error(b->report, line_of(b, "syslog"),
				     "syslog = yes: the server's address is unknown; set address in [server]");
		else
			text_add(&client, "SYSLOG=%s\n", b->address);
	} else if (syslog && strcmp(syslog, "no")) {
		text_add(&client, "SYSLOG=%s\n", syslog);
	}
	for (int i = 0; i < g.count; i++) {
		const char *color = guest_get(b, g.names[i], "color");
		const char *net = guest_get(b, g.names[i], "net");
		if (color)
			text_add(&client, "COLOR_%s=%s\n", g.names[i], color);
		if (net)
			text_add(&client, "NET_%s=%s\n", g.names[i], net);
	}

	struct file_set guests_set = { 0 };
	for (int i = 0; i < g.count; i++)
		build_guest(b, g.names[i], maintenance && !strcmp(maintenance, g.names[i]), &guests_set,
			    &files);
	const char *extra = get(b, "files");
	if (extra)
		text_add(&files, "%s%s", files.len ? " " : "", extra);
	if (files.len)
		text_add(&client, "FILES=\"%s\"\n", files.buf);
	free(files.buf);

	set_add(set, "client.conf", &client);
	build_display(b, set);
	for (size_t i = 0; i < guests_set.count && set->count < PUBLISH_FILES_MAX; i++)
		set->files[set->count++] = guests_set.files[i];
}

static void build_init(struct pc_build *b, struct duet_ctx *ctx, const struct pc_id *pc, struct report *r,
		       bool create_key)
{
	*b = (struct pc_build){ .ctx = ctx, .pc = pc, .report = r, .create_key = create_key };
	if (conf_server_address(ctx->conf, b->address, sizeof b->address) < 0)
		b->address[0] = '\0';
}

/* Every PC's file set: [0] is the default, then one per known PC. */
struct plan {
	struct pc_id *pcs;
	size_t count;
	struct file_set *sets; /* count + 1 */
};

static void plan_build(struct duet_ctx *ctx, struct plan *p, struct report *r, bool create_key)
{
	static const struct pc_id default_pc = { 0 };
	struct pc_build b;

	conf_known_pcs(ctx->conf, &p->pcs, &p->count);
	p->sets = calloc(p->count + 1, sizeof *p->sets);
	if (!p->sets) {
		fprintf(stderr, "duet: out of memory\n");
		exit(1);
	}
	build_init(&b, ctx, &default_pc, r, create_key);
	build_pc(&b, &p->sets[0]);
	for (size_t i = 0; i < p->count; i++) {
		build_init(&b, ctx, &p->pcs[i], r, create_key);
		build_pc(&b, &p->sets[i + 1]);
	}
}

static void plan_free(struct plan *p)
{
	for (size_t i = 0; p->sets && i <= p->count; i++)
		set_free(&p->sets[i]);
	free(p->sets);
	free(p->pcs);
}

static int config_check(struct duet_ctx *ctx, bool quiet)
{
	struct report r = { .path = ctx->conf->path };
	struct plan p = { 0 };

	if (!ctx->conf->exists) {
		fprintf(stderr, "duet: %s: no such file (duet install writes a first one)\n", ctx->conf->path);
		return 1;
	}
	plan_build(ctx, &p, &r, false);
	int errors = ctx->conf_errors + r.errors;
	if (!quiet) {
		if (errors)
			fprintf(stderr, "%s: %d error%s\n", ctx->conf->path, errors, errors == 1 ? "" : "s");
		else
			printf("%s: ok (%zu PC%s known)\n", ctx->conf->path, p.count, p.count == 1 ? "" : "s");
	}
	plan_free(&p);
	report_free(&r);
	return errors ? 1 : 0;
}

static void print_set(const struct file_set *set)
{
	for (size_t i = 0; i < set->count; i++) {
		printf("\n--- %s\n", set->files[i].name);
		fwrite(set->files[i].data, 1, set->files[i].len, stdout);
	}
}

static const char *section_label(const struct conf_section *s)
{
	return s->name;
}

static void mac_dashes(const char *mac, char out[18])
{
	for (int i = 0; i < 18; i++)
		out[i] = mac[i] == ':' ? '-' : mac[i];
}

static int config_show(struct duet_ctx *ctx, const char *who)
{
	struct pc_id pc;
	int err = conf_find_pc(ctx->conf, who, &pc);

	if (err == -ENOENT) {
		fprintf(stderr, "duet: config show: no PC '%s' (give its MAC, or list it in %s or %s)\n", who,
			ctx->conf->path, ctx->conf->server.ethers);
		return 1;
	}
	if (err < 0) {
		fprintf(stderr, "duet: config show: '%s' is not a MAC, IP or hostname\n", who);
		return 2;
	}
	printf("# %s", pc.mac);
	if (pc.hostname[0])
		printf(" %s", pc.hostname);
	if (pc.ip[0])
		printf(" %s", pc.ip);
	printf("\n# sections:");
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < ctx->conf->count; i++) {
			const struct conf_section *s = &ctx->conf->sections[i];
			bool in_pass = pass == 0 ? s->kind == CONF_COMMON
				       : pass == 1 ? s->kind == CONF_CLIENTS
						   : s->kind >= CONF_MAC;
			if (in_pass && conf_pc_section_matches(s, &pc))
				printf(" [%s]", section_label(s));
		}
	printf("\n");
	/* Every key the PC ends up with, in the order first seen. */
	const char *keys[256];
	size_t nkeys = 0;
	for (size_t i = 0; i < ctx->conf->count; i++) {
		const struct conf_section *s = &ctx->conf->sections[i];
		if (s->kind == CONF_SERVER || !conf_pc_section_matches(s, &pc))
			continue;
		for (size_t j = 0; j < s->count && nkeys < 256; j++) {
			bool seen = false;
			for (size_t k = 0; k < nkeys; k++)
				seen |= !strcmp(keys[k], s->entries[j].key);
			if (!seen)
				keys[nkeys++] = s->entries[j].key;
		}
	}
	for (size_t k = 0; k < nkeys; k++)
		printf("%s = %s    # line %d\n", keys[k], conf_pc_get(ctx->conf, &pc, keys[k]),
		       conf_pc_get_line(ctx->conf, &pc, keys[k]));

	struct report r = { .path = ctx->conf->path };
	struct pc_build b;
	struct file_set set = { 0 };
	build_init(&b, ctx, &pc, &r, false);
	build_pc(&b, &set);
	char dashes[18];
	mac_dashes(pc.mac, dashes);
	printf("\n# the files it fetches (config/%s/ unless they equal config/default/):\n", dashes);
	print_set(&set);
	set_free(&set);
	int errors = r.errors;
	report_free(&r);
	return errors || ctx->conf_errors ? 1 : 0;
}

/* ---- publishing ---- */

static int remove_tree(const char *path)
{
	char *argv[] = { "rm", "-rf", "--", (char *)path, NULL };

	return run_program(argv, false) == 0 ? 0 : -EIO;
}

/* Writes one folder (dir) to hold exactly set; prints and counts changes. */
static int publish_folder(const char *dir, const char *shown, const struct file_set *set, bool dry_run,
			  int *changes)
{
	if (!dry_run) {
		int err = mkdir_p(dir, 0755);
		if (err < 0) {
			fprintf(stderr, "duet: config publish: %s: %s\n", dir, strerror(-err));
			return err;
		}
	}
	for (size_t i = 0; i < set->count; i++) {
		char path[PATH_MAX];
		path_fmt(path, sizeof path, "%s/%s", dir, set->files[i].name);
		if (file_has_content(path, set->files[i].data, set->files[i].len) == 1)
			continue;
		printf("%swrite %s/%s\n", dry_run ? "would " : "", shown, set->files[i].name);
		(*changes)++;
		if (dry_run)
			continue;
		/* The password file is for the PC's eyes: not world-readable
		 * on the server (TFTP serves it regardless). */
		int err = write_file_atomic(path, set->files[i].data, set->files[i].len, 0644);
		if (err < 0) {
			fprintf(stderr, "duet: config publish: %s: %s\n", path, strerror(-err));
			return err;
		}
	}
	/* Files of an older publish that the set no longer has. */
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		bool keep = false;
		for (size_t i = 0; i < set->count; i++)
			keep |= !strcmp(set->files[i].name, e->d_name);
		if (keep)
			continue;
		printf("%sremove %s/%s\n", dry_run ? "would " : "", shown, e->d_name);
		(*changes)++;
		if (!dry_run) {
			char path[PATH_MAX];
			path_fmt(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
	}
	closedir(d);
	return 0;
}

/* SHA256SUMS: "HASH  PATH" for every file under duet/, sorted by path. */
static char **walk_files;
static size_t walk_count;
static size_t walk_root_len;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	const char *rel = path + walk_root_len + 1;
	if (!strcmp(rel, "SHA256SUMS") || strstr(rel, ".tmp-"))
		return 0;
	char **grown = realloc(walk_files, (walk_count + 1) * sizeof *grown);
	if (!grown)
		return -1;
	walk_files = grown;
	walk_files[walk_count] = strdup(rel);
	return walk_files[walk_count++] ? 0 : -1;
}

static int compare_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int write_manifest(const char *root, bool dry_run, int *changes)
{
	walk_files = NULL;
	walk_count = 0;
	walk_root_len = strlen(root);
	if (nftw(root, walk_one, 16, FTW_PHYS) < 0) {
		fprintf(stderr, "duet: config publish: cannot list %s\n", root);
		return -EIO;
	}
	qsort(walk_files, walk_count, sizeof *walk_files, compare_str);
	struct text t = { 0 };
	int err = 0;
	for (size_t i = 0; i < walk_count && !err; i++) {
		char path[PATH_MAX], hex[65];
		path_fmt(path, sizeof path, "%s/%s", root, walk_files[i]);
		/* A file with a space or newline in its name cannot be in
		 * sha256sum's format as the image reads it. */
		if (strpbrk(walk_files[i], " \n\\"))
			continue;
		err = sha256_file_hex(path, hex);
		if (err < 0)
			fprintf(stderr, "duet: config publish: %s: %s\n", path, strerror(-err));
		else
			text_add(&t, "%s  %s\n", hex, walk_files[i]);
	}
	for (size_t i = 0; i < walk_count; i++)
		free(walk_files[i]);
	free(walk_files);
	if (err < 0 || t.overflow) {
		free(t.buf);
		return err < 0 ? err : -EFBIG;
	}
	char path[PATH_MAX];
	path_fmt(path, sizeof path, "%s/SHA256SUMS", root);
	if (file_has_content(path, t.buf ? t.buf : "", t.len) != 1) {
		printf("%swrite SHA256SUMS (%zu files)\n", dry_run ? "would " : "", walk_count);
		(*changes)++;
		if (!dry_run)
			err = write_file_atomic(path, t.buf ? t.buf : "", t.len, 0644);
		if (err < 0)
			fprintf(stderr, "duet: config publish: %s: %s\n", path, strerror(-err));
	}
	free(t.buf);
	return err;
}

int duet_config_publish(struct duet_ctx *ctx, bool dry_run)
{
	struct report r = { .path = ctx->conf->path };
	struct plan p = { 0 };
	char root[PATH_MAX], config_dir[PATH_MAX];

	if (!ctx->conf->exists) {
		fprintf(stderr, "duet: %s: no such file (duet install writes a first one)\n", ctx->conf->path);
		return 1;
	}
	plan_build(ctx, &p, &r, !dry_run);
	int errors = ctx->conf_errors + r.errors;
	report_free(&r);
	if (errors) {
		fprintf(stderr, "duet: config publish: %s has %d error%s; nothing published\n", ctx->conf->path,
			errors, errors == 1 ? "" : "s");
		plan_free(&p);
		return 1;
	}
	path_fmt(root, sizeof root, "%s/duet", ctx->conf->server.tftp_root);
	path_fmt(config_dir, sizeof config_dir, "%s/config", root);
	struct stat st;
	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "duet: config publish: %s is not there (duet install puts it there)\n", root);
		plan_free(&p);
		return 1;
	}

	int changes = 0, err = 0;
	char dir[PATH_MAX + 32], shown[64];
	path_fmt(dir, sizeof dir, "%s/default", config_dir);
	err = publish_folder(dir, "config/default", &p.sets[0], dry_run, &changes);
	/* A PC gets its own folder only when its files differ from the
	 * default's; the image falls back to default/ otherwise. */
	bool *own = calloc(p.count + 1, sizeof *own);
	for (size_t i = 0; i < p.count && !err; i++) {
		if (sets_equal(&p.sets[i + 1], &p.sets[0]))
			continue;
		own[i] = true;
		char dashes[18];
		mac_dashes(p.pcs[i].mac, dashes);
		path_fmt(dir, sizeof dir, "%s/%s", config_dir, dashes);
		snprintf(shown, sizeof shown, "config/%s", dashes);
		err = publish_folder(dir, shown, &p.sets[i + 1], dry_run, &changes);
	}
	/* Folders of PCs that no longer need one. */
	DIR *d = err ? NULL : opendir(config_dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char mac[18];
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "default"))
			continue;
		bool keep = false;
		if (conf_parse_mac(e->d_name, mac) == 0)
			for (size_t i = 0; i < p.count; i++)
				keep |= own[i] && !strcmp(p.pcs[i].mac, mac);
		if (keep)
			continue;
		printf("%sremove config/%s/\n", dry_run ? "would " : "", e->d_name);
		changes++;
		path_fmt(dir, sizeof dir, "%s/%s", config_dir, e->d_name);
		if (!dry_run && remove_tree(dir) < 0)
			err = -EIO;
	}
	if (d)
		closedir(d);
	free(own);
	if (!err)
		err = write_manifest(root, dry_run, &changes);
	if (!err)
		printf(changes ? "%s%d change%s\n" : "%snothing to change\n", dry_run ? "would make " : "",
		       changes, changes == 1 ? "" : "s");
	plan_free(&p);
	return err ? 1 : 0;
}

static void config_usage(FILE *f)
{
	fprintf(f, "Usage: duet config check\n"
		   "       duet config show MAC|IP|HOSTNAME\n"
		   "       duet config publish [--dry-run]\n"
		   "       duet config pcs\n\n"
		   "check    report every error of duet.conf with its line number, for\n"
		   "         every PC the server knows of\n"
		   "show     the merged keys one PC gets and the files it fetches\n"
		   "publish  write each PC's files under TFTP_ROOT/duet/config/ and\n"
		   "         duet/SHA256SUMS, as the classroom image fetches them;\n"
		   "         --dry-run prints what it would change\n"
		   "pcs      the PCs the server knows of (duet.conf MAC sections,\n"
		   "         the ethers file, the DHCP leases)\n\n"
		   "See docs/duet.md for every key.\n");
}

static int config_pcs(struct duet_ctx *ctx)
{
	struct pc_id *pcs;
	size_t count;

	conf_known_pcs(ctx->conf, &pcs, &count);
	for (size_t i = 0; i < count; i++)
		printf("%s  %-15s  %s\n", pcs[i].mac, pcs[i].ip[0] ? pcs[i].ip : "-",
		       pcs[i].hostname[0] ? pcs[i].hostname : "-");
	free(pcs);
	return 0;
}

int duet_config_main(struct duet_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool dry_run = false;
	int c;

	while ((c = getopt_long(argc, argv, "nh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			dry_run = true;
			break;
		case 'h':
			config_usage(stdout);
			return 0;
		default:
			config_usage(stderr);
			return 2;
		}
	}
	const char *sub = optind < argc ? argv[optind] : NULL;
	int rest = argc - optind - 1;
	if (sub && !strcmp(sub, "check") && rest == 0)
		return config_check(ctx, false);
	if (sub && !strcmp(sub, "show") && rest == 1)
		return config_show(ctx, argv[optind + 1]);
	if (sub && !strcmp(sub, "publish") && rest == 0)
		return duet_config_publish(ctx, dry_run);
	if (sub && !strcmp(sub, "pcs") && rest == 0)
		return config_pcs(ctx);
	config_usage(stderr);
	return 2;
}

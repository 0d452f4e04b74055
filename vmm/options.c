/* duet-vmm's configuration surface: one table of keys, used both as
 * command-line options (--memory 1G) and as keys of a guest file read with
 * inih (memory = 1G), so the two can never drift apart. --help is printed
 * from the same table. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "block.h"
#include "loader.h"
#include "parse.h"
#include "smbios.h"

#define DUET_VERSION "0.1"

struct option_desc {
	const char *name;
	int short_name;            /* 0: none */
	const char *arg;           /* NULL: a flag */
	const char *help;
	int (*set)(struct vm_config *c, const char *value, char *err, size_t errlen);
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int set_string(char **slot, const char *key, const char *value, char *err,
		      size_t errlen)
{
	char *copy;

	if (!*value)
		return fail(err, errlen, "%s: empty value", key);
	copy = strdup(value);
	if (!copy)
		return fail(err, errlen, "%s: out of memory", key);
	free(*slot);
	*slot = copy;
	return 0;
}

/* parse_flag: a flag on the command line has no value (NULL); in a guest
 * file it reads yes/no, true/false, on/off or 1/0. */
static int parse_flag(const char *key, const char *value, int *out, char *err,
		      size_t errlen)
{
	if (!value || !strcasecmp(value, "yes") || !strcasecmp(value, "true") ||
	    !strcasecmp(value, "on") || !strcmp(value, "1")) {
		*out = 1;
		return 0;
	}
	if (!strcasecmp(value, "no") || !strcasecmp(value, "false") ||
	    !strcasecmp(value, "off") || !strcmp(value, "0")) {
		*out = 0;
		return 0;
	}
	return fail(err, errlen, "%s: '%s' is not yes or no", key, value);
}

static int set_name(struct vm_config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->name, "name", v, err, n);
}

static int set_memory(struct vm_config *c, const char *v, char *err, size_t n)
{
	if (parse_size(v, &c->memory) || c->memory < OPTIONS_MIN_MEMORY)
		return fail(err, n, "memory: '%s' is not a size of at least 1M (e.g. 512M, 2G)", v);
	return 0;
}

static int set_cpus(struct vm_config *c, const char *v, char *err, size_t n)
{
	uint64_t cpus;

	if (parse_u64(v, &cpus) || cpus < 1 || cpus > CONFIG_MAX_CPUS)
		return fail(err, n, "cpus: '%s' is not a number from 1 to %d", v, CONFIG_MAX_CPUS);
	c->cpus = (unsigned)cpus;
	return 0;
}

/* set_load: FILE[@ADDR]. The last '@' splits, so a path may hold '@'. */
static int set_load(struct vm_config *c, const char *v, char *err, size_t n)
{
	struct load_spec *l;
	const char *at = strrchr(v, '@');
	size_t path_len = at ? (size_t)(at - v) : strlen(v);

	if (c->nloads == CONFIG_MAX_LOADS)
		return fail(err, n, "load: at most %d images", CONFIG_MAX_LOADS);
	if (path_len == 0)
		return fail(err, n, "load: no file name given");
	l = &c->loads[c->nloads];
	l->addr = LOADER_FLAT_DEFAULT_ADDR;
	l->has_addr = 0;
	if (at) {
		if (parse_u64(at + 1, &l->addr))
			return fail(err, n, "load: '%s' is not an address", at + 1);
		l->has_addr = 1;
	}
	l->path = strndup(v, path_len);
	if (!l->path)
		return fail(err, n, "load: out of memory");
	c->nloads++;
	return 0;
}

static int set_serial(struct vm_config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->serial, "serial", v, err, n);
}

static int set_kernel(struct vm_config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->kernel, "kernel", v, err, n);
}

static int set_initrd(struct vm_config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->initrd, "initrd", v, err, n);
}

static int set_append(struct vm_config *c, const char *v, char *err, size_t n)
{
	char *copy = strdup(v); /* an empty command line is allowed */

	if (!copy)
		return fail(err, n, "append: out of memory");
	free(c->append);
	c->append = copy;
	return 0;
}

static struct ini_context *current_ini;

/* set_disk: the spec is checked now, so that a bad one is reported before
 * anything is set up (and in a guest file, with its line); the block layer
 * parses it again when it opens the disk. */
static int set_disk(struct vm_config *c, const char *v, char *err, size_t n)
{
	struct block_spec spec;
	char why[400];

	if (block_spec_parse(v, &spec, why, sizeof(why)))
		return fail(err, n, "%sdisk '%s': %s", current_ini ? "" : "--", v, why);
	block_spec_free(&spec);
	if (c->ndisks == CONFIG_MAX_DISKS)
		return fail(err, n, "disk: at most %d disks", CONFIG_MAX_DISKS);
	if (set_string(&c->disks[c->ndisks], "disk", v, err, n))
		return -EINVAL;
	c->ndisks++;
	return 0;
}

static int set_net(struct vm_config *c, const char *v, char *err, size_t n)
{
	if (c->nnets == CONFIG_MAX_NETS)
		return fail(err, n, "net: at most %d network cards", CONFIG_MAX_NETS);
	if (set_string(&c->nets[c->nnets], "net", v, err, n))
		return -EINVAL;
	c->nnets++;
	return 0;
}

static int set_control(struct vm_config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->control, "control", v, err, n);
}

static int set_bios(struct vm_config *c, const char *v, char *err, size_t n)
{
	return parse_flag("bios", v, &c->bios, err, n);
}

static int set_firmware(struct vm_config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->firmware, "firmware", v, err, n);
}

static int set_cdrom(struct vm_config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->cdrom, "cdrom", v, err, n);
}

static int set_boot(struct vm_config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->boot, "boot", v, err, n);
}

static int set_boot_menu(struct vm_config *c, const char *v, char *err, size_t n)
{
	return parse_flag("boot-menu", v, &c->boot_menu, err, n);
}

static int set_uuid(struct vm_config *c, const char *v, char *err, size_t n)
{
	uint8_t uuid[SMBIOS_UUID_SIZE];

	if (smbios_uuid_parse(v, uuid))
		return fail(err, n, "uuid: '%s' is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", v);
	return set_string(&c->uuid, "uuid", v, err, n);
}

static int set_debugcon(struct vm_config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->debugcon, "debugcon", v, err, n);
}

static int set_display(struct vm_config *c, const char *v, char *err, size_t n)
{
	return set_string(&c->display, "display", v, err, n);
}

static int set_rng(struct vm_config *c, const char *v, char *err, size_t n)
{
	return parse_flag("rng", v, &c->rng, err, n);
}

static int set_input(struct vm_config *c, const char *v, char *err, size_t n)
{
	return parse_flag("input", v, &c->input, err, n);
}

static int set_no_reboot(struct vm_config *c, const char *v, char *err, size_t n)
{
	return parse_flag("no-reboot", v, &c->no_reboot, err, n);
}

static int set_no_sandbox(struct vm_config *c, const char *v, char *err, size_t n)
{
	int off;

	if (parse_flag("no-sandbox", v, &off, err, n))
		return -EINVAL;
	c->sandbox = !off;
	return 0;
}

static int set_verbose(struct vm_config *c, const char *v, char *err, size_t n)
{
	int on;

	if (parse_flag("verbose", v, &on, err, n))
		return -EINVAL;
	c->verbose = on;
	return 0;
}

static int set_config(struct vm_config *c, const char *v, char *err, size_t n);

static const struct option_desc option_table[] = {
	{ "config", 'f', "FILE", "read options from a guest file (INI; keys as below,\n"
	  "without the dashes); later options override it", set_config },
	{ "name", 'n', "NAME", "name of the guest, used in messages (default: guest)", set_name },
	{ "memory", 'm', "SIZE", "guest RAM, e.g. 512M or 2G (default: 128M)", set_memory },
	{ "cpus", 'c', "N", "number of vCPUs, 1-64 (default: 1)", set_cpus },
	{ "kernel", 'k', "FILE", "boot this Linux bzImage directly (64-bit entry)", set_kernel },
	{ "initrd", 'i', "FILE", "initial ramdisk for --kernel", set_initrd },
	{ "append", 'a', "CMDLINE", "kernel command line for --kernel", set_append },
	{ "bios", 'b', NULL, "boot through SeaBIOS like a real PC (i440FX/PIIX, IDE,\n"
	  "std-VGA, e1000): the Windows slot", set_bios },
	{ "firmware", 0, "FILE", "the BIOS image for --bios (default:\n"
	  "/usr/share/seabios/bios-256k.bin)", set_firmware },
	{ "cdrom", 0, "FILE", "an ISO image in the CD-ROM drive (--bios)", set_cdrom },
	{ "boot", 0, "ORDER", "boot order for --bios: disk, cdrom, net, comma-separated\n"
	  "(default: disk,cdrom,net)", set_boot },
	{ "boot-menu", 0, NULL, "show SeaBIOS's boot menu (press ESC) for 2.5 s", set_boot_menu },
	{ "uuid", 0, "UUID", "the system UUID the guest reads from SMBIOS (--bios)\n"
	  "(default: derived from --name)", set_uuid },
	{ "disk", 'd', "SPEC", "a disk (virtio with --kernel, IDE with --bios):\n"
	  "file=PATH or nbd://HOST[:PORT]/EXPORT or\n"
	  "nbd+unix:///EXPORT?socket=PATH, then\n"
	  "[,ro][,discard=on|off][,overlay=ram[,overlay-limit=SIZE]]\n"
	  "[,timeout=SECONDS] (NBD: how long I/O waits for a lost\n"
	  "server, 0 = for ever, the default); overlay=ram keeps\n"
	  "every write in RAM, the file or export is never\n"
	  "written; may be repeated (up to 8)", set_disk },
	{ "net", 'N', "SPEC", "a NIC (virtio with --kernel, e1000 with --bios): tap=IFNAME or user[,hostfwd=tcp::HPORT-:GPORT...]\n"
	  "[,mac=xx:xx:xx:xx:xx:xx]; may be repeated (up to 4)", set_net },
	{ "control", 'C', "PATH", "listen for control commands (JSON lines) on this\n"
	  "Unix socket", set_control },
	{ "display", 'D', "PATH", "show the guest's screen on duet-display listening at\n"
	  "PATH (e.g. /run/duet/display.sock) and take its input", set_display },
	{ "rng", 0, "yes|no", "give a --kernel guest a virtio-rng device (default: yes)", set_rng },
	{ "input", 0, "yes|no", "give a --kernel guest virtio keyboard and tablet devices\n"
	  "(default: yes)", set_input },
	{ "load", 'l', "FILE[@ADDR]", "put an image in guest memory and start the first one:\n"
	  "a flat binary at ADDR (default 0x7c00) in real mode, or an\n"
	  "ELF32/ELF64 executable at its own addresses in 32-bit\n"
	  "protected / 64-bit long mode; may be repeated (up to 8)", set_load },
	{ "serial", 's', "WHERE", "where COM1 (0x3f8) output goes: stdio, none or a file\n"
	  "(default: stdio)", set_serial },
	{ "debugcon", 0, "FILE", "write the firmware's debug log (port 0x402) to FILE", set_debugcon },
	{ "no-reboot", 'R', NULL, "end duet-vmm when the guest resets: status 0 for a\n"
	  "reset it asked for, 1 for a triple fault", set_no_reboot },
	{ "no-sandbox", 0, NULL, "do not put duet-vmm under its seccomp allow-list after\n"
	  "set-up (for debugging; see docs/vmm.md)", set_no_sandbox },
	{ "verbose", 'v', NULL, "log more: device set-up, unclaimed I/O ports", set_verbose },
};
#define OPTION_COUNT (sizeof(option_table) / sizeof(option_table[0]))
#define OPTION_HELP 'h'
#define OPTION_VERSION 'V'

static const struct option_desc *option_find(const char *name)
{
	for (unsigned i = 0; i < OPTION_COUNT; i++)
		if (!strcmp(option_table[i].name, name))
			return &option_table[i];
	return NULL;
}

static void print_help(void)
{
	printf("Usage: duet-vmm [OPTION]...\n"
	       "Run one virtual machine on Linux KVM.\n\n");
	for (unsigned i = 0; i < OPTION_COUNT; i++) {
		const struct option_desc *o = &option_table[i];
		char head[48];
		const char *h = o->help;

		if (o->short_name)
			snprintf(head, sizeof(head), "-%c, --%s%s%s", o->short_name, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(head, sizeof(head), "    --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		printf("  %-26s", head);
		if (strlen(head) > 26)
			printf("\n  %-26s", "");
		for (const char *nl; (nl = strchr(h, '\n')) != NULL; h = nl + 1)
			printf(" %.*s\n  %-26s", (int)(nl - h), h, "");
		printf(" %s\n", h);
	}
	printf("  -h, --help                 print this help and exit\n"
	       "  -V, --version              print the version and exit\n\n"
	       "Test guests may write a byte to port 0x501 to end duet-vmm with that byte\n"
	       "as exit status.\n\n"
	       "Exit status: 0 when the guest powers off; the value written to port 0x501;\n"
	       "1 when the guest or the VMM fails while running; 2 when the VM cannot be\n"
	       "set up (bad option, unreadable file, no /dev/kvm).\n"
	       "See docs/vmm.md.\n");
}

/* ---- guest files ---- */

struct ini_context {
	struct vm_config *config;
	const char *path;
	char *err;
	size_t errlen;
	int failed;
	FILE *file;
	int lineno; /* of the line inih is handling: we count as we feed it */
};

/* options_ini_reader: fgets for inih, counting lines for error messages. */
static char *options_ini_reader(char *str, int num, void *stream)
{
	struct ini_context *ctx = stream;
	char *line = fgets(str, num, ctx->file);

	if (line)
		ctx->lineno++;
	return line;
}

static int options_ini_handler(void *user, const char *section, const char *name,
			       const char *value)
{
	struct ini_context *ctx = user;
	const struct option_desc *o;
	int lineno = ctx->lineno;
	char why[256];

	if (section[0] && strcmp(section, "vm")) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: unknown section [%s] (use [vm] or none)",
			 ctx->path, lineno, section);
		ctx->failed = 1;
		return 0;
	}
	o = option_find(name);
	if (!o || !strcmp(name, "config")) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: unknown key '%s' (see duet-vmm --help)",
			 ctx->path, lineno, name);
		ctx->failed = 1;
		return 0;
	}
	if (o->set(ctx->config, value, why, sizeof(why))) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: %s", ctx->path, lineno, why);
		ctx->failed = 1;
		return 0;
	}
	return 1;
}

static int set_config(struct vm_config *c, const char *v, char *err, size_t n)
{
	struct ini_context ctx = { c, v, err, n, 0, NULL, 0 };
	int rc;

	if (current_ini)
		return fail(err, n, "config: guest files cannot include other files");
	ctx.file = fopen(v, "r");
	if (!ctx.file)
		return fail(err, n, "config '%s': %s", v, strerror(errno));
	current_ini = &ctx;
	rc = ini_parse_stream(options_ini_reader, &ctx, options_ini_handler, &ctx);
	current_ini = NULL;
	fclose(ctx.file);
	if (ctx.failed)
		return -EINVAL;
	if (rc > 0)
		return fail(err, n, "%s:%d: not a key = value line", v, rc);
	return 0;
}

/* ---- command line ---- */

void config_free(struct vm_config *c)
{
	free(c->name);
	free(c->kvm_path);
	free(c->serial);
	free(c->kernel);
	free(c->initrd);
	free(c->append);
	free(c->control);
	free(c->firmware);
	free(c->cdrom);
	free(c->boot);
	free(c->debugcon);
	free(c->uuid);
	free(c->display);
	for (unsigned i = 0; i < c->nloads; i++)
		free(c->loads[i].path);
	for (unsigned i = 0; i < c->ndisks; i++)
		free(c->disks[i]);
	for (unsigned i = 0; i < c->nnets; i++)
		free(c->nets[i]);
	memset(c, 0, sizeof(*c));
}

int options_parse(int argc, char **argv, struct vm_config *c, char *err, size_t errlen)
{
	struct option longopts[OPTION_COUNT + 3];
	char shortopts[3 * OPTION_COUNT + 8];
	size_t s = 0;
	int opt, idx;

	memset(c, 0, sizeof(*c));
	c->memory = OPTIONS_DEFAULT_MEMORY;
	c->cpus = 1;
	c->rng = 1;
	c->input = 1;
	c->sandbox = 1;
	err[0] = 0;
	if (set_string(&c->name, "name", "guest", err, errlen) ||
	    set_string(&c->kvm_path, "kvm", "/dev/kvm", err, errlen) ||
	    set_string(&c->serial, "serial", "stdio", err, errlen))
		return -ENOMEM;

	shortopts[s++] = ':';
	for (unsigned i = 0; i < OPTION_COUNT; i++) {
		const struct option_desc *o = &option_table[i];

		longopts[i] = (struct option){ o->name, o->arg ? required_argument : no_argument,
					       NULL, 0x100 + (int)i };
		if (o->short_name) {
			shortopts[s++] = (char)o->short_name;
			if (o->arg)
				shortopts[s++] = ':';
		}
	}
	longopts[OPTION_COUNT] = (struct option){ "help", no_argument, NULL, OPTION_HELP };
	longopts[OPTION_COUNT + 1] = (struct option){ "version", no_argument, NULL, OPTION_VERSION };
	longopts[OPTION_COUNT + 2] = (struct option){ NULL, 0, NULL, 0 };
	shortopts[s++] = 'h';
	shortopts[s++] = 'V';
	shortopts[s] = 0;

	optind = 0; /* 0: full re-initialisation, so parsing twice works */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
		const struct option_desc *o = NULL;

		if (opt == OPTION_HELP) {
			print_help();
			return 1;
		}
		if (opt == OPTION_VERSION) {
			printf("duet-vmm %s\n", DUET_VERSION);
			return 1;
		}
		if (opt == ':') {
			snprintf(err, errlen, "%s: needs a value (see --help)", argv[optind - 1]);
			return -EINVAL;
		}
		if (opt >= 0x100 && opt < 0x100 + (int)OPTION_COUNT) {
			o = &option_table[opt - 0x100];
		} else {
			for (unsigned i = 0; i < OPTION_COUNT; i++)
				if (option_table[i].short_name == opt)
					o = &option_table[i];
		}
		if (!o) {
			snprintf(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
			return -EINVAL;
		}
		if (o->set(c, optarg, err, errlen)) {
			/* Setters name their key first ("memory: ..."); on the
			 * command line the user typed it with dashes. */
			if (!strncmp(err, o->name, strlen(o->name)) && err[strlen(o->name)] == ':') {
				char tmp[512];

				snprintf(tmp, sizeof(tmp), "--%s", err);
				snprintf(err, errlen, "%s", tmp);
			}
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	if (c->nloads == 0 && !c->kernel && !c->bios) {
		snprintf(err, errlen, "nothing to run: give --bios, --kernel FILE or --load FILE "
			 "(see --help)");
		return -EINVAL;
	}
	if ((c->nloads != 0) + (c->kernel != NULL) + (c->bios != 0) > 1) {
		snprintf(err, errlen, "--bios, --kernel and --load cannot be used together");
		return -EINVAL;
	}
	if ((c->firmware || c->cdrom || c->boot || c->boot_menu) && !c->bios) {
		snprintf(err, errlen, "--firmware, --cdrom, --boot and --boot-menu need --bios");
		return -EINVAL;
	}
	if (c->uuid && !c->bios) {
		snprintf(err, errlen, "--uuid needs --bios (only the BIOS boot has SMBIOS tables)");
		return -EINVAL;
	}
	if ((c->initrd || c->append) && !c->kernel) {
		snprintf(err, errlen, "--initrd and --append need --kernel");
		return -EINVAL;
	}
	return 0;
}

/* duet-vmm's command line: every option, its help text and its checks. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"
#include "parse.h"

#define DUET_VERSION "0.1"

static const char usage[] =
	"Usage: duet-vmm [OPTION]...\n"
	"Run one virtual machine on Linux KVM.\n"
	"\n"
	"  -n, --name NAME        name of the guest, used in messages (default: guest)\n"
	"  -m, --memory SIZE      guest RAM, e.g. 512M or 2G (default: 128M)\n"
	"  -c, --cpus N           number of vCPUs, 1-64 (default: 1)\n"
	"  -l, --load FILE[@ADDR] put an image in guest memory and start the first\n"
	"                         one: a flat binary at ADDR (default 0x7c00) in real\n"
	"                         mode, or an ELF32/ELF64 executable at its own\n"
	"                         addresses in 32-bit protected / 64-bit long mode;\n"
	"                         may be given up to 8 times\n"
	"  -s, --serial WHERE     where COM1 (0x3f8) output goes: stdio, none or a\n"
	"                         file name (default: stdio)\n"
	"      --no-reboot        end duet-vmm when the guest resets: status 0 for a\n"
	"                         reset it asked for, 1 for a triple fault\n"
	"  -v, --verbose          log more: device set-up, unclaimed I/O ports\n"
	"  -h, --help             print this help and exit\n"
	"  -V, --version          print the version and exit\n"
	"\n"
	"Test guests may write a byte to port 0x501 to end duet-vmm with that byte\n"
	"as exit status.\n"
	"\n"
	"Exit status: 0 when the guest powers off; the value written to port 0x501;\n"
	"1 when the guest or the VMM fails while running; 2 when the VM cannot be\n"
	"set up (bad option, unreadable file, no /dev/kvm).\n";

static const struct option long_options[] = {
	{ "name", required_argument, NULL, 'n' },
	{ "memory", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "load", required_argument, NULL, 'l' },
	{ "serial", required_argument, NULL, 's' },
	{ "no-reboot", no_argument, NULL, 'R' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* options_load: FILE[@ADDR]. The last '@' splits, so a path may hold '@'. */
static int options_load(struct vm_config *c, char *arg, char *err, size_t errlen)
{
	struct load_spec *l;
	char *at = strrchr(arg, '@');

	if (c->nloads == CONFIG_MAX_LOADS) {
		snprintf(err, errlen, "--load: at most %d images", CONFIG_MAX_LOADS);
		return -EINVAL;
	}
	l = &c->loads[c->nloads];
	l->addr = LOADER_FLAT_DEFAULT_ADDR;
	if (at) {
		*at = 0;
		if (parse_u64(at + 1, &l->addr)) {
			snprintf(err, errlen, "--load: '%s' is not an address", at + 1);
			return -EINVAL;
		}
		l->has_addr = 1;
	}
	if (!*arg) {
		snprintf(err, errlen, "--load: no file name given");
		return -EINVAL;
	}
	l->path = arg;
	c->nloads++;
	return 0;
}

int options_parse(int argc, char **argv, struct vm_config *c, char *err, size_t errlen)
{
	uint64_t n;
	int opt;

	memset(c, 0, sizeof(*c));
	c->name = "guest";
	c->memory = OPTIONS_DEFAULT_MEMORY;
	c->cpus = 1;
	c->kvm_path = "/dev/kvm";
	c->serial = "stdio";
	err[0] = 0;

	optind = 0; /* 0: full re-initialisation, so parsing twice works */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:m:c:l:s:vhV", long_options, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (!*optarg) {
				snprintf(err, errlen, "--name: empty name");
				return -EINVAL;
			}
			c->name = optarg;
			break;
		case 'm':
			if (parse_size(optarg, &c->memory) || c->memory < OPTIONS_MIN_MEMORY) {
				snprintf(err, errlen,
					 "--memory: '%s' is not a size of at least 1M (e.g. 512M, 2G)",
					 optarg);
				return -EINVAL;
			}
			break;
		case 'c':
			if (parse_u64(optarg, &n) || n < 1 || n > CONFIG_MAX_CPUS) {
				snprintf(err, errlen, "--cpus: '%s' is not a number from 1 to %d",
					 optarg, CONFIG_MAX_CPUS);
				return -EINVAL;
			}
			c->cpus = (unsigned)n;
			break;
		case 'l':
			if (options_load(c, optarg, err, errlen))
				return -EINVAL;
			break;
		case 's':
			if (!*optarg) {
				snprintf(err, errlen, "--serial: give stdio, none or a file name");
				return -EINVAL;
			}
			c->serial = optarg;
			break;
		case 'R':
			c->no_reboot = 1;
			break;
		case 'v':
			c->verbose++;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		case 'V':
			printf("duet-vmm %s\n", DUET_VERSION);
			return 1;
		case ':':
			snprintf(err, errlen, "%s: needs a value (see --help)", argv[optind - 1]);
			return -EINVAL;
		default:
			snprintf(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	if (c->nloads == 0) {
		snprintf(err, errlen, "nothing to run: give --load FILE (see --help)");
		return -EINVAL;
	}
	return 0;
}

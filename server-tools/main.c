/* duet: the LTSP server's command for the classroom (see docs/duet.md).
 *
 *   duet [-c FILE] COMMAND ARGS...
 *
 * Global options come before the command; each command parses its own. */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "duet.h"

#define DUET_VERSION "0.1"

struct command {
	const char *name;
	int (*main)(struct duet_ctx *ctx, int argc, char **argv);
	bool needs_config; /* refuse to run with errors in duet.conf */
	const char *summary;
};

static const struct command commands[] = {
	{ "install", duet_install_main, true, "put duet's netboot tree and dnsmasq snippet in place" },
	{ "config", duet_config_main, false, "check duet.conf, show and publish each PC's config" },
	{ "image", duet_image_main, true, "golden guest images: import, list, edit, commit, rollback" },
	{ "vm", duet_vm_main, true, "server VMs: create, start, stop, destroy, list" },
	{ "wall", duet_wall_main, true, "thumbnails of every classroom PC's screen" },
	{ "switch", duet_switch_main, true, "flip a PC (or all) to a guest" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: duet [-c FILE] COMMAND [ARGS...]\n\n"
		   "The classroom's command on the LTSP server.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nOptions:\n"
		   "  -c, --config FILE  the configuration (default: $DUET_CONFIG, else "
		   DUET_CONF_DEFAULT ")\n"
		   "  -h, --help         this help; `duet COMMAND --help` for a command's\n"
		   "  -V, --version      the version\n\n"
		   "See docs/duet.md and docs/admin.md.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	int c;

	/* "+": stop at the command; its options are its own. */
	while ((c = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("duet %s\n", DUET_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	int cmd_index = optind;
	const char *name = argv[cmd_index];
	const struct command *cmd = NULL;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(commands[i].name, name))
			cmd = &commands[i];
	if (!strcmp(name, "help")) {
		usage(stdout);
		return 0;
	}
	if (!cmd) {
		fprintf(stderr, "duet: no command '%s' (see duet --help)\n", name);
		return 2;
	}

	struct duet_conf *conf;
	int errors = conf_load(config, &conf);
	if (errors < 0)
		return 1; /* conf_load said why */
	if (errors > 0 && cmd->needs_config) {
		fprintf(stderr, "duet: %s has %d error%s; fix %s first (duet config check)\n",
			conf->path, errors, errors == 1 ? "" : "s", errors == 1 ? "it" : "them");
		conf_free(conf);
		return 1;
	}

	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';
	struct duet_ctx ctx = { .conf = conf, .conf_errors = errors, .argv0_dir = dirname(self) };
	/* getopt in the command starts over on its own argv. */
	optind = 0;
	int status = cmd->main(&ctx, argc - cmd_index, argv + cmd_index);
	conf_free(conf);
	return status;
}

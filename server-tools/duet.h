/* The `duet` command's subcommands. Each gets the loaded configuration and
 * its own arguments (argv[0] is the subcommand's name) and returns the
 * process exit status: 0 success, 1 failure (one clear line printed), 2 bad
 * usage. */
#ifndef DUET_DUET_H
#define DUET_DUET_H

#include <stdbool.h>

#include "conf.h"

struct duet_ctx {
	struct duet_conf *conf;
	int conf_errors;       /* errors conf_load reported (each printed once) */
	const char *argv0_dir; /* the directory duet runs from (finds build/netboot) */
};

int duet_install_main(struct duet_ctx *ctx, int argc, char **argv);
int duet_config_main(struct duet_ctx *ctx, int argc, char **argv);
int duet_image_main(struct duet_ctx *ctx, int argc, char **argv);
int duet_vm_main(struct duet_ctx *ctx, int argc, char **argv);
int duet_wall_main(struct duet_ctx *ctx, int argc, char **argv);
int duet_switch_main(struct duet_ctx *ctx, int argc, char **argv);

/* duet_config_publish: `duet config publish [--dry-run]`; 0 or 1. */
int duet_config_publish(struct duet_ctx *ctx, bool dry_run);

#endif

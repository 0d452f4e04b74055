/* `duet image serve`: the supervisor of the golden images' read-only NBD
 * exports (docs/duet-image.md, "Serving"). */
#ifndef DUET_IMAGE_SERVE_H
#define DUET_IMAGE_SERVE_H

#include <stdbool.h>

#include "conf.h"

/* image_serve_main: runs until SIGTERM or SIGINT; the exit status. */
int image_serve_main(const struct duet_conf *conf, int argc, char **argv);

/* image_is_served: whether a running `duet image serve` exports name. */
bool image_is_served(const struct duet_conf *conf, const char *name);

#endif

/* duet-vmm's command line. */
#ifndef DUET_OPTIONS_H
#define DUET_OPTIONS_H

#include <stddef.h>

#include "config.h"

#define OPTIONS_DEFAULT_MEMORY (128ULL << 20)
#define OPTIONS_MIN_MEMORY (1ULL << 20)

/* options_parse: fill `config` from argv. Returns 0 to run, 1 when --help
 * or --version was answered (printed to stdout), or -EINVAL with a sentence
 * for the user in `err`. */
int options_parse(int argc, char **argv, struct vm_config *config, char *err,
		  size_t errlen);

#endif

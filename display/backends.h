/* Finding an output or input back end by the name given on the command
 * line. */
#ifndef DUET_DISPLAY_BACKENDS_H
#define DUET_DISPLAY_BACKENDS_H

#include "input_source.h"
#include "output.h"

/* NULL when no back end has that name. */
const struct output_ops *output_find(const char *name);
const struct input_source_ops *input_source_find(const char *name);

#endif

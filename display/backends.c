/* The back ends duet-display knows, by name: one line each. */
#include "backends.h"

#include <string.h>

static const struct output_ops *const outputs[] = {
	&output_drm_ops,
	&output_fbdev_ops,
	&output_offscreen_ops,
};

static const struct input_source_ops *const inputs[] = {
	&input_evdev_ops,
	&input_none_ops,
	&input_synthetic_ops,
};

const struct output_ops *output_find(const char *name)
{
	for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++)
		if (!strcmp(outputs[i]->name, name))
			return outputs[i];
	return NULL;
}

const struct input_source_ops *input_source_find(const char *name)
{
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		if (!strcmp(inputs[i]->name, name))
			return inputs[i];
	return NULL;
}

/* duet config: placeholder, written next. */
#include <stdio.h>

#include "duet.h"

int duet_config_main(struct duet_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	return 1;
}

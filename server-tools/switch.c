/* duet switch: placeholder until its helper writes it. */
#include <stdio.h>

#include "duet.h"

int duet_switch_main(struct duet_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	fprintf(stderr, "duet: 'switch' is not built yet\n");
	return 1;
}

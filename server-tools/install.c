/* duet install: placeholder until its helper writes it. */
#include <stdio.h>

#include "duet.h"

int duet_install_main(struct duet_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	fprintf(stderr, "duet: 'install' is not built yet\n");
	return 1;
}

/* duet-display: owns the PC's screen, keyboard and mouse and shows one
 * guest at a time (see docs/display.md). Exit status: 0 after SIGTERM or
 * SIGINT, 1 when the loop fails, 2 when it cannot start. */
#include <stdio.h>

#include "display.h"
#include "log.h"

int main(int argc, char **argv)
{
	struct display_options opts;
	struct display *d;
	char err[512];
	int rc;

	log_init("duet-display");
	rc = display_options_parse(argc, argv, &opts, err, sizeof(err));
	if (rc) {
		display_options_free(&opts);
		if (rc > 0)
			return 0;
		fprintf(stderr, "duet-display: %s\n", err);
		return 2;
	}
	if (opts.verbose)
		log_set_level(LOG_DEBUG);
	if (display_create(&d, &opts)) {
		display_options_free(&opts);
		return 2;
	}
	rc = display_run(d);
	display_destroy(d);
	display_options_free(&opts);
	return rc ? 1 : 0;
}

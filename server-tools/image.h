/* Golden guest images (`duet image`): what other subcommands need of them. */
#ifndef DUET_IMAGE_H
#define DUET_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

/* image_nbd_url: the URL a classroom PC's duet-vmm opens for golden image
 * name, with `address` the server's address as PCs reach it:
 * "nbd://ADDRESS:NBD_PORT/VERSION" (the current version's own export, e.g.
 * windows-2026-11-24.raw, read-only, so that a PC that reconnects keeps
 * the version it booted with), or with
 * edit the writable overlay `duet image edit` opened. -ENOENT when there is
 * no such image (or, with edit, no open edit); -ENAMETOOLONG if it does
 * not fit. */
int image_nbd_url(const struct duet_conf *conf, const char *name, bool edit,
		  const char *address, char *buf, size_t size);

/* image_name_is_valid: [a-z0-9][a-z0-9_-]{0,31} */
bool image_name_is_valid(const char *name);

#endif

/* The golden images on disk (docs/duet-image.md, "Layout"):
 *
 *   IMAGE_DIR/NAME-YYYY-MM-DD[-N].raw  a version: raw, sparse, never changed
 *   IMAGE_DIR/NAME                     symlink to the current version
 *   IMAGE_DIR/NAME.history             the versions that were current, oldest
 *                                      first: rollback pops the last
 *   IMAGE_DIR/NAME-edit.qcow2          an open edit, backed by the version
 *   IMAGE_DIR/.NAME.*.tmp              work in progress (cleaned up)
 *   RUN_DIR/image-NAME.lock            held while a command changes NAME
 *   RUN_DIR/image-edit-NAME.pid        the edit's qemu-nbd
 *   RUN_DIR/image-serve.pid            `duet image serve`
 *
 * The symlink is the truth: it only ever moves to a complete, fsync'd
 * version, by rename(2). Everything else is repaired by the next command. */
#ifndef DUET_IMAGE_STORE_H
#define DUET_IMAGE_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf.h"

#define IMAGE_VERSION_MAX 128 /* a version's file name, with its NUL */

struct image_strv {
	char **v;
	size_t n;
};

void image_strv_free(struct image_strv *s);
int image_strv_push(struct image_strv *s, const char *str);

/* image_path: IMAGE_DIR/NAMEsuffix (-ENAMETOOLONG if it does not fit). */
int image_path(const struct duet_conf *conf, const char *name, const char *suffix,
	       char path[PATH_MAX]);
int image_run_path(const struct duet_conf *conf, const char *what, char path[PATH_MAX]);

/* image_current: the file name of NAME's current version; -ENOENT when
 * there is no image NAME, -EUCLEAN when the symlink is not ours. */
int image_current(const struct duet_conf *conf, const char *name,
		  char version[IMAGE_VERSION_MAX]);

/* image_names: every image (a symlink with a valid name), sorted. */
int image_names(const struct duet_conf *conf, struct image_strv *out);

/* image_versions: NAME's version files on disk, sorted (oldest first). */
int image_versions(const struct duet_conf *conf, const char *name, struct image_strv *out);
bool image_version_of(const char *name, const char *file);

/* image_new_version: a free name for a version made today. */
int image_new_version(const struct duet_conf *conf, const char *name,
		      char version[IMAGE_VERSION_MAX]);

/* The history: read (missing = empty) and replaced atomically. */
int image_history_read(const struct duet_conf *conf, const char *name, struct image_strv *out);
int image_history_write(const struct duet_conf *conf, const char *name,
			const struct image_strv *h);

/* image_history_upto: the history up to and including current (what it
 * says when the symlink is the truth); [current] when it is not listed. */
int image_history_upto(const struct duet_conf *conf, const char *name, const char *current,
		       struct image_strv *out);

/* image_set_current: points NAME at version, atomically, durably. */
int image_set_current(const struct duet_conf *conf, const char *name, const char *version);

/* image_publish: tmp (a complete file in IMAGE_DIR) becomes version
 * NAME-DATE.raw, fsync'd before and after the rename; the history gains
 * it and the symlink moves to it. */
int image_publish(const struct duet_conf *conf, const char *name, const char *tmp,
		  const char *current, char version[IMAGE_VERSION_MAX]);

/* image_lock: an exclusive lock on NAME for this process's life (the fd;
 * -EBUSY when another command holds it). Cleans up NAME's temp files. */
int image_lock(const struct duet_conf *conf, const char *name);

/* image_edit_pid: the qemu-nbd serving NAME's edit, 0 when none. */
pid_t image_edit_pid(const struct duet_conf *conf, const char *name);

/* image_overlay_base: the version NAME's edit overlay is backed by;
 * -ENOENT without an overlay. */
int image_overlay_base(const struct duet_conf *conf, const char *name,
		       char version[IMAGE_VERSION_MAX]);

/* image_serve_pid: the running `duet image serve`, 0 when none. */
pid_t image_serve_pid(const struct duet_conf *conf);

/* image_serve_notify: tells a running `duet image serve` to look again. */
void image_serve_notify(const struct duet_conf *conf);

/* image_fsync_path: fsync a file by name. */
int image_fsync_path(const char *path);

#endif

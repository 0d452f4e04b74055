/* The golden images on disk (docs/duet-image.md, "Layout"):
 *
 *   IMAGE_DIR/NAME-YYYY-MM-DD[-N].raw  a version: raw, sparse, never changed
 *   IMAGE_DIR/NAME                     symlink to the current version
 *   IMAGE_DIR/NAME.history             the versions that were current, oldest
 *                                      first: rollback pops the last
 *   IMAGE_DIR/NAME-edit.qcow2          an open edit, backed by the version
 *   IMAGE_DIR/NAME-edit.committed      written by commit before its symlink
 *                                      swap: which version the edit became
 *   IMAGE_DIR/.NAME.*.tmp              work in progress (cleaned up)
 *   RUN_DIR/image-NAME.lock            held while a command changes NAME
 *   RUN_DIR/image-edit-NAME.pid        the edit's qemu-nbd
 *   RUN_DIR/image-edit-NAME.log        its output
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

/* image_publish_as: the same with the version's name chosen by the caller
 * (image_new_version); -EEXIST when that file is there. */
int image_publish_as(const struct duet_conf *conf, const char *name, const char *tmp,
		     const char *current, const char *version);

/* image_lock: an exclusive lock on NAME for this process's life (the fd;
 * -EBUSY when another command holds it). */
int image_lock(const struct duet_conf *conf, const char *name);

/* image_clean_temps: removes (dry_run: only finds) what killed commands
 * on NAME left in IMAGE_DIR: .NAME.{new,link,import}.tmp and the temps
 * of NAME.history and NAME-edit.committed. Their file names are added to
 * found (NULL: not wanted). Call it with NAME's lock held. */
int image_clean_temps(const struct duet_conf *conf, const char *name, bool dry_run,
		      struct image_strv *found);

/* image_temp_owners: the names of every image with temp files in
 * IMAGE_DIR, whether or not it has a symlink yet (a first import killed
 * before it made one), sorted. */
int image_temp_owners(const struct duet_conf *conf, struct image_strv *out);

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

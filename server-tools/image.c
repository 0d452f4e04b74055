/* duet image: golden guest images, versioned behind a symlink, served
 * read-only over NBD, edited through a writable overlay, committed and
 * rolled back atomically (docs/duet-image.md; the layout is in
 * image_store.h). */
#include "image.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duet.h"
#include "image_run.h"
#include "image_serve.h"
#include "image_store.h"
#include "util.h"

bool image_name_is_valid(const char *name)
{
	size_t len = strlen(name);

	if (len < 1 || len > 32 || !(islower((unsigned char)name[0]) || isdigit((unsigned char)name[0])))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!(islower(c) || isdigit(c) || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* url_host: address as it goes in a URL (IPv6 in brackets). */
static int url_put(char *buf, size_t size, const char *address, int port, const char *name,
		   const char *suffix)
{
	bool v6 = strchr(address, ':') != NULL;
	int n = snprintf(buf, size, "nbd://%s%s%s:%d/%s%s", v6 ? "[" : "", address, v6 ? "]" : "",
			 port, name, suffix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int image_nbd_url(const struct duet_conf *conf, const char *name, bool edit,
		  const char *address, char *buf, size_t size)
{
	char version[IMAGE_VERSION_MAX], path[PATH_MAX];

	if (!image_name_is_valid(name) || image_current(conf, name, version) < 0)
		return -ENOENT;
	/* The version's own export: a PC that reconnects after a commit
	 * keeps reading the version it booted with. */
	if (!edit)
		return url_put(buf, size, address, conf->server.nbd_port, version, "");
	if (image_path(conf, name, "-edit.qcow2", path) < 0 || access(path, F_OK) < 0)
		return -ENOENT;
	return url_put(buf, size, address, conf->server.edit_port, name, "-edit");
}

/* fail: the one line the admin sees; returns exit status 1. */
#define fail(name, ...) fail_named("image", (name), __VA_ARGS__)

static void human_size(unsigned long long bytes, char buf[32])
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%llu B", bytes);
	else
		snprintf(buf, 32, "%.1f %s", v, units[u]);
}

static const char *tool_error(int status, const char *tool, char *err)
{
	static char buf[600];

	if (status == -ENOENT) {
		snprintf(buf, sizeof buf, "%s is not installed", tool);
		return buf;
	}
	if (status < 0) {
		snprintf(buf, sizeof buf, "could not run %s: %s", tool, strerror(-status));
		return buf;
	}
	const char *line = image_last_line(err);
	if (!*line)
		snprintf(buf, sizeof buf, "%s failed (exit status %d)", tool, status);
	else
		snprintf(buf, sizeof buf, "%.500s", line);
	return buf;
}

/* lock_image: the image's lock, or the error printed (-1). What killed
 * commands on NAME left behind goes. */
static int lock_image(const struct duet_conf *conf, const char *name)
{
	int fd = image_lock(conf, name);

	if (fd == -EBUSY)
		fail(name, "another duet image command is working on it; try again when it is done");
	else if (fd < 0)
		fail(name, "cannot lock it in %s: %s", conf->server.run_dir, strerror(-fd));
	else
		image_clean_temps(conf, name, false, NULL);
	return fd < 0 ? -1 : fd;
}

/* need_image: NAME is valid and exists; its current version in version. */
static int need_image(const struct duet_conf *conf, const char *name,
		      char version[IMAGE_VERSION_MAX])
{
	if (!image_name_is_valid(name))
		return fail(name, "not a valid image name (1-32 of a-z, 0-9, '-', '_'; "
				  "starting with a letter or digit)");
	int err = image_current(conf, name, version);
	if (err == -ENOENT)
		return fail(name, "no such image in %s (duet image list)", conf->server.image_dir);
	if (err == -EUCLEAN)
		return fail(name, "%s/%s is not a symlink to one of its versions",
			    conf->server.image_dir, name);
	if (err < 0)
		return fail(name, "%s/%s: %s", conf->server.image_dir, name, strerror(-err));
	return 0;
}

/* lock_existing: NAME's lock, and its current version as it is once the
 * lock is held (another command may have moved it meanwhile); -1 with the
 * error printed. */
static int lock_existing(const struct duet_conf *conf, const char *name,
			 char current[IMAGE_VERSION_MAX])
{
	/* need_image first: the lock file's name is made of NAME. */
	if (need_image(conf, name, current))
		return -1;
	int lock = lock_image(conf, name);
	if (lock < 0)
		return -1;
	if (need_image(conf, name, current)) {
		close(lock);
		return -1;
	}
	return lock;
}

/* remove_edit: stops the edit's qemu-nbd and removes its overlay. */
static int remove_edit(const struct duet_conf *conf, const char *name)
{
	char path[PATH_MAX], what[NAME_MAX + 1];
	pid_t pid = image_edit_pid(conf, name);

	if (pid > 0 && image_pid_stop(pid, 30000) < 0)
		return fail(name, "the edit's qemu-nbd (pid %d) does not stop", (int)pid);
	snprintf(what, sizeof what, "image-edit-%s.pid", name);
	if (image_run_path(conf, what, path) == 0)
		unlink(path);
	snprintf(what, sizeof what, "image-edit-%s.log", name);
	if (image_run_path(conf, what, path) == 0)
		unlink(path);
	if (image_path(conf, name, "-edit.qcow2", path) == 0 && unlink(path) < 0 && errno != ENOENT)
		return fail(name, "cannot remove %s: %s", path, strerror(errno));
	/* The marker goes last: while the overlay is there it says why. */
	if (image_path(conf, name, "-edit.committed", path) == 0)
		unlink(path);
	return 0;
}

/* commit_marker: what NAME-edit.committed says when the overlay, backed
 * by base, became version: both names and the overlay file's identity
 * (device, inode, size, mtime; qemu-nbd is stopped, nothing writes it). */
static int commit_marker(const struct duet_conf *conf, const char *name, const char *base,
			 const char *version, char *buf, size_t size)
{
	char overlay[PATH_MAX];
	struct stat st;

	if (image_path(conf, name, "-edit.qcow2", overlay) < 0 || stat(overlay, &st) < 0)
		return -1;
	int n = snprintf(buf, size, "base %s\nversion %s\noverlay %llu:%llu %lld %lld.%09ld\n", base,
			 version, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
			 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* edit_committed: whether the overlay (backed by base) is an edit that
 * a killed commit already made current: base is the version just before
 * current in the history, and the marker commit wrote before its symlink
 * swap names base, current and this very overlay file. */
static bool edit_committed(const struct duet_conf *conf, const char *name, const char *base,
			   const char *current)
{
	char path[PATH_MAX], want[2 * IMAGE_VERSION_MAX + 128], *have;
	struct image_strv h;
	bool prev_is_base = false;

	if (image_history_upto(conf, name, current, &h) < 0)
		return false;
	prev_is_base = h.n >= 2 && !strcmp(h.v[h.n - 2], base);
	image_strv_free(&h);
	if (!prev_is_base || commit_marker(conf, name, base, current, want, sizeof want) < 0 ||
	    image_path(conf, name, "-edit.committed", path) < 0 ||
	    read_file(path, 4096, &have, NULL) < 0)
		return false;
	bool same = !strcmp(have, want);
	free(have);
	return same;
}

/* edit_state: 1 when NAME has an open edit (an overlay on the current
 * version), 0 when not, -1 with the error printed. An overlay that a
 * commit killed after its symlink swap left (edit_committed) is removed
 * here. Any other overlay (unreadable, or on another version) is refused,
 * so that no command throws the admin's edit away; for discard
 * (dropping) it counts as an open edit, to be dropped. */
static int edit_state(const struct duet_conf *conf, const char *name, const char *current,
		      bool dropping)
{
	char base[IMAGE_VERSION_MAX];
	int err = image_overlay_base(conf, name, base);

	if (err == -ENOENT)
		return 0;
	if (err < 0) {
		if (dropping)
			return 1;
		fail(name, "cannot read its edit overlay %s/%s-edit.qcow2 (qemu-img info failed); "
			   "duet image discard %s drops it",
		     conf->server.image_dir, name, name);
		return -1;
	}
	if (strcmp(base, current) == 0)
		return 1;
	if (edit_committed(conf, name, base, current)) {
		printf("image '%s': removing the overlay of an edit already committed as %s\n", name,
		       current);
		return remove_edit(conf, name) ? -1 : 0;
	}
	if (dropping)
		return 1;
	fail(name, "its edit overlay %s/%s-edit.qcow2 is on version %s, not on the current %s; "
		   "copy it away to keep its changes, then duet image discard %s drops it",
	     conf->server.image_dir, name, base, current, name);
	return -1;
}

static const char *const formats[] = { "raw", "qcow2", "vmdk", "vdi" };

/* probe: what qemu-img says of file; the format in fmt, 0 or exit status. */
static int probe(const char *name, const char *file, char fmt[16], unsigned long long *vsize)
{
	static char out[65536];
	char err[4096];
	char *argv[] = { "qemu-img", "info", "--output=json", (char *)file, NULL };
	int status = image_run(argv, out, sizeof out, err, sizeof err);

	if (status != 0)
		return fail(name, "%s is not a disk image qemu-img can read: %s", file,
			    tool_error(status, "qemu-img", err));
	json_t *info = json_loads(out, 0, NULL);
	const char *f = json_string_value(json_object_get(info, "format"));
	json_int_t size = json_integer_value(json_object_get(info, "virtual-size"));
	bool encrypted = json_is_true(json_object_get(info, "encrypted"));
	int ret = 0;
	bool known = false;
	for (size_t i = 0; f && i < sizeof formats / sizeof formats[0]; i++)
		known |= !strcmp(f, formats[i]);
	if (!f)
		ret = fail(name, "%s: qemu-img info gave no format", file);
	else if (!known)
		ret = fail(name, "%s is a %s image; duet imports raw, qcow2, vmdk and vdi "
				 "(qemu-img convert it to one of those first)",
			   file, f);
	else if (encrypted)
		ret = fail(name, "%s is encrypted; decrypt it first", file);
	else if (size <= 0)
		ret = fail(name, "%s is an empty disk image", file);
	if (!ret) {
		snprintf(fmt, 16, "%s", f);
		*vsize = (unsigned long long)size;
	}
	json_decref(info);
	return ret;
}

/* check_file: file's contents look like a whole image of format fmt. */
static int check_file(const char *name, const char *file, const char *fmt)
{
	struct stat st;

	if (!strcmp(fmt, "raw")) {
		if (stat(file, &st) < 0)
			return fail(name, "%s: %s", file, strerror(errno));
		if (S_ISREG(st.st_mode) && (st.st_size == 0 || st.st_size % 512))
			return fail(name, "%s is not a disk image (raw, but %lld bytes is not a whole "
					  "number of 512-byte sectors)",
				    file, (long long)st.st_size);
		return 0;
	}
	char out[16384], err[4096];
	char *argv[] = { "qemu-img", "check", "-f", (char *)fmt, (char *)file, NULL };
	int status = image_run(argv, out, sizeof out, err, sizeof err);
	/* 0 clean, 3 leaked clusters only (harmless), 63 no checks for fmt. */
	if (status == 0 || status == 3 || status == 63)
		return 0;
	if (status == 2)
		return fail(name, "%s is a damaged %s image (qemu-img check: %s)", file, fmt,
			    image_last_line(*err ? err : out));
	return fail(name, "%s is not a readable %s image: %s", file, fmt,
		    tool_error(status, "qemu-img check", *err ? err : out));
}

static int cmd_import(const struct duet_conf *conf, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "new-version", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool new_version = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "nh", longopts, NULL)) != -1) {
		if (c == 'n') {
			new_version = true;
		} else if (c == 'h') {
			printf("Usage: duet image import [--new-version] FILE NAME\n\n"
			       "Converts FILE (raw, qcow2, vmdk or vdi) into a new raw version of\n"
			       "golden image NAME and makes it current. NAME must be new unless\n"
			       "--new-version is given.\n");
			return 0;
		} else {
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "Usage: duet image import [--new-version] FILE NAME\n");
		return 2;
	}
	const char *file = argv[optind], *name = argv[optind + 1];
	if (!image_name_is_valid(name))
		return fail(name, "not a valid image name (1-32 of a-z, 0-9, '-', '_'; "
				  "starting with a letter or digit)");
	struct stat st;
	if (stat(file, &st) < 0)
		return fail(name, "%s: %s", file, errno == ENOENT ? "no such file" : strerror(errno));
	if (S_ISDIR(st.st_mode))
		return fail(name, "%s is a directory, not a disk image", file);
	int err = mkdir_p(conf->server.image_dir, 0755);
	if (err < 0)
		return fail(name, "cannot create %s: %s", conf->server.image_dir, strerror(-err));
	int lock = lock_image(conf, name);
	if (lock < 0)
		return 1;
	char current[IMAGE_VERSION_MAX];
	err = image_current(conf, name, current);
	bool exists = err == 0;
	if (err < 0 && err != -ENOENT)
		return fail(name, "%s/%s is in the way (not a symlink to one of its versions)",
			    conf->server.image_dir, name);
	if (exists && !new_version)
		return fail(name, "exists (current version %s); --new-version imports FILE as "
				  "its next version",
			    current);
	if (exists) {
		int edit = edit_state(conf, name, current, false);
		if (edit < 0)
			return 1;
		if (edit)
			return fail(name, "has an open edit; duet image commit or discard it first");
	}

	char fmt[16];
	unsigned long long vsize = 0;
	if (probe(name, file, fmt, &vsize) || check_file(name, file, fmt))
		return 1;
	char tmp[PATH_MAX], tmp_name[NAME_MAX + 1], size_text[32];
	snprintf(tmp_name, sizeof tmp_name, ".%s.import.tmp", name);
	if ((err = image_path(conf, tmp_name, "", tmp)) < 0)
		return fail(name, "%s", strerror(-err));
	human_size(vsize, size_text);
	printf("importing %s (%s, %s) as image '%s'\n", file, fmt, size_text, name);
	fflush(stdout);
	char errbuf[4096];
	char *conv[] = { "qemu-img", "convert", "-p", "-f", fmt, "-O", "raw", (char *)file, tmp, NULL };
	int status = image_run(conv, NULL, 0, errbuf, sizeof errbuf);
	if (status != 0) {
		unlink(tmp);
		return fail(name, "cannot convert %s: %s", file, tool_error(status, "qemu-img", errbuf));
	}
	char version[IMAGE_VERSION_MAX];
	if ((err = image_publish(conf, name, tmp, exists ? current : NULL, version)) < 0) {
		unlink(tmp);
		return fail(name, "cannot store the new version in %s: %s", conf->server.image_dir,
			    strerror(-err));
	}
	image_serve_notify(conf);
	printf("\nimage '%s': version %s is current\n", name, version);
	return 0;
}

static int cmd_list(const struct duet_conf *conf, int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: duet image list\n\n"
		       "Every golden image: its current version, size (virtual and on disk),\n"
		       "how many versions are on disk, whether an edit is open, whether\n"
		       "`duet image serve` exports it.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "Usage: duet image list\n");
		return 2;
	}
	struct image_strv names;
	int err = image_names(conf, &names);
	if (err < 0) {
		fprintf(stderr, "duet: image: cannot read %s: %s\n", conf->server.image_dir,
			strerror(-err));
		return 1;
	}
	if (names.n == 0) {
		printf("no images in %s (duet image import FILE NAME)\n", conf->server.image_dir);
		return 0;
	}
	printf("%-20s %-34s %10s %10s %8s  %-16s %s\n", "NAME", "CURRENT", "SIZE", "ON DISK",
	       "VERSIONS", "EDIT", "SERVED");
	for (size_t i = 0; i < names.n; i++) {
		const char *name = names.v[i];
		char version[IMAGE_VERSION_MAX], path[PATH_MAX], vsize[32] = "?", dsize[32] = "?";
		char edit[32] = "-", base[IMAGE_VERSION_MAX];
		struct image_strv versions;
		struct stat st;

		if (image_current(conf, name, version) < 0)
			continue;
		if (image_path(conf, version, "", path) == 0 && stat(path, &st) == 0) {
			human_size((unsigned long long)st.st_size, vsize);
			human_size((unsigned long long)st.st_blocks * 512, dsize);
		}
		size_t count = image_versions(conf, name, &versions) == 0 ? versions.n : 0;
		image_strv_free(&versions);
		if (image_overlay_base(conf, name, base) == 0 && !strcmp(base, version)) {
			if (image_edit_pid(conf, name) > 0)
				snprintf(edit, sizeof edit, "port %d", conf->server.edit_port);
			else
				snprintf(edit, sizeof edit, "open, not served");
		}
		printf("%-20s %-34s %10s %10s %8zu  %-16s %s\n", name, version, vsize, dsize, count,
		       edit, image_is_served(conf, name) ? "yes" : "no");
	}
	image_strv_free(&names);
	return 0;
}

/* one_name: the NAME argument of edit/commit/discard/rollback. */
static int one_name(int argc, char **argv, const char *usage, const char *help,
		    const char **name)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: %s\n\n%s", usage, help);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "Usage: %s\n", usage);
		return 2;
	}
	*name = argv[1];
	return -1;
}

/* other_edit: the name of another image whose edit holds the edit port. */
static bool other_edit(const struct duet_conf *conf, const char *name, char other[64])
{
	struct image_strv names;
	bool found = false;

	if (image_names(conf, &names) < 0)
		return false;
	for (size_t i = 0; i < names.n && !found; i++)
		if (strcmp(names.v[i], name) && image_edit_pid(conf, names.v[i]) > 0) {
			snprintf(other, 64, "%s", names.v[i]);
			found = true;
		}
	image_strv_free(&names);
	return found;
}

static int cmd_edit(const struct duet_conf *conf, int argc, char **argv)
{
	const char *name;
	int ret = one_name(argc, argv, "duet image edit NAME",
			   "Opens a writable overlay on NAME's current version and serves it\n"
			   "with qemu-nbd on the edit port, for one PC booted in maintenance\n"
			   "mode. The golden image itself does not change until\n"
			   "`duet image commit NAME`; `duet image discard NAME` drops the edit.\n",
			   &name);
	if (ret >= 0)
		return ret;
	char current[IMAGE_VERSION_MAX], overlay[PATH_MAX], pid_file[PATH_MAX], what[NAME_MAX + 1];
	char log_file[PATH_MAX];
	if (lock_existing(conf, name, current) < 0)
		return 1;
	int open_edit = edit_state(conf, name, current, false);
	if (open_edit < 0)
		return 1;
	char other[64];
	if (other_edit(conf, name, other))
		return fail(name, "the edit of image '%s' is using port %d; commit or discard it "
				  "first",
			    other, conf->server.edit_port);
	image_path(conf, name, "-edit.qcow2", overlay);
	snprintf(what, sizeof what, "image-edit-%s.pid", name);
	image_run_path(conf, what, pid_file);
	snprintf(what, sizeof what, "image-edit-%s.log", name);
	image_run_path(conf, what, log_file);
	char errbuf[4096];
	if (!open_edit) {
		char marker[PATH_MAX];
		if (image_path(conf, name, "-edit.committed", marker) == 0)
			unlink(marker);
		char *create[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-b", current,
				   "-F", "raw", overlay, NULL };
		int status = image_run(create, NULL, 0, errbuf, sizeof errbuf);
		if (status != 0) {
			unlink(overlay);
			return fail(name, "cannot create the overlay %s: %s", overlay,
				    tool_error(status, "qemu-img", errbuf));
		}
		printf("image '%s': overlay %s on %s\n", name, overlay, current);
	}
	pid_t pid = image_edit_pid(conf, name);
	if (pid <= 0) {
		char port[16], pid_arg[PATH_MAX + 16], export[64];
		snprintf(port, sizeof port, "%d", conf->server.edit_port);
		snprintf(pid_arg, sizeof pid_arg, "--pid-file=%s", pid_file);
		snprintf(export, sizeof export, "%s-edit", name);
		char *serve[16] = { "qemu-nbd", "--fork", pid_arg, "--persistent", "--shared=2",
				    "-f", "qcow2", "-x", export, "-p", port };
		size_t n = 11;
		if (conf->server.address[0]) {
			serve[n++] = "-b";
			serve[n++] = (char *)conf->server.address;
		}
		serve[n++] = overlay;
		serve[n] = NULL;
		unlink(pid_file);
		int status = image_run_daemon(serve, log_file, errbuf, sizeof errbuf);
		if (status != 0)
			return fail(name, "cannot serve the edit on port %d: %s (the overlay stays; "
					  "duet image edit %s tries again)",
				    conf->server.edit_port, tool_error(status, "qemu-nbd", errbuf), name);
		pid = image_edit_pid(conf, name);
	}
	char address[64] = "SERVER", url[256];
	conf_server_address(conf, address, sizeof address);
	image_nbd_url(conf, name, true, address, url, sizeof url);
	printf("image '%s': edit open, served writable by qemu-nbd (pid %d) at\n  %s\n"
	       "Boot one PC in maintenance mode on it; when done: duet image commit %s\n"
	       "(or duet image discard %s)\n",
	       name, (int)pid, url, name, name);
	return 0;
}

static int cmd_commit(const struct duet_conf *conf, int argc, char **argv)
{
	const char *name;
	int ret = one_name(argc, argv, "duet image commit NAME",
			   "Stops NAME's edit server and turns its overlay into a new version,\n"
			   "which becomes current; the previous version stays for rollback.\n"
			   "Killed at any point, the image is still its old or its new version.\n",
			   &name);
	if (ret >= 0)
		return ret;
	char current[IMAGE_VERSION_MAX], overlay[PATH_MAX], tmp[PATH_MAX], tmp_name[NAME_MAX + 1];
	if (lock_existing(conf, name, current) < 0)
		return 1;
	int open_edit = edit_state(conf, name, current, false);
	if (open_edit < 0)
		return 1;
	if (!open_edit)
		return fail(name, "no open edit to commit (duet image edit %s opens one)", name);
	pid_t pid = image_edit_pid(conf, name);
	if (pid > 0) {
		printf("image '%s': stopping the edit server (qemu-nbd, pid %d)\n", name, (int)pid);
		fflush(stdout);
		if (image_pid_stop(pid, 60000) < 0)
			return fail(name, "the edit's qemu-nbd (pid %d) does not stop", (int)pid);
	}
	image_path(conf, name, "-edit.qcow2", overlay);
	snprintf(tmp_name, sizeof tmp_name, ".%s.new.tmp", name);
	image_path(conf, tmp_name, "", tmp);
	printf("image '%s': writing the new version\n", name);
	fflush(stdout);
	char errbuf[4096];
	char *conv[] = { "qemu-img", "convert", "-p", "-f", "qcow2", "-O", "raw", overlay, tmp, NULL };
	int status = image_run(conv, NULL, 0, errbuf, sizeof errbuf);
	if (status != 0) {
		unlink(tmp);
		return fail(name, "cannot convert the edit: %s (the edit stays; duet image edit %s "
				  "serves it again)",
			    tool_error(status, "qemu-img", errbuf), name);
	}
	/* The marker before the swap: a commit killed after it leaves an
	 * overlay the next command can tell is already committed. */
	char version[IMAGE_VERSION_MAX], marker[PATH_MAX], text[2 * IMAGE_VERSION_MAX + 128];
	int err = image_new_version(conf, name, version);
	if (!err)
		err = image_path(conf, name, "-edit.committed", marker);
	if (!err && commit_marker(conf, name, current, version, text, sizeof text) < 0)
		err = -EIO;
	if (!err)
		err = write_file_atomic(marker, text, strlen(text), 0644);
	if (!err)
		err = image_publish_as(conf, name, tmp, current, version);
	if (err < 0) {
		unlink(tmp);
		return fail(name, "cannot store the new version in %s: %s", conf->server.image_dir,
			    strerror(-err));
	}
	image_serve_notify(conf);
	if (remove_edit(conf, name))
		return 1;
	printf("\nimage '%s': version %s is current (was %s)\n", name, version, current);
	return 0;
}

static int cmd_discard(const struct duet_conf *conf, int argc, char **argv)
{
	const char *name;
	int ret = one_name(argc, argv, "duet image discard NAME",
			   "Stops NAME's edit server and throws the edit's changes away.\n", &name);
	if (ret >= 0)
		return ret;
	char current[IMAGE_VERSION_MAX];
	if (lock_existing(conf, name, current) < 0)
		return 1;
	/* An overlay qemu-img cannot read, or on another version, is
	 * dropped all the same. */
	int open_edit = edit_state(conf, name, current, true);
	if (open_edit < 0)
		return 1;
	if (open_edit == 0)
		return fail(name, "no open edit to discard");
	if (remove_edit(conf, name))
		return 1;
	printf("image '%s': edit discarded; %s is still current\n", name, current);
	return 0;
}

static int cmd_rollback(const struct duet_conf *conf, int argc, char **argv)
{
	const char *name;
	int ret = one_name(argc, argv, "duet image rollback NAME",
			   "Makes the version NAME had before the current one current again.\n"
			   "Repeat to go further back, as far as versions are kept (see gc).\n",
			   &name);
	if (ret >= 0)
		return ret;
	ret = 0;
	char current[IMAGE_VERSION_MAX], path[PATH_MAX];
	if (lock_existing(conf, name, current) < 0)
		return 1;
	int open_edit = edit_state(conf, name, current, false);
	if (open_edit < 0)
		return 1;
	if (open_edit)
		return fail(name, "has an open edit; duet image commit or discard it first");
	struct image_strv h;
	int err = image_history_upto(conf, name, current, &h);
	if (err < 0)
		return fail(name, "cannot read its history: %s", strerror(-err));
	if (h.n < 2) {
		image_strv_free(&h);
		return fail(name, "no previous version to roll back to (%s is the first)", current);
	}
	const char *prev = h.v[h.n - 2];
	struct stat st;
	if (image_path(conf, prev, "", path) < 0 || stat(path, &st) < 0) {
		ret = fail(name, "the previous version %s is gone from %s", prev,
			   conf->server.image_dir);
		image_strv_free(&h);
		return ret;
	}
	/* The symlink first: a history that runs past it is cut at it. */
	err = image_set_current(conf, name, prev);
	if (!err) {
		free(h.v[--h.n]);
		err = image_history_write(conf, name, &h);
	}
	if (err < 0)
		ret = fail(name, "cannot roll back: %s", strerror(-err));
	else
		printf("image '%s': version %s is current again (was %s)\n", name, prev, current);
	image_strv_free(&h);
	image_serve_notify(conf);
	return ret;
}

/* published_exports: every NBD export named by a published PC config
 * (TFTP_ROOT/duet/config/<folder>/guest-*.conf, as `duet config publish`
 * writes them): the versions PCs boot until their config changes. */
static int published_exports(const struct duet_conf *conf, struct image_strv *out,
			     char bad[PATH_MAX])
{
	char config_dir[PATH_MAX];
	int err = 0;

	out->v = NULL;
	out->n = 0;
	if (path_fmt(config_dir, sizeof config_dir, "%s/duet/config", conf->server.tftp_root) < 0)
		return -ENAMETOOLONG;
	snprintf(bad, PATH_MAX, "%s", config_dir);
	DIR *top = opendir(config_dir);
	if (!top)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *folder;
	while (!err && (folder = readdir(top))) {
		char dir_path[PATH_MAX];
		if (folder->d_name[0] == '.' ||
		    path_fmt(dir_path, sizeof dir_path, "%s/%s", config_dir, folder->d_name) < 0)
			continue;
		DIR *dir = opendir(dir_path);
		if (!dir) {
			if (errno != ENOTDIR && errno != ENOENT) {
				err = -errno;
				snprintf(bad, PATH_MAX, "%s", dir_path);
			}
			continue;
		}
		struct dirent *e;
		while (!err && (e = readdir(dir))) {
			size_t len = strlen(e->d_name);
			char path[PATH_MAX], *text;
			if (strncmp(e->d_name, "guest-", 6) || len < 11 ||
			    strcmp(e->d_name + len - 5, ".conf") ||
			    path_fmt(path, sizeof path, "%s/%s", dir_path, e->d_name) < 0)
				continue;
			err = read_file(path, 1 << 20, &text, NULL);
			if (err == -ENOENT) {
				err = 0;
				continue;
			}
			if (err < 0) {
				snprintf(bad, PATH_MAX, "%s", path);
				break;
			}
			/* nbd://HOST:PORT/EXPORT[,options]; HOST may be [v6]. */
			for (char *url = strstr(text, "nbd://"); url && !err; url = strstr(url, "nbd://")) {
				url += 6;
				char *slash = strchr(url, '/');
				if (!slash)
					break;
				size_t n = strcspn(slash + 1, ", \t\r\n");
				char export[IMAGE_VERSION_MAX];
				if (n == 0 || n >= sizeof export)
					continue;
				memcpy(export, slash + 1, n);
				export[n] = '\0';
				err = image_strv_push(out, export);
			}
			free(text);
		}
		closedir(dir);
	}
	closedir(top);
	if (err < 0)
		image_strv_free(out);
	return err;
}

static bool strv_has(const struct image_strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], str))
			return true;
	return false;
}

/* gc_temps: removes (or, dry_run, lists) what killed commands on NAME
 * left behind; NAME's lock is held. */
static int gc_temps(const struct duet_conf *conf, const char *name, bool dry_run)
{
	struct image_strv found = { 0 };
	int err = image_clean_temps(conf, name, dry_run, &found);

	for (size_t i = 0; i < found.n; i++)
		printf("image '%s': %s %s (left by an interrupted command)\n", name,
		       dry_run ? "would remove" : "removed", found.v[i]);
	image_strv_free(&found);
	if (err < 0)
		return fail(name, "cannot remove its temp files in %s: %s", conf->server.image_dir,
			    strerror(-err));
	return 0;
}

/* gc_lock: NAME's lock for gc; -EBUSY when another command holds it
 * (skipped, said), -1 on another error (printed). */
static int gc_lock(const struct duet_conf *conf, const char *name)
{
	int lock = image_lock(conf, name);

	if (lock == -EBUSY) {
		printf("image '%s': busy (another duet image command); skipped\n", name);
		return -EBUSY;
	}
	if (lock < 0) {
		fail(name, "cannot lock it: %s", strerror(-lock));
		return -1;
	}
	return lock;
}

/* gc_image: removes NAME's versions nothing uses; the bytes freed. */
static int gc_image(const struct duet_conf *conf, const char *name,
		    const struct image_strv *published, bool dry_run, unsigned long long *freed)
{
	char current[IMAGE_VERSION_MAX], base[IMAGE_VERSION_MAX] = "", dir[PATH_MAX];
	struct image_strv h, versions;
	int lock = gc_lock(conf, name), ret = 0;

	if (lock < 0)
		return lock == -EBUSY ? 0 : 1;
	if (gc_temps(conf, name, dry_run)) {
		close(lock);
		return 1;
	}
	if (image_current(conf, name, current) < 0) {
		close(lock);
		return 0;
	}
	int open_edit = edit_state(conf, name, current, false);
	if (open_edit < 0) {
		close(lock);
		return 1;
	}
	if (open_edit)
		image_overlay_base(conf, name, base);
	if (image_history_upto(conf, name, current, &h) < 0) {
		close(lock);
		return fail(name, "cannot read %s/%s.history", conf->server.image_dir, name);
	}
	if (image_versions(conf, name, &versions) < 0) {
		image_strv_free(&h);
		close(lock);
		return fail(name, "cannot read %s", conf->server.image_dir);
	}
	if (!realpath(conf->server.image_dir, dir))
		snprintf(dir, sizeof dir, "%s", conf->server.image_dir);
	const char *prev = h.n >= 2 ? h.v[h.n - 2] : "";
	for (size_t i = 0; i < versions.n; i++) {
		const char *v = versions.v[i];
		char path[PATH_MAX], size[32];
		struct stat st;
		if (!strcmp(v, current) || !strcmp(v, prev) || !strcmp(v, base))
			continue;
		if (strv_has(published, v)) {
			printf("image '%s': keeping %s: a published PC config names it\n", name, v);
			continue;
		}
		if (snprintf(path, sizeof path, "%s/%s", dir, v) >= (int)sizeof path ||
		    stat(path, &st) < 0)
			continue;
		if (image_file_in_use(path)) {
			printf("image '%s': keeping %s: a process has it open\n", name, v);
			continue;
		}
		human_size((unsigned long long)st.st_blocks * 512, size);
		if (dry_run) {
			printf("image '%s': would remove %s (%s)\n", name, v, size);
			continue;
		}
		/* Out of the history first: a rollback never finds it gone. */
		size_t k = 0;
		for (size_t j = 0; j < h.n; j++) {
			if (strcmp(h.v[j], v))
				h.v[k++] = h.v[j];
			else
				free(h.v[j]);
		}
		if (k != h.n) {
			h.n = k;
			int err = image_history_write(conf, name, &h);
			if (err < 0) {
				ret = fail(name, "cannot write %s/%s.history: %s; no more of its versions "
						 "removed",
					   conf->server.image_dir, name, strerror(-err));
				break;
			}
		}
		if (unlink(path) < 0) {
			ret = fail(name, "cannot remove %s: %s", path, strerror(errno));
			continue;
		}
		*freed += (unsigned long long)st.st_blocks * 512;
		printf("image '%s': removed %s (%s)\n", name, v, size);
	}
	image_strv_free(&h);
	image_strv_free(&versions);
	close(lock);
	return ret;
}

/* gc_leftovers: the temp files of a NAME with no symlink (its first
 * import was killed). */
static int gc_leftovers(const struct duet_conf *conf, const char *name, bool dry_run)
{
	char version[IMAGE_VERSION_MAX];
	int lock = gc_lock(conf, name);

	if (lock < 0)
		return lock == -EBUSY ? 0 : 1;
	/* An import that finished meanwhile made it an image: gc_image's. */
	int ret = image_current(conf, name, version) == 0 ? 0 : gc_temps(conf, name, dry_run);
	close(lock);
	return ret;
}

static int cmd_gc(const struct duet_conf *conf, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool dry_run = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "nh", longopts, NULL)) != -1) {
		if (c == 'n') {
			dry_run = true;
		} else if (c == 'h') {
			printf("Usage: duet image gc [--dry-run]\n\n"
			       "Removes every version no image needs: all but the current one,\n"
			       "the one before it (for rollback), the base of an open edit, any\n"
			       "version a published PC config names, and any a process still has\n"
			       "open (an NBD client's connection). Also removes the temp files\n"
			       "interrupted commands left behind.\n");
			return 0;
		} else {
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "Usage: duet image gc [--dry-run]\n");
		return 2;
	}
	struct image_strv names, leftovers, published;
	char bad[PATH_MAX];
	int err = published_exports(conf, &published, bad);
	if (err < 0) {
		fprintf(stderr, "duet: image: cannot read %s: %s; gc removes nothing while it cannot "
				"tell which versions the PCs' configs name\n",
			bad, strerror(-err));
		return 1;
	}
	err = image_names(conf, &names);
	if (!err && (err = image_temp_owners(conf, &leftovers)) < 0)
		image_strv_free(&names);
	if (err < 0) {
		image_strv_free(&published);
		fprintf(stderr, "duet: image: cannot read %s: %s\n", conf->server.image_dir,
			strerror(-err));
		return 1;
	}
	unsigned long long freed = 0;
	int ret = 0;
	for (size_t i = 0; i < names.n; i++)
		ret |= gc_image(conf, names.v[i], &published, dry_run, &freed);
	for (size_t i = 0; i < leftovers.n; i++)
		if (!strv_has(&names, leftovers.v[i]))
			ret |= gc_leftovers(conf, leftovers.v[i], dry_run);
	image_strv_free(&names);
	image_strv_free(&leftovers);
	image_strv_free(&published);
	char size[32];
	human_size(freed, size);
	if (!dry_run)
		printf("gc: %s freed\n", size);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: duet image COMMAND [ARGS...]\n\n"
		   "Golden guest images: versions behind a symlink, served read-only over NBD.\n\n"
		   "Commands:\n"
		   "  import [--new-version] FILE NAME  raw, qcow2, vmdk or vdi -> a new version\n"
		   "  list                              images, versions, edits, serving\n"
		   "  serve                             run the read-only NBD exports (foreground)\n"
		   "  edit NAME                         open a writable overlay for maintenance\n"
		   "  commit NAME                       the edit becomes the new version\n"
		   "  discard NAME                      drop the edit\n"
		   "  rollback NAME                     back to the previous version\n"
		   "  gc [--dry-run]                    remove versions nothing uses\n\n"
		   "`duet image COMMAND --help` for a command's. See docs/duet-image.md.\n");
}

/* republish: PCs' configs name a version's own export (image_nbd_url),
 * so a new current version reaches them through `duet config publish`,
 * done here once the classroom has been published before. Its failure
 * leaves the image change in place and the PCs on the version their
 * config names; it is told, not an error of this command. */
static void republish(struct duet_ctx *ctx)
{
	char config_dir[PATH_MAX];
	struct stat st;

	if (!ctx->conf->exists ||
	    path_fmt(config_dir, sizeof config_dir, "%s/duet/config", ctx->conf->server.tftp_root) < 0 ||
	    stat(config_dir, &st) < 0)
		return;
	printf("duet config publish:\n");
	fflush(stdout);
	if (duet_config_publish(ctx, false) != 0)
		fprintf(stderr, "duet: image: the PCs keep the version their published config names "
				"until `duet config publish` succeeds\n");
}

int duet_image_main(struct duet_ctx *ctx, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct duet_conf *conf, int argc, char **argv);
	} commands[] = {
		{ "import", cmd_import }, { "list", cmd_list },	      { "serve", image_serve_main },
		{ "edit", cmd_edit },	  { "commit", cmd_commit },   { "discard", cmd_discard },
		{ "rollback", cmd_rollback }, { "gc", cmd_gc },
	};

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		int status = commands[i].run(ctx->conf, argc - 1, argv + 1);
		bool asked_help = false;
		for (int a = 2; a < argc; a++)
			asked_help |= !strcmp(argv[a], "--help") || !strcmp(argv[a], "-h");
		if (status == 0 && !asked_help &&
		    (!strcmp(argv[1], "import") || !strcmp(argv[1], "commit") || !strcmp(argv[1], "rollback")))
			republish(ctx);
		return status;
	}
	fprintf(stderr, "duet: image: no command '%s' (see duet image --help)\n", argv[1]);
	return 2;
}

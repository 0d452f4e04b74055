/* The golden images on disk (see image_store.h). */
#include "image_store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "image_run.h"
#include "util.h"

void image_strv_free(struct image_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

int image_strv_push(struct image_strv *s, const char *str)
{
	char **bigger = realloc(s->v, (s->n + 1) * sizeof *s->v);

	if (!bigger)
		return -ENOMEM;
	s->v = bigger;
	if (!(s->v[s->n] = strdup(str)))
		return -ENOMEM;
	s->n++;
	return 0;
}

int image_path(const struct duet_conf *conf, const char *name, const char *suffix,
	       char path[PATH_MAX])
{
	int n = snprintf(path, PATH_MAX, "%s/%s%s", conf->server.image_dir, name, suffix);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int image_run_path(const struct duet_conf *conf, const char *what, char path[PATH_MAX])
{
	int n = snprintf(path, PATH_MAX, "%s/%s", conf->server.run_dir, what);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* version_key: a version file's date (YYYY-MM-DD) and number (1 when it
 * has none); false unless file is NAME-YYYY-MM-DD[-N].raw. */
static bool version_key(const char *name, const char *file, char date[11], unsigned *num)
{
	size_t nl = strlen(name);

	if (strncmp(file, name, nl) || file[nl] != '-')
		return false;
	const char *p = file + nl + 1;
	static const char shape[] = "dddd-dd-dd";
	for (size_t i = 0; i < sizeof shape - 1; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)p[i]) : p[i] != '-')
			return false;
	}
	memcpy(date, p, 10);
	date[10] = '\0';
	p += 10;
	*num = 1;
	if (*p == '-') {
		char *end;
		if (!isdigit((unsigned char)p[1]) || p[1] == '0')
			return false;
		unsigned long n = strtoul(p + 1, &end, 10);
		if (n < 2 || n > 99999)
			return false;
		*num = (unsigned)n;
		p = end;
	}
	return !strcmp(p, ".raw");
}

bool image_version_of(const char *name, const char *file)
{
	char date[11];
	unsigned num;

	return version_key(name, file, date, &num);
}

static const char *sort_name; /* the image whose versions qsort compares */

static int version_cmp(const void *a, const void *b)
{
	const char *fa = *(char *const *)a, *fb = *(char *const *)b;
	char da[11], db[11];
	unsigned na, nb;

	version_key(sort_name, fa, da, &na);
	version_key(sort_name, fb, db, &nb);
	int c = strcmp(da, db);
	return c ? c : (na > nb) - (na < nb);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int image_current(const struct duet_conf *conf, const char *name,
		  char version[IMAGE_VERSION_MAX])
{
	char path[PATH_MAX];
	int err = image_path(conf, name, "", path);

	if (err < 0)
		return err;
	ssize_t n = readlink(path, version, IMAGE_VERSION_MAX);
	if (n < 0)
		return errno == EINVAL ? -EUCLEAN : -errno;
	if (n >= IMAGE_VERSION_MAX)
		return -EUCLEAN;
	version[n] = '\0';
	return image_version_of(name, version) ? 0 : -EUCLEAN;
}

/* scan_image_dir: the names pick() gives for the entries of the image
 * directory, each once, unsorted. A missing directory is an empty list
 * when missing_ok, else its -errno. */
static int scan_image_dir(const struct duet_conf *conf, bool missing_ok,
			  bool (*pick)(const struct duet_conf *conf, const char *entry, const void *ctx,
				       char picked[NAME_MAX + 1]),
			  const void *ctx, struct image_strv *out)
{
	DIR *dir = opendir(conf->server.image_dir);

	out->v = NULL;
	out->n = 0;
	if (!dir)
		return errno == ENOENT && missing_ok ? 0 : -errno;
	struct dirent *e;
	int err = 0;
	while (!err && (e = readdir(dir))) {
		char picked[NAME_MAX + 1];
		bool seen = false;
		if (!pick(conf, e->d_name, ctx, picked))
			continue;
		for (size_t i = 0; i < out->n && !seen; i++)
			seen = !strcmp(out->v[i], picked);
		if (!seen)
			err = image_strv_push(out, picked);
	}
	closedir(dir);
	if (err < 0)
		image_strv_free(out);
	return err;
}

static bool pick_image(const struct duet_conf *conf, const char *entry, const void *ctx,
		       char picked[NAME_MAX + 1])
{
	char version[IMAGE_VERSION_MAX];

	(void)ctx;
	if (!image_name_is_valid(entry) || image_current(conf, entry, version) < 0)
		return false;
	snprintf(picked, NAME_MAX + 1, "%s", entry);
	return true;
}

int image_names(const struct duet_conf *conf, struct image_strv *out)
{
	int err = scan_image_dir(conf, true, pick_image, NULL, out);

	if (err == 0 && out->n)
		qsort(out->v, out->n, sizeof *out->v, str_cmp);
	return err;
}

static bool pick_version(const struct duet_conf *conf, const char *entry, const void *name,
			 char picked[NAME_MAX + 1])
{
	(void)conf;
	if (!image_version_of(name, entry))
		return false;
	snprintf(picked, NAME_MAX + 1, "%s", entry);
	return true;
}

int image_versions(const struct duet_conf *conf, const char *name, struct image_strv *out)
{
	int err = scan_image_dir(conf, false, pick_version, name, out);

	if (err < 0)
		return err;
	sort_name = name;
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, version_cmp);
	return 0;
}

int image_new_version(const struct duet_conf *conf, const char *name,
		      char version[IMAGE_VERSION_MAX])
{
	time_t now = time(NULL);
	struct tm tm;
	char date[16];

	localtime_r(&now, &tm);
	strftime(date, sizeof date, "%Y-%m-%d", &tm);
	for (unsigned n = 1; n < 100000; n++) {
		char path[PATH_MAX];
		if (n == 1)
			snprintf(version, IMAGE_VERSION_MAX, "%s-%s.raw", name, date);
		else
			snprintf(version, IMAGE_VERSION_MAX, "%s-%s-%u.raw", name, date, n);
		int err = image_path(conf, version, "", path);
		if (err < 0)
			return err;
		struct stat st;
		if (lstat(path, &st) < 0 && errno == ENOENT)
			return 0;
	}
	return -EEXIST;
}

int image_history_read(const struct duet_conf *conf, const char *name, struct image_strv *out)
{
	char path[PATH_MAX], *text;
	int err = image_path(conf, name, ".history", path);

	out->v = NULL;
	out->n = 0;
	if (err < 0)
		return err;
	err = read_file(path, 1 << 20, &text, NULL);
	if (err == -ENOENT)
		return 0;
	if (err < 0)
		return err;
	char *save;
	for (char *line = strtok_r(text, "\n", &save); line && !err;
	     line = strtok_r(NULL, "\n", &save))
		if (image_version_of(name, line))
			err = image_strv_push(out, line);
	free(text);
	if (err < 0)
		image_strv_free(out);
	return err;
}

int image_history_write(const struct duet_conf *conf, const char *name,
			const struct image_strv *h)
{
	char path[PATH_MAX];
	int err = image_path(conf, name, ".history", path);

	if (err < 0)
		return err;
	size_t len = 0;
	for (size_t i = 0; i < h->n; i++)
		len += strlen(h->v[i]) + 1;
	char *text = malloc(len + 1), *p = text;
	if (!text)
		return -ENOMEM;
	for (size_t i = 0; i < h->n; i++)
		p += sprintf(p, "%s\n", h->v[i]);
	err = write_file_atomic(path, text, len, 0644);
	free(text);
	return err;
}

int image_history_upto(const struct duet_conf *conf, const char *name, const char *current,
		       struct image_strv *out)
{
	int err = image_history_read(conf, name, out);

	if (err < 0)
		return err;
	size_t keep = 0;
	for (size_t i = out->n; i > 0; i--)
		if (!strcmp(out->v[i - 1], current)) {
			keep = i;
			break;
		}
	if (keep == 0) {
		image_strv_free(out);
		return image_strv_push(out, current);
	}
	while (out->n > keep)
		free(out->v[--out->n]);
	return 0;
}

int image_set_current(const struct duet_conf *conf, const char *name, const char *version)
{
	char link_path[PATH_MAX], tmp[PATH_MAX], tmp_name[NAME_MAX + 1];
	int err;

	snprintf(tmp_name, sizeof tmp_name, ".%s.link.tmp", name);
	if ((err = image_path(conf, name, "", link_path)) < 0 ||
	    (err = image_path(conf, tmp_name, "", tmp)) < 0)
		return err;
	unlink(tmp);
	if (symlink(version, tmp) < 0)
		return -errno;
	if (rename(tmp, link_path) < 0) {
		err = -errno;
		unlink(tmp);
		return err;
	}
	return fsync_parent_dir(link_path);
}

int image_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	int err = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return err;
}

int image_publish_as(const struct duet_conf *conf, const char *name, const char *tmp,
		     const char *current, const char *version)
{
	char path[PATH_MAX];
	struct image_strv h = { 0 };
	struct stat st;
	int err;

	if (!image_version_of(name, version))
		return -EINVAL;
	if ((err = image_path(conf, version, "", path)) < 0)
		return err;
	if (lstat(path, &st) == 0)
		return -EEXIST;
	if ((err = image_fsync_path(tmp)) < 0)
		return err;
	if (chmod(tmp, 0444) < 0)
		return -errno;
	if (rename(tmp, path) < 0)
		return -errno;
	if ((err = fsync_parent_dir(path)) < 0)
		return err;
	if (current)
		err = image_history_upto(conf, name, current, &h);
	if (!err)
		err = image_strv_push(&h, version);
	if (!err)
		err = image_history_write(conf, name, &h);
	image_strv_free(&h);
	if (!err)
		err = image_set_current(conf, name, version);
	return err;
}

int image_publish(const struct duet_conf *conf, const char *name, const char *tmp,
		  const char *current, char version[IMAGE_VERSION_MAX])
{
	int err = image_new_version(conf, name, version);

	return err < 0 ? err : image_publish_as(conf, name, tmp, current, version);
}

/* temp_owner: the image whose temp file this is, in owner; false when
 * file is no temp of ours: .NAME.{new,link,import}.tmp, or
 * write_file_atomic's NAME.history.tmp-* and NAME-edit.committed.tmp-*. */
static bool temp_owner(const char *file, char owner[NAME_MAX + 1])
{
	static const char *const dotted[] = { ".new.tmp", ".link.tmp", ".import.tmp" };
	static const char *const atomic[] = { ".history.tmp-", "-edit.committed.tmp-" };
	size_t len = strlen(file);

	if (file[0] == '.') {
		for (size_t i = 0; i < sizeof dotted / sizeof dotted[0]; i++) {
			size_t sl = strlen(dotted[i]);
			if (len > sl + 1 && !strcmp(file + len - sl, dotted[i])) {
				snprintf(owner, NAME_MAX + 1, "%.*s", (int)(len - sl - 1), file + 1);
				return image_name_is_valid(owner);
			}
		}
		return false;
	}
	for (size_t i = 0; i < sizeof atomic / sizeof atomic[0]; i++) {
		const char *at = strstr(file, atomic[i]);
		if (at && at > file) {
			snprintf(owner, NAME_MAX + 1, "%.*s", (int)(at - file), file);
			if (image_name_is_valid(owner))
				return true;
		}
	}
	return false;
}

static bool pick_temp_owner(const struct duet_conf *conf, const char *entry, const void *ctx,
			    char picked[NAME_MAX + 1])
{
	(void)conf;
	(void)ctx;
	return temp_owner(entry, picked);
}

int image_temp_owners(const struct duet_conf *conf, struct image_strv *out)
{
	int err = scan_image_dir(conf, true, pick_temp_owner, NULL, out);

	if (err == 0 && out->n)
		qsort(out->v, out->n, sizeof *out->v, str_cmp);
	return err;
}

int image_clean_temps(const struct duet_conf *conf, const char *name, bool dry_run,
		      struct image_strv *found)
{
	DIR *dir = opendir(conf->server.image_dir);
	char path[PATH_MAX];

	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *e;
	int err = 0;
	while ((e = readdir(dir))) {
		char owner[NAME_MAX + 1];
		if (!temp_owner(e->d_name, owner) || strcmp(owner, name) ||
		    image_path(conf, e->d_name, "", path) < 0)
			continue;
		if (!dry_run && unlink(path) < 0) {
			if (errno != ENOENT && !err)
				err = -errno;
			continue;
		}
		if (found && image_strv_push(found, e->d_name) < 0 && !err)
			err = -ENOMEM;
	}
	closedir(dir);
	return err;
}

int image_lock(const struct duet_conf *conf, const char *name)
{
	char path[PATH_MAX], what[NAME_MAX + 1];
	int err = mkdir_p(conf->server.run_dir, 0755);

	if (err < 0)
		return err;
	snprintf(what, sizeof what, "image-%s.lock", name);
	if ((err = image_run_path(conf, what, path)) < 0)
		return err;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return err;
	}
	return fd;
}

pid_t image_edit_pid(const struct duet_conf *conf, const char *name)
{
	char pid_file[PATH_MAX], what[NAME_MAX + 1];

	snprintf(what, sizeof what, "image-edit-%s.pid", name);
	if (image_run_path(conf, what, pid_file) < 0)
		return 0;
	return image_pid_read(pid_file, "qemu-nbd");
}

int image_overlay_base(const struct duet_conf *conf, const char *name,
		       char version[IMAGE_VERSION_MAX])
{
	char path[PATH_MAX], out[16384], errbuf[1024];
	int err = image_path(conf, name, "-edit.qcow2", path);

	if (err < 0)
		return err;
	if (access(path, F_OK) < 0)
		return -errno;
	char *argv[] = { "qemu-img", "info", "-U", "--output=json", path, NULL };
	int status = image_run(argv, out, sizeof out, errbuf, sizeof errbuf);
	if (status != 0)
		return status < 0 ? status : -EIO;
	json_t *info = json_loads(out, 0, NULL);
	const char *base = json_string_value(json_object_get(info, "backing-filename"));
	err = base && strlen(base) < IMAGE_VERSION_MAX ? 0 : -EUCLEAN;
	if (!err)
		strcpy(version, base);
	json_decref(info);
	return err;
}

pid_t image_serve_pid(const struct duet_conf *conf)
{
	char pid_file[PATH_MAX];

	if (image_run_path(conf, "image-serve.pid", pid_file) < 0)
		return 0;
	return image_pid_read(pid_file, "serve");
}

void image_serve_notify(const struct duet_conf *conf)
{
	pid_t pid = image_serve_pid(conf);

	if (pid > 0)
		kill(pid, SIGHUP);
}

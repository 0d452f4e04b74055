/* duet install: the netboot tree, SRC/duet copied into TFTP_ROOT/duet
 * file by file, only what differs, each through a temporary file and a
 * rename so that a PC booting meanwhile gets the old file or the new one,
 * never half of one (see install.h). */
#include "install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

const char *const install_required[] = {
	"duet/vmlinuz", "duet/initrd.img", "duet/pxelinux.0", "duet/duet.ipxe", NULL,
};

/* The admin's (and `duet config`'s) under duet/: never copied, never removed. */
static const char *const admin_names[] = { "config", "clients", "SHA256SUMS", NULL };

const char *install_tree_missing(const char *src)
{
	for (int i = 0; install_required[i]; i++) {
		char path[PATH_MAX];
		struct stat st;
		if (snprintf(path, sizeof path, "%s/%s", src, install_required[i]) >= (int)sizeof path ||
		    stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			return install_required[i];
	}
	return NULL;
}

static bool is_admin_name(const char *rel)
{
	for (int i = 0; admin_names[i]; i++)
		if (!strcmp(rel, admin_names[i]))
			return true;
	return false;
}

/* The entries of a directory worth walking, sorted (so the output is
 * stable): no dot files, none of copy_file's temporaries. */
static int walk_filter(const struct dirent *d)
{
	return d->d_name[0] != '.' && !strstr(d->d_name, ".tmp-duet-");
}

/* same_content: 1 when both files hold the same bytes, 0 when not. */
static int same_content(const char *a, const char *b)
{
	int fa = open(a, O_RDONLY | O_CLOEXEC);
	if (fa < 0)
		return -errno;
	int fb = open(b, O_RDONLY | O_CLOEXEC);
	if (fb < 0) {
		int err = -errno;
		close(fa);
		return err;
	}
	static char ba[1 << 16], bb[1 << 16];
	int result = 1;
	for (;;) {
		ssize_t na = read(fa, ba, sizeof ba);
		if (na < 0 && errno == EINTR)
			continue;
		if (na < 0) {
			result = -errno;
			break;
		}
		/* Regular files: read() gives all that was asked up to the end. */
		ssize_t nb = 0;
		while (nb < na) {
			ssize_t n = read(fb, bb + nb, (size_t)(na - nb));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			nb += n;
		}
		if (nb != na || memcmp(ba, bb, (size_t)na)) {
			result = 0;
			break;
		}
		if (na == 0) {
			char extra;
			result = read(fb, &extra, 1) == 0;
			break;
		}
	}
	close(fa);
	close(fb);
	return result;
}

/* copy_file: dst holds src's bytes with mode afterwards, or is unchanged. */
static int copy_file(const char *src, const char *dst, mode_t mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp-duet-XXXXXX", dst) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	int out = mkstemp(tmp);
	if (out < 0) {
		int err = -errno;
		close(in);
		return err;
	}
	static char buf[1 << 16];
	int err = 0;
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = -errno;
		if (n <= 0)
			break;
		for (ssize_t done = 0; done < n && !err;) {
			ssize_t w = write(out, buf + done, (size_t)(n - done));
			if (w < 0 && errno != EINTR)
				err = -errno;
			else if (w > 0)
				done += w;
		}
		if (err)
			break;
	}
	close(in);
	if (!err && fchmod(out, mode) < 0)
		err = -errno;
	if (!err && fsync(out) < 0)
		err = -errno;
	if (close(out) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, dst) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

struct walk {
	struct install *in;
	const char *src_duet; /* SRC/duet */
	const char *dst_duet; /* TFTP_ROOT/duet */
};

static int join(char *out, const char *dir, const char *rel)
{
	if (snprintf(out, PATH_MAX, rel[0] ? "%s/%s" : "%s", dir, rel) >= PATH_MAX)
		return install_error("%s/%s: path too long", dir, rel);
	return 0;
}

/* install_file: one file of the tree (rel is relative to duet/). */
static int install_file(struct walk *w, const char *rel, const struct stat *sst, bool dst_dir_exists)
{
	char src[PATH_MAX], dst[PATH_MAX];
	if (join(src, w->src_duet, rel) < 0 || join(dst, w->dst_duet, rel) < 0)
		return -1;
	mode_t mode = (sst->st_mode & 0111) ? 0755 : 0644;
	struct stat dst_st;
	if (dst_dir_exists && stat(dst, &dst_st) == 0) {
		if (!S_ISREG(dst_st.st_mode))
			return install_error("%s is in the way (not a file): move it away", dst);
		int same = dst_st.st_size == sst->st_size ? same_content(src, dst) : 0;
		if (same < 0)
			return install_error("comparing %s with %s: %s", src, dst, strerror(-same));
		if (same) {
			struct stat lst;
			if (lstat(dst, &lst) < 0 || !S_ISREG(lst.st_mode) ||
			    (lst.st_mode & 07777) == mode)
				return 0;
			install_change(w->in, "chmod", "%04o duet/%s", (unsigned)mode, rel);
			if (!w->in->dry_run && chmod(dst, mode) < 0)
				return install_error("%s: %s", dst, strerror(errno));
			return 0;
		}
	} else if (dst_dir_exists && errno != ENOENT) {
		return install_error("%s: %s", dst, strerror(errno));
	}
	install_change(w->in, "copy", "duet/%s", rel);
	if (w->in->dry_run)
		return 0;
	int err = copy_file(src, dst, mode);
	if (err < 0)
		return install_error("copying %s to %s: %s", src, dst, strerror(-err));
	return 0;
}

/* install_dir: the directory rel (relative to duet/, "" for duet/ itself)
 * and everything under it. */
static int install_dir(struct walk *w, const char *rel, bool parent_exists)
{
	char src[PATH_MAX], dst[PATH_MAX];
	if (join(src, w->src_duet, rel) < 0 || join(dst, w->dst_duet, rel) < 0)
		return -1;
	struct stat st;
	bool exists = false;
	if (parent_exists && stat(dst, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return install_error("%s is in the way (not a directory): move it away", dst);
		exists = true;
	} else if (parent_exists && errno != ENOENT) {
		return install_error("%s: %s", dst, strerror(errno));
	}
	if (!exists) {
		install_change(w->in, "mkdir", "duet%s%s", rel[0] ? "/" : "", rel);
		if (!w->in->dry_run) {
			if (mkdir(dst, 0755) < 0)
				return install_error("%s: %s", dst, strerror(errno));
			/* The umask may have taken bits away; the tree is 0755. */
			if (chmod(dst, 0755) < 0)
				return install_error("%s: %s", dst, strerror(errno));
			exists = true;
		}
	}

	struct dirent **names;
	int n = scandir(src, &names, walk_filter, alphasort);
	if (n < 0)
		return install_error("%s: %s", src, strerror(errno));
	int err = 0;
	for (int i = 0; i < n; i++) {
		char child[PATH_MAX], child_src[PATH_MAX];
		if (!err && snprintf(child, sizeof child, rel[0] ? "%s/%s" : "%s%s", rel,
				     names[i]->d_name) >= (int)sizeof child)
			err = install_error("%s/%s: path too long", src, names[i]->d_name);
		if (!err && !is_admin_name(child) && join(child_src, w->src_duet, child) < 0)
			err = -1;
		if (!err && !is_admin_name(child)) {
			struct stat cst;
			if (stat(child_src, &cst) < 0)
				err = install_error("%s: %s", child_src, strerror(errno));
			else if (S_ISDIR(cst.st_mode))
				err = install_dir(w, child, exists);
			else if (S_ISREG(cst.st_mode))
				err = install_file(w, child, &cst, exists);
		}
		free(names[i]);
	}
	free(names);
	if (!err && exists && !w->in->dry_run) {
		char marker[PATH_MAX];
		if (join(marker, dst, "x") == 0) {
			int e = fsync_parent_dir(marker);
			if (e < 0)
				err = install_error("%s: %s", dst, strerror(-e));
		}
	}
	return err;
}

/* uninstall_dir: removes the files of rel that the source has, then rel
 * itself when that left it empty; 1 when it removed rel (or would), 0 when
 * it stays, -1 on error. */
static int uninstall_dir(struct walk *w, const char *rel)
{
	char src[PATH_MAX], dst[PATH_MAX];
	if (join(src, w->src_duet, rel) < 0 || join(dst, w->dst_duet, rel) < 0)
		return -1;
	struct stat st;
	if (lstat(dst, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	struct dirent **names;
	int n = scandir(src, &names, walk_filter, alphasort);
	if (n < 0)
		return install_error("%s: %s", src, strerror(errno));
	int err = 0;
	int removed = 0; /* entries of dst gone (or, in a dry run, going) */
	for (int i = 0; i < n; i++) {
		char child[PATH_MAX], child_src[PATH_MAX], child_dst[PATH_MAX];
		struct stat cst, dst_st;
		if (err || snprintf(child, sizeof child, rel[0] ? "%s/%s" : "%s%s", rel,
				    names[i]->d_name) >= (int)sizeof child ||
		    is_admin_name(child) || join(child_src, w->src_duet, child) < 0 ||
		    join(child_dst, w->dst_duet, child) < 0 || stat(child_src, &cst) < 0) {
			free(names[i]);
			continue;
		}
		if (S_ISDIR(cst.st_mode)) {
			int gone = uninstall_dir(w, child);
			if (gone < 0)
				err = gone;
			else
				removed += gone;
		} else if (S_ISREG(cst.st_mode) && lstat(child_dst, &dst_st) == 0 &&
			   !S_ISDIR(dst_st.st_mode)) {
			install_change(w->in, "remove", "duet/%s", child);
			removed++;
			if (!w->in->dry_run && unlink(child_dst) < 0)
				err = install_error("%s: %s", child_dst, strerror(errno));
		}
		free(names[i]);
	}
	free(names);
	if (err)
		return err;
	/* Empty now (or would be, in a dry run, when nothing else is there)? */
	DIR *d = opendir(dst);
	if (!d)
		return 0;
	int left = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			left++;
	closedir(d);
	if (left > (w->in->dry_run ? removed : 0))
		return 0;
	/* duet/ itself goes only with nothing of the admin's in it. */
	install_change(w->in, "rmdir", "duet%s%s", rel[0] ? "/" : "", rel);
	if (!w->in->dry_run && rmdir(dst) < 0)
		return install_error("%s: %s", dst, strerror(errno));
	return 1;
}

static int walk_init(struct walk *w, struct install *in, const char *src, const char *tftp_root,
		     char src_duet[PATH_MAX], char dst_duet[PATH_MAX])
{
	if (join(src_duet, src, "duet") < 0 || join(dst_duet, tftp_root, "duet") < 0)
		return -1;
	*w = (struct walk){ .in = in, .src_duet = src_duet, .dst_duet = dst_duet };
	char a[PATH_MAX], b[PATH_MAX];
	if (realpath(src_duet, a) && realpath(dst_duet, b) && !strcmp(a, b))
		return install_error("%s is the tree being installed: give another --from or TFTP root",
				     dst_duet);
	return 0;
}

int install_tree(struct install *in, const char *src, const char *tftp_root)
{
	char src_duet[PATH_MAX], dst_duet[PATH_MAX];
	struct walk w;
	if (walk_init(&w, in, src, tftp_root, src_duet, dst_duet) < 0)
		return -1;
	struct stat st;
	bool root_exists = stat(tftp_root, &st) == 0;
	if (root_exists && !S_ISDIR(st.st_mode))
		return install_error("TFTP root %s is not a directory", tftp_root);
	if (!root_exists) {
		install_change(in, "mkdir", "%s", tftp_root);
		if (!in->dry_run) {
			int err = mkdir_p(tftp_root, 0755);
			if (err < 0)
				return install_error("%s: %s", tftp_root, strerror(-err));
			root_exists = true;
		}
	}
	return install_dir(&w, "", root_exists);
}

int uninstall_tree(struct install *in, const char *src, const char *tftp_root)
{
	char src_duet[PATH_MAX], dst_duet[PATH_MAX];
	struct walk w;
	if (walk_init(&w, in, src, tftp_root, src_duet, dst_duet) < 0)
		return -1;
	return uninstall_dir(&w, "") < 0 ? -1 : 0;
}

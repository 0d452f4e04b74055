/* Block back ends (block.h): the --disk spec parser, and the raw back end:
 * an image file or host block device, read and written in place with
 * preadv/pwritev, flushed with fdatasync, discarded with
 * fallocate(PUNCH_HOLE). Writes go through the host page cache; a guest
 * that wants them on disk sends a flush. An nbd:// spec opens the NBD back
 * end (block_nbd.c) instead. With overlay=ram the file or export is the
 * read-only base of a RAM overlay (block_overlay.c). */
#include "block.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parse.h"

__attribute__((format(printf, 4, 5)))
static int block_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

/* ---- --disk file=PATH|nbd://...[,ro][,discard=on|off][,overlay=ram[,overlay-limit=SIZE]]
 *             [,timeout=SECONDS] ---- */

#define BLOCK_SPEC_FORM "file=PATH or nbd://HOST[:PORT]/EXPORT, then [,ro][,discard=on|off]" \
	"[,overlay=ram[,overlay-limit=SIZE]][,timeout=SECONDS]"
/* timeout= is at most a day; to wait longer, 0 waits for ever. */
#define BLOCK_NBD_TIMEOUT_MAX 86400

void block_spec_free(struct block_spec *spec)
{
	free(spec->file);
	spec->file = NULL;
	block_nbd_uri_free(&spec->nbd_uri);
}

/* block_spec_is_uri: an item such as nbd://server/win: a scheme before
 * "://" and no '=' in it. */
static bool block_spec_is_uri(const char *item)
{
	const char *sep = strstr(item, "://");

	return sep && sep != item && memchr(item, '=', (size_t)(sep - item)) == NULL;
}

/* block_spec_uri: the nbd:// URI item. */
static int block_spec_uri(struct block_spec *out, const char *item, char *err, size_t errlen)
{
	char why[200];

	if (out->file)
		return block_fail(err, errlen, -EINVAL, "%s", out->nbd ? "two nbd:// URIs"
				  : "file= and an nbd:// URI do not go together");
	if (block_nbd_uri_parse(item, &out->nbd_uri, why, sizeof(why)))
		return block_fail(err, errlen, -EINVAL, "%s", why);
	out->nbd = true;
	out->file = strdup(item);
	return out->file ? 0 : block_fail(err, errlen, -ENOMEM, "out of memory");
}

/* block_spec_option: one KEY or KEY=VALUE item of a spec (or the URI);
 * *timeout_given says whether timeout= was seen. */
static int block_spec_option(struct block_spec *out, char *item, bool *timeout_given, char *err,
			     size_t errlen)
{
	char *value;

	if (block_spec_is_uri(item))
		return block_spec_uri(out, item, err, errlen);
	value = strchr(item, '=');
	if (value)
		*value++ = '\0';
	if (!strcmp(item, "file")) {
		if (!value || !*value)
			return block_fail(err, errlen, -EINVAL, "file= needs a path");
		if (out->file)
			return block_fail(err, errlen, -EINVAL, "%s", out->nbd
					  ? "file= and an nbd:// URI do not go together"
					  : "file= is given twice");
		out->file = strdup(value);
		return out->file ? 0 : block_fail(err, errlen, -ENOMEM, "out of memory");
	}
	if (!strcmp(item, "timeout")) {
		uint64_t seconds;

		if (!value || parse_u64(value, &seconds) || seconds > BLOCK_NBD_TIMEOUT_MAX)
			return block_fail(err, errlen, -EINVAL, "timeout= takes whole seconds up "
					  "to %d (0: wait for ever), not '%s'",
					  BLOCK_NBD_TIMEOUT_MAX, value ? value : "");
		out->nbd_timeout = (unsigned)seconds;
		*timeout_given = true;
		return 0;
	}
	if (!strcmp(item, "ro")) {
		if (value)
			return block_fail(err, errlen, -EINVAL, "ro takes no value");
		out->read_only = true;
		return 0;
	}
	if (!strcmp(item, "discard")) {
		if (value && !strcmp(value, "on"))
			out->discard = true;
		else if (value && !strcmp(value, "off"))
			out->discard = false;
		else
			return block_fail(err, errlen, -EINVAL, "discard= takes on or off, not '%s'",
					  value ? value : "");
		return 0;
	}
	if (!strcmp(item, "overlay")) {
		if (!value || strcmp(value, "ram"))
			return block_fail(err, errlen, -EINVAL, "overlay= takes ram, not '%s'",
					  value ? value : "");
		out->overlay = true;
		return 0;
	}
	if (!strcmp(item, "overlay-limit")) {
		if (!value || parse_size(value, &out->overlay_limit) || !out->overlay_limit)
			return block_fail(err, errlen, -EINVAL, "overlay-limit= takes a size such "
					  "as 512M or 2G, not '%s'", value ? value : "");
		return 0;
	}
	if (!*item)
		return block_fail(err, errlen, -EINVAL, "an empty option (the form is "
				  BLOCK_SPEC_FORM ")");
	return block_fail(err, errlen, -EINVAL, "unknown option '%s' (the form is "
			  BLOCK_SPEC_FORM ")", item);
}

int block_spec_parse(const char *spec, struct block_spec *out, char *err, size_t errlen)
{
	char *copy = strdup(spec), *item, *next;
	bool timeout_given = false;
	int rc = 0;

	*out = (struct block_spec){ .discard = true };
	if (!copy)
		return block_fail(err, errlen, -ENOMEM, "out of memory");
	for (item = *copy ? copy : NULL; item && !rc; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		rc = block_spec_option(out, item, &timeout_given, err, errlen);
	}
	free(copy);
	if (!rc && !out->file)
		rc = block_fail(err, errlen, -EINVAL, "no file= or nbd:// URI (the form is "
				BLOCK_SPEC_FORM ")");
	if (!rc && timeout_given && !out->nbd)
		rc = block_fail(err, errlen, -EINVAL, "timeout= is for nbd:// disks");
	if (!rc && out->overlay && out->read_only)
		rc = block_fail(err, errlen, -EINVAL, "ro and overlay= do not go together: an "
				"overlay is there to take the guest's writes");
	if (!rc && out->overlay_limit && !out->overlay)
		rc = block_fail(err, errlen, -EINVAL, "overlay-limit= needs overlay=ram");
	if (rc)
		block_spec_free(out);
	return rc;
}

/* ---- the raw back end ---- */

struct block_file {
	struct block bk;
	int fd;
};

static struct block_file *to_file(struct block *bk)
{
	return (struct block_file *)bk;
}

/* file_transfer: move all of iov at offset, going on after a short
 * transfer (a signal, a nearly full disk) until done or failed. */
static int file_transfer(struct block_file *f, const struct iovec *iov, int iovcnt,
			 uint64_t offset, bool write)
{
	struct iovec rest[IOV_MAX];
	const struct iovec *cur = iov;
	size_t left = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		left += iov[i].iov_len;
	while (left) {
		ssize_t n = write ? pwritev(f->fd, cur, iovcnt, (off_t)offset)
				  : preadv(f->fd, cur, iovcnt, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		/* A read at the end of the file: it shrank under us. */
		if (n == 0)
			return -EIO;
		offset += (uint64_t)n;
		left -= (size_t)n;
		if (!left)
			break;
		/* Skip what was done: whole segments, then part of one. */
		while ((size_t)n >= cur->iov_len) {
			n -= (ssize_t)cur->iov_len;
			cur++;
			iovcnt--;
		}
		if (cur != rest) {
			memmove(rest, cur, sizeof(*cur) * (size_t)iovcnt);
			cur = rest;
		}
		rest[0].iov_base = (char *)rest[0].iov_base + n;
		rest[0].iov_len -= (size_t)n;
	}
	return 0;
}

static int file_preadv(struct block *bk, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	return file_transfer(to_file(bk), iov, iovcnt, offset, false);
}

static int file_pwritev(struct block *bk, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	return file_transfer(to_file(bk), iov, iovcnt, offset, true);
}

static int file_flush(struct block *bk)
{
	return fdatasync(to_file(bk)->fd) ? -errno : 0;
}

static int file_fallocate(struct block_file *f, int mode, uint64_t offset, uint64_t len)
{
	int rc;

	do
		rc = fallocate(f->fd, mode, (off_t)offset, (off_t)len);
	while (rc < 0 && errno == EINTR);
	return rc ? -errno : 0;
}

static int file_discard(struct block *bk, uint64_t offset, uint64_t len)
{
	return file_fallocate(to_file(bk), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
			      len);
}

/* file_write_zeroes: a hole when allowed, else zeroed blocks
 * (FALLOC_FL_ZERO_RANGE), else, on file systems with neither (tmpfs has
 * no ZERO_RANGE), zeroes written out. */
static int file_write_zeroes(struct block *bk, uint64_t offset, uint64_t len, bool unmap)
{
	static const uint8_t zeroes[64 * 1024];
	struct block_file *f = to_file(bk);
	int rc;

	if (unmap && !file_discard(bk, offset, len))
		return 0;
	rc = file_fallocate(f, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, len);
	if (rc != -EOPNOTSUPP)
		return rc;
	while (len) {
		struct iovec iov = { (void *)zeroes, len < sizeof(zeroes) ? len : sizeof(zeroes) };

		rc = file_transfer(f, &iov, 1, offset, true);
		if (rc)
			return rc;
		offset += iov.iov_len;
		len -= iov.iov_len;
	}
	return 0;
}

static void file_close(struct block *bk)
{
	struct block_file *f = to_file(bk);

	close(f->fd);
	free(f);
}

static const struct block_ops block_file_ops = {
	.preadv = file_preadv,
	.pwritev = file_pwritev,
	.flush = file_flush,
	.discard = file_discard,
	.write_zeroes = file_write_zeroes,
	.close = file_close,
};

/* file_open_fd: open path as asked, saying why not in terms of --disk. */
static int file_open_fd(const char *path, bool read_only, char *err, size_t errlen)
{
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC), e;

	if (fd >= 0)
		return fd;
	e = errno;
	if (!read_only && (e == EACCES || e == EROFS || e == EPERM) && access(path, R_OK) == 0)
		return block_fail(err, errlen, -e, "'%s' cannot be written (%s); add ,ro to give "
				  "it to the guest read-only", path, strerror(e));
	if (e == ENOENT)
		return block_fail(err, errlen, -e, "'%s': no such file", path);
	return block_fail(err, errlen, -e, "cannot open '%s': %s", path, strerror(e));
}

static int block_file_open(const char *path, bool read_only, struct block **out, char *err,
			   size_t errlen)
{
	struct block_file *f;
	struct stat st;
	uint64_t size;
	int fd, rc;

	fd = file_open_fd(path, read_only, err, errlen);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		rc = block_fail(err, errlen, -errno, "cannot stat '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			rc = block_fail(err, errlen, -errno, "cannot size '%s': %s", path,
					strerror(errno));
			goto fail;
		}
	} else {
		rc = block_fail(err, errlen, -EINVAL, "'%s' is not a regular file or block device",
				path);
		goto fail;
	}
	/* Two guests writing one image corrupt it: one writer, or readers. */
	if (flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			rc = block_fail(err, errlen, -EBUSY, "'%s' is in use by another %s", path,
					read_only ? "writer" : "guest or program");
		else
			rc = block_fail(err, errlen, -errno, "cannot lock '%s': %s", path,
					strerror(errno));
		goto fail;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		rc = block_fail(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	f->bk = (struct block){ &block_file_ops, size, read_only };
	f->fd = fd;
	*out = &f->bk;
	return 0;
fail:
	close(fd);
	return rc;
}

/* block_open_base: the file or export itself, read-only if asked. */
static int block_open_base(const struct block_spec *spec, bool read_only, struct block **out,
			   char *err, size_t errlen)
{
	if (spec->nbd)
		return block_nbd_open(spec, read_only, out, err, errlen);
	return block_file_open(spec->file, read_only, out, err, errlen);
}

int block_open(const struct block_spec *spec, struct block **out, char *err, size_t errlen)
{
	struct block *base;
	int rc;

	if (!spec->overlay)
		return block_open_base(spec, spec->read_only, out, err, errlen);
	rc = block_open_base(spec, true, &base, err, errlen);
	if (rc)
		return rc;
	return block_overlay_new(base, spec->file, spec->overlay_limit, out, err, errlen);
}

/* ---- what device models call ---- */

int block_preadv(struct block *bk, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	return bk->ops->preadv(bk, iov, iovcnt, offset);
}

int block_pwritev(struct block *bk, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	return bk->read_only ? -EROFS : bk->ops->pwritev(bk, iov, iovcnt, offset);
}

int block_flush(struct block *bk)
{
	/* Nothing of ours to put on disk. */
	return bk->read_only ? 0 : bk->ops->flush(bk);
}

int block_discard(struct block *bk, uint64_t offset, uint64_t len)
{
	if (bk->read_only)
		return -EROFS;
	return bk->ops->discard ? bk->ops->discard(bk, offset, len) : -EOPNOTSUPP;
}

int block_write_zeroes(struct block *bk, uint64_t offset, uint64_t len, bool unmap)
{
	return bk->read_only ? -EROFS : bk->ops->write_zeroes(bk, offset, len, unmap);
}

void block_close(struct block *bk)
{
	if (bk)
		bk->ops->close(bk);
}

/* Block back ends: where a virtual disk's bytes live, behind one struct of
 * callbacks so that a device model never knows which. A raw image file or
 * host block device (block.c), an export on an NBD server (block_nbd.c,
 * libnbd), and a copy-on-write RAM overlay stacked on either
 * (block_overlay.c). Also what `--disk SPEC` means (docs/vmm.md, "Disks"),
 * since the spec names the back end. */
#ifndef DUET_BLOCK_H
#define DUET_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct block;

/* Every call is synchronous and may block as long as the storage takes:
 * device models make them from a worker thread, one call at a time per
 * back end. Offsets and lengths are bytes inside [0, size): the caller has
 * checked them. Each returns 0 or -errno. */
struct block_ops {
	/* Fill / write out all of iov[0..iovcnt) (iovcnt <= IOV_MAX) at offset. */
	int (*preadv)(struct block *bk, const struct iovec *iov, int iovcnt, uint64_t offset);
	int (*pwritev)(struct block *bk, const struct iovec *iov, int iovcnt, uint64_t offset);
	/* What was written before the call is on stable storage when it returns. */
	int (*flush)(struct block *bk);
	/* The range's data is no longer wanted: the back end may deallocate it;
	 * reads then return zeroes or the old data. -EOPNOTSUPP: it cannot. */
	int (*discard)(struct block *bk, uint64_t offset, uint64_t len);
	/* Reads of the range return zeroes from now on; with `unmap` the back
	 * end may also deallocate it. */
	int (*write_zeroes)(struct block *bk, uint64_t offset, uint64_t len, bool unmap);
	void (*close)(struct block *bk);
};

/* A back end embeds this first in its own state. */
struct block {
	const struct block_ops *ops;
	uint64_t size;   /* bytes */
	bool read_only;  /* opened read-only: every write fails with -EROFS */
};

/* Where an NBD export is: nbd://HOST[:PORT]/EXPORT or
 * nbd+unix:///EXPORT?socket=PATH (the NBD URI form, percent-decoded). */
struct block_nbd_uri {
	char *host;   /* TCP: a name or address (an IPv6 one without brackets); else NULL */
	char *port;   /* TCP: digits, 1-65535; "10809" when not given */
	char *socket; /* nbd+unix: the Unix socket's path; else NULL */
	char *export; /* the export's name; "" (the server's default) when not given */
};

/* What one --disk spec asks for: file=PATH or nbd://..., then
 * [,ro][,discard=on|off][,overlay=ram[,overlay-limit=SIZE]][,timeout=SECONDS] */
struct block_spec {
	char *file;   /* the image's path; for an NBD disk, the URI as given (its name) */
	bool nbd;     /* file is an NBD URI, parsed into nbd_uri */
	struct block_nbd_uri nbd_uri;
	unsigned nbd_timeout; /* NBD: seconds guest I/O waits for a lost server; 0: for ever */
	bool read_only;
	bool discard; /* pass the guest's discards on to the back end (default) */
	bool overlay; /* file read-only under a RAM overlay that takes the writes */
	uint64_t overlay_limit; /* bytes the overlay may hold; 0: no limit */
};

/* block_spec_parse: parse a --disk spec. -EINVAL with the reason, which
 * does not repeat the spec, in err. block_spec_free releases the strings. */
int block_spec_parse(const char *spec, struct block_spec *out, char *err, size_t errlen);
void block_spec_free(struct block_spec *spec);

/* block_open: open the back end `spec` names. -errno with a one-line
 * reason (naming the file) in err. A file is locked against other writers
 * for as long as it is open (flock: shared when read-only, else
 * exclusive). */
int block_open(const struct block_spec *spec, struct block **out, char *err, size_t errlen);

/* block_nbd_uri_parse: an nbd:// or nbd+unix:// URI into its parts.
 * -EINVAL with the reason (not repeating the URI) in err, and nothing to
 * free; else block_nbd_uri_free releases the strings. */
int block_nbd_uri_parse(const char *uri, struct block_nbd_uri *out, char *err, size_t errlen);
void block_nbd_uri_free(struct block_nbd_uri *uri);

/* block_nbd_open: connect to the export spec->nbd_uri names (NBD_OPT_GO,
 * structured replies when the server has them) and read its size; opened
 * read-only, every write fails with -EROFS. The disk rides out a lost
 * connection: calls wait while it reconnects, then send again what had no
 * reply (see block_nbd.c and docs/vmm.md); after spec->nbd_timeout seconds
 * without the server (0: never) they fail with -EIO. -errno with a one-line
 * reason in err when the first connection cannot be made. The name and
 * addresses are resolved here, once: reconnecting opens no file. */
int block_nbd_open(const struct block_spec *spec, bool read_only, struct block **out, char *err,
		   size_t errlen);

/* block_overlay_new: a writable disk of base's size whose writes stay in
 * RAM, in 4 KiB clusters; base (opened read-only) is never written and
 * answers reads of what was not. Once `limit` bytes (0: no limit) are
 * held, writes to clusters not yet written fail with -ENOSPC. Discarded
 * and zeroed clusters read as zeroes and hold no memory; flush does
 * nothing. Takes base whatever the outcome (closes it with the overlay,
 * or at once on failure: -errno, the reason in err). `name` (the base's
 * file) is for messages. */
int block_overlay_new(struct block *base, const char *name, uint64_t limit, struct block **out,
		      char *err, size_t errlen);
/* block_overlay_bytes: the RAM an overlay holds now; 0 for other back ends. */
uint64_t block_overlay_bytes(struct block *bk);

/* The calls device models make: the callbacks, with read_only enforced
 * and a missing discard reported as -EOPNOTSUPP. */
int block_preadv(struct block *bk, const struct iovec *iov, int iovcnt, uint64_t offset);
int block_pwritev(struct block *bk, const struct iovec *iov, int iovcnt, uint64_t offset);
int block_flush(struct block *bk);
int block_discard(struct block *bk, uint64_t offset, uint64_t len);
int block_write_zeroes(struct block *bk, uint64_t offset, uint64_t len, bool unmap);
void block_close(struct block *bk);

#endif

/* The server's end of duet-display's remote port (docs/duet-wall.md): the
 * Ed25519 key that signs `duet switch` commands, and one signed command
 * sent to one PC. The private key never leaves the server: PCs get the
 * public key (remote.pub, published by `duet config`). Errors are -errno
 * values; the caller prints the one line the admin sees. */
#ifndef DUET_REMOTE_H
#define DUET_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long one PC may take: connect, greeting, reply. */
#define REMOTE_CLIENT_TIMEOUT_MS 4000

/* The protocol itself is lib/remote_proto.h (included by the files
 * that speak it, which build with -Idisplay); this header needs none of it,
 * so `duet config` can publish the public key with remote.h alone. */
struct remote_key {
	uint8_t priv[32]; /* the Ed25519 seed, as in the key file */
	uint8_t pub[32];
};

/* remote_key_load: the private key from key_file (its first line: 64 hex
 * digits, the Ed25519 seed). With create, a missing file is made (mode
 * 0600, with its directory) from getrandom; an existing one is never
 * overwritten. Errors: -ENOENT (missing, !create), -EINVAL (not a key),
 * -EPERM (group or others may read it), other -errno from the file. */
int remote_key_load(const char *key_file, bool create, struct remote_key *key);

/* remote_public_key_hex: the public key of key_file as 64 hex digits and
 * a NUL, for the config publisher's remote.pub. Errors as remote_key_load. */
int remote_public_key_hex(const char *key_file, bool create, char out[65]);

/* remote_key_strerror: what remote_key_load's error means, for one line
 * "duet: key FILE: <this>". */
const char *remote_key_strerror(int err);

/* remote_request: connect to host (a name or address) port, read the
 * greeting, send `command` signed over its nonce and the address and port
 * the socket reached (lib/remote_proto.h), and put the reply line
 * (without "\n") in reply. All within timeout_ms. 0 when a reply came
 * (which may still be "error: ..."); -ECONNREFUSED, -ETIMEDOUT,
 * -EHOSTUNREACH, -ENETUNREACH, -ENOENT (no such host): unreachable;
 * -EPROTO: not a duet-display remote port. */
int remote_request(const char *host, unsigned port, const struct remote_key *key,
		   const char *command, unsigned timeout_ms, char *reply, size_t size);

/* remote_parse_status: a `status` reply, "ok active=NAME guests=A,B",
 * into the active guest's name ("" when none) and the list ("A,B");
 * -EPROTO when it is not one. */
int remote_parse_status(const char *reply, char *active, size_t active_size, char *guests,
			size_t guests_size);

#endif

/* The remote-control protocol between `duet switch`/`duet wall` on the LTSP
 * server and duet-display's remote port (docs/duet-wall.md). Both sides
 * include this header: server-tools/remote.c (the client) and
 * display/remote_port.c (the server).
 *
 * One TCP connection, one command, lines ending in "\n":
 *   display: "duet-remote 1 NONCE\n"     NONCE: 32 random bytes, 64 hex digits,
 *                                         fresh for every connection
 *   client:  "SIG COMMAND\n"             SIG: 128 hex digits, the Ed25519
 *                                         signature of the bytes
 *                                         NONCE " " COMMAND (NONCE as sent)
 *   display: "ok ..." or "error: ...\n", then it closes the connection.
 * Commands: "status" -> "ok active=NAME guests=A,B" (NAME empty when
 * nothing is shown); "switch NAME" -> "ok".
 * The display holds only the server's public key; a signature binds the
 * command to that connection's nonce, so a recorded one is worthless. */
#ifndef DUET_REMOTE_PROTO_H
#define DUET_REMOTE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "parse.h"

#define REMOTE_PROTO_VERSION 1
#define REMOTE_GREETING "duet-remote 1 "
#define REMOTE_PORT_DEFAULT 5899
#define REMOTE_NONCE_SIZE 32
#define REMOTE_KEY_SIZE 32  /* an Ed25519 public key, or private seed */
#define REMOTE_SIG_SIZE 64  /* an Ed25519 signature */
#define REMOTE_COMMAND_MAX 64
/* the longest request line: SIG, a space, a command, "\r\n" */
#define REMOTE_REQUEST_MAX (2 * REMOTE_SIG_SIZE + 1 + REMOTE_COMMAND_MAX + 2)
/* the longest reply line: 16 guest names of 31 characters and more */
#define REMOTE_REPLY_MAX 1024
/* a connection gets this long from accept to its reply */
#define REMOTE_TIMEOUT_MS 5000

/* remote_hex_encode: n bytes as 2n lower-case hex digits and a NUL. */
static inline void remote_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

/* remote_hex_decode: exactly 2n hex digits (either case) into n bytes;
 * -1 when any of them is not a hex digit. */
static inline int remote_hex_decode(const char *in, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = parse_hex_digit(in[2 * i]), lo = parse_hex_digit(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

#endif

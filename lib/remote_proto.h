/* The remote-control protocol between `duet switch`/`duet wall` on the LTSP
 * server and duet-display's remote port (docs/duet-wall.md). Both sides
 * include this header: server-tools/remote.c (the client) and
 * display/remote_port.c (the server).
 *
 * One TCP connection, one command, lines ending in "\n":
 *   display: "duet-remote 1 NONCE\n"     NONCE: 32 random bytes, 64 hex digits,
 *                                         fresh for every connection
 *   client:  "SIG COMMAND\n"             SIG: 128 hex digits, the Ed25519
 *                                         signature of the message that
 *                                         remote_signed_message builds:
 *       "duet-remote 1 ADDRESS PORT NONCE COMMAND"
 *   display: "ok ..." or "error: ...\n", then it closes the connection.
 * ADDRESS PORT is the display's end of this TCP connection, numeric
 * (inet_ntop; an IPv4-mapped IPv6 address as IPv4; port in decimal): the
 * display takes it from getsockname() on the accepted socket, the client
 * from getpeername() on its connected one (remote_sockaddr_text, here,
 * for both). Commands: "status" -> "ok active=NAME guests=A,B" (NAME
 * empty when nothing is shown); "switch NAME" -> "ok".
 * The display holds only the server's public key. A signature binds the
 * command to that connection's nonce, so a recorded one is worthless, and
 * to the PC the server connected to, so a PC that got a signed command
 * for itself cannot relay it to another PC (it would have to be that PC's
 * address and port). A NAT between server and PC therefore breaks the
 * protocol: the classroom LAN has none. */
#ifndef DUET_REMOTE_PROTO_H
#define DUET_REMOTE_PROTO_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

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
/* the longest ADDRESS: a numeric IPv6 address (INET6_ADDRSTRLEN, NUL
 * included) */
#define REMOTE_ADDRESS_MAX 46
/* the longest signed message, NUL included: the greeting's words, ADDRESS,
 * PORT (5 digits), NONCE and COMMAND, separated by spaces */
#define REMOTE_MESSAGE_MAX                                                           \
	(sizeof(REMOTE_GREETING) - 1 + REMOTE_ADDRESS_MAX - 1 + 1 + 5 + 1 +            \
	 2 * REMOTE_NONCE_SIZE + 1 + REMOTE_COMMAND_MAX + 1)

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

/* remote_sockaddr_text: a socket address as the signed message names it:
 * numeric, an IPv4-mapped IPv6 address as plain IPv4, and the port;
 * -EAFNOSUPPORT for anything but IPv4 and IPv6. */
static inline int remote_sockaddr_text(const struct sockaddr_storage *a,
				       char address[REMOTE_ADDRESS_MAX], unsigned *port)
{
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)a;

		*port = ntohs(in->sin_port);
		return inet_ntop(AF_INET, &in->sin_addr, address, REMOTE_ADDRESS_MAX) ? 0 : -EINVAL;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;

		*port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], address,
					 REMOTE_ADDRESS_MAX) ? 0 : -EINVAL;
		return inet_ntop(AF_INET6, &in6->sin6_addr, address, REMOTE_ADDRESS_MAX) ? 0 : -EINVAL;
	}
	return -EAFNOSUPPORT;
}

/* remote_signed_message: the bytes a request's signature covers, into
 * out (REMOTE_MESSAGE_MAX bytes); their length, or -EINVAL when a part is
 * not what the protocol allows (so nothing is ever signed cut short). */
static inline int remote_signed_message(char out[REMOTE_MESSAGE_MAX], const char *address,
					unsigned port, const char *nonce_hex, const char *command)
{
	int n;

	if (strlen(address) >= REMOTE_ADDRESS_MAX || port > 65535 ||
	    strlen(nonce_hex) != 2 * REMOTE_NONCE_SIZE || strlen(command) > REMOTE_COMMAND_MAX)
		return -EINVAL;
	n = snprintf(out, REMOTE_MESSAGE_MAX, REMOTE_GREETING "%s %u %s %s", address, port,
		     nonce_hex, command);
	return n < 0 || n >= (int)REMOTE_MESSAGE_MAX ? -EINVAL : n;
}

#endif

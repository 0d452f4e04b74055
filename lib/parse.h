/* Parsing of numbers and sizes as people write them on command lines and in
 * config files ("64M", "0x7c00", "2"). */
#ifndef DUET_PARSE_H
#define DUET_PARSE_H

#include <stdint.h>

/* parse_u64: a decimal, 0x-hex or 0-octal number; -EINVAL unless the whole
 * string is one number that fits. */
int parse_u64(const char *s, uint64_t *out);

/* parse_size: a byte count with an optional K, M, G or T suffix (powers of
 * 1024, either case, an optional trailing "B" or "iB"); -EINVAL on junk,
 * -ERANGE on overflow. */
int parse_size(const char *s, uint64_t *out);

/* parse_hex_digit: the value of one hex digit (either case), -1 if c is none. */
int parse_hex_digit(char c);

#endif

/* The keys a PC's sections of duet.conf may hold, and the check of each
 * value on its own (checks across keys happen per PC, in config.c). */
#ifndef DUET_CONF_KEYS_H
#define DUET_CONF_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

#define GUEST_NAME_MAX 16
#define GUESTS_MAX 9

/* conf_check_pc_entry: 0 when key may appear in a section of kind with
 * this value; else -EINVAL with the reason in why. */
int conf_check_pc_entry(enum conf_section_kind kind, const char *key, const char *value,
			char *why, size_t why_size);

/* conf_is_ip: a numeric IPv4 or IPv6 address. */
bool conf_is_ip(const char *s);

/* guest_name_is_valid: [a-z][a-z0-9_]{0,15} */
bool guest_name_is_valid(const char *name);

/* conf_split_guest_key: "windows.memory" -> guest "windows", key "memory";
 * false when key has no guest part. */
bool conf_split_guest_key(const char *key, char guest[GUEST_NAME_MAX + 1], const char **subkey);

#endif

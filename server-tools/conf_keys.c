/* The keys of a PC's sections of duet.conf (see conf_keys.h and the table
 * in docs/duet.md). Values that end up in the image's client.conf must be
 * in the character set its /init accepts: A-Za-z0-9_.:/ #- */
#include "conf_keys.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "parse.h"

enum value_type {
	V_GUEST_LIST, /* guests */
	V_GUEST,      /* one guest name */
	V_SYSLOG,     /* yes, no or an IP */
	V_PC_NAME,    /* a hostname */
	V_IP,         /* a numeric IP */
	V_LISTEN,     /* a numeric IP or none */
	V_PORT,
	V_ABS_PATH,
	V_VNC_INPUT,  /* no, yes or guest names */
	V_KEY,        /* KEY_... */
	V_KEY_LIST,
	V_EDGE,
	V_BANNER,
	V_FILES,      /* paths in the duet tree */
	V_MEMORY,
	V_CPUS,
	V_BOOT,
	V_DISK,
	V_TREE_PATH,  /* one path in the duet tree */
	V_TEXT,       /* free text (the kernel command line) */
	V_NET,
	V_COLOR,
};

struct key_def {
	const char *key;
	enum value_type type;
	bool mac_only; /* only in a MAC section without globs */
};

static const struct key_def pc_keys[] = {
	{ "guests", V_GUEST_LIST, false },
	{ "screen", V_GUEST, false },
	{ "maintenance", V_GUEST, false },
	{ "syslog", V_SYSLOG, false },
	{ "files", V_FILES, false },
	{ "hostname", V_PC_NAME, true },
	{ "ip", V_IP, true },
	{ "vnc-listen", V_LISTEN, false },
	{ "vnc-base-port", V_PORT, false },
	{ "vnc-password-file", V_ABS_PATH, false },
	{ "vnc-input", V_VNC_INPUT, false },
	{ "remote-listen", V_LISTEN, false },
	{ "remote-port", V_PORT, false },
	{ "hotkey-modifier", V_KEY, false },
	{ "hotkey-next", V_KEY, false },
	{ "hotkey-slots", V_KEY_LIST, false },
	{ "edge-width", V_EDGE, false },
	{ "banner-time", V_BANNER, false },
};

static const struct key_def guest_keys[] = {
	{ "memory", V_MEMORY, false },
	{ "cpus", V_CPUS, false },
	{ "boot", V_BOOT, false },
	{ "disk", V_DISK, false },
	{ "cdrom", V_TREE_PATH, false },
	{ "kernel", V_TREE_PATH, false },
	{ "initrd", V_TREE_PATH, false },
	{ "append", V_TEXT, false },
	{ "net", V_NET, false },
	{ "color", V_COLOR, false },
};

bool guest_name_is_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > GUEST_NAME_MAX || !islower((unsigned char)name[0]))
		return false;
	for (const char *p = name; *p; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

bool conf_split_guest_key(const char *key, char guest[GUEST_NAME_MAX + 1], const char **subkey)
{
	const char *dot = strchr(key, '.');

	if (!dot || (size_t)(dot - key) > GUEST_NAME_MAX)
		return false;
	memcpy(guest, key, (size_t)(dot - key));
	guest[dot - key] = '\0';
	*subkey = dot + 1;
	return true;
}

static int fail(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

bool conf_is_ip(const char *s)
{
	struct in_addr a4;
	struct in6_addr a6;

	return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

static bool in_range(const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	return end != s && !*end && v >= lo && v <= hi;
}

/* client.conf's character set (initramfs/lib/common.sh refuses others). */
static bool client_conf_safe(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.:/ #-", *p))
			return false;
	return true;
}

static bool is_tree_path(const char *s)
{
	if (!*s || s[0] == '/' || !client_conf_safe(s) || strchr(s, ' ') || strchr(s, '#'))
		return false;
	for (const char *p = s; (p = strstr(p, "..")); p += 2)
		if ((p == s || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return false;
	return true;
}

static bool is_key_name(const char *s, size_t n)
{
	if (n < 5 || strncmp(s, "KEY_", 4))
		return false;
	for (size_t i = 4; i < n; i++)
		if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

static int check_guest_list(const char *v, char *why, size_t size)
{
	char names[GUESTS_MAX][GUEST_NAME_MAX + 1];
	int count = 0;

	for (const char *p = v; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, " \t");
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), p);
		if (n > GUEST_NAME_MAX || !guest_name_is_valid(name))
			return fail(why, size, "guests: '%s' is not a guest name (a-z first, then a-z, 0-9, _; at most 16)",
				    name);
		if (count == GUESTS_MAX)
			return fail(why, size, "guests: at most %d guests", GUESTS_MAX);
		for (int i = 0; i < count; i++)
			if (!strcmp(names[i], name))
				return fail(why, size, "guests: '%s' is named twice", name);
		strcpy(names[count++], name);
		p += n;
	}
	if (count == 0)
		return fail(why, size, "guests: no guest named");
	return 0;
}

static int check_value(const struct key_def *d, const char *key, const char *v, char *why, size_t size)
{
	uint64_t n;

	switch (d->type) {
	case V_GUEST_LIST:
		return check_guest_list(v, why, size);
	case V_GUEST:
		return guest_name_is_valid(v) ? 0 : fail(why, size, "%s: '%s' is not a guest name", key, v);
	case V_SYSLOG:
		return !strcmp(v, "yes") || !strcmp(v, "no") || conf_is_ip(v)
			       ? 0 : fail(why, size, "%s: '%s' is not yes, no or an IP address", key, v);
	case V_PC_NAME:
		for (const char *p = v; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
				return fail(why, size, "%s: '%s' is not a hostname", key, v);
		return *v ? 0 : fail(why, size, "%s: empty", key);
	case V_IP:
		return conf_is_ip(v) ? 0 : fail(why, size, "%s: '%s' is not a numeric IP address", key, v);
	case V_LISTEN:
		return !strcmp(v, "none") || conf_is_ip(v)
			       ? 0 : fail(why, size, "%s: '%s' is not a numeric IP address or none", key, v);
	case V_PORT:
		return in_range(v, 1, 65535) ? 0 : fail(why, size, "%s: '%s' is not a port (1-65535)", key, v);
	case V_ABS_PATH:
		return v[0] == '/' && !strchr(v, ' ')
			       ? 0 : fail(why, size, "%s: '%s' is not an absolute path", key, v);
	case V_VNC_INPUT:
		if (!strcmp(v, "yes") || !strcmp(v, "no"))
			return 0;
		for (const char *p = v; *p;) {
			size_t len = strcspn(p, ",");
			char name[64];
			snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), p);
			if (strcmp(name, "screen") && !guest_name_is_valid(name))
				return fail(why, size, "%s: '%s' is not yes, no, screen or a guest name", key, name);
			p += len + (p[len] == ',');
		}
		return 0;
	case V_KEY:
		return is_key_name(v, strlen(v)) ? 0
			: fail(why, size, "%s: '%s' is not a key name like KEY_RIGHTCTRL", key, v);
	case V_KEY_LIST:
		for (const char *p = v; *p;) {
			size_t len = strcspn(p, ",");
			if (!is_key_name(p, len))
				return fail(why, size, "%s: '%.*s' is not a key name like KEY_1", key, (int)len, p);
			p += len + (p[len] == ',');
		}
		return 0;
	case V_EDGE:
		return in_range(v, 0, 64) ? 0 : fail(why, size, "%s: '%s' is not 0-64 pixels", key, v);
	case V_BANNER:
		return in_range(v, 500, 60000) ? 0 : fail(why, size, "%s: '%s' is not 500-60000 ms", key, v);
	case V_FILES:
		for (const char *p = v; *p;) {
			while (*p == ' ')
				p++;
			size_t len = strcspn(p, " ");
			char path[256];
			if (!len)
				break;
			snprintf(path, sizeof path, "%.*s", (int)(len < 255 ? len : 255), p);
			if (!is_tree_path(path))
				return fail(why, size, "%s: '%s' is not a path inside the duet tree", key, path);
			p += len;
		}
		return 0;
	case V_MEMORY:
		if (parse_size(v, &n) < 0 || n < (16ULL << 20) || n > (1ULL << 40))
			return fail(why, size, "%s: '%s' is not a memory size from 16M to 1T", key, v);
		return 0;
	case V_CPUS:
		return in_range(v, 1, 64) ? 0 : fail(why, size, "%s: '%s' is not 1-64", key, v);
	case V_BOOT:
		return !strcmp(v, "bios") || !strcmp(v, "kernel") || !strcmp(v, "net")
			       ? 0 : fail(why, size, "%s: '%s' is not bios, kernel or net", key, v);
	case V_DISK:
		if (!strncmp(v, "nbd://", 6) || !strncmp(v, "nbd+unix://", 11))
			return strchr(v, ',') || strchr(v, ' ')
				       ? fail(why, size, "%s: '%s': no options after the URL here", key, v) : 0;
		if (!image_name_is_valid(v))
			return fail(why, size, "%s: '%s' is not a golden image name or an nbd:// URL", key, v);
		return 0;
	case V_TREE_PATH:
		return is_tree_path(v) ? 0 : fail(why, size, "%s: '%s' is not a path inside the duet tree", key, v);
	case V_TEXT:
		return strchr(v, '\n') ? fail(why, size, "%s: more than one line", key) : 0;
	case V_NET:
		return !strcmp(v, "bridge") || !strcmp(v, "user") || !strcmp(v, "none")
			       ? 0 : fail(why, size, "%s: '%s' is not bridge, user or none", key, v);
	case V_COLOR:
		if (strlen(v) != 7 || v[0] != '#')
			return fail(why, size, "%s: '%s' is not a colour like #2a6f97", key, v);
		for (int i = 1; i < 7; i++)
			if (parse_hex_digit(v[i]) < 0)
				return fail(why, size, "%s: '%s' is not a colour like #2a6f97", key, v);
		return 0;
	}
	return fail(why, size, "%s: cannot be checked", key);
}

int conf_check_pc_entry(enum conf_section_kind kind, const char *key, const char *value,
			char *why, size_t why_size)
{
	char guest[GUEST_NAME_MAX + 1];
	const char *subkey;

	if (conf_split_guest_key(key, guest, &subkey)) {
		if (!guest_name_is_valid(guest))
			return fail(why, why_size, "'%s': '%s' is not a guest name", key, guest);
		for (size_t i = 0; i < sizeof guest_keys / sizeof guest_keys[0]; i++)
			if (!strcmp(guest_keys[i].key, subkey))
				return check_value(&guest_keys[i], key, value, why, why_size);
		return fail(why, why_size, "'%s': a guest has no key '%s' (memory, cpus, boot, disk, cdrom, "
			    "kernel, initrd, append, net, color)", key, subkey);
	}
	for (size_t i = 0; i < sizeof pc_keys / sizeof pc_keys[0]; i++) {
		if (strcmp(pc_keys[i].key, key))
			continue;
		if (pc_keys[i].mac_only && kind != CONF_MAC)
			return fail(why, why_size, "'%s' belongs in a PC's own [MAC] section", key);
		return check_value(&pc_keys[i], key, value, why, why_size);
	}
	return fail(why, why_size, "no key '%s' (see docs/duet.md)", key);
}

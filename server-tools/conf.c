/* /etc/duet/duet.conf (see conf.h): read with inih, every key checked
 * against the known ones with its line number, sections classified as
 * MAC, IP or hostname globs. inih does not tell its handler the line, so
 * the reader below counts the lines it hands over. */
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <ifaddrs.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf_keys.h"

struct load_state {
	struct duet_conf *conf;
	FILE *file;
	int line;
	int section_line; /* the line of the last [header] */
	int errors;
	struct conf_section *current;
};

static void conf_error(struct load_state *st, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conf_error(struct load_state *st, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", st->conf->path, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	st->errors++;
}

int conf_parse_mac(const char *s, char out[18])
{
	unsigned b[6];
	char sep[5];
	int n = 0;

	if (strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
			return -EINVAL;
		if (i < 5) {
			if (p[2] != ':' && p[2] != '-')
				return -EINVAL;
			sep[n++] = p[2];
		}
		sscanf(p, "%2x", &b[i]);
	}
	for (int i = 1; i < 5; i++)
		if (sep[i] != sep[0])
			return -EINVAL;
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
	return 0;
}

/* A section's kind from its name; -1 when it is none of them. */
static int classify_section(const char *name)
{
	static const char glob_chars[] = "*?[]!";
	bool colon = false, dot = false, other = false, macish = true, ipish = true;

	if (!strcasecmp(name, "server"))
		return CONF_SERVER;
	if (!strcasecmp(name, "common"))
		return CONF_COMMON;
	if (!strcasecmp(name, "clients"))
		return CONF_CLIENTS;
	if (!*name)
		return -1;
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		bool glob = strchr(glob_chars, c) != NULL;
		colon |= c == ':';
		dot |= c == '.';
		if (!(isxdigit(c) || c == ':' || glob || c == '-'))
			macish = false;
		if (!(isdigit(c) || c == '.' || glob || c == '-'))
			ipish = false;
		if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || glob || c == ':'))
			other = true;
	}
	if (other)
		return -1;
	if (colon)
		return macish ? CONF_MAC : -1;
	if (ipish && dot)
		return CONF_IP;
	return CONF_HOSTNAME;
}

/* copy_str: src into dst, cut to fit (callers checked the shape). */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d) {
		fprintf(stderr, "duet: out of memory\n");
		exit(1);
	}
	return d;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (!q) {
		fprintf(stderr, "duet: out of memory\n");
		exit(1);
	}
	return q;
}

static struct conf_section *section_open(struct load_state *st, const char *name)
{
	struct duet_conf *conf = st->conf;
	int kind = classify_section(name);

	if (kind < 0)
		return NULL; /* read_line reported the header */
	conf->sections = xrealloc(conf->sections, (conf->count + 1) * sizeof *conf->sections);
	struct conf_section *s = &conf->sections[conf->count++];
	*s = (struct conf_section){ .name = xstrdup(name), .kind = kind, .line = st->line };
	if (kind == CONF_MAC)
		for (char *p = s->name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return s;
}

static void server_set(struct load_state *st, const char *key, const char *value)
{
	struct conf_server *sv = &st->conf->server;
	struct { const char *key; char *dst; size_t size; } paths[] = {
		{ "tftp-root", sv->tftp_root, sizeof sv->tftp_root },
		{ "images", sv->image_dir, sizeof sv->image_dir },
		{ "vms", sv->vm_dir, sizeof sv->vm_dir },
		{ "run", sv->run_dir, sizeof sv->run_dir },
		{ "key", sv->key_file, sizeof sv->key_file },
		{ "ethers", sv->ethers, sizeof sv->ethers },
		{ "leases", sv->leases, sizeof sv->leases },
	};

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		if (strcmp(key, paths[i].key))
			continue;
		if (value[0] != '/')
			conf_error(st, st->line, "%s: '%s' is not an absolute path", key, value);
		else if (strlen(value) >= paths[i].size)
			conf_error(st, st->line, "%s: path too long", key);
		else
			strcpy(paths[i].dst, value);
		return;
	}
	if (!strcmp(key, "address")) {
		if (!conf_is_ip(value))
			conf_error(st, st->line, "address: '%s' is not a numeric IP address", value);
		else
			snprintf(sv->address, sizeof sv->address, "%s", value);
	} else if (!strcmp(key, "nbd-port") || !strcmp(key, "edit-port")) {
		char *end;
		long port = strtol(value, &end, 10);
		if (*end || end == value || port < 1 || port > 65535)
			conf_error(st, st->line, "%s: '%s' is not a port (1-65535)", key, value);
		else if (key[0] == 'n')
			sv->nbd_port = (int)port;
		else
			sv->edit_port = (int)port;
	} else {
		conf_error(st, st->line, "[server] has no key '%s'", key);
	}
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct load_state *st = user;

	if (!key) /* a section header (inih with INI_CALL_HANDLER_ON_NEW_SECTION) */
		return 1;
	if (!st->current || strcmp(st->current->name, section)) {
		/* inih reports entries of a section after its header; a header
		 * without entries never comes here, which is fine. */
		if (!*section) {
			conf_error(st, st->line, "'%s' comes before any [section]", key);
			return 1;
		}
		char lowered[256];
		snprintf(lowered, sizeof lowered, "%s", section);
		if (classify_section(section) == CONF_MAC)
			for (char *p = lowered; *p; p++)
				*p = (char)tolower((unsigned char)*p);
		if (!st->current || strcmp(st->current->name, lowered)) {
			st->current = section_open(st, section);
			if (st->current) /* the header's line, not the first key's */
				st->current->line = st->section_line;
		}
	}
	if (!st->current)
		return 1; /* the bad header was reported once */
	if (st->current->kind == CONF_SERVER) {
		server_set(st, key, value);
		return 1;
	}
	if ((!strcmp(key, "hostname") || !strcmp(key, "ip")) && st->current->kind == CONF_MAC &&
	    strpbrk(st->current->name, "*?[")) {
		conf_error(st, st->line, "'%s' belongs in one PC's [MAC] section, not a glob's", key);
		return 1;
	}
	char why[256];
	if (conf_check_pc_entry(st->current->kind, key, value, why, sizeof why) < 0) {
		conf_error(st, st->line, "%s", why);
		return 1;
	}
	struct conf_section *s = st->current;
	for (size_t i = 0; i < s->count; i++)
		if (!strcmp(s->entries[i].key, key))
			conf_error(st, st->line, "'%s' is already set in [%s] on line %d", key, s->name,
				   s->entries[i].line);
	s->entries = xrealloc(s->entries, (s->count + 1) * sizeof *s->entries);
	s->entries[s->count++] = (struct conf_entry){ xstrdup(key), xstrdup(value), st->line };
	return 1;
}

/* inih's reader: one line per call, counted, with a check of the line's
 * shape (inih's own error return names only the first bad line). */
static char *read_line(char *buf, int size, void *user)
{
	struct load_state *st = user;

	if (!fgets(buf, size, st->file))
		return NULL;
	st->line++;
	size_t len = strlen(buf);
	if (len == (size_t)size - 1 && buf[len - 1] != '\n') {
		conf_error(st, st->line, "line too long (at most %d characters)", size - 2);
		int c;
		while ((c = fgetc(st->file)) != EOF && c != '\n')
			;
		buf[0] = '\0';
		return buf;
	}
	const char *p = buf;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '[') {
		st->section_line = st->line;
		const char *end = strchr(p, ']');
		if (!end) {
			conf_error(st, st->line, "section header without ']'");
			buf[0] = '\0';
		} else {
			char name[256];
			snprintf(name, sizeof name, "%.*s", (int)(end - p - 1 < 255 ? end - p - 1 : 255), p + 1);
			if (classify_section(name) < 0)
				conf_error(st, st->line,
					   "[%s] is not server, common, clients, a MAC, an IP or a hostname", name);
		}
	} else if (*p && *p != '\n' && *p != '\r' && *p != '#' && *p != ';' && !strchr(p, '=')) {
		conf_error(st, st->line, "not 'key = value', a [section] or a # comment");
		buf[0] = '\0';
	}
	return buf;
}

static void server_defaults(struct conf_server *sv)
{
	strcpy(sv->tftp_root, "/srv/tftp");
	strcpy(sv->image_dir, "/srv/duet/images");
	strcpy(sv->vm_dir, "/srv/duet/vms");
	strcpy(sv->run_dir, "/run/duet-server");
	strcpy(sv->key_file, "/etc/duet/remote.key");
	strcpy(sv->ethers, "/etc/ethers");
	strcpy(sv->leases, "/var/lib/misc/dnsmasq.leases");
	sv->address[0] = '\0';
	sv->nbd_port = 10809;
	sv->edit_port = 10810;
}

int conf_load(const char *path, struct duet_conf **out)
{
	struct duet_conf *conf = calloc(1, sizeof *conf);

	if (!conf)
		return -ENOMEM;
	if (!path)
		path = getenv("DUET_CONFIG");
	if (!path || !*path)
		path = DUET_CONF_DEFAULT;
	snprintf(conf->path, sizeof conf->path, "%s", path);
	server_defaults(&conf->server);
	*out = conf;

	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		int err = -errno;
		fprintf(stderr, "duet: %s: %s\n", path, strerror(errno));
		conf_free(conf);
		*out = NULL;
		return err;
	}
	conf->exists = true;
	struct load_state st = { .conf = conf, .file = f };
	int rc = ini_parse_stream(read_line, &st, on_entry, &st);
	fclose(f);
	/* rc > 0 is a line inih itself refused; read_line reported the
	 * shapes it knows, so only count what it did not. */
	if (rc > 0 && st.errors == 0)
		conf_error(&st, rc, "cannot parse this line");
	if (rc < 0) {
		fprintf(stderr, "duet: %s: out of memory\n", path);
		st.errors++;
	}
	return st.errors;
}

void conf_free(struct duet_conf *conf)
{
	if (!conf)
		return;
	for (size_t i = 0; i < conf->count; i++) {
		struct conf_section *s = &conf->sections[i];
		for (size_t j = 0; j < s->count; j++) {
			free(s->entries[j].key);
			free(s->entries[j].value);
		}
		free(s->entries);
		free(s->name);
	}
	free(conf->sections);
	free(conf);
}

bool conf_pc_section_matches(const struct conf_section *s, const struct pc_id *pc)
{
	switch (s->kind) {
	case CONF_COMMON:
	case CONF_CLIENTS:
		return true;
	case CONF_MAC:
		return pc->mac[0] && fnmatch(s->name, pc->mac, 0) == 0;
	case CONF_IP:
		return pc->ip[0] && fnmatch(s->name, pc->ip, 0) == 0;
	case CONF_HOSTNAME:
		return pc->hostname[0] && fnmatch(s->name, pc->hostname, FNM_CASEFOLD) == 0;
	case CONF_SERVER:
		break;
	}
	return false;
}

/* Sections apply in this order: [common], [clients], then the PC's own in
 * file order; the last value wins. */
static const struct conf_entry *pc_lookup(const struct duet_conf *conf, const struct pc_id *pc,
					  const char *key)
{
	const struct conf_entry *found = NULL;

	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < conf->count; i++) {
			const struct conf_section *s = &conf->sections[i];
			bool in_pass = pass == 0   ? s->kind == CONF_COMMON
				       : pass == 1 ? s->kind == CONF_CLIENTS
						   : (s->kind == CONF_MAC || s->kind == CONF_IP ||
						      s->kind == CONF_HOSTNAME);
			if (!in_pass || !conf_pc_section_matches(s, pc))
				continue;
			for (size_t j = 0; j < s->count; j++)
				if (!strcmp(s->entries[j].key, key))
					found = &s->entries[j];
		}
	}
	return found;
}

const char *conf_pc_get(const struct duet_conf *conf, const struct pc_id *pc, const char *key)
{
	const struct conf_entry *e = pc_lookup(conf, pc, key);

	return e ? e->value : NULL;
}

int conf_pc_get_line(const struct duet_conf *conf, const struct pc_id *pc, const char *key)
{
	const struct conf_entry *e = pc_lookup(conf, pc, key);

	return e ? e->line : 0;
}

/* The list of known PCs, kept sorted and unique by MAC. */
struct pc_list {
	struct pc_id *pcs;
	size_t count;
};

static struct pc_id *pc_list_find(struct pc_list *l, const char *mac)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->pcs[i].mac, mac))
			return &l->pcs[i];
	return NULL;
}

static struct pc_id *pc_list_get(struct pc_list *l, const char *mac)
{
	struct pc_id *known = pc_list_find(l, mac);

	if (known)
		return known;
	l->pcs = xrealloc(l->pcs, (l->count + 1) * sizeof *l->pcs);
	struct pc_id *pc = &l->pcs[l->count++];
	memset(pc, 0, sizeof *pc);
	copy_str(pc->mac, sizeof pc->mac, mac);
	return pc;
}

/* /etc/ethers: "MAC NAME-OR-IP" lines, # comments. */
static void read_ethers(const char *path, struct pc_list *l)
{
	FILE *f = fopen(path, "r");
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char macs[64], who[256], mac[18];
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (sscanf(line, "%63s %255s", macs, who) != 2 || conf_parse_mac(macs, mac) < 0)
			continue;
		struct pc_id *pc = pc_list_get(l, mac);
		if (conf_is_ip(who)) {
			if (!pc->ip[0])
				copy_str(pc->ip, sizeof pc->ip, who);
		} else if (!pc->hostname[0]) {
			copy_str(pc->hostname, sizeof pc->hostname, who);
		}
	}
	fclose(f);
}

/* dnsmasq's lease file: "EXPIRY MAC IP HOSTNAME CLIENT-ID". It gives
 * addresses to PCs known otherwise; it adds none (the guests on the PCs
 * have leases too, and are not PCs). */
static void read_leases(const char *path, struct pc_list *l)
{
	FILE *f = fopen(path, "r");
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char expiry[32], macs[64], ip[64], name[256], mac[18];
		int n = sscanf(line, "%31s %63s %63s %255s", expiry, macs, ip, name);
		if (n < 3 || conf_parse_mac(macs, mac) < 0 || !conf_is_ip(ip))
			continue;
		struct pc_id *pc = pc_list_find(l, mac);
		if (!pc)
			continue;
		if (!pc->ip[0])
			copy_str(pc->ip, sizeof pc->ip, ip);
		if (n == 4 && strcmp(name, "*") && !pc->hostname[0])
			copy_str(pc->hostname, sizeof pc->hostname, name);
	}
	fclose(f);
}

static int compare_pc(const void *a, const void *b)
{
	return strcmp(((const struct pc_id *)a)->mac, ((const struct pc_id *)b)->mac);
}

int conf_known_pcs(const struct duet_conf *conf, struct pc_id **out, size_t *count)
{
	struct pc_list l = { 0 };

	/* duet.conf first: its hostname and ip keys win over the files. */
	for (size_t i = 0; i < conf->count; i++) {
		const struct conf_section *s = &conf->sections[i];
		char mac[18];
		if (s->kind != CONF_MAC || conf_parse_mac(s->name, mac) < 0)
			continue;
		struct pc_id *pc = pc_list_get(&l, mac);
		for (size_t j = 0; j < s->count; j++) {
			if (!strcmp(s->entries[j].key, "hostname"))
				copy_str(pc->hostname, sizeof pc->hostname, s->entries[j].value);
			else if (!strcmp(s->entries[j].key, "ip"))
				copy_str(pc->ip, sizeof pc->ip, s->entries[j].value);
		}
	}
	read_ethers(conf->server.ethers, &l);
	read_leases(conf->server.leases, &l);
	if (l.count)
		qsort(l.pcs, l.count, sizeof *l.pcs, compare_pc);
	*out = l.pcs;
	*count = l.count;
	return 0;
}

int conf_find_pc(const struct duet_conf *conf, const char *what, struct pc_id *pc)
{
	struct pc_id *pcs;
	size_t count;
	char mac[18];
	bool by_mac = conf_parse_mac(what, mac) == 0;

	conf_known_pcs(conf, &pcs, &count);
	for (size_t i = 0; i < count; i++) {
		if ((by_mac && !strcmp(pcs[i].mac, mac)) || !strcmp(pcs[i].ip, what) ||
		    (pcs[i].hostname[0] && !strcasecmp(pcs[i].hostname, what))) {
			*pc = pcs[i];
			free(pcs);
			return 0;
		}
	}
	free(pcs);
	if (by_mac) {
		memset(pc, 0, sizeof *pc);
		strcpy(pc->mac, mac);
		return 0;
	}
	for (const char *p = what; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-_:", *p))
			return -EINVAL;
	return *what ? -ENOENT : -EINVAL;
}

int conf_server_address(const struct duet_conf *conf, char *buf, size_t size)
{
	if (conf->server.address[0]) {
		if (strlen(conf->server.address) >= size)
			return -ENAMETOOLONG;
		strcpy(buf, conf->server.address);
		return 0;
	}
	struct ifaddrs *ifs;
	if (getifaddrs(&ifs) < 0)
		return -errno;
	int err = -EADDRNOTAVAIL;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		struct in_addr a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		if ((ntohl(a.s_addr) >> 24) == 127)
			continue;
		if (!inet_ntop(AF_INET, &a, buf, (socklen_t)size))
			err = -ENAMETOOLONG;
		else
			err = 0;
		break;
	}
	freeifaddrs(ifs);
	return err;
}

/* /etc/duet/duet.conf: the server's settings and every classroom PC's
 * configuration, INI in the style of LTSP's ltsp.conf (parsed with inih).
 *
 *   [server]              this server: tftp-root, images, vms, address, ...
 *   [common]              keys for every PC
 *   [clients]             keys for every PC, over [common]
 *   [52:54:00:12:*]       PCs whose MAC matches the glob
 *   [10.0.0.*]            PCs whose IP matches
 *   [pc-lab1-*]           PCs whose hostname matches
 *
 * A PC's value of a key is the one from the last matching section in file
 * order, after [common] and [clients]. docs/duet.md has every key. */
#ifndef DUET_CONF_H
#define DUET_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define DUET_CONF_DEFAULT "/etc/duet/duet.conf"

enum conf_section_kind {
	CONF_SERVER,
	CONF_COMMON,
	CONF_CLIENTS,
	CONF_MAC,
	CONF_IP,
	CONF_HOSTNAME,
};

struct conf_entry {
	char *key;
	char *value;
	int line;
};

struct conf_section {
	char *name; /* as written, MACs in lower case */
	enum conf_section_kind kind;
	int line;
	struct conf_entry *entries;
	size_t count;
};

/* [server], with the defaults filled in. */
struct conf_server {
	char tftp_root[PATH_MAX]; /* tftp-root: /srv/tftp (duet's tree is TFTP_ROOT/duet) */
	char image_dir[PATH_MAX]; /* images: /srv/duet/images */
	char vm_dir[PATH_MAX];    /* vms: /srv/duet/vms */
	char run_dir[PATH_MAX];   /* run: /run/duet-server (pid files, sockets) */
	char key_file[PATH_MAX];  /* key: /etc/duet/remote.key (duet switch's private key) */
	char ethers[PATH_MAX];    /* ethers: /etc/ethers (MAC -> hostname or IP) */
	char leases[PATH_MAX];    /* leases: /var/lib/misc/dnsmasq.leases */
	char address[64];         /* address: how PCs reach this server; "" = not set */
	int nbd_port;             /* nbd-port: 10809, the golden images' read-only exports */
	int edit_port;            /* edit-port: 10810, the writable overlay of `duet image edit` */
};

struct duet_conf {
	char path[PATH_MAX];
	bool exists; /* false: the file is missing and everything is default */
	struct conf_section *sections;
	size_t count;
	struct conf_server server;
};

/* A classroom PC the server knows of: from a MAC section without globs
 * (with its `hostname` and `ip` keys) or /etc/ethers; the DHCP leases
 * give addresses to those. */
struct pc_id {
	char mac[18];       /* aa:bb:cc:dd:ee:ff, lower case */
	char ip[46];        /* "" when unknown */
	char hostname[256]; /* "" when unknown */
};

/* conf_load: reads path (NULL: $DUET_CONFIG, else DUET_CONF_DEFAULT).
 * A missing file is not an error (defaults, exists=false). Every error is
 * printed on stderr as "PATH:LINE: message"; the return is the number of
 * errors (the conf is still usable for what parsed), or -errno when the
 * file could not be read. *out is set unless -errno. */
int conf_load(const char *path, struct duet_conf **out);
void conf_free(struct duet_conf *conf);

/* conf_pc_get: the PC's merged value of key, NULL when unset. */
const char *conf_pc_get(const struct duet_conf *conf, const struct pc_id *pc, const char *key);

/* conf_pc_get_line: the line that value came from, 0 when unset. */
int conf_pc_get_line(const struct duet_conf *conf, const struct pc_id *pc, const char *key);

/* conf_pc_section_matches: whether a MAC/IP/hostname section applies. */
bool conf_pc_section_matches(const struct conf_section *s, const struct pc_id *pc);

/* conf_known_pcs: every PC the server knows of (see struct pc_id), in a
 * stable order (by MAC). Free *out. */
int conf_known_pcs(const struct duet_conf *conf, struct pc_id **out, size_t *count);

/* conf_find_pc: the PC for a MAC, IP or hostname as the admin typed it;
 * a MAC nobody listed is still a PC (with no ip/hostname). -ENOENT when
 * an IP or name matches no known PC, -EINVAL for junk. */
int conf_find_pc(const struct duet_conf *conf, const char *what, struct pc_id *pc);

/* conf_parse_mac: "AA-bb:cc..." -> "aa:bb:cc:dd:ee:ff"; -EINVAL unless a MAC. */
int conf_parse_mac(const char *s, char out[18]);

/* conf_server_address: [server] address, else this host's first global
 * IPv4 address; -EADDRNOTAVAIL when it has none. */
int conf_server_address(const struct duet_conf *conf, char *buf, size_t size);

#endif

/* duet install's pieces, run in order by install.c: the netboot tree
 * (install_tree.c), duet's entry in LTSP's iPXE menu (install_ltsp.c), the
 * dnsmasq snippet (install_dnsmasq.c). Each piece prints one line per change
 * with install_change() ("copy duet/initrd.img", or "would copy ..." in a
 * dry run) and, when it fails, one line "duet: install: ..." with
 * install_error(), which returns -1. docs/duet-install.md. */
#ifndef DUET_INSTALL_H
#define DUET_INSTALL_H

#include <stdbool.h>
#include <stddef.h>

struct install {
	bool dry_run;   /* say what would change, change nothing */
	int changes;    /* lines printed by install_change() */
	bool dnsmasq_changed; /* dnsmasq must be restarted to see it */
};

/* install_change: counts a change and prints it: "VERB WHAT", with "would "
 * in front in a dry run. */
void install_change(struct install *in, const char *verb, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* install_note: a line for the admin that is not a change (on stdout). */
void install_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* install_error: prints "duet: install: ..." on stderr; returns -1. */
int install_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The files a netboot tree must hold under duet/ to be installed. */
extern const char *const install_required[];

/* install_tree_missing: the first of install_required that SRC/duet lacks,
 * NULL when it has them all. */
const char *install_tree_missing(const char *src);

/* install_tree: makes TFTP_ROOT/duet hold every file of SRC/duet (same
 * bytes; mode 0755 when the source is executable, else 0644), copying
 * only what differs, each file through a temporary file and a rename.
 * Files under TFTP_ROOT/duet that SRC/duet lacks stay, and so do the
 * admin's config/, clients/ and SHA256SUMS (never taken from SRC). */
int install_tree(struct install *in, const char *src, const char *tftp_root);

/* uninstall_tree: removes from TFTP_ROOT/duet the files SRC/duet has (the
 * ones install_tree manages), then the directories that are left empty. */
int uninstall_tree(struct install *in, const char *src, const char *tftp_root);

/* install_ltsp_menu: with add, puts duet's menu entry (ENTRY, the tree's
 * ltsp-entry.ipxe) into LTSP's LTSP_IPXE between "# duet begin" and
 * "# duet end" lines, replacing any earlier duet blocks; without, only
 * removes them. The rest of the file stays byte for byte. */
int install_ltsp_menu(struct install *in, const char *ltsp_ipxe, const char *entry, bool add);

/* ltsp_menu_edit: the text of ltsp.ipxe with duet's blocks removed and,
 * when entry is not NULL, added again (see install_ltsp_menu). A new
 * string, or NULL with *why set to a static message. */
char *ltsp_menu_edit(const char *text, const char *entry, const char **why);

enum dhcp_mode { DHCP_PROXY, DHCP_FULL, DHCP_NONE };

/* What the dnsmasq snippet is written for. */
struct dnsmasq_plan {
	enum dhcp_mode mode;
	char subnet[16], netmask[16];     /* the classroom network */
	int prefix;                       /* its prefix length */
	char range_start[16], range_end[16]; /* DHCP_FULL: the leases */
	const char *pxe_boot;             /* what a plain PXE ROM gets */
	const char *tftp_root;
};

/* dnsmasq_parse_subnet: "A.B.C.D/NN" into plan (host bits dropped). */
int dnsmasq_parse_subnet(struct dnsmasq_plan *plan, const char *text);

/* dnsmasq_parse_range: "START,END" into plan, both inside its subnet. */
int dnsmasq_parse_range(struct dnsmasq_plan *plan, const char *text);

/* dnsmasq_subnet_of: the subnet of the interface that holds address. */
int dnsmasq_subnet_of(struct dnsmasq_plan *plan, const char *address);

/* dnsmasq_snippet: the template (dnsmasq-duet-proxy.conf.in or
 * dnsmasq-duet-dhcp.conf.in from template_dir) filled in for plan; a new
 * string, or NULL after install_error(). */
char *dnsmasq_snippet(const struct dnsmasq_plan *plan, const char *template_dir);

/* dnsmasq_check: `dnsmasq --test` on text; 0 when it passes, 1 when
 * dnsmasq is not installed, -1 after install_error(). */
int dnsmasq_check(const char *text);

/* write_if_different: makes path hold text (mode 0644, atomically), with
 * one install_change() line "write PATH[ (why)]"; nothing when it does
 * already. Returns 1 when it changed (or would), 0 when not, -1 on error. */
int write_if_different(struct install *in, const char *path, const char *text, const char *why);

#endif

/* What a guest is made of, as the user asked for it on the command line or
 * in a guest file: filled by vmm/options.c, read by set-up. Every string is
 * owned by the config (config_free releases them). */
#ifndef DUET_CONFIG_H
#define DUET_CONFIG_H

#include <stdint.h>

#define CONFIG_MAX_LOADS 8
#define CONFIG_MAX_CPUS 64
#define CONFIG_MAX_DISKS 8
#define CONFIG_MAX_NETS 4

/* An image to place in guest memory before the first instruction. */
struct load_spec {
	char *path;
	uint64_t addr;   /* flat images: where; ELF: ignored (own addresses) */
	int has_addr;
};

struct vm_config {
	char *name;
	uint64_t memory;          /* bytes of guest RAM */
	unsigned cpus;
	char *kvm_path;           /* the KVM device, /dev/kvm */
	char *serial;             /* "stdio", "none" or a file for COM1 */
	struct load_spec loads[CONFIG_MAX_LOADS];
	unsigned nloads;
	char *kernel;             /* Linux bzImage for a direct boot */
	char *initrd;
	char *append;             /* kernel command line */
	char *disks[CONFIG_MAX_DISKS]; /* --disk specs, parsed by the block layer */
	unsigned ndisks;
	char *nets[CONFIG_MAX_NETS];   /* --net specs, parsed by the net layer */
	unsigned nnets;
	char *control;            /* control socket path */
	int bios;                 /* boot through SeaBIOS (the "bios" boot) */
	char *firmware;           /* the BIOS image (default: Debian's SeaBIOS) */
	char *cdrom;              /* an ISO on the ATAPI CD-ROM (bios boot) */
	char *boot;               /* boot order: disk,cdrom,net */
	int boot_menu;            /* show SeaBIOS's boot menu */
	char *debugcon;           /* where port 0x402 (firmware log) goes */
	char *uuid;               /* the SMBIOS system UUID (bios boot), or NULL */
	char *display;            /* duet-display's socket, or NULL */
	int rng;                  /* a virtio-rng device (default on for Linux) */
	int input;                /* virtio keyboard + tablet (default on for Linux) */
	int verbose;
	int no_reboot;            /* a guest reset ends duet-vmm instead */
	int sandbox;              /* seccomp after set-up (default on) */
};

void config_free(struct vm_config *config);

#endif

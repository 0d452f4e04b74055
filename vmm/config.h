/* What a guest is made of, as the user asked for it on the command line:
 * filled by vmm/options.c, read by set-up. */
#ifndef DUET_CONFIG_H
#define DUET_CONFIG_H

#include <stdint.h>

#define CONFIG_MAX_LOADS 8
#define CONFIG_MAX_CPUS 64

/* An image to place in guest memory before the first instruction. */
struct load_spec {
	const char *path;
	uint64_t addr;   /* flat images: where; ELF: ignored (own addresses) */
	int has_addr;
};

struct vm_config {
	const char *name;
	uint64_t memory;          /* bytes of guest RAM */
	unsigned cpus;
	const char *kvm_path;     /* the KVM device, /dev/kvm */
	const char *serial;       /* "stdio", "none" or a file for COM1 */
	struct load_spec loads[CONFIG_MAX_LOADS];
	unsigned nloads;
	int verbose;
	int no_reboot;            /* a guest reset ends duet-vmm instead */
};

#endif

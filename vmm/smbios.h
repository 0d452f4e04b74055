/* duet's SMBIOS (DMI) tables for the BIOS boot: what Windows and Linux
 * read for the machine's identity (maker, model, UUID), its BIOS, its
 * processor and its memory. They follow SMBIOS 2.8 (DMTF DSP0134 2.8.0)
 * behind a 32-bit "_SM_" entry point, the one every Windows from XP on
 * reads in BIOS mode, and reach SeaBIOS as the fw_cfg files
 * "etc/smbios/smbios-tables" and "etc/smbios/smbios-anchor": SeaBIOS 1.16
 * (src/fw/biostables.c, smbios_romfile_setup) copies the tables to the
 * F-segment or high memory, writes their address into the entry point,
 * fixes both entry-point checksums and puts the entry point in the
 * F-segment. docs/smbios.md lists the structures and where each value
 * comes from. */
#ifndef DUET_SMBIOS_H
#define DUET_SMBIOS_H

#include <stddef.h>
#include <stdint.h>

#define SMBIOS_FW_CFG_ANCHOR "etc/smbios/smbios-anchor"
#define SMBIOS_FW_CFG_TABLES "etc/smbios/smbios-tables"

/* The SMBIOS 2.1 (32-bit) entry point (DSP0134 5.2.1): 31 bytes. */
#define SMBIOS_ANCHOR_SIZE 0x1f
/* Its table length is a WORD. */
#define SMBIOS_TABLES_MAX 0xffff
#define SMBIOS_UUID_SIZE 16
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and its NUL. */
#define SMBIOS_UUID_TEXT_SIZE 37
/* Strings longer than this (the VM's name, the CPU's brand) are cut. */
#define SMBIOS_STRING_MAX 64
/* One type 4 structure per socket, handles 0x0400 + socket. */
#define SMBIOS_MAX_SOCKETS 64
#define SMBIOS_MAX_CORES 255 /* the 2.8 core and thread counts are BYTEs */
/* RAM is described as memory devices ("DIMM n") of this size, the last
 * one smaller; more RAM than SMBIOS_MAX_MEMORY_DEVICES such devices hold
 * is spread over that many larger ones. */
#define SMBIOS_DIMM_SIZE (16ULL << 30)
#define SMBIOS_MAX_MEMORY_DEVICES 64

/* The processor as its vCPUs report it (CPUID, Intel SDM vol. 2A). */
struct smbios_cpu {
	uint32_t signature;   /* leaf 1 EAX: family, model, stepping */
	uint32_t features;    /* leaf 1 EDX */
	char vendor[13];      /* leaf 0 EBX EDX ECX, e.g. "GenuineIntel" */
	char brand[49];       /* leaves 0x80000002-4; "" when absent */
	int long_mode;        /* leaf 0x80000001 EDX bit 29 */
	int nx;               /* leaf 0x80000001 EDX bit 20 */
	unsigned mhz;         /* the TSC's rate; 0 when unknown */
};

struct smbios_config {
	/* The firmware (type 0). bios_version is "" when it could not be
	 * found in the image; the release numbers come from it. */
	char bios_version[SMBIOS_STRING_MAX + 1];
	uint64_t bios_image_size;  /* the ROM's size in bytes */

	/* The machine (types 1 and 3). */
	const char *name;          /* the VM's name: the chassis asset tag */
	uint8_t uuid[SMBIOS_UUID_SIZE]; /* in RFC 4122 (printed) byte order */

	/* RAM: from 0 to the PCI hole (the VGA window counts, as on a real
	 * board) and from 4 GiB up (types 16, 17, 19). */
	uint64_t ram_low;
	uint64_t ram_high;

	/* Topology (type 4): sockets of `cores` cores of `threads` threads. */
	unsigned sockets;
	unsigned cores;
	unsigned threads;
	struct smbios_cpu cpu;
};

struct smbios_tables {
	uint8_t anchor[SMBIOS_ANCHOR_SIZE]; /* table address 0: SeaBIOS sets it */
	uint8_t *tables;                    /* the structures, type 127 last */
	size_t tables_len;
};

/* smbios_build: the structures and the entry point for `cfg`. -EINVAL
 * for a topology of no CPUs or more sockets, cores or threads than the
 * limits above, or no RAM; -E2BIG if the structures outgrow
 * SMBIOS_TABLES_MAX; -ENOMEM. Free with smbios_tables_free. */
int smbios_build(const struct smbios_config *cfg, struct smbios_tables *out);
void smbios_tables_free(struct smbios_tables *t);

/* smbios_uuid_parse: "01234567-89ab-cdef-0123-456789abcdef" (either case)
 * into 16 bytes in that order; -EINVAL for anything else. */
int smbios_uuid_parse(const char *text, uint8_t uuid[SMBIOS_UUID_SIZE]);
void smbios_uuid_format(const uint8_t uuid[SMBIOS_UUID_SIZE], char text[SMBIOS_UUID_TEXT_SIZE]);

/* smbios_uuid_from_name: a UUID that depends on `name` alone, the same on
 * every run: RFC 9562 version 8 (vendor-specific) made from the 128-bit
 * FNV-1a hash of "duet-vmm:" and the name. */
void smbios_uuid_from_name(const char *name, uint8_t uuid[SMBIOS_UUID_SIZE]);

/* smbios_bios_version: SeaBIOS's version string (its build's VERSION,
 * e.g. "1.16.2-debian-1.16.2-1" or "rel-1.16.2-0-gea1b7a0"), found in the
 * image as a NUL-delimited string that begins with "N.N" or "rel-N.N";
 * "" when the image holds none. */
void smbios_bios_version(const uint8_t *image, size_t len, char *out, size_t outlen);

struct vm;

/* smbios_vm_config: `cfg` for this VM: its name, --uuid or the UUID
 * derived from the name, its RAM, one socket of ncpus cores (vcpu.c's
 * topology), vCPU 0's CPUID and TSC rate, and the firmware image's size
 * and version. -EINVAL (logged) for a bad --uuid, -errno when KVM does
 * not give the CPUID. */
int smbios_vm_config(const struct vm *vm, const uint8_t *bios, size_t bios_len,
		     struct smbios_config *cfg);

#endif

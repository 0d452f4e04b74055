/* SeaBIOS boot. The image is mapped read-only just below 4 GiB, where the
 * reset vector (0xfffffff0) and SeaBIOS's PAM code (0xfff00000 up) run
 * from, and its last 128 KiB are copied to 0xe0000-0xfffff, which is RAM
 * here: SeaBIOS then finds itself already "shadowed" (platform notes). On
 * each reset the low copy is put back, as a real board's ROM would
 * reappear. Everything else SeaBIOS learns from fw_cfg (QEMU's
 * docs/specs/fw_cfg.rst; SeaBIOS src/fw/paravirt.c for what it reads). */
#include "bios_boot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "acpi.h"
#include "block.h"
#include "hw/fw_cfg.h"
#include "hw/e1000.h"
#include "hw/ide.h"
#include "hw/rtc.h"
#include "loader.h"
#include "log.h"
#include "mem.h"
#include "platform.h"
#include "smbios.h"
#include "vm.h"

#define BIOS_MAX_SIZE (16ULL << 20)
#define BIOS_LOW_BASE 0xe0000ULL
#define BIOS_LOW_SIZE 0x20000ULL
#define BIOS_TOP (1ULL << 32)

/* fw_cfg keys (QEMU include/standard-headers/linux/qemu_fw_cfg.h). */
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_MAX_CPUS 0x0f

/* SeaBIOS waits this long at "Press ESC for boot menu" (etc/boot-menu-wait)
 * and after a failed boot before retrying (etc/boot-fail-wait, which
 * src/boot.c reads as BootRetryTime); both in milliseconds. */
#define BIOS_MENU_WAIT_MS 2500
#define BIOS_FAIL_WAIT_MS 5000

/* CMOS layout firmware reads (IBM AT BIOS technical reference; SeaBIOS
 * src/hw/rtc.h and QEMU hw/i386/pc.c set the same bytes). */
#define CMOS_FLOPPY_TYPES 0x10
#define CMOS_EQUIPMENT 0x14
#define CMOS_MEM_BASE_LOW 0x15   /* base memory in KiB (640) */
#define CMOS_MEM_EXT_LOW 0x17    /* memory 1-65 MiB in KiB */
#define CMOS_MEM_EXT2_LOW 0x30   /* the same, second copy */
#define CMOS_MEM_ABOVE16_LOW 0x34 /* memory 16 MiB-4 GiB in 64 KiB units */
#define CMOS_MEM_ABOVE4G 0x5b    /* memory above 4 GiB in 64 KiB units, 3 bytes */
#define CMOS_CPU_COUNT 0x5f      /* CPUs - 1 */
#define CMOS_EQUIPMENT_FPU_VGA 0x06 /* FPU present, VGA/EGA display */

struct bios {
	uint8_t *image;
	size_t size;
	uint8_t *rom;     /* the image in memory KVM maps read-only at 4 GiB - size */
	int rom_slot;
};

static void cmos_write16(struct rtc *rtc, unsigned index, unsigned value)
{
	rtc_cmos_write(rtc, index, (uint8_t)value);
	rtc_cmos_write(rtc, index + 1, (uint8_t)(value >> 8));
}

static void bios_cmos(struct vm *vm)
{
	uint64_t low = mem_low_end(&vm->mem), high = mem_high_size(&vm->mem);
	uint64_t ext = low > (1ULL << 20) ? (low - (1ULL << 20)) >> 10 : 0;
	uint64_t above16 = low > (16ULL << 20) ? (low - (16ULL << 20)) >> 16 : 0;

	if (!vm->rtc)
		return;
	if (ext > 0xfc00)
		ext = 0xfc00; /* 63 MiB: the field's ceiling, as every BIOS caps it */
	if (above16 > 0xffff)
		above16 = 0xffff;
	rtc_cmos_write(vm->rtc, CMOS_FLOPPY_TYPES, 0);
	rtc_cmos_write(vm->rtc, CMOS_EQUIPMENT, CMOS_EQUIPMENT_FPU_VGA);
	cmos_write16(vm->rtc, CMOS_MEM_BASE_LOW, 640);
	cmos_write16(vm->rtc, CMOS_MEM_EXT_LOW, (unsigned)ext);
	cmos_write16(vm->rtc, CMOS_MEM_EXT2_LOW, (unsigned)ext);
	cmos_write16(vm->rtc, CMOS_MEM_ABOVE16_LOW, (unsigned)above16);
	high >>= 16;
	rtc_cmos_write(vm->rtc, CMOS_MEM_ABOVE4G, (uint8_t)high);
	rtc_cmos_write(vm->rtc, CMOS_MEM_ABOVE4G + 1, (uint8_t)(high >> 8));
	rtc_cmos_write(vm->rtc, CMOS_MEM_ABOVE4G + 2, (uint8_t)(high >> 16));
	rtc_cmos_write(vm->rtc, CMOS_CPU_COUNT, (uint8_t)(vm->ncpus - 1));
}

/* bios_acpi: our own tables through etc/table-loader; SeaBIOS 1.17 no
 * longer builds any, so we never rely on its. */
static int bios_acpi(struct vm *vm, struct fw_cfg *fw)
{
	struct acpi_tables t;
	uint8_t *loader = NULL;
	size_t loader_len = 0;
	int err;

	err = platform_acpi_build(vm, &t);
	if (err)
		return err;
	err = acpi_table_loader(&t, &loader, &loader_len);
	if (!err)
		err = fw_cfg_add_file(fw, ACPI_FW_CFG_TABLES, t.tables, t.tables_len);
	if (!err)
		err = fw_cfg_add_file(fw, ACPI_FW_CFG_RSDP, t.rsdp, sizeof(t.rsdp));
	if (!err)
		err = fw_cfg_add_file(fw, ACPI_FW_CFG_LOADER, loader, loader_len);
	free(loader);
	acpi_tables_free(&t);
	return err;
}

static int bios_add_rom(struct fw_cfg *fw, const char *name, const char *path)
{
	uint8_t *data;
	size_t len;
	const char *why = "";
	int err = loader_read_file(path, BIOS_MAX_SIZE, &data, &len, &why);

	if (err) {
		log_error("option ROM '%s': %s", path, why);
		return err;
	}
	err = fw_cfg_add_file(fw, name, data, len);
	free(data);
	return err;
}

/* bios_bootorder: the "bootorder" file, OpenFirmware device paths as
 * SeaBIOS matches them (src/boot.c), from --boot. */
static int bios_bootorder(struct vm *vm, struct fw_cfg *fw)
{
	const char *order = vm->config->boot ? vm->config->boot : "disk,cdrom,net";
	char file[512] = "";
	const char *p = order;

	while (*p) {
		size_t len = strcspn(p, ",");
		const char *path = NULL;

		if (len == 4 && !strncmp(p, "disk", 4))
			path = "/pci@i0cf8/*@1,1/drive@0/disk@0\n";
		else if (len == 5 && !strncmp(p, "cdrom", 5))
			path = "/pci@i0cf8/*@1,1/drive@1/disk@0\n";
		else if (len == 3 && !strncmp(p, "net", 3))
			path = "/pci@i0cf8/ethernet@3\n";
		if (!path) {
			log_error("--boot: '%.*s' is not disk, cdrom or net", (int)len, p);
			return -EINVAL;
		}
		strncat(file, path, sizeof(file) - strlen(file) - 1);
		p += len;
		if (*p == ',')
			p++;
	}
	/* Entries are separated by newlines, with none after the last. */
	if (*file)
		file[strlen(file) - 1] = 0;
	return fw_cfg_add_file(fw, "bootorder", file, strlen(file) + 1);
}

static int bios_boot(struct vm *vm);
static struct bios bios_state;

static void bios_free(void *opaque)
{
	struct bios *b = opaque;

	if (b->rom)
		munmap(b->rom, b->size);
	free(b->image);
	memset(b, 0, sizeof(*b));
}

/* bios_smbios: our SMBIOS tables (smbios.h), so SeaBIOS puts them up
 * instead of building its own. */
static int bios_smbios(struct vm *vm, struct fw_cfg *fw)
{
	const struct bios *b = &bios_state;
	struct smbios_config cfg;
	struct smbios_tables t;
	int err;

	err = smbios_vm_config(vm, b->image, b->size, &cfg);
	if (!err)
		err = smbios_build(&cfg, &t);
	if (err)
		return err;
	err = fw_cfg_add_file(fw, SMBIOS_FW_CFG_TABLES, t.tables, t.tables_len);
	if (!err)
		err = fw_cfg_add_file(fw, SMBIOS_FW_CFG_ANCHOR, t.anchor, sizeof(t.anchor));
	smbios_tables_free(&t);
	return err;
}

/* bios_nics: --net cards as e1000s, the first at 00:03.0 (the boot order
 * file's ethernet@3), with iPXE's option ROM so the guest can PXE-boot. */
static int bios_nics(struct vm *vm, struct fw_cfg *fw)
{
	const struct vm_config *c = vm->config;

	for (unsigned i = 0; i < c->nnets; i++) {
		int err = e1000_create(vm, c->nets[i], i);

		if (err)
			return err;
	}
	return c->nnets ? bios_add_rom(fw, "pci8086,100e.rom", BIOS_E1000_ROM) : 0;
}

static int bios_fw_cfg(struct vm *vm)
{
	struct fw_cfg *fw = fw_cfg_create(vm);
	uint16_t menu_wait = BIOS_MENU_WAIT_MS;
	uint32_t fail_wait = BIOS_FAIL_WAIT_MS;
	uint16_t sercon = 0x3f8;
	uint8_t show_menu = 1;
	int err;

	if (!fw)
		return -ENOMEM;
	if ((err = fw_cfg_add_u16(fw, FW_CFG_NB_CPUS, (uint16_t)vm->ncpus)) ||
	    (err = fw_cfg_add_u16(fw, FW_CFG_MAX_CPUS, (uint16_t)vm->ncpus)) ||
	    (err = fw_cfg_add_e820(fw, &vm->mem)) ||
	    (err = bios_acpi(vm, fw)) ||
	    (err = bios_smbios(vm, fw)) ||
	    (err = bios_bootorder(vm, fw)) ||
	    (err = fw_cfg_add_file(fw, "etc/boot-fail-wait", &fail_wait, sizeof(fail_wait))))
		return err;
	if (vm->config->boot_menu &&
	    ((err = fw_cfg_add_file(fw, "etc/show-boot-menu", &show_menu, 1)) ||
	     (err = fw_cfg_add_file(fw, "etc/boot-menu-wait", &menu_wait, sizeof(menu_wait)))))
		return err;
	if ((err = bios_nics(vm, fw)))
		return err;
	/* SeaBIOS mirrors the VGA text console to COM1: the boot menu and
	 * boot messages reach the serial log too. */
	if ((err = fw_cfg_add_file(fw, "etc/sercon-port", &sercon, sizeof(sercon))))
		return err;
	/* Named for the device, SeaBIOS runs it with the VGA's PCI address, and
	 * SeaVGABIOS finds its framebuffer in BAR0 (a vgaroms/ file would not). */
	return bios_add_rom(fw, "pci1234,1111.rom", BIOS_DEFAULT_VGA_ROM);
}

/* bios_disks: --disk images on IDE in order (primary master, primary
 * slave, secondary slave) and --cdrom on the secondary master, where the
 * boot order file looks for them. */
static int bios_disks(struct vm *vm)
{
	static const unsigned disk_slots[] = { 0, 1, 3 };
	const struct vm_config *c = vm->config;
	struct block *drives[IDE_DRIVES] = { NULL };
	int is_cdrom[IDE_DRIVES] = { 0, 0, 1, 0 };
	char why[256];
	struct ide *ide;
	int err = 0;

	if (c->ndisks > sizeof(disk_slots) / sizeof(disk_slots[0])) {
		log_error("--bios takes at most 3 disks (IDE; the 4th place is the CD-ROM)");
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->ndisks && !err; i++) {
		struct block_spec spec;

		err = block_spec_parse(c->disks[i], &spec, why, sizeof(why));
		if (!err) {
			err = block_open(&spec, &drives[disk_slots[i]], why, sizeof(why));
			block_spec_free(&spec);
		}
		if (err)
			log_error("--disk '%s': %s", c->disks[i], why);
	}
	if (!err && c->cdrom) {
		struct block_spec spec = { .file = c->cdrom, .read_only = true };

		err = block_open(&spec, &drives[2], why, sizeof(why));
		if (err)
			log_error("--cdrom: %s", why);
	}
	if (err) {
		for (unsigned i = 0; i < IDE_DRIVES; i++)
			if (drives[i])
				block_close(drives[i]);
		return err;
	}
	/* ide_create takes the back ends over, also when it fails. */
	return ide_create(vm, drives, is_cdrom, &ide);
}

int bios_setup(struct vm *vm)
{
	const char *path = vm->config->firmware ? vm->config->firmware : BIOS_DEFAULT_IMAGE;
	struct bios *b = &bios_state;
	const char *why = "";
	int err;

	err = loader_read_file(path, BIOS_MAX_SIZE, &b->image, &b->size, &why);
	if (err) {
		log_error("firmware '%s': %s", path, why);
		return err;
	}
	err = vm_on_destroy(vm, bios_free, b);
	if (err) {
		bios_free(b);
		return err;
	}
	if (b->size < BIOS_LOW_SIZE || b->size % 4096) {
		log_error("firmware '%s': not a BIOS image (size %zu)", path, b->size);
		return -EINVAL;
	}
	b->rom = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->rom == MAP_FAILED) {
		b->rom = NULL;
		return -ENOMEM;
	}
	memcpy(b->rom, b->image, b->size);
	b->rom_slot = vm_map(vm, BIOS_TOP - b->size, b->size, b->rom, VM_MAP_READONLY);
	if (b->rom_slot < 0) {
		log_error("cannot map the firmware below 4 GiB: %s", strerror(-b->rom_slot));
		return b->rom_slot;
	}
	err = bios_disks(vm);
	if (err)
		return err;
	err = bios_fw_cfg(vm);
	if (err) {
		log_error("cannot describe the machine to the firmware: %s", strerror(-err));
		return err;
	}
	bios_cmos(vm);
	vm->boot = bios_boot;
	return 0;
}

/* bios_boot: at power-on and every reset, the BIOS's low copy back in
 * place; the vCPU's own reset state starts it at 0xfffffff0. */
static int bios_boot(struct vm *vm)
{
	const struct bios *b = &bios_state;

	if (mem_write(&vm->mem, BIOS_LOW_BASE, b->image + b->size - BIOS_LOW_SIZE, BIOS_LOW_SIZE))
		return -EFAULT;
	return 0;
}

/* The "bios" boot: SeaBIOS on the i440FX/PIIX platform, as a real PC
 * boots, for the Windows guest (and anything else that boots from a BIOS:
 * extlinux disks, CD-ROMs, PXE). */
#ifndef DUET_BIOS_BOOT_H
#define DUET_BIOS_BOOT_H

struct vm;

/* Debian's SeaBIOS build for QEMU: 256 KiB, probes fw_cfg. */
#define BIOS_DEFAULT_IMAGE "/usr/share/seabios/bios-256k.bin"
#define BIOS_DEFAULT_VGA_ROM "/usr/share/seabios/vgabios-stdvga.bin"
/* iPXE for the 82540EM, from Debian's ipxe-qemu. */
#define BIOS_E1000_ROM "/usr/lib/ipxe/qemu/pxe-e1000.rom"

/* bios_setup: read the firmware image, create fw_cfg with the machine's
 * description (RAM map, CPUs, ACPI tables, boot order, option ROMs) and
 * write the CMOS. Logs one line and returns -errno on failure. Call after
 * vm_create, before vm_run; sets vm->boot. */
int bios_setup(struct vm *vm);

#endif

/* The PC platform as firmware would describe it: ACPI tables built from
 * the VM's configuration, placed in guest RAM for a direct Linux boot. */
#ifndef DUET_PLATFORM_H
#define DUET_PLATFORM_H

#include <stdint.h>

struct vm;
struct acpi_tables;

/* platform_acpi_build: this VM's ACPI tables (its CPUs, its RAM layout
 * and the PCI windows around it), for either boot path to hand over. */
int platform_acpi_build(struct vm *vm, struct acpi_tables *t);

/* platform_acpi_place: build the ACPI tables for this VM and write them
 * at 0xe0000 (RSDP in the BIOS area, where Linux finds it); *rsdp gets the
 * RSDP's address. */
int platform_acpi_place(struct vm *vm, uint64_t *rsdp);

#endif

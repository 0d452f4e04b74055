/* ACPI tables for a direct Linux boot: built by vmm/acpi.c from the VM's
 * shape and placed where firmware would leave them, the tables at 0xe0000
 * and the RSDP at 0xf0000 (inside the 0xe0000-0xfffff area Linux scans and
 * the e820 map reserves; boot_params also carries the RSDP's address). */
#include "platform.h"

#include <errno.h>
#include <string.h>

#include "acpi.h"
#include "log.h"
#include "vm.h"

#define PLATFORM_ACPI_TABLES 0xe0000ULL
#define PLATFORM_ACPI_RSDP 0xf0000ULL
#define PLATFORM_ACPI_TABLES_MAX (PLATFORM_ACPI_RSDP - PLATFORM_ACPI_TABLES)

int platform_acpi_build(struct vm *vm, struct acpi_tables *t)
{
	struct acpi_config cfg;

	acpi_config_default(&cfg, vm->ncpus, mem_low_end(&vm->mem));
	if (mem_high_size(&vm->mem)) {
		/* A 64-bit PCI window above the end of RAM. */
		cfg.pci_mmio64_base = MEM_HIGH_BASE + mem_high_size(&vm->mem);
		cfg.pci_mmio64_size = 1ULL << 36;
	}
	return acpi_build(&cfg, t);
}

int platform_acpi_place(struct vm *vm, uint64_t *rsdp)
{
	struct acpi_tables t;
	uint8_t *tables_mem, *rsdp_mem;
	int err;

	err = platform_acpi_build(vm, &t);
	if (err) {
		log_error("cannot build the ACPI tables: %s", strerror(-err));
		return err;
	}
	tables_mem = mem_ptr(&vm->mem, PLATFORM_ACPI_TABLES, PLATFORM_ACPI_TABLES_MAX);
	rsdp_mem = mem_ptr(&vm->mem, PLATFORM_ACPI_RSDP, sizeof(t.rsdp));
	if (t.tables_len > PLATFORM_ACPI_TABLES_MAX || !tables_mem || !rsdp_mem) {
		acpi_tables_free(&t);
		log_error("the ACPI tables do not fit below 0xf0000");
		return -ENOSPC;
	}
	err = acpi_place(&t, tables_mem, PLATFORM_ACPI_TABLES, rsdp_mem, PLATFORM_ACPI_RSDP);
	acpi_tables_free(&t);
	if (err) {
		log_error("cannot place the ACPI tables: %s", strerror(-err));
		return err;
	}
	*rsdp = PLATFORM_ACPI_RSDP;
	return 0;
}

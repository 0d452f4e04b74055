/* ACPI tables for a direct Linux boot. */
#include "platform.h"

#include "vm.h"

int platform_acpi_place(struct vm *vm, uint64_t *rsdp)
{
	(void)vm;
	*rsdp = 0;
	return 0;
}

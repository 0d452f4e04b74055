/* The PIIX south bridge: PIIX3 PCI-to-ISA bridge (00:01.0, PIRQ routing)
 * and PIIX4 power management (00:01.3: PM1 event/control, PM timer, SCI,
 * power button, S5 soft-off), plus port 0x92. */
#ifndef DUET_HW_PIIX_H
#define DUET_HW_PIIX_H

#include <stdint.h>

struct vm;
struct piix_pm;

/* Where duet puts the PM I/O block when no firmware does (SeaBIOS picks the
 * same address when it is handed ACPI tables). */
#define PIIX_PM_DEFAULT_BASE 0x600
#define PIIX_PM_SCI_IRQ 9
#define PIIX_PM_SIZE 64

#define PIIX_ISA_DEVFN PCI_DEVFN(1, 0)
#define PIIX_PM_DEVFN PCI_DEVFN(1, 3)

/* piix_firmware_setup: what a BIOS would do at POST, for boots without
 * one: PM I/O at PIIX_PM_DEFAULT_BASE and enabled, PIRQ A-D to IRQs
 * 10,10,11,11. */
void piix_firmware_setup(struct vm *vm);

/* piix_power_button: press the ACPI power button (PWRBTN_STS + SCI). */
void piix_power_button(struct vm *vm);

#endif

/* A virtual CPU: its KVM file, its thread, its run loop. */
#ifndef DUET_VCPU_H
#define DUET_VCPU_H

#include <stdint.h>

#include "vm.h"

int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned index);
void vcpu_destroy(struct vcpu *vcpu);
int vcpu_start(struct vcpu *vcpu);
/* vcpu_kick: make the vCPU leave the guest soon and look at the VM state. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
/* vcpu_reset: put the vCPU back in its power-on state (registers, FPU,
 * LAPIC, MP state, the MSRs a guest can leave armed such as kvmclock). */
int vcpu_reset(struct vcpu *vcpu);

/* What one vCPU is doing, for duet-vmctl's `cpus`: read while the VM is
 * paused (vm_pause), so that the vCPU is out of KVM_RUN. */
struct vcpu_state {
	const char *mode;     /* "real", "vm86", "protected", "long" */
	const char *mp_state; /* "running", "halted", "waiting for SIPI", ... */
	uint16_t cs;
	uint64_t rip, rsp, rflags, cr0, cr3;
	int paging, interrupts_on;
	/* the local APIC: its timer (LVT, initial and current count) and the
	 * highest vector waiting (IRR) and in service (ISR), -1 for none */
	uint32_t lvt_timer, timer_initial, timer_current;
	int irr_top, isr_top;
	int interrupt_pending, nmi_pending;
	uint64_t exits, io_exits, mmio_exits, last_mmio_addr;
	uint32_t last_io_port;
	/* the 16 bytes at CS:RIP, when paging is off (the address is then
	 * the physical one) and they are in RAM */
	uint8_t code[16];
	int has_code;
};
/* vcpu_read_state: 0, or -errno when KVM would not say. */
int vcpu_read_state(struct vcpu *vcpu, struct vcpu_state *st);

#endif

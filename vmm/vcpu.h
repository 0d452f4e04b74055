/* A virtual CPU: its KVM file, its thread, its run loop. */
#ifndef DUET_VCPU_H
#define DUET_VCPU_H

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

#endif

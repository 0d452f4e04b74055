/* A virtual machine: the KVM VM, its memory, its buses and its vCPUs, and
 * the one place that decides when the guest stops and with what status. */
#ifndef DUET_VM_H
#define DUET_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "mem.h"

struct kvm_run;

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int started;
};

/* Why a guest stopped; duet-vmm's exit status follows from it. */
enum vm_stop_reason {
	VM_STOP_NONE,
	VM_STOP_POWEROFF,    /* the guest powered off: status 0 */
	VM_STOP_TEST_EXIT,   /* a write to the test-exit port: that value */
	VM_STOP_ERROR,       /* the guest or the VMM failed: status 1 */
};

/* Something a device set up that vm_destroy must release. */
struct vm_cleanup {
	struct vm_cleanup *next;
	void (*fn)(void *opaque);
	void *opaque;
};

struct vm {
	const struct vm_config *config;
	int kvm_fd;
	int vm_fd;
	int run_size;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	unsigned ncpus;
	struct vcpu *vcpus;
	int serial_fd;          /* where COM1 writes, -1 for nowhere */
	struct vm_cleanup *cleanups; /* run last-registered first */

	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	atomic_int stopping;
	enum vm_stop_reason stop_reason;
	int stop_status;
};

/* An interrupt line a device drives; `set` is vm_irq_set for a real VM. */
struct irq_pin {
	void (*set)(void *ctx, unsigned gsi, int level);
	void *ctx;
	unsigned gsi;
};

static inline void irq_pin_set(const struct irq_pin *pin, int level)
{
	if (pin->set)
		pin->set(pin->ctx, pin->gsi, level);
}

/* vm_create: open KVM, create the VM, its memory, irqchip and PIT, and
 * its devices. Logs one line and returns -errno on failure. */
int vm_create(struct vm *vm, const struct vm_config *config);
void vm_destroy(struct vm *vm);

/* vm_on_destroy: have vm_destroy call fn(opaque), after the vCPUs stopped
 * and before the buses go; -ENOMEM if it cannot be recorded. */
int vm_on_destroy(struct vm *vm, void (*fn)(void *opaque), void *opaque);

/* vm_irq_pin: an irq_pin for global system interrupt `gsi`. */
struct irq_pin vm_irq_pin(struct vm *vm, unsigned gsi);
void vm_irq_set(void *vm, unsigned gsi, int level);

/* vm_run: start every vCPU and wait until the guest stops; returns the
 * process exit status that stop implies. */
int vm_run(struct vm *vm);

/* vm_stop: ask the guest to stop for `reason` (the first request wins) and
 * kick every vCPU out of the guest. Safe from any thread. */
void vm_stop(struct vm *vm, enum vm_stop_reason reason, int status);

#endif

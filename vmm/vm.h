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
struct event_loop;
struct i8042;
struct rtc;
struct pci_bus;
struct piix;
struct virtio_input;
struct irqroute;

struct vcpu_reset_state;

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int started;
	struct vcpu_reset_state *reset_state; /* saved at creation */
	/* Exit counts, written by the vCPU thread only, read by anyone
	 * (duet-vmctl cpus): what a stuck guest keeps doing, or that it
	 * does nothing at all. */
	_Atomic uint64_t exits, io_exits, mmio_exits;
	_Atomic uint32_t last_io_port;
	_Atomic uint64_t last_mmio_addr;
	int parked; /* in vm_park_vcpu; guarded by the VM's stop_lock */
};

/* Why a guest stopped; duet-vmm's exit status follows from it. */
enum vm_stop_reason {
	VM_STOP_NONE,
	VM_STOP_POWEROFF,    /* the guest powered off: status 0 */
	VM_STOP_TEST_EXIT,   /* a write to the test-exit port: that value */
	VM_STOP_ERROR,       /* the guest or the VMM failed: status 1 */
	VM_STOP_RESET,       /* the guest asked for a reset: it restarts */
	VM_STOP_CRASH,       /* triple fault: a reset, or status 1 with --no-reboot */
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
	uint32_t map_slots_used;     /* vm_map slots in use, bit per slot */
	struct bus pio;
	struct bus mmio;
	unsigned ncpus;
	struct vcpu *vcpus;
	int serial_fd;          /* where COM1 writes, -1 for nowhere */
	struct vm_cleanup *cleanups; /* run last-registered first */
	struct vm_cleanup *resets;   /* device reset handlers, in order added */
	struct event_loop *loop;     /* back ends, timers, control socket */

	/* Devices other parts talk to (input, CMOS set-up); NULL if absent. */
	struct i8042 *i8042;
	struct rtc *rtc;
	struct pci_bus *pci;
	struct piix *piix;
	struct virtio_input *input_keyboard;
	struct virtio_input *input_tablet;
	struct irqroute *irqroute;

	/* Puts the boot images back and loads the boot vCPU's registers, at
	 * start and after every reset; set by whoever boots the guest. */
	int (*boot)(struct vm *vm);
	struct kvm_irqchip *irqchip_reset; /* PIC master, slave, IOAPIC */
	struct kvm_pit_state2 *pit_reset;
	unsigned restarts;                 /* how many times it was reset */

	/* Pausing: vCPU threads park on resume_cond while `paused` is set. */
	atomic_int paused;
	unsigned parked;
	pthread_cond_t parked_cond;
	pthread_cond_t resume_cond;

	pthread_mutex_t stop_lock;  /* also guards parked */
	int stop_fd;                /* eventfd: the event loop handles stops */
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

/* vm_on_reset: have a guest reset (0xcf9, the i8042 pulse, a triple
 * fault) call fn(opaque) while every vCPU is stopped, to put the device back
 * in its power-on state. Handlers run in the order they were added. */
int vm_on_reset(struct vm *vm, void (*fn)(void *opaque), void *opaque);

/* vm_request_reset: what a device calls when the guest resets the machine
 * (it restarts; the process goes on). Safe from any thread. */
void vm_request_reset(struct vm *vm);

/* vm_request_poweroff: the guest switched itself off (ACPI S5): duet-vmm
 * ends with status 0. Safe from any thread. */
void vm_request_poweroff(struct vm *vm);

/* vm_pause: take every vCPU out of the guest and keep it out; returns 0
 * once all are parked, or -ETIMEDOUT after timeout_ms when one is still
 * inside duet-vmm (a device call that has not returned, such as a disk
 * read waiting for its server): that one parks when the call returns.
 * vm_resume lets them go on. */
int vm_pause(struct vm *vm, unsigned timeout_ms);
void vm_resume(struct vm *vm);
/* vcpu side of pausing: park while vm->paused (called by the run loop). */
void vm_park_vcpu(struct vm *vm, struct vcpu *vcpu);
/* vm_vcpu_parked: whether vCPU `index` is parked (out of the guest and out
 * of any device call), so that its registers can be read. */
int vm_vcpu_parked(struct vm *vm, unsigned index);

/* Extra guest-physical mappings beyond RAM: firmware ROM, VGA memory.
 * Slots 0..MEM_MAX_REGIONS-1 are RAM's. */
#define VM_MAP_READONLY 1u   /* guest writes exit to the MMIO bus instead */
#define VM_MAP_LOG_DIRTY 2u  /* KVM records written pages (vm_map_dirty) */

/* vm_map: make [gpa, gpa + size) be host memory `hva` (page-aligned
 * sizes); returns a slot id >= 0, or -errno. */
int vm_map(struct vm *vm, uint64_t gpa, uint64_t size, void *hva, unsigned flags);
/* vm_unmap: remove a mapping made by vm_map. */
void vm_unmap(struct vm *vm, int slot);
/* vm_map_dirty: fetch and clear the slot's dirty-page bitmap (one bit per
 * 4 KiB page, `bitmap` sized for the mapping). -errno on failure. */
int vm_map_dirty(struct vm *vm, int slot, uint64_t *bitmap);

/* vm_irq_pin: an irq_pin for global system interrupt `gsi`. */
struct irq_pin vm_irq_pin(struct vm *vm, unsigned gsi);
void vm_irq_set(void *vm, unsigned gsi, int level);

/* vm_run: boot the guest (vm->boot), run the event loop on this thread
 * until the guest ends (resets restart it in place); returns the process
 * exit status that the end implies. */
int vm_run(struct vm *vm);

/* vm_stop: ask the guest to stop for `reason` (the first request wins) and
 * kick every vCPU out of the guest. Safe from any thread. */
void vm_stop(struct vm *vm, enum vm_stop_reason reason, int status);

#endif

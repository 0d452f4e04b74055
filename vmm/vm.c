/* VM set-up and tear-down on Linux KVM, and the stop decision. */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "device.h"
#include "sandbox.h"

/* Sanitizer runtimes make system calls of their own (the leak check at
 * exit traces threads): there the filter only logs. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_LOG_ONLY 1
#else
#define SANDBOX_LOG_ONLY 0
#endif
#include "event.h"
#include "log.h"
#include "vcpu.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

/* Guest-physical pages KVM needs for its own use on Intel (the real-mode
 * TSS and the identity page table); they sit just below the BIOS alias at
 * the top of 4 GiB, where no RAM or device lives. */
#define KVM_TSS_ADDR 0xfeffd000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL

static int vm_open_kvm(struct vm *vm)
{
	const char *path = vm->config->kvm_path;
	int version;

	vm->kvm_fd = open(path, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int err = -errno;

		if (err == -ENOENT)
			log_error("%s: no such device: this machine has no KVM "
				  "(hardware virtualization switched off, or the "
				  "kvm_intel/kvm_amd module not loaded)", path);
		else
			log_error("%s: %s", path, strerror(-err));
		return err;
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		log_error("%s: not a KVM device (API version %d, want %d)", path,
			  version, KVM_API_VERSION);
		return -ENODEV;
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		log_error("%s: cannot size the vCPU run area", path);
		return -ENODEV;
	}
	return 0;
}

static int vm_require_cap(struct vm *vm, int cap, const char *what)
{
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap) > 0)
		return 0;
	log_error("KVM lacks %s, which duet-vmm needs", what);
	return -ENOTSUP;
}

static int vm_map_memory(struct vm *vm)
{
	for (unsigned i = 0; i < vm->mem.nregions; i++) {
		const struct mem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region region = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
			int err = -errno;

			log_error("cannot give the guest its memory: %s", strerror(errno));
			return err;
		}
	}
	return 0;
}

/* The first slot vm_map hands out, and how many it has. */
#define VM_MAP_FIRST_SLOT MEM_MAX_REGIONS
#define VM_MAP_SLOTS 16

int vm_map(struct vm *vm, uint64_t gpa, uint64_t size, void *hva, unsigned flags)
{
	struct kvm_userspace_memory_region region = {
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};
	int slot;

	for (slot = 0; slot < VM_MAP_SLOTS && (vm->map_slots_used & (1u << slot)); slot++)
		;
	if (slot == VM_MAP_SLOTS)
		return -ENOSPC;
	region.slot = (uint32_t)(VM_MAP_FIRST_SLOT + slot);
	if (flags & VM_MAP_READONLY)
		region.flags |= KVM_MEM_READONLY;
	if (flags & VM_MAP_LOG_DIRTY)
		region.flags |= KVM_MEM_LOG_DIRTY_PAGES;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return -errno;
	vm->map_slots_used |= 1u << slot;
	return slot;
}

void vm_unmap(struct vm *vm, int slot)
{
	struct kvm_userspace_memory_region region = {
		.slot = (uint32_t)(VM_MAP_FIRST_SLOT + slot),
		.memory_size = 0, /* size 0 deletes the slot */
	};

	if (slot < 0 || slot >= VM_MAP_SLOTS || !(vm->map_slots_used & (1u << slot)))
		return;
	ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
	vm->map_slots_used &= ~(1u << slot);
}

int vm_map_dirty(struct vm *vm, int slot, uint64_t *bitmap)
{
	struct kvm_dirty_log log = {
		.slot = (uint32_t)(VM_MAP_FIRST_SLOT + slot),
		.dirty_bitmap = bitmap,
	};

	if (slot < 0 || slot >= VM_MAP_SLOTS)
		return -EINVAL;
	return ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
}

static int vm_create_chipset(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = KVM_IDENTITY_MAP_ADDR;

	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
		log_error("KVM refused the TSS/identity-map pages: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_error("cannot create the in-kernel PIC/IOAPIC/LAPIC: %s",
			  strerror(errno));
		return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_error("cannot create the in-kernel PIT: %s", strerror(errno));
		return -errno;
	}
	/* Keep the power-on state of the PICs, IOAPIC and PIT for resets. */
	vm->irqchip_reset = calloc(3, sizeof(*vm->irqchip_reset));
	vm->pit_reset = calloc(1, sizeof(*vm->pit_reset));
	if (!vm->irqchip_reset || !vm->pit_reset)
		return -ENOMEM;
	for (unsigned i = 0; i < 3; i++) {
		vm->irqchip_reset[i].chip_id = i;
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &vm->irqchip_reset[i]) < 0)
			return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, vm->pit_reset) < 0)
		return -errno;
	return 0;
}

static void vm_stop_event(void *opaque, uint32_t events);

static int vm_open_serial(struct vm *vm)
{
	const char *s = vm->config->serial;

	if (!s || !strcmp(s, "stdio")) {
		vm->serial_fd = dup(STDOUT_FILENO);
		return vm->serial_fd < 0 ? -errno : 0;
	}
	if (!strcmp(s, "none")) {
		vm->serial_fd = -1;
		return 0;
	}
	vm->serial_fd = open(s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (vm->serial_fd < 0) {
		int err = -errno;

		log_error("serial output '%s': %s", s, strerror(errno));
		return err;
	}
	return 0;
}

int vm_create(struct vm *vm, const struct vm_config *config)
{
	int err;

	memset(vm, 0, sizeof(*vm));
	vm->config = config;
	vm->kvm_fd = vm->vm_fd = vm->serial_fd = vm->stop_fd = -1;
	vm->mem.fd = -1;
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_condattr_t monotonic;

	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC); /* vm_pause's deadline */
	pthread_cond_init(&vm->parked_cond, &monotonic);
	pthread_condattr_destroy(&monotonic);
	pthread_cond_init(&vm->resume_cond, NULL);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");

	err = event_loop_create(&vm->loop);
	if (err)
		return err;
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		return -errno;
	err = event_add_fd(vm->loop, vm->stop_fd, EPOLLIN, vm_stop_event, vm);
	if (err)
		return err;
	err = vm_open_kvm(vm);
	if (err)
		return err;
	if ((err = vm_require_cap(vm, KVM_CAP_IRQCHIP, "an in-kernel irqchip")) ||
	    (err = vm_require_cap(vm, KVM_CAP_PIT2, "an in-kernel PIT")) ||
	    (err = vm_require_cap(vm, KVM_CAP_USER_MEMORY, "user memory")) ||
	    (err = vm_require_cap(vm, KVM_CAP_IMMEDIATE_EXIT, "immediate exit")))
		return err;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		err = -errno;
		log_error("cannot create a VM: %s", strerror(errno));
		return err;
	}
	err = mem_create(&vm->mem, config->memory);
	if (err) {
		log_error("cannot allocate %llu MiB of guest memory: %s",
			  (unsigned long long)(config->memory >> 20), strerror(-err));
		return err;
	}
	if ((err = vm_map_memory(vm)) || (err = vm_create_chipset(vm)) ||
	    (err = vm_open_serial(vm)))
		return err;

	vm->ncpus = config->cpus;
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		err = vcpu_create(&vm->vcpus[i], vm, i);
		if (err)
			return err;
	}
	return devices_init(vm);
}

int vm_on_destroy(struct vm *vm, void (*fn)(void *opaque), void *opaque)
{
	struct vm_cleanup *c = malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	*c = (struct vm_cleanup){ vm->cleanups, fn, opaque };
	vm->cleanups = c;
	return 0;
}

int vm_on_reset(struct vm *vm, void (*fn)(void *opaque), void *opaque)
{
	struct vm_cleanup *c = malloc(sizeof(*c)), **tail = &vm->resets;

	if (!c)
		return -ENOMEM;
	*c = (struct vm_cleanup){ NULL, fn, opaque };
	while (*tail)
		tail = &(*tail)->next;
	*tail = c;
	return 0;
}

void vm_request_reset(struct vm *vm)
{
	vm_stop(vm, VM_STOP_RESET, 0);
}

void vm_request_poweroff(struct vm *vm)
{
	vm_stop(vm, VM_STOP_POWEROFF, 0);
}

void vm_destroy(struct vm *vm)
{
	for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	while (vm->resets) {
		struct vm_cleanup *c = vm->resets;

		vm->resets = c->next;
		free(c);
	}
	while (vm->cleanups) {
		struct vm_cleanup *c = vm->cleanups;

		vm->cleanups = c->next;
		c->fn(c->opaque);
		free(c);
	}
	if (vm->serial_fd >= 0)
		close(vm->serial_fd);
	mem_destroy(&vm->mem);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	free(vm->irqchip_reset);
	free(vm->pit_reset);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	event_loop_destroy(vm->loop);
	pthread_cond_destroy(&vm->parked_cond);
	pthread_cond_destroy(&vm->resume_cond);
	pthread_mutex_destroy(&vm->stop_lock);
}

void vm_irq_set(void *opaque, unsigned gsi, int level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_warn("interrupt line %u: %s", gsi, strerror(errno));
}

struct irq_pin vm_irq_pin(struct vm *vm, unsigned gsi)
{
	return (struct irq_pin){ vm_irq_set, vm, gsi };
}

void vm_stop(struct vm *vm, enum vm_stop_reason reason, int status)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == VM_STOP_NONE) {
		vm->stop_reason = reason;
		vm->stop_status = status;
	}
	atomic_store(&vm->stopping, 1);
	pthread_cond_broadcast(&vm->resume_cond);
	pthread_cond_broadcast(&vm->parked_cond);
	pthread_mutex_unlock(&vm->stop_lock);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	if (write(vm->stop_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("cannot signal the guest's stop: %s", strerror(errno));
}

void vm_park_vcpu(struct vm *vm, struct vcpu *vcpu)
{
	pthread_mutex_lock(&vm->stop_lock);
	vm->parked++;
	vcpu->parked = 1;
	pthread_cond_broadcast(&vm->parked_cond);
	while (atomic_load(&vm->paused) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->resume_cond, &vm->stop_lock);
	vm->parked--;
	vcpu->parked = 0;
	pthread_mutex_unlock(&vm->stop_lock);
}

int vm_pause(struct vm *vm, unsigned timeout_ms)
{
	struct timespec deadline;
	int err = 0;

	atomic_store(&vm->paused, 1);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->stop_lock);
	while (vm->parked < vm->ncpus && !atomic_load(&vm->stopping) && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&vm->parked_cond, &vm->stop_lock, &deadline);
	err = vm->parked < vm->ncpus && !atomic_load(&vm->stopping) ? -ETIMEDOUT : 0;
	pthread_mutex_unlock(&vm->stop_lock);
	return err;
}

int vm_vcpu_parked(struct vm *vm, unsigned index)
{
	int parked;

	pthread_mutex_lock(&vm->stop_lock);
	parked = vm->vcpus[index].parked;
	pthread_mutex_unlock(&vm->stop_lock);
	return parked;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->stop_lock);
	atomic_store(&vm->paused, 0);
	pthread_cond_broadcast(&vm->resume_cond);
	pthread_mutex_unlock(&vm->stop_lock);
}

static int vm_start_vcpus(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++) {
		int err = vcpu_start(&vm->vcpus[i]);

		if (err) {
			log_error("cannot start vCPU %u: %s", i, strerror(-err));
			vm_stop(vm, VM_STOP_ERROR, 1);
			return err;
		}
	}
	return 0;
}

/* vm_reset: the machine's reset line. Every vCPU has stopped. */
static int vm_reset(struct vm *vm)
{
	struct vm_cleanup *h;
	int err;

	for (unsigned i = 0; i < 3; i++)
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &vm->irqchip_reset[i]) < 0)
			return -errno;
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, vm->pit_reset) < 0)
		return -errno;
	for (h = vm->resets; h; h = h->next)
		h->fn(h->opaque);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		err = vcpu_reset(&vm->vcpus[i]);
		if (err)
			return err;
	}
	return vm->boot ? vm->boot(vm) : 0;
}

/* vm_stop_event: on the event-loop thread, after vm_stop. Resets restart
 * the guest here; anything else ends the loop. */
static void vm_stop_event(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	enum vm_stop_reason reason;
	uint64_t n;
	int err;

	(void)events;
	/* Join first, then drain: every vm_stop a vCPU made before it left
	 * is then consumed by this one read. */
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
	if (read(vm->stop_fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&vm->stop_lock);
	reason = vm->stop_reason;
	if (reason == VM_STOP_NONE) {
		pthread_mutex_unlock(&vm->stop_lock);
		return;
	}
	if (reason == VM_STOP_CRASH && vm->config->no_reboot) {
		vm->stop_reason = VM_STOP_ERROR;
		vm->stop_status = 1;
	} else if (reason == VM_STOP_RESET && vm->config->no_reboot) {
		vm->stop_reason = VM_STOP_POWEROFF;
		vm->stop_status = 0;
	}
	reason = vm->stop_reason;
	pthread_mutex_unlock(&vm->stop_lock);

	if (reason != VM_STOP_RESET && reason != VM_STOP_CRASH) {
		event_loop_quit(vm->loop);
		return;
	}
	vm->restarts++;
	log_info("guest reset%s; restarting it (restart %u)",
		 reason == VM_STOP_CRASH ? " after a triple fault" : "", vm->restarts);
	err = vm_reset(vm);
	pthread_mutex_lock(&vm->stop_lock);
	vm->stop_reason = VM_STOP_NONE;
	atomic_store(&vm->stopping, 0);
	pthread_mutex_unlock(&vm->stop_lock);
	if (err) {
		log_error("cannot reset the guest: %s", strerror(-err));
		vm_stop(vm, VM_STOP_ERROR, 1);
		return;
	}
	vm_start_vcpus(vm);
}

int vm_run(struct vm *vm)
{
	int status, err;

	err = vm->boot ? vm->boot(vm) : 0;
	if (err)
		return 2;
	/* Set-up is done: from here on only what a running VMM needs. */
	if (vm->config->sandbox && sandbox_install(SANDBOX_LOG_ONLY))
		return 2;
	vm_start_vcpus(vm); /* on failure it has already stopped the VM */
	event_loop_run(vm->loop);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->stop_lock);
	switch (vm->stop_reason) {
	case VM_STOP_POWEROFF:
		status = 0;
		break;
	case VM_STOP_TEST_EXIT:
		status = vm->stop_status;
		break;
	default:
		status = 1;
		break;
	}
	pthread_mutex_unlock(&vm->stop_lock);
	return status;
}

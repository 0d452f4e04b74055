/* A virtual CPU: KVM vCPU set-up (CPUID), its thread and the run loop that
 * turns KVM exits into bus accesses. */
#include "vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

/* KVM_GET_SUPPORTED_CPUID fills 256 entries on these machines; leave room. */
#define CPUID_MAX_ENTRIES 512

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)

/* MSRs a guest can leave pointing into its memory or otherwise armed;
 * a reset puts them back to their power-on values (KVM's paravirtual
 * clock and async-PF areas would otherwise be written after the reboot). */
static const uint32_t vcpu_reset_msrs[] = {
	0x00000174, 0x00000175, 0x00000176, /* SYSENTER_CS/ESP/EIP */
	0x00000277,                         /* PAT */
	0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, /* STAR LSTAR CSTAR FMASK */
	0xc0000102,                         /* KERNEL_GS_BASE */
	0x4b564d00, 0x4b564d01,             /* kvmclock: wall clock, system time */
	0x4b564d02, 0x4b564d03, 0x4b564d04, /* async PF, steal time, PV EOI */
	0x00000011, 0x00000012,             /* old kvmclock */
};
#define VCPU_RESET_MSRS (sizeof(vcpu_reset_msrs) / sizeof(vcpu_reset_msrs[0]))

struct vcpu_reset_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp_state;
	struct kvm_xcrs xcrs;
	int has_xcrs;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[VCPU_RESET_MSRS];
	} msrs;
};

/* The signal that kicks a vCPU thread out of KVM_RUN. */
#define SIG_VCPU_KICK SIGUSR1

/* vcpu_setup_cpuid: what KVM supports, with this vCPU's APIC ID, the
 * logical-processor count and the hypervisor bit (guests use it to pick
 * paravirtual paths and to skip errata work meant for bare metal). */
static int vcpu_setup_cpuid(struct vcpu *vcpu)
{
	struct kvm_cpuid2 *cpuid;
	unsigned ncpus = vcpu->vm->ncpus, core_bits = 0;
	int err = 0;

	cpuid = calloc(1, sizeof(*cpuid) + CPUID_MAX_ENTRIES * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return -ENOMEM;
	cpuid->nent = CPUID_MAX_ENTRIES;
	if (ioctl(vcpu->vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		err = -errno;
		log_error("cannot read the CPUID KVM supports: %s", strerror(errno));
		goto out;
	}
	/* Topology: one package of `ncpus` cores, one thread each; APIC IDs
	 * 0..ncpus-1. Leaves as Intel SDM vol. 2A "CPUID" (1, 4, 0xb, 0x1f)
	 * and AMD APM vol. 3 appendix E (0x80000008, 0x8000001e) define them. */
	while ((1u << core_bits) < ncpus)
		core_bits++;
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			e->ebx = (e->ebx & 0x0000ffffu) | (vcpu->index << 24) |
				 (((1u << core_bits) & 0xff) << 16);
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4:
			/* Cores per package - 1 in EAX[31:26]; caches shared by
			 * one thread each. */
			e->eax = (e->eax & 0x3ffu) | (((1u << core_bits) - 1) << 26);
			break;
		case 0xb:
		case 0x1f:
			e->edx = vcpu->index;
			if (e->index == 0) {        /* SMT level: one thread per core */
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1u << 8) | 0;
			} else if (e->index == 1) { /* core level: the whole package */
				e->eax = core_bits;
				e->ebx = ncpus;
				e->ecx = (2u << 8) | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000008:
			/* ApicIdCoreIdSize in ECX[15:12], NC (cores - 1) in ECX[7:0]. */
			e->ecx = (e->ecx & ~0xf0ffu) | (core_bits << 12) | ((ncpus - 1) & 0xff);
			break;
		case 0x8000001e:
			e->eax = vcpu->index;   /* extended APIC ID */
			e->ebx = vcpu->index;   /* compute unit = core, 1 thread */
			e->ecx = 0;             /* node 0, 1 node per package */
			break;
		}
	}
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0) {
		err = -errno;
		log_error("KVM refused the vCPU's CPUID table: %s", strerror(errno));
	}
out:
	free(cpuid);
	return err;
}

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

static void vcpu_install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;
	sigaction(SIG_VCPU_KICK, &sa, NULL);
}

/* vcpu_save_reset_state: remember the power-on state KVM gave us. */
static int vcpu_save_reset_state(struct vcpu *vcpu)
{
	struct vcpu_reset_state *s = calloc(1, sizeof(*s));
	unsigned n = 0;

	if (!s)
		return -ENOMEM;
	vcpu->reset_state = s;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &s->regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &s->sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_FPU, &s->fpu) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_LAPIC, &s->lapic) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_MP_STATE, &s->mp_state) < 0)
		return -errno;
	s->has_xcrs = ioctl(vcpu->fd, KVM_GET_XCRS, &s->xcrs) == 0;
	/* Keep only the MSRs this host's KVM knows: ask one at a time. */
	for (unsigned i = 0; i < VCPU_RESET_MSRS; i++) {
		struct {
			struct kvm_msrs hdr;
			struct kvm_msr_entry e;
		} one = { .hdr.nmsrs = 1, .e.index = vcpu_reset_msrs[i] };

		if (ioctl(vcpu->fd, KVM_GET_MSRS, &one) == 1)
			s->msrs.entries[n++] = one.e;
	}
	s->msrs.hdr.nmsrs = n;
	return 0;
}

int vcpu_reset(struct vcpu *vcpu)
{
	struct vcpu_reset_state *s = vcpu->reset_state;

	if (ioctl(vcpu->fd, KVM_SET_SREGS, &s->sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_REGS, &s->regs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_FPU, &s->fpu) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_LAPIC, &s->lapic) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_MP_STATE, &s->mp_state) < 0)
		return -errno;
	if (s->has_xcrs && ioctl(vcpu->fd, KVM_SET_XCRS, &s->xcrs) < 0)
		return -errno;
	if (ioctl(vcpu->fd, KVM_SET_MSRS, &s->msrs) < 0)
		return -errno;
	return 0;
}

int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned index)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int err;

	/* At set-up: the sandbox allows no sigaction later. */
	pthread_once(&once, vcpu_install_kick_handler);

	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0) {
		log_error("cannot create vCPU %u: %s", index, strerror(errno));
		return -errno;
	}
	vcpu->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		log_error("cannot map vCPU %u's run area: %s", index, strerror(errno));
		return -errno;
	}
	err = vcpu_setup_cpuid(vcpu);
	if (err)
		return err;
	err = vcpu_save_reset_state(vcpu);
	if (err)
		log_error("cannot read vCPU %u's power-on state: %s", index, strerror(-err));
	return err;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->run_size);
	if (vcpu->fd > 0)
		close(vcpu->fd);
	free(vcpu->reset_state);
	vcpu->reset_state = NULL;
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static void vcpu_dump(struct vcpu *vcpu, const char *why)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0) {
		log_error("vCPU %u: %s", vcpu->index, why);
		return;
	}
	/* On AMD, KVM answers a shutdown by putting the vCPU through INIT
	 * before it exits: the registers are then the reset vector's. */
	if (sregs.cs.selector == 0xf000 && regs.rip == 0xfff0) {
		log_error("vCPU %u: %s (where is not known: KVM had already put the vCPU "
			  "through INIT)", vcpu->index, why);
		return;
	}
	log_error("vCPU %u: %s at cs=%04x rip=%llx (rsp=%llx rax=%llx cr0=%llx efer=%llx)",
		  vcpu->index, why, sregs.cs.selector, (unsigned long long)regs.rip,
		  (unsigned long long)regs.rsp, (unsigned long long)regs.rax,
		  (unsigned long long)sregs.cr0, (unsigned long long)sregs.efer);
}

/* vcpu_dump_internal_error: KVM's suberror and data words, and the bytes
 * at CS:RIP when paging is off (the linear address is then the physical
 * one): what it takes to name the instruction KVM could not emulate. */
static void vcpu_dump_internal_error(struct vcpu *vcpu)
{
	const struct kvm_run *run = vcpu->run;
	char text[256];
	int len = 0;
	uint32_t ndata = run->internal.ndata < 16 ? run->internal.ndata : 16;

	for (uint32_t i = 0; i < ndata && len < (int)sizeof(text) - 20; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len, " %llx",
				(unsigned long long)run->internal.data[i]);
	log_error("vCPU %u: KVM internal error suberror %u, data:%s", vcpu->index,
		  run->internal.suberror, ndata ? text : " none");

	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t insn[16];
	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0 ||
	    (sregs.cr0 & 0x80000000u) ||
	    mem_read(&vcpu->vm->mem, sregs.cs.base + regs.rip, insn, sizeof(insn)) < 0)
		return;
	len = 0;
	for (size_t i = 0; i < sizeof(insn); i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len, " %02x", insn[i]);
	log_error("vCPU %u: bytes at cs.base+rip %llx:%s", vcpu->index,
		  (unsigned long long)(sregs.cs.base + regs.rip), text);
}

/* The APIC's highest set bit among the eight 32-bit words of IRR or ISR
 * (at `reg`, 16 bytes apart), or -1. */
static int vcpu_apic_top_vector(const struct kvm_lapic_state *lapic, unsigned reg)
{
	for (int word = 7; word >= 0; word--) {
		uint32_t bits;

		memcpy(&bits, lapic->regs + reg + (unsigned)word * 16, sizeof(bits));
		if (bits)
			return word * 32 + 31 - __builtin_clz(bits);
	}
	return -1;
}

static uint32_t vcpu_apic_reg(const struct kvm_lapic_state *lapic, unsigned reg)
{
	uint32_t v;

	memcpy(&v, lapic->regs + reg, sizeof(v));
	return v;
}

int vcpu_read_state(struct vcpu *vcpu, struct vcpu_state *st)
{
	static const char *const mp_names[] = {
		[KVM_MP_STATE_RUNNABLE] = "running",
		[KVM_MP_STATE_UNINITIALIZED] = "waiting for INIT",
		[KVM_MP_STATE_INIT_RECEIVED] = "waiting for SIPI",
		[KVM_MP_STATE_HALTED] = "halted",
		[KVM_MP_STATE_SIPI_RECEIVED] = "SIPI received",
	};
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_mp_state mp;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &events) < 0)
		return -errno;
	memset(st, 0, sizeof(*st));
	if (!(sregs.cr0 & 1))
		st->mode = "real";
	else if (regs.rflags & (1u << 17))
		st->mode = "vm86";
	else if ((sregs.efer & (1u << 10)) && sregs.cs.l)
		st->mode = "long";
	else
		st->mode = "protected";
	st->mp_state = mp.mp_state < sizeof(mp_names) / sizeof(mp_names[0]) &&
			       mp_names[mp.mp_state] ? mp_names[mp.mp_state] : "other";
	st->cs = sregs.cs.selector;
	st->rip = regs.rip;
	st->rsp = regs.rsp;
	st->rflags = regs.rflags;
	st->cr0 = sregs.cr0;
	st->cr3 = sregs.cr3;
	st->paging = !!(sregs.cr0 & 0x80000000u);
	st->interrupts_on = !!(regs.rflags & (1u << 9));
	st->lvt_timer = vcpu_apic_reg(&lapic, 0x320);
	st->timer_initial = vcpu_apic_reg(&lapic, 0x380);
	st->timer_current = vcpu_apic_reg(&lapic, 0x390);
	st->irr_top = vcpu_apic_top_vector(&lapic, 0x200);
	st->isr_top = vcpu_apic_top_vector(&lapic, 0x100);
	st->interrupt_pending = events.interrupt.injected;
	st->nmi_pending = events.nmi.pending || events.nmi.injected;
	st->exits = atomic_load_explicit(&vcpu->exits, memory_order_relaxed);
	st->io_exits = atomic_load_explicit(&vcpu->io_exits, memory_order_relaxed);
	st->mmio_exits = atomic_load_explicit(&vcpu->mmio_exits, memory_order_relaxed);
	st->last_io_port = atomic_load_explicit(&vcpu->last_io_port, memory_order_relaxed);
	st->last_mmio_addr = atomic_load_explicit(&vcpu->last_mmio_addr, memory_order_relaxed);
	st->has_code = !st->paging &&
		       mem_read(&vcpu->vm->mem, sregs.cs.base + regs.rip, st->code, sizeof(st->code)) == 0;
	return 0;
}

/* vcpu_count: one more of a counter only this vCPU's thread writes (no
 * locked instruction on the exit path). */
static void vcpu_count(_Atomic uint64_t *counter)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static void vcpu_handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	vcpu_count(&vcpu->io_exits);
	atomic_store_explicit(&vcpu->last_io_port, run->io.port, memory_order_relaxed);
	/* A string instruction (rep outsb) arrives as `count` accesses laid
	 * out back to back in the run area. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		int hit;

		if (run->io.direction == KVM_EXIT_IO_OUT)
			hit = bus_write(&vcpu->vm->pio, run->io.port, data, run->io.size);
		else
			hit = bus_read(&vcpu->vm->pio, run->io.port, data, run->io.size);
		if (!hit)
			log_debug("vCPU %u: %s port %#x (size %u): no device", vcpu->index,
				  run->io.direction == KVM_EXIT_IO_OUT ? "write to" : "read from",
				  run->io.port, run->io.size);
	}
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned len = run->mmio.len;

	vcpu_count(&vcpu->mmio_exits);
	atomic_store_explicit(&vcpu->last_mmio_addr, run->mmio.phys_addr, memory_order_relaxed);
	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	if (run->mmio.is_write)
		bus_write(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

static void vcpu_handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_stop(vcpu->vm, VM_STOP_POWEROFF, 0);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_reset(vcpu->vm);
		break;
	default:
		vcpu_dump(vcpu, "unexpected system event");
		vm_stop(vcpu->vm, VM_STOP_ERROR, 1);
		break;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	sigset_t kick;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&kick);
	sigaddset(&kick, SIG_VCPU_KICK);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	while (!atomic_load(&vm->stopping)) {
		if (atomic_load(&vm->paused)) {
			vm_park_vcpu(vm, vcpu);
			continue;
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				continue;
			}
			log_error("vCPU %u: KVM_RUN failed: %s", vcpu->index, strerror(errno));
			vm_stop(vm, VM_STOP_ERROR, 1);
			break;
		}
		vcpu_count(&vcpu->exits);
		switch (vcpu->run->exit_reason) {
		case KVM_EXIT_IO:
			vcpu_handle_io(vcpu);
			break;
		case KVM_EXIT_MMIO:
			vcpu_handle_mmio(vcpu);
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			vcpu_handle_system_event(vcpu);
			break;
		case KVM_EXIT_SHUTDOWN:
			vcpu_dump(vcpu, "guest triple-faulted");
			vm_stop(vm, VM_STOP_CRASH, 1);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_FAIL_ENTRY:
			log_error("vCPU %u: KVM could not enter the guest (reason %#llx)",
				  vcpu->index,
				  (unsigned long long)vcpu->run->fail_entry.hardware_entry_failure_reason);
			vm_stop(vm, VM_STOP_ERROR, 1);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			vcpu_dump(vcpu, "KVM internal error (often an instruction KVM cannot emulate)");
			vcpu_dump_internal_error(vcpu);
			vm_stop(vm, VM_STOP_ERROR, 1);
			break;
		default: {
			char why[64];

			snprintf(why, sizeof(why), "unhandled KVM exit %u",
				 vcpu->run->exit_reason);
			vcpu_dump(vcpu, why);
			vm_stop(vm, VM_STOP_ERROR, 1);
			break;
		}
		}
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	sigset_t kick;
	int err;

	/* vCPU threads unblock the kick signal themselves; everyone else
	 * keeps it blocked, so a kick never lands on the wrong thread. */
	sigemptyset(&kick);
	sigaddset(&kick, SIG_VCPU_KICK);
	pthread_sigmask(SIG_BLOCK, &kick, NULL);
	err = -pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (!err)
		vcpu->started = 1;
	return err;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	vcpu->run->immediate_exit = 1;
	pthread_kill(vcpu->thread, SIG_VCPU_KICK);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->started)
		pthread_join(vcpu->thread, NULL);
	vcpu->started = 0;
}

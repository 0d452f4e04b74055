/* kvm-smoke: the smallest end-to-end check that /dev/kvm runs a guest.
 *
 * Creates a VM with one vCPU and one page of guest code in real mode that
 * sums 1..10 in AX, writes AX to I/O port 0x10 and halts. Checks that KVM
 * reports KVM_EXIT_IO (OUT, port 0x10, 2 bytes, value 55) and then
 * KVM_EXIT_HLT. Prints one line saying what it saw; exit status 0 on
 * success, 1 on any mismatch or error.
 *
 *   kvm-smoke          the correct guest; must pass
 *   kvm-smoke broken   a deliberately wrong guest (sums 1..9 = 45); must fail
 *
 * Built static so it runs in the rig's busybox initramfs without libraries.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_MEM_SIZE 0x10000u /* 64 KiB slot at guest physical 0 */
#define CODE_ADDR 0x1000u
#define OUT_PORT 0x10u
#define EXPECTED 55u /* 1 + 2 + ... + 10 */
#define RUN_TIMEOUT_S 10

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("kvm-smoke: FAIL: ", stdout);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	exit(1);
}

static void on_alarm(int sig)
{
	static const char msg[] = "kvm-smoke: FAIL: guest did not exit within 10 s\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more we can do */
	}
	_exit(1);
}

static const char *exit_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
	case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
	case KVM_EXIT_IO: return "KVM_EXIT_IO";
	case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
	case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
	case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
	case KVM_EXIT_INTR: return "KVM_EXIT_INTR";
	case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
	default: return "(other)";
	}
}

static int xioctl(int fd, unsigned long req, void *arg, const char *what)
{
	int r = ioctl(fd, req, arg);

	if (r < 0)
		fail("%s: %s", what, strerror(errno));
	return r;
}

/* Run the vCPU once, retrying on EINTR; returns the exit reason. */
static uint32_t run_once(int vcpu, struct kvm_run *run)
{
	while (ioctl(vcpu, KVM_RUN, 0) < 0) {
		if (errno != EINTR && errno != EAGAIN)
			fail("KVM_RUN: %s", strerror(errno));
	}
	return run->exit_reason;
}

static void describe_unexpected(struct kvm_run *run, const char *wanted)
{
	uint32_t r = run->exit_reason;

	if (r == KVM_EXIT_FAIL_ENTRY)
		fail("expected %s, got KVM_EXIT_FAIL_ENTRY (hardware reason 0x%llx)", wanted,
		     (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	if (r == KVM_EXIT_INTERNAL_ERROR)
		fail("expected %s, got KVM_EXIT_INTERNAL_ERROR (suberror %u)", wanted,
		     run->internal.suberror);
	if (r == KVM_EXIT_IO)
		fail("expected %s, got KVM_EXIT_IO (%s port 0x%x, size %u)", wanted,
		     run->io.direction == KVM_EXIT_IO_OUT ? "out to" : "in from", run->io.port,
		     run->io.size);
	fail("expected %s, got %s (exit reason %u)", wanted, exit_name(r), r);
}

int main(int argc, char **argv)
{
	int broken = 0;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "broken") != 0)) {
		fprintf(stderr, "usage: %s [broken]\n", argv[0]);
		return 2;
	}
	if (argc == 2)
		broken = 1;

	/* Real-mode guest, loaded at CODE_ADDR:
	 *   xor ax, ax
	 *   mov cx, N            ; N = 10 (correct) or 9 (broken)
	 * l: add ax, cx
	 *   loop l
	 *   mov dx, OUT_PORT
	 *   out dx, ax
	 *   hlt
	 */
	uint8_t code[] = {
		0x31, 0xc0,                   /* xor ax, ax */
		0xb9, 0x0a, 0x00,             /* mov cx, 10 */
		0x01, 0xc8,                   /* add ax, cx */
		0xe2, 0xfc,                   /* loop -4 */
		0xba, OUT_PORT & 0xff, OUT_PORT >> 8, /* mov dx, port */
		0xef,                         /* out dx, ax */
		0xf4,                         /* hlt */
	};
	if (broken)
		code[3] = 9;

	signal(SIGALRM, on_alarm);
	alarm(RUN_TIMEOUT_S);

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		fail("open /dev/kvm: %s", strerror(errno));
	int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION)
		fail("KVM_GET_API_VERSION returned %d, expected %d", api, KVM_API_VERSION);

	int vm = xioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");

	uint8_t *mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		fail("mmap guest memory: %s", strerror(errno));
	memcpy(mem + CODE_ADDR, code, sizeof(code));

	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = GUEST_MEM_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	xioctl(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");

	int vcpu = xioctl(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
	int run_size = xioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
	if ((size_t)run_size < sizeof(struct kvm_run))
		fail("KVM_GET_VCPU_MMAP_SIZE returned %d, too small", run_size);
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		fail("mmap kvm_run: %s", strerror(errno));

	struct kvm_sregs sregs;
	xioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	xioctl(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");

	struct kvm_regs regs;
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_ADDR;
	regs.rflags = 0x2;
	xioctl(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");

	/* First exit: the OUT. KVM_EXIT_INTR can only come from a signal. */
	uint32_t reason;
	do
		reason = run_once(vcpu, run);
	while (reason == KVM_EXIT_INTR);
	if (reason != KVM_EXIT_IO)
		describe_unexpected(run, "KVM_EXIT_IO");
	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != OUT_PORT || run->io.size != 2 ||
	    run->io.count != 1)
		fail("expected a 2-byte OUT to port 0x%x, got %s port 0x%x, size %u, count %u",
		     OUT_PORT, run->io.direction == KVM_EXIT_IO_OUT ? "OUT to" : "IN from",
		     run->io.port, run->io.size, run->io.count);
	uint16_t value;
	memcpy(&value, (uint8_t *)run + run->io.data_offset, sizeof(value));
	if (value != EXPECTED)
		fail("guest wrote %u (0x%04x) to port 0x%x, expected %u (0x%04x)", value, value,
		     OUT_PORT, EXPECTED, EXPECTED);

	/* Second exit: the HLT. */
	do
		reason = run_once(vcpu, run);
	while (reason == KVM_EXIT_INTR);
	if (reason != KVM_EXIT_HLT)
		describe_unexpected(run, "KVM_EXIT_HLT after the OUT");

	alarm(0);
	printf("kvm-smoke: PASS: guest wrote %u (0x%04x) to port 0x%x, then KVM_EXIT_HLT (KVM API %d)\n",
	       value, value, OUT_PORT, api);
	return 0;
}

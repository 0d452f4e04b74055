/* seccomp allow-list (libseccomp). What stays allowed, and why:
 *  - I/O on descriptors opened during set-up (guest RAM, KVM, TAP, disks,
 *    sockets): read/write and their vector and positioned forms, fdatasync
 *    (virtio-blk FLUSH), fallocate (discard), close;
 *  - the event loop and threads: epoll, timerfd, futex, clone for threads
 *    only (vCPU threads restart after a guest reset), signals to our own
 *    threads (vCPU kicks);
 *  - memory: mmap family, brk, madvise (malloc);
 *  - ioctl only of the KVM ('\xae') and TUN/terminal ('T') families;
 *  - sockets for the control socket, user-mode networking (libslirp
 *    opens connections on the guest's behalf) and NBD disks, which
 *    reconnect to their server after set-up (socket, connect, setsockopt
 *    and getsockopt, poll, send/recv, shutdown; the server's address was
 *    resolved at set-up, so no /etc file is needed);
 *  - unlink, for removing the control socket at exit.
 * Opening a file fails with EACCES rather than killing: libslirp reads
 * /etc/resolv.conf when the guest first asks its DNS proxy, and a guest must
 * not be able to kill its VMM by asking for a name; it gets no file either.
 * Everything else — exec, ptrace, mount, new namespaces, module loading —
 * kills the process. */
#include "sandbox.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <seccomp.h>
#include <sys/prctl.h>

#include "log.h"

static const int sandbox_allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
	SCMP_SYS(preadv2), SCMP_SYS(pwritev2), SCMP_SYS(close), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(lseek), SCMP_SYS(fdatasync), SCMP_SYS(fsync),
	SCMP_SYS(fallocate), SCMP_SYS(fcntl),
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(madvise),
	SCMP_SYS(mremap), SCMP_SYS(brk),
	SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(sched_yield),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(tgkill), SCMP_SYS(exit),
	SCMP_SYS(exit_group), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(sigaltstack), SCMP_SYS(sched_getaffinity), SCMP_SYS(rt_sigaction),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
	SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(getrandom),
	SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg), SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(bind),
	SCMP_SYS(listen), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(shutdown),
	SCMP_SYS(unlink),
};

/* ioctl request "type" bytes (bits 8-15) that stay allowed. */
#define IOCTL_TYPE_MASK 0xff00
#define IOCTL_TYPE_KVM 0xae00
#define IOCTL_TYPE_TUN 0x5400 /* TUNSETOFFLOAD, FIONBIO, FIONREAD */

int sandbox_install(int log_only)
{
	scmp_filter_ctx ctx = seccomp_init(log_only ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
	int err = 0;

	if (!ctx)
		return -ENOMEM;
	/* Every thread, including ones already running (none yet, but say so). */
	err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (unsigned i = 0; !err && i < sizeof(sandbox_allowed) / sizeof(sandbox_allowed[0]); i++)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_allowed[i], 0);
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_MASKED_EQ, IOCTL_TYPE_MASK, IOCTL_TYPE_KVM));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_MASKED_EQ, IOCTL_TYPE_MASK, IOCTL_TYPE_TUN));
	/* Threads only: clone without CLONE_THREAD would be a new process. */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	/* clone3 passes its flags in memory, where seccomp cannot look:
	 * ENOSYS makes glibc fall back to clone. */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* (Sanitizer builds, log_only, leave opens to the logging default:
	 * the leak checker reads /proc at exit.) */
	if (!err && !log_only)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
	if (!err && !log_only)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
	if (!err && !log_only)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat2), 0);
	/* Thread names only (pthread_setname_np on the calling thread). */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	if (err)
		log_error("cannot install the seccomp filter: %s", strerror(-err));
	return err;
}

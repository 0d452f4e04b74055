/* The seccomp allow-list duet-vmm puts itself under once set-up is done:
 * after that a guest that subverts a device model can only make the system
 * calls a running VMM needs. */
#ifndef DUET_SANDBOX_H
#define DUET_SANDBOX_H

#include <stdint.h>

/* sandbox_install: apply the allow-list to every thread of the process;
 * any other system call kills the process (SCMP_ACT_KILL_PROCESS), or is
 * only logged when `log_only` (sanitizer builds, whose runtime makes calls
 * of its own at exit). -errno on failure. */
int sandbox_install(int log_only);

#endif

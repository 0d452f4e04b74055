/* duet vm: the supervisor that runs one server VM (docs/duet-vm.md).
 *
 * It holds a lock on RUN/vm-NAME/supervisor.pid for as long as it runs,
 * starts the VM's headless duet-display and then duet-vmm (connected to
 * it), restarts either when it dies (backing off from 1 s to 60 s), and
 * ends when asked or when the guest powers off:
 *
 *   SIGUSR1 (sigqueue'd value: seconds)  press the ACPI power button, wait
 *                                        that long, then kill duet-vmm
 *   SIGTERM, SIGINT, SIGHUP              kill duet-vmm now
 *
 * Either way it stops duet-display, removes its run-time files and writes
 * why it stopped to VMS/NAME/last-stop. */
#ifndef DUET_VM_SUPERVISOR_H
#define DUET_VM_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>

#include "vm_store.h"

/* How long `duet vm stop` gives the guest by default. */
#define VM_STOP_TIMEOUT_DEFAULT 60

/* vm_supervise: runs the supervisor in this process until the VM stops;
 * returns the process's exit status (0 once it ran, 1 when it could not
 * start the VM). ready_fd (or -1) gets "ok\n" once duet-vmm answers on its
 * control socket, or "error: LINE\n"; then it is closed. With foreground,
 * every log line also goes to stderr. bin_dir: where duet-vmm and
 * duet-display are looked for first (else $PATH). */
int vm_supervise(const struct vm_info *vm, const char *bin_dir, int ready_fd, bool foreground);

/* vm_start_daemon: runs vm_supervise in a daemon (double fork, new
 * session) and waits for its word. 0 when the VM runs; otherwise msg says
 * why. */
int vm_start_daemon(const struct vm_info *vm, const char *bin_dir, char *msg, size_t msglen);

#endif

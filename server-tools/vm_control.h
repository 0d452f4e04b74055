/* duet vm: one request to a JSON-lines control socket (duet-vmm's
 * --control, duet-display's --control; docs/vmm.md, docs/display.md). */
#ifndef DUET_VM_CONTROL_H
#define DUET_VM_CONTROL_H

#include <stddef.h>

/* vm_control_request: connects to the Unix socket at path, sends request
 * (one JSON object, without the newline), and waits at most timeout_ms for
 * the reply line. 0 when the reply says "ok": true; -EPROTO when it says
 * false (its "error" in err); other -errno when the socket could not be
 * reached or answered nothing (err says which). */
int vm_control_request(const char *path, const char *request, int timeout_ms,
		       char *err, size_t errlen);

#endif

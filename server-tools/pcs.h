/* What `duet wall` and `duet switch` need of the classroom's PCs: which
 * PCs a command names (one, or all), how to reach each one and what to
 * call it, and a small pool of threads that asks them all at once, so one
 * PC that is off costs the others nothing. */
#ifndef DUET_PCS_H
#define DUET_PCS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

/* pcs_select: `what` is "all" (every known PC with an address) or a MAC,
 * IP or hostname (conf_find_pc). 0 with a new array in *out (free it);
 * else -errno with a sentence for the admin in err. */
int pcs_select(const struct duet_conf *conf, const char *what, struct pc_id **out, size_t *count,
	       char *err, size_t errlen);

/* pc_label: "HOSTNAME (MAC)", else the MAC, else the IP. */
void pc_label(const struct pc_id *pc, char *out, size_t size);

/* pc_address: where to reach the PC: its IP, else its hostname, else NULL. */
const char *pc_address(const struct pc_id *pc);

/* pc_port: the PC's value of a port key (1-65535), or def when unset;
 * -EINVAL when it is not a port. */
int pc_port(const struct duet_conf *conf, const struct pc_id *pc, const char *key, unsigned def,
	    unsigned *out);

/* pc_remote_on: whether the PC's duet-display has its remote port
 * (remote-listen set and not none). */
bool pc_remote_on(const struct duet_conf *conf, const struct pc_id *pc);

/* pcs_parallel: run fn(arg, i) for every i < count on up to max_threads
 * threads; returns when every call has. */
void pcs_parallel(size_t count, unsigned max_threads, void (*fn)(void *arg, size_t i), void *arg);

#endif

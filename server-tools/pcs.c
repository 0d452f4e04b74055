/* The classroom's PCs for `duet wall` and `duet switch` (see pcs.h). */
#include "pcs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int pcs_select(const struct duet_conf *conf, const char *what, struct pc_id **out, size_t *count,
	       char *err, size_t errlen)
{
	struct pc_id *all, *pc;
	size_t n, kept = 0;
	int rc;

	*out = NULL;
	*count = 0;
	if (strcmp(what, "all")) {
		pc = calloc(1, sizeof(*pc));
		if (!pc)
			return -ENOMEM;
		rc = conf_find_pc(conf, what, pc);
		if (rc) {
			snprintf(err, errlen, rc == -ENOENT ? "no PC '%s' is known (duet config list)"
							    : "'%s' is not a MAC, IP or hostname",
				 what);
			free(pc);
			return rc;
		}
		*out = pc;
		*count = 1;
		return 0;
	}
	rc = conf_known_pcs(conf, &all, &n);
	if (rc) {
		snprintf(err, errlen, "the known PCs: %s", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		if (pc_address(&all[i]))
			all[kept++] = all[i];
	if (!kept) {
		free(all);
		snprintf(err, errlen, "no known PC has an address (give each an ip or hostname in "
			 "%s, /etc/ethers or the DHCP leases)", conf->path);
		return -ENOENT;
	}
	*out = all;
	*count = kept;
	return 0;
}

void pc_label(const struct pc_id *pc, char *out, size_t size)
{
	if (pc->hostname[0] && pc->mac[0])
		snprintf(out, size, "%s (%s)", pc->hostname, pc->mac);
	else if (pc->hostname[0])
		snprintf(out, size, "%s", pc->hostname);
	else if (pc->mac[0])
		snprintf(out, size, "%s", pc->mac);
	else
		snprintf(out, size, "%s", pc->ip);
}

const char *pc_address(const struct pc_id *pc)
{
	if (pc->ip[0])
		return pc->ip;
	if (pc->hostname[0])
		return pc->hostname;
	return NULL;
}

int pc_port(const struct duet_conf *conf, const struct pc_id *pc, const char *key, unsigned def,
	    unsigned *out)
{
	const char *v = conf_pc_get(conf, pc, key);
	uint64_t n;

	*out = def;
	if (!v)
		return 0;
	if (parse_u64(v, &n) || n < 1 || n > 65535)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

bool pc_remote_on(const struct duet_conf *conf, const struct pc_id *pc)
{
	const char *v = conf_pc_get(conf, pc, "remote-listen");

	return v && *v && strcmp(v, "none");
}

struct pcs_pool {
	size_t count;
	atomic_size_t next;
	void (*fn)(void *arg, size_t i);
	void *arg;
};

static void *pcs_worker(void *opaque)
{
	struct pcs_pool *pool = opaque;
	size_t i;

	while ((i = atomic_fetch_add(&pool->next, 1)) < pool->count)
		pool->fn(pool->arg, i);
	return NULL;
}

void pcs_parallel(size_t count, unsigned max_threads, void (*fn)(void *arg, size_t i), void *arg)
{
	struct pcs_pool pool = { .count = count, .fn = fn, .arg = arg };
	pthread_t threads[64];
	size_t n = count < max_threads ? count : max_threads, started = 0;

	atomic_init(&pool.next, 0);
	if (n > sizeof(threads) / sizeof(threads[0]))
		n = sizeof(threads) / sizeof(threads[0]);
	for (size_t t = 0; t < n; t++)
		if (pthread_create(&threads[started], NULL, pcs_worker, &pool) == 0)
			started++;
	/* no thread could start: this one does the work */
	if (!started)
		pcs_worker(&pool);
	for (size_t t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
}

/* duet switch: show a guest on a classroom PC's screen, or on every PC's,
 * through duet-display's remote port, with commands signed by the
 * server's key (remote.h, docs/duet-wall.md).
 *
 *   duet switch CLIENT|all GUEST     one report line per PC
 *   duet switch --status CLIENT|all  each PC's guest on screen
 *   duet switch --init-key           make the key; print the public key
 *
 * The PCs are asked in parallel, each within --timeout; exit status 1
 * when any of them did not do it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet.h"
#include "parse.h"
#include "pcs.h"
#include "remote.h"
#include "remote_proto.h"

#define SWITCH_THREADS 32

struct switch_job {
	struct pc_id pc;
	char label[320];
	/* from the config, read before the threads start */
	const char *address;
	unsigned port;
	char setup_error[160]; /* not asked: why */
	/* the outcome */
	bool ok;
	char result[2 * REMOTE_REPLY_MAX + 128];
};

struct switch_run {
	const struct remote_key *key;
	const char *guest; /* NULL: --status */
	unsigned timeout_ms;
	struct switch_job *jobs;
};

static void switch_usage(FILE *f)
{
	fprintf(f, "Usage: duet switch [-t SECONDS] CLIENT|all GUEST\n"
		   "       duet switch --status CLIENT|all\n"
		   "       duet switch --init-key\n\n"
		   "Show GUEST on a classroom PC's screen, or on every known PC's (all),\n"
		   "through duet-display's remote port (remote-listen in duet.conf).\n"
		   "CLIENT is a MAC, IP or hostname. One line per PC; exit status 1 when\n"
		   "any PC did not switch.\n\n"
		   "  -s, --status        print the guest each PC shows instead\n"
		   "      --init-key      make the server's key if it is missing and print\n"
		   "                      its public key (duet config publishes it to the PCs)\n"
		   "  -t, --timeout SECS  how long each PC may take, 1-60 (default 4)\n"
		   "  -h, --help          this help\n\n"
		   "See docs/duet-wall.md.\n");
}

/* switch_guest_known: the PC's `guests` (space-separated) names guest, or
 * says nothing (unset). */
static bool switch_guest_known(const char *guests, const char *guest)
{
	size_t len = strlen(guest);

	if (!guests)
		return true;
	for (const char *p = guests; *p;) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (n == len && !strncmp(p, guest, n))
			return true;
		p += n;
	}
	return false;
}

/* switch_outcome: a reply, or why there is none, as the admin reads it. */
static void switch_outcome(struct switch_job *job, const char *guest, int err, const char *reply)
{
	char active[64], guests[REMOTE_REPLY_MAX];

	job->ok = false;
	if (err == -ECONNREFUSED || err == -ETIMEDOUT || err == -EHOSTUNREACH ||
	    err == -ENETUNREACH || err == -ECONNRESET || err == -EHOSTDOWN) {
		snprintf(job->result, sizeof(job->result), "unreachable (%s)", strerror(-err));
	} else if (err == -ENOENT) {
		snprintf(job->result, sizeof(job->result), "unreachable (no such host '%s')",
			 job->address);
	} else if (err == -EPROTO) {
		snprintf(job->result, sizeof(job->result),
			 "refused (no duet-display remote port there: it closed or spoke another "
			 "protocol)");
	} else if (err) {
		snprintf(job->result, sizeof(job->result), "failed (%s)", strerror(-err));
	} else if (!strcmp(reply, "error: not authenticated")) {
		snprintf(job->result, sizeof(job->result),
			 "refused: not authenticated (does the PC have this server's remote.pub? "
			 "duet config publishes it)");
	} else if (!strncmp(reply, "error: no guest", 15)) {
		snprintf(job->result, sizeof(job->result), "no such guest '%s'", guest);
	} else if (!strncmp(reply, "error: ", 7)) {
		snprintf(job->result, sizeof(job->result), "refused: %s", reply + 7);
	} else if (!guest) {
		if (remote_parse_status(reply, active, sizeof(active), guests, sizeof(guests))) {
			snprintf(job->result, sizeof(job->result), "refused (a reply that is no "
				 "status)");
			return;
		}
		snprintf(job->result, sizeof(job->result), "%s (guests: %s)",
			 active[0] ? active : "nothing on screen", guests[0] ? guests : "none");
		job->ok = true;
	} else if (!strcmp(reply, "ok")) {
		snprintf(job->result, sizeof(job->result), "ok");
		job->ok = true;
	} else {
		snprintf(job->result, sizeof(job->result), "refused (a reply that is no answer)");
	}
}

static void switch_one(void *arg, size_t i)
{
	struct switch_run *run = arg;
	struct switch_job *job = &run->jobs[i];
	char command[REMOTE_COMMAND_MAX + 1], reply[REMOTE_REPLY_MAX];
	int err;

	if (job->setup_error[0]) {
		snprintf(job->result, sizeof(job->result), "%s", job->setup_error);
		return;
	}
	if (run->guest)
		snprintf(command, sizeof(command), "switch %s", run->guest);
	else
		snprintf(command, sizeof(command), "status");
	err = remote_request(job->address, job->port, run->key, command, run->timeout_ms, reply,
			     sizeof(reply));
	switch_outcome(job, run->guest, err, reply);
}

/* switch_prepare: what each PC's config says, before any thread runs. */
static void switch_prepare(const struct duet_conf *conf, struct switch_job *job,
			   const char *guest)
{
	const char *guests = conf_pc_get(conf, &job->pc, "guests");

	pc_label(&job->pc, job->label, sizeof(job->label));
	job->address = pc_address(&job->pc);
	if (!job->address)
		snprintf(job->setup_error, sizeof(job->setup_error),
			 "no address (give it ip = or hostname = in its section)");
	else if (!pc_remote_on(conf, &job->pc))
		snprintf(job->setup_error, sizeof(job->setup_error),
			 "remote control is off (set remote-listen for it in duet.conf)");
	else if (pc_port(conf, &job->pc, "remote-port", REMOTE_PORT_DEFAULT, &job->port))
		snprintf(job->setup_error, sizeof(job->setup_error), "remote-port is not a port");
	else if (guest && !switch_guest_known(guests, guest))
		snprintf(job->setup_error, sizeof(job->setup_error),
			 "no such guest '%s' (its guests: %s)", guest, guests);
}

static int switch_init_key(struct duet_ctx *ctx)
{
	const char *path = ctx->conf->server.key_file;
	char hex[65];
	int err = remote_public_key_hex(path, true, hex);

	if (err) {
		fprintf(stderr, "duet: key %s: %s\n", path, remote_key_strerror(err));
		return 1;
	}
	printf("%s\n", hex);
	return 0;
}

int duet_switch_main(struct duet_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "status", no_argument, NULL, 's' },
		{ "init-key", no_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct switch_run run = { .timeout_ms = REMOTE_CLIENT_TIMEOUT_MS };
	bool status = false, init_key = false;
	struct remote_key key;
	struct pc_id *pcs;
	size_t count;
	char err[512];
	int c, rc, failed = 0;
	uint64_t secs;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+st:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			status = true;
			break;
		case 'k':
			init_key = true;
			break;
		case 't':
			if (parse_u64(optarg, &secs) || secs < 1 || secs > 60) {
				fprintf(stderr, "duet switch: --timeout: '%s' is not 1-60 seconds\n",
					optarg);
				return 2;
			}
			run.timeout_ms = (unsigned)secs * 1000;
			break;
		case 'h':
			switch_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "duet switch: unknown option or missing value '%s' (see duet "
				"switch --help)\n", argv[optind - 1]);
			return 2;
		}
	}
	if (init_key) {
		if (optind != argc || status) {
			fprintf(stderr, "duet switch: --init-key takes nothing else\n");
			return 2;
		}
		return switch_init_key(ctx);
	}
	if (argc - optind != (status ? 1 : 2)) {
		fprintf(stderr, status ? "duet switch: --status takes CLIENT or all\n"
				       : "duet switch: give CLIENT (or all) and GUEST (see duet "
					 "switch --help)\n");
		return 2;
	}
	run.guest = status ? NULL : argv[optind + 1];
	if (run.guest && (strlen(run.guest) > 31 || !*run.guest ||
			  strspn(run.guest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789._-") != strlen(run.guest))) {
		fprintf(stderr, "duet switch: '%s' is not a guest name\n", run.guest);
		return 2;
	}
	rc = pcs_select(ctx->conf, argv[optind], &pcs, &count, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "duet switch: %s\n", err);
		return 1;
	}
	rc = remote_key_load(ctx->conf->server.key_file, true, &key);
	if (rc) {
		fprintf(stderr, "duet: key %s: %s\n", ctx->conf->server.key_file,
			remote_key_strerror(rc));
		free(pcs);
		return 1;
	}
	run.key = &key;
	run.jobs = calloc(count, sizeof(*run.jobs));
	if (!run.jobs) {
		fprintf(stderr, "duet switch: out of memory\n");
		free(pcs);
		return 1;
	}
	for (size_t i = 0; i < count; i++) {
		run.jobs[i].pc = pcs[i];
		switch_prepare(ctx->conf, &run.jobs[i], run.guest);
	}
	pcs_parallel(count, SWITCH_THREADS, switch_one, &run);
	for (size_t i = 0; i < count; i++) {
		printf("%s: %s\n", run.jobs[i].label, run.jobs[i].result);
		failed += !run.jobs[i].ok;
	}
	explicit_bzero(&key, sizeof(key));
	free(run.jobs);
	free(pcs);
	return failed ? 1 : 0;
}

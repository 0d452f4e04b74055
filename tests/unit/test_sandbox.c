/* Pins vmm/sandbox.c: under the real allow-list a child process can still
 * do what a running VMM does (pipe I/O, memory, threads), opening a file
 * fails with EACCES, and a forbidden system call (exec, a non-thread clone,
 * ptrace) kills it with SIGSYS. Children leave with _exit so no sanitizer exit work runs under
 * the filter. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox.h"

static void *thread_body(void *arg)
{
	return arg;
}

/* run_child: fork, install the filter, run `body`, _exit(its result). */
static int run_child(int (*body)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (sandbox_install(0))
			_exit(99);
		_exit(body());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static int allowed_after(void)
{
	pthread_t t;
	void *ret = NULL;
	void *p = malloc(1 << 20);

	if (!p)
		return 2;
	memset(p, 1, 1 << 20);
	free(p);
	if (pthread_create(&t, NULL, thread_body, (void *)7) || pthread_join(t, &ret) ||
	    ret != (void *)7)
		return 3;
	if (write(STDERR_FILENO, "", 0) < 0)
		return 4;
	return 0;
}

static int refused_open(void)
{
	int fd = open("/etc/hostname", O_RDONLY);

	if (fd >= 0)
		return 10;
	return errno == EACCES ? 0 : 11;
}

static int forbidden_ptrace(void)
{
	return (int)syscall(SYS_ptrace, 0, 0, 0, 0) == 0 ? 15 : 16;
}

static int forbidden_exec(void)
{
	char *argv[] = { "true", NULL };

	execv("/bin/true", argv);
	return 12;
}

static int forbidden_fork(void)
{
	return (int)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0) >= 0 ? 13 : 14;
}

static void test_allowed(void **state)
{
	int status;

	(void)state;
	status = run_child(allowed_after);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	status = run_child(refused_open);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_forbidden_kills(void **state)
{
	int (*bodies[])(void) = { forbidden_exec, forbidden_fork, forbidden_ptrace };

	(void)state;
	for (unsigned i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		int status = run_child(bodies[i]);

		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGSYS);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_forbidden_kills),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

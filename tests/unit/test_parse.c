/* Pins lib/parse.c and vmm/options.c: sizes and numbers as people write
 * them, and duet-vmm's option checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "options.h"
#include "parse.h"

static void test_sizes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_size("512M", &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(parse_size("2g", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(parse_size("1GiB", &v), 0);
	assert_int_equal(v, 1ULL << 30);
	assert_int_equal(parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("0x1000k", &v), 0);
	assert_int_equal(v, 0x1000ULL << 10);
	assert_int_equal(parse_size("12Q", &v), -EINVAL);
	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("-1M", &v), -EINVAL);
	assert_int_equal(parse_size("M", &v), -EINVAL);
	assert_int_equal(parse_size("1Mx", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999T", &v), -ERANGE);
	assert_int_equal(parse_u64("0x7c00", &v), 0);
	assert_int_equal(v, 0x7c00);
	assert_int_equal(parse_u64("12 ", &v), -EINVAL);
	assert_int_equal(parse_u64("99999999999999999999999", &v), -ERANGE);
}

static int parse(struct vm_config *c, char *err, ...)
{
	char *argv[16] = { "duet-vmm" };
	int argc = 1, rc;
	va_list ap;

	va_start(ap, err);
	for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 15;)
		argv[argc++] = a;
	va_end(ap);
	rc = options_parse(argc, argv, c, err, 256);
	return rc;
}

static void test_options(void **state)
{
	struct vm_config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(&c, err, "--memory", "2G", "--cpus", "4", "--load",
			       "guest.bin@0x1000", "--serial", "none", NULL), 0);
	assert_int_equal(c.memory, 2ULL << 30);
	assert_int_equal(c.cpus, 4);
	assert_int_equal(c.nloads, 1);
	assert_string_equal(c.loads[0].path, "guest.bin");
	assert_int_equal(c.loads[0].addr, 0x1000);
	assert_string_equal(c.serial, "none");
	config_free(&c);

	assert_int_equal(parse(&c, err, "-l", "a@b.elf@0x8000", NULL), 0);
	assert_string_equal(c.loads[0].path, "a@b.elf");
	assert_int_equal(c.loads[0].addr, 0x8000);
	config_free(&c);
	assert_int_equal(parse(&c, err, "-l", "boot.bin", NULL), 0);
	assert_int_equal(c.loads[0].addr, 0x7c00);
	config_free(&c);

	assert_int_equal(parse(&c, err, "--kernel", "bzImage", "--append", "console=ttyS0",
			       "--disk", "file=a.img,ro", "--disk", "file=b.img", "--net", "user",
			       "--control", "/run/x.sock", "--no-reboot", NULL), 0);
	assert_string_equal(c.kernel, "bzImage");
	assert_string_equal(c.append, "console=ttyS0");
	assert_int_equal(c.ndisks, 2);
	assert_string_equal(c.disks[1], "file=b.img");
	assert_int_equal(c.nnets, 1);
	assert_string_equal(c.control, "/run/x.sock");
	assert_int_equal(c.no_reboot, 1);
	config_free(&c);

	assert_int_equal(parse(&c, err, NULL), -EINVAL);
	assert_non_null(strstr(err, "nothing to run"));
	config_free(&c);
	assert_int_equal(parse(&c, err, "--cpus", "0", "-l", "x", NULL), -EINVAL);
	assert_non_null(strstr(err, "--cpus: '0'"));
	config_free(&c);
	assert_int_equal(parse(&c, err, "--memory", "lots", "-l", "x", NULL), -EINVAL);
	assert_non_null(strstr(err, "--memory"));
	config_free(&c);
	assert_int_equal(parse(&c, err, "--bogus", NULL), -EINVAL);
	assert_non_null(strstr(err, "--bogus"));
	config_free(&c);
	assert_int_equal(parse(&c, err, "--memory", NULL), -EINVAL);
	assert_non_null(strstr(err, "needs a value"));
	config_free(&c);
	assert_int_equal(parse(&c, err, "-l", "x", "extra", NULL), -EINVAL);
	assert_non_null(strstr(err, "extra"));
	config_free(&c);
	assert_int_equal(parse(&c, err, "-l", "x", "--kernel", "k", NULL), -EINVAL);
	assert_non_null(strstr(err, "cannot be used together"));
	config_free(&c);
	assert_int_equal(parse(&c, err, "-l", "x", "--initrd", "i", NULL), -EINVAL);
	assert_non_null(strstr(err, "need --kernel"));
	config_free(&c);
}

static const char *write_file(const char *text)
{
	static char path[] = "/tmp/duet-test-XXXXXX.conf";
	int fd;

	strcpy(path, "/tmp/duet-test-XXXXXX.conf");
	fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_guest_file(void **state)
{
	struct vm_config c;
	char err[256];
	const char *path;

	(void)state;
	path = write_file("; the LTSP guest\n[vm]\nname = ltsp\nmemory = 1G\ncpus = 2\n"
			  "kernel = /boot/vmlinuz\nappend = console=ttyS0 quiet\n"
			  "disk = file=root.img,ro\ndisk = file=home.img\nno-reboot = yes\n");
	assert_int_equal(parse(&c, err, "--config", path, "--cpus", "3", NULL), 0);
	assert_string_equal(c.name, "ltsp");
	assert_int_equal(c.memory, 1ULL << 30);
	assert_int_equal(c.cpus, 3); /* the command line wins */
	assert_string_equal(c.append, "console=ttyS0 quiet");
	assert_int_equal(c.ndisks, 2);
	assert_int_equal(c.no_reboot, 1);
	config_free(&c);
	unlink(path);

	path = write_file("name = x\nkernel = k\n\nmemroy = 1G\n");
	assert_int_equal(parse(&c, err, "--config", path, NULL), -EINVAL);
	assert_non_null(strstr(err, ":4: unknown key 'memroy'"));
	config_free(&c);
	unlink(path);

	path = write_file("kernel = k\ncpus = many\n");
	assert_int_equal(parse(&c, err, "-f", path, NULL), -EINVAL);
	assert_non_null(strstr(err, ":2: cpus: 'many'"));
	config_free(&c);
	unlink(path);

	path = write_file("kernel = k\n[disk]\nfile = x.img\n");
	assert_int_equal(parse(&c, err, "-f", path, NULL), -EINVAL);
	assert_non_null(strstr(err, ":3: unknown section [disk]"));
	config_free(&c);
	unlink(path);

	path = write_file("kernel = k\nthis line has no equals sign\n");
	assert_int_equal(parse(&c, err, "-f", path, NULL), -EINVAL);
	assert_non_null(strstr(err, ":2: not a key = value line"));
	config_free(&c);
	unlink(path);

	assert_int_equal(parse(&c, err, "-f", "/nonexistent.conf", NULL), -EINVAL);
	assert_non_null(strstr(err, "No such file"));
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_guest_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Pins lib/parse.c and vmm/options.c: sizes and numbers as people write
 * them, and duet-vmm's option checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
	int argc = 1;
	va_list ap;

	va_start(ap, err);
	for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 15;)
		argv[argc++] = a;
	va_end(ap);
	return options_parse(argc, argv, c, err, 256);
}

static void test_options(void **state)
{
	struct vm_config c;
	char err[256];
	char load[] = "guest.bin@0x1000";
	char load2[] = "a@b.elf@0x8000";

	(void)state;
	assert_int_equal(parse(&c, err, "--memory", "2G", "--cpus", "4", "--load", load,
			       "--serial", "none", NULL), 0);
	assert_int_equal(c.memory, 2ULL << 30);
	assert_int_equal(c.cpus, 4);
	assert_int_equal(c.nloads, 1);
	assert_string_equal(c.loads[0].path, "guest.bin");
	assert_int_equal(c.loads[0].addr, 0x1000);
	assert_string_equal(c.serial, "none");

	assert_int_equal(parse(&c, err, "-l", load2, NULL), 0);
	assert_string_equal(c.loads[0].path, "a@b.elf");
	assert_int_equal(c.loads[0].addr, 0x8000);

	assert_int_equal(parse(&c, err, NULL), -EINVAL);
	assert_non_null(strstr(err, "nothing to run"));
	assert_int_equal(parse(&c, err, "--cpus", "0", "-l", "x", NULL), -EINVAL);
	assert_non_null(strstr(err, "--cpus"));
	assert_int_equal(parse(&c, err, "--memory", "lots", "-l", "x", NULL), -EINVAL);
	assert_non_null(strstr(err, "--memory"));
	assert_int_equal(parse(&c, err, "--bogus", NULL), -EINVAL);
	assert_non_null(strstr(err, "--bogus"));
	assert_int_equal(parse(&c, err, "--memory", NULL), -EINVAL);
	assert_non_null(strstr(err, "needs a value"));
	assert_int_equal(parse(&c, err, "-l", "x", "extra", NULL), -EINVAL);
	assert_non_null(strstr(err, "extra"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

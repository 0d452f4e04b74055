/* Pins vmm/bus.c: registration, overlap refusal, dispatch with offsets,
 * unclaimed accesses, straddling accesses, unregistration. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"

struct recorder {
	uint64_t last_offset;
	unsigned last_size;
	uint32_t last_value;
	int writes, reads;
};

static void rec_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct recorder *r = opaque;
	uint32_t v = 0xa0 + (uint32_t)offset;

	r->reads++;
	r->last_offset = offset;
	r->last_size = size;
	memcpy(data, &v, size < 4 ? size : 4);
}

static void rec_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct recorder *r = opaque;

	r->writes++;
	r->last_offset = offset;
	r->last_size = size;
	r->last_value = 0;
	memcpy(&r->last_value, data, size < 4 ? size : 4);
}

static const struct bus_ops rec_ops = { rec_read, rec_write };

static void test_dispatch_with_offset(void **state)
{
	struct bus bus;
	struct recorder a = { 0 }, b = { 0 };
	uint8_t byte;
	uint16_t word = 0x1234;

	(void)state;
	bus_init(&bus, "test");
	assert_int_equal(bus_register(&bus, 0x3f8, 8, &rec_ops, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x60, 1, &rec_ops, &b, "b"), 0);
	assert_int_equal(bus_read(&bus, 0x3fd, &byte, 1), 1);
	assert_int_equal(byte, 0xa5);
	assert_int_equal(a.last_offset, 5);
	assert_int_equal(bus_write(&bus, 0x3f8, &word, 2), 1);
	assert_int_equal(a.last_value, 0x1234);
	assert_int_equal(a.last_size, 2);
	assert_int_equal(bus_write(&bus, 0x60, &byte, 1), 1);
	assert_int_equal(b.writes, 1);
	bus_destroy(&bus);
}

static void test_overlap_refused(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };

	(void)state;
	bus_init(&bus, "test");
	assert_int_equal(bus_register(&bus, 0x100, 0x10, &rec_ops, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x10f, 1, &rec_ops, &a, "b"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0xf0, 0x11, &rec_ops, &a, "c"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0xf0, 0x10, &rec_ops, &a, "d"), 0);
	assert_int_equal(bus_register(&bus, 0x110, 0x10, &rec_ops, &a, "e"), 0);
	assert_int_equal(bus_register(&bus, 0x0, 0, &rec_ops, &a, "empty"), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX, 2, &rec_ops, &a, "wrap"), -EINVAL);
	bus_destroy(&bus);
}

static void test_unclaimed_reads_ones(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };
	uint32_t v = 0;

	(void)state;
	bus_init(&bus, "test");
	assert_int_equal(bus_read(&bus, 0x80, &v, 4), 0);
	assert_int_equal(v, 0xffffffff);
	assert_int_equal(bus_register(&bus, 0x80, 2, &rec_ops, &a, "a"), 0);
	/* A 4-byte access straddling the end of a 2-byte range is nobody's. */
	v = 0;
	assert_int_equal(bus_read(&bus, 0x80, &v, 4), 0);
	assert_int_equal(v, 0xffffffff);
	assert_int_equal(a.reads, 0);
	assert_int_equal(bus_write(&bus, 0x7f, &v, 2), 0);
	assert_int_equal(a.writes, 0);
	bus_destroy(&bus);
}

static void test_unregister(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };
	uint8_t v;

	(void)state;
	bus_init(&bus, "test");
	for (uint64_t base = 0; base < 64 * 16; base += 16)
		assert_int_equal(bus_register(&bus, base, 8, &rec_ops, &a, "many"), 0);
	assert_int_equal(bus_unregister(&bus, 0x40), 0);
	assert_int_equal(bus_unregister(&bus, 0x40), -ENOENT);
	assert_int_equal(bus_unregister(&bus, 0x41), -ENOENT);
	assert_int_equal(bus_read(&bus, 0x41, &v, 1), 0);
	assert_int_equal(bus_read(&bus, 0x51, &v, 1), 1);
	assert_int_equal(bus_read(&bus, 0x3f1, &v, 1), 1);
	assert_int_equal(bus_read(&bus, 0x3f9, &v, 1), 0);
	assert_int_equal(bus_register(&bus, 0x40, 16, &rec_ops, &a, "again"), 0);
	bus_destroy(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_with_offset),
		cmocka_unit_test(test_overlap_refused),
		cmocka_unit_test(test_unclaimed_reads_ones),
		cmocka_unit_test(test_unregister),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

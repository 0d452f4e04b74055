/* Pins vmm/aml.c: PkgLength and NameString encodings against hand-computed
 * bytes, integer and EISA ID encodings, and whole AML fragments against
 * the bytes iasl 20200925 (`iasl -on -of`) compiles from the ASL quoted
 * above each one. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "aml.h"

#define assert_aml(a, ...)                                                   \
	do {                                                                 \
		const uint8_t expect_[] = { __VA_ARGS__ };                   \
		assert_int_equal(aml_finish(a), 0);                          \
		assert_int_equal((a)->len, sizeof(expect_));                 \
		assert_memory_equal((a)->buf, expect_, sizeof(expect_));     \
	} while (0)

static void check_pkglength(size_t body, size_t n, const uint8_t *expect)
{
	uint8_t out[4];

	assert_int_equal(aml_pkglength_encode(body, out), n);
	assert_memory_equal(out, expect, n);
}

/* The value counts its own bytes; one byte holds up to 63, then the lead
 * byte's bits 7-6 give the count of bytes after it and bits 3-0 the low
 * nibble (ACPI 6.4, 20.2.4). */
static void test_pkglength(void **state)
{
	uint8_t out[4];

	(void)state;
	check_pkglength(0, 1, (const uint8_t[]){ 0x01 });
	check_pkglength(62, 1, (const uint8_t[]){ 0x3f });
	/* 63 + 1 = 64 no longer fits one byte: 63 + 2 = 65 = 0x041. */
	check_pkglength(63, 2, (const uint8_t[]){ 0x41, 0x04 });
	check_pkglength(4093, 2, (const uint8_t[]){ 0x4f, 0xff });       /* 0xfff */
	check_pkglength(4094, 3, (const uint8_t[]){ 0x81, 0x00, 0x01 }); /* 0x1001 */
	check_pkglength(0xfffff - 3, 3, (const uint8_t[]){ 0x8f, 0xff, 0xff });
	check_pkglength(0xfffff - 2, 4, (const uint8_t[]){ 0xc1, 0x00, 0x00, 0x01 });
	check_pkglength(AML_PKGLENGTH_MAX - 4, 4, (const uint8_t[]){ 0xcf, 0xff, 0xff, 0xff });
	assert_int_equal(aml_pkglength_encode(AML_PKGLENGTH_MAX - 3, out), 0);
}

/* A Scope whose body crosses the one-byte limit gets its PkgLength
 * inserted in front of the body, which moves. */
static void test_pkglength_inserted(void **state)
{
	struct aml a;
	uint8_t body[70];

	(void)state;
	memset(body, 0xa3, sizeof(body));
	aml_init(&a);
	aml_scope_begin(&a, "FOO");
	aml_bytes(&a, body, sizeof(body));
	aml_end(&a);
	assert_int_equal(aml_finish(&a), 0);
	/* 4 (name) + 70 + 2 (PkgLength) = 76 = 0x04c. */
	assert_int_equal(a.len, 1 + 2 + 4 + 70);
	assert_int_equal(a.buf[0], 0x10);
	assert_int_equal(a.buf[1], 0x4c);
	assert_int_equal(a.buf[2], 0x04);
	assert_memory_equal(a.buf + 3, "FOO_", 4);
	assert_memory_equal(a.buf + 7, body, sizeof(body));
	aml_free(&a);
}

static void check_name(const char *path, size_t n, const uint8_t *expect)
{
	uint8_t out[64];

	assert_int_equal(aml_namestring_encode(path, out, sizeof(out)), (int)n);
	assert_memory_equal(out, expect, n);
}

static void test_namestring(void **state)
{
	uint8_t out[64];

	(void)state;
	check_name("PCI0", 4, (const uint8_t *)"PCI0");
	check_name("_S5", 4, (const uint8_t *)"_S5_");
	check_name("A", 4, (const uint8_t *)"A___");
	check_name("\\_SB", 5, (const uint8_t *)"\\_SB_");
	check_name("\\", 2, (const uint8_t[]){ 0x5c, 0x00 });
	check_name("\\_SB.PCI0", 10, (const uint8_t *)"\\\x2e_SB_PCI0");
	check_name("_SB.PCI0", 9, (const uint8_t *)"\x2e_SB_PCI0");
	check_name("PCI0.ISA.P40C", 14, (const uint8_t *)"\x2f\x03PCI0ISA_P40C");
	check_name("\\_SB.PCI0.ISA.KBD", 19, (const uint8_t *)"\\\x2f\x04_SB_PCI0ISA_KBD_");
	check_name("^^FOO", 6, (const uint8_t *)"^^FOO_");
	check_name("^PCI0.ISA", 10, (const uint8_t *)"^\x2ePCI0ISA_");

	assert_int_equal(aml_namestring_encode("", out, sizeof(out)), -EINVAL);
	assert_int_equal(aml_namestring_encode("pci0", out, sizeof(out)), -EINVAL);
	assert_int_equal(aml_namestring_encode("1ABC", out, sizeof(out)), -EINVAL);
	assert_int_equal(aml_namestring_encode("ABCDE", out, sizeof(out)), -EINVAL);
	assert_int_equal(aml_namestring_encode("A..B", out, sizeof(out)), -EINVAL);
	assert_int_equal(aml_namestring_encode("A.", out, sizeof(out)), -EINVAL);
	assert_int_equal(aml_namestring_encode(".A", out, sizeof(out)), -EINVAL);
	assert_int_equal(aml_namestring_encode("\\^A", out, sizeof(out)), -EINVAL);
	assert_int_equal(aml_namestring_encode("A B", out, sizeof(out)), -EINVAL);
	assert_int_equal(aml_namestring_encode("\\_SB.PCI0", out, 9), -ENOSPC);
}

static void test_integers(void **state)
{
	static const struct {
		uint64_t v;
		size_t n;
		uint8_t bytes[9];
	} cases[] = {
		{ 0, 1, { 0x00 } },
		{ 1, 1, { 0x01 } },
		{ 2, 2, { 0x0a, 0x02 } },
		{ 0xff, 2, { 0x0a, 0xff } },
		{ 0x100, 3, { 0x0b, 0x00, 0x01 } },
		{ 0xffff, 3, { 0x0b, 0xff, 0xff } },
		{ 0x10000, 5, { 0x0c, 0x00, 0x00, 0x01, 0x00 } },
		{ 0xffffffff, 5, { 0x0c, 0xff, 0xff, 0xff, 0xff } },
		{ 0x100000000ULL, 9, { 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 } },
		{ UINT64_MAX, 1, { 0xff } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml a;

		aml_init(&a);
		aml_int(&a, cases[i].v);
		assert_int_equal(a.len, cases[i].n);
		assert_memory_equal(a.buf, cases[i].bytes, cases[i].n);
		aml_free(&a);
	}
}

static void test_eisaid(void **state)
{
	struct aml a;

	(void)state;
	assert_int_equal(aml_eisaid("PNP0A03"), 0x030ad041);
	assert_int_equal(aml_eisaid("PNP0303"), 0x0303d041);
	assert_int_equal(aml_eisaid("PNP0C0F"), 0x0f0cd041);
	assert_int_equal(aml_eisaid("PNP0A0"), 0);
	assert_int_equal(aml_eisaid("PNP0A030"), 0);
	assert_int_equal(aml_eisaid("pnp0A03"), 0);
	assert_int_equal(aml_eisaid("PNP0A0G"), 0);

	/* Always a DWordConst, as iasl emits it and SeaBIOS's DSDT parser
	 * expects it. */
	aml_init(&a);
	aml_name_eisaid(&a, "_HID", "PNP0303");
	assert_aml(&a, 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x03, 0x03);
	aml_free(&a);
}

/*
 * Scope (\_SB) {
 *   Device (PCI0) {
 *     Name (_HID, EisaId ("PNP0A03"))
 *     Name (BIGN, 0x123456789A)
 *     OperationRegion (REG0, SystemIO, 0x0600, 0x0100)
 *     OperationRegion (PCFG, PCI_Config, 0x60, 0x04)
 *     OperationRegion (MEM0, SystemMemory, 0xFED00000, 0x0400)
 *     Field (REG0, ByteAcc, NoLock, Preserve) { PRQ0, 8, , 8, BIG, 300 }
 *     Method (TEST, 2, Serialized) {
 *       If (LEqual (Arg0, 0x10)) { Store (ShiftLeft (Arg1, 4), Local0) }
 *       Else { Store (ShiftRight (Arg1, One), Local0) }
 *       Notify (\_SB.PCI0, 0x80)
 *       CreateByteField (Arg1, 2, BYT0)
 *       Return (Or (Local0, One))
 *     }
 *     Method (M2, 1, NotSerialized) {
 *       CreateDWordField (Arg0, 0x05, DW0)
 *       If (LLess (Arg0, 0x80)) { Store (And (DW0, 0x0F), Local7) }
 *       Store (\_SB.PCI0.PRQ0, Local1)
 *       Notify (^^PCI0, One)
 *       Return (Ones)
 *     }
 *   }
 * }
 */
static void test_code(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_scope_begin(&a, "\\_SB");
	aml_device_begin(&a, "PCI0");
	aml_name_eisaid(&a, "_HID", "PNP0A03");
	aml_name_int(&a, "BIGN", 0x123456789aULL);
	aml_opregion(&a, "REG0", AML_SYSTEM_IO, 0x600, 0x100);
	aml_opregion(&a, "PCFG", AML_PCI_CONFIG, 0x60, 0x04);
	aml_opregion(&a, "MEM0", AML_SYSTEM_MEMORY, 0xfed00000, 0x400);
	aml_field_begin(&a, "REG0", AML_BYTE_ACC, AML_NO_LOCK, AML_PRESERVE);
	aml_field_entry(&a, "PRQ0", 8);
	aml_field_skip(&a, 8);
	aml_field_entry(&a, "BIG", 300);
	aml_end(&a);

	aml_method_begin(&a, "TEST", 2, 1);
	aml_if_begin(&a);
	aml_lequal(&a);
	aml_arg(&a, 0);
	aml_int(&a, 0x10);
	aml_store(&a);
	aml_shift_left(&a);
	aml_arg(&a, 1);
	aml_int(&a, 4);
	aml_no_target(&a);
	aml_local(&a, 0);
	aml_end(&a);
	aml_else_begin(&a);
	aml_store(&a);
	aml_shift_right(&a);
	aml_arg(&a, 1);
	aml_int(&a, 1);
	aml_no_target(&a);
	aml_local(&a, 0);
	aml_end(&a);
	aml_notify(&a);
	aml_name(&a, "\\_SB.PCI0");
	aml_int(&a, 0x80);
	aml_create_byte_field(&a);
	aml_arg(&a, 1);
	aml_int(&a, 2);
	aml_name(&a, "BYT0");
	aml_return(&a);
	aml_or(&a);
	aml_local(&a, 0);
	aml_int(&a, 1);
	aml_no_target(&a);
	aml_end(&a);

	aml_method_begin(&a, "M2", 1, 0);
	aml_create_dword_field(&a);
	aml_arg(&a, 0);
	aml_int(&a, 5);
	aml_name(&a, "DW0");
	aml_if_begin(&a);
	aml_lless(&a);
	aml_arg(&a, 0);
	aml_int(&a, 0x80);
	aml_store(&a);
	aml_and(&a);
	aml_name(&a, "DW0");
	aml_int(&a, 0x0f);
	aml_no_target(&a);
	aml_local(&a, 7);
	aml_end(&a);
	aml_store(&a);
	aml_name(&a, "\\_SB.PCI0.PRQ0");
	aml_local(&a, 1);
	aml_notify(&a);
	aml_name(&a, "^^PCI0");
	aml_int(&a, 1);
	aml_return(&a);
	aml_int(&a, UINT64_MAX);
	aml_end(&a);

	aml_end(&a);
	aml_end(&a);

	assert_aml(&a,
	0x10, 0x43, 0x0d, 0x5c, 0x5f, 0x53, 0x42, 0x5f, 0x5b, 0x82, 0x4a, 0x0c,
	0x50, 0x43, 0x49, 0x30, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0c, 0x41, 0xd0,
	0x0a, 0x03, 0x08, 0x42, 0x49, 0x47, 0x4e, 0x0e, 0x9a, 0x78, 0x56, 0x34,
	0x12, 0x00, 0x00, 0x00, 0x5b, 0x80, 0x52, 0x45, 0x47, 0x30, 0x01, 0x0b,
	0x00, 0x06, 0x0b, 0x00, 0x01, 0x5b, 0x80, 0x50, 0x43, 0x46, 0x47, 0x02,
	0x0a, 0x60, 0x0a, 0x04, 0x5b, 0x80, 0x4d, 0x45, 0x4d, 0x30, 0x00, 0x0c,
	0x00, 0x00, 0xd0, 0xfe, 0x0b, 0x00, 0x04, 0x5b, 0x81, 0x13, 0x52, 0x45,
	0x47, 0x30, 0x01, 0x50, 0x52, 0x51, 0x30, 0x08, 0x00, 0x08, 0x42, 0x49,
	0x47, 0x5f, 0x4c, 0x12, 0x14, 0x35, 0x54, 0x45, 0x53, 0x54, 0x0a, 0xa0,
	0x0c, 0x93, 0x68, 0x0a, 0x10, 0x70, 0x79, 0x69, 0x0a, 0x04, 0x00, 0x60,
	0xa1, 0x07, 0x70, 0x7a, 0x69, 0x01, 0x00, 0x60, 0x86, 0x5c, 0x2e, 0x5f,
	0x53, 0x42, 0x5f, 0x50, 0x43, 0x49, 0x30, 0x0a, 0x80, 0x8c, 0x69, 0x0a,
	0x02, 0x42, 0x59, 0x54, 0x30, 0xa4, 0x7d, 0x60, 0x01, 0x00, 0x14, 0x39,
	0x4d, 0x32, 0x5f, 0x5f, 0x01, 0x8a, 0x68, 0x0a, 0x05, 0x44, 0x57, 0x30,
	0x5f, 0xa0, 0x0f, 0x95, 0x68, 0x0a, 0x80, 0x70, 0x7b, 0x44, 0x57, 0x30,
	0x5f, 0x0a, 0x0f, 0x00, 0x67, 0x70, 0x5c, 0x2f, 0x03, 0x5f, 0x53, 0x42,
	0x5f, 0x50, 0x43, 0x49, 0x30, 0x50, 0x52, 0x51, 0x30, 0x61, 0x86, 0x5e,
	0x5e, 0x50, 0x43, 0x49, 0x30, 0x01, 0xa4, 0xff);
	aml_free(&a);
}

/*
 * Name (RT, ResourceTemplate () {
 *   IRQNoFlags () {4}
 *   IRQ (Level, ActiveLow, Shared) {5, 7}
 *   Interrupt (ResourceConsumer, Level, ActiveHigh, Shared) {5, 10, 11}
 *   IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08)
 *   WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
 *                  0x0000, 0x0000, 0x00FF, 0x0000, 0x0100)
 *   WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
 *           0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300)
 *   DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable,
 *                ReadWrite, 0, 0x000A0000, 0x000BFFFF, 0, 0x00020000)
 *   DWordMemory (..., NonCacheable, ReadWrite, 0, 0xC0000000, 0xFEBFFFFF, 0,
 *                0x3EC00000)
 *   QWordMemory (..., Prefetchable, ReadWrite, 0, 0x800000000, 0xFFFFFFFFF,
 *                0, 0x800000000)
 * })
 * Name (PK, Package (0x02) { One, "A" })
 * Name (BF, Buffer () { 1, 2, 3 })
 * Name (ST, "hello")
 * Name (NUMS, Package (0x06) { 0x02, 0xFF, 0x0100, 0xFFFF, 0x00010000, 0xFFFFFFFF })
 */
static void test_data(void **state)
{
	static const uint32_t link[] = { 5, 10, 11 };
	static const uint8_t bytes[] = { 1, 2, 3 };
	static const uint64_t nums[] = { 2, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff };
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_name_decl(&a, "RT");
	aml_restemplate_begin(&a);
	aml_irq_noflags(&a, 1 << 4);
	aml_irq(&a, 1 << 5 | 1 << 7, AML_IRQ_ACTIVE_LOW | AML_IRQ_SHARED);
	aml_interrupt(&a, AML_INT_CONSUMER | AML_INT_SHARED, link, 3);
	aml_io(&a, 0x3f8, 0x3f8, 0x01, 0x08);
	aml_word_bus_number(&a, 0x00, 0xff);
	aml_word_io(&a, 0x0d00, 0xffff);
	aml_dword_memory(&a, AML_CACHEABLE, 0xa0000, 0xbffff);
	aml_dword_memory(&a, AML_NON_CACHEABLE, 0xc0000000, 0xfebfffff);
	aml_qword_memory(&a, AML_PREFETCHABLE, 0x800000000ULL, 0xfffffffffULL);
	aml_restemplate_end(&a);
	aml_name_decl(&a, "PK");
	aml_package_begin(&a, 2);
	aml_int(&a, 1);
	aml_string(&a, "A");
	aml_end(&a);
	aml_name_decl(&a, "BF");
	aml_buffer(&a, bytes, sizeof(bytes));
	aml_name_string(&a, "ST", "hello");
	aml_name_decl(&a, "NUMS");
	aml_package_begin(&a, 6);
	for (size_t i = 0; i < 6; i++)
		aml_int(&a, nums[i]);
	aml_end(&a);

	assert_aml(&a,
	0x08, 0x52, 0x54, 0x5f, 0x5f, 0x11, 0x48, 0x0a, 0x0a, 0xa4, 0x22, 0x10,
	0x00, 0x23, 0xa0, 0x00, 0x18, 0x89, 0x0e, 0x00, 0x09, 0x03, 0x05, 0x00,
	0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x47, 0x01,
	0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x0d,
	0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xff, 0x00, 0x00,
	0x00, 0xf3, 0x87, 0x17, 0x00, 0x00, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x0a, 0x00, 0xff, 0xff, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x02, 0x00, 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xbf, 0xfe, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xc0, 0x3e, 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x07,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x00, 0x00, 0x79, 0x00, 0x08, 0x50, 0x4b, 0x5f, 0x5f, 0x12,
	0x06, 0x02, 0x01, 0x0d, 0x41, 0x00, 0x08, 0x42, 0x46, 0x5f, 0x5f, 0x11,
	0x06, 0x0a, 0x03, 0x01, 0x02, 0x03, 0x08, 0x53, 0x54, 0x5f, 0x5f, 0x0d,
	0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x08, 0x4e, 0x55, 0x4d, 0x53, 0x12,
	0x16, 0x06, 0x0a, 0x02, 0x0a, 0xff, 0x0b, 0x00, 0x01, 0x0b, 0xff, 0xff,
	0x0c, 0x00, 0x00, 0x01, 0x00, 0x0c, 0xff, 0xff, 0xff, 0xff);
	aml_free(&a);
}

/* A Buffer's BufferSize and PkgLength both grow with it: 100 bytes take a
 * ByteConst size and a two-byte PkgLength (2 + 2 + 100 = 104 = 0x068);
 * an empty one is Buffer(Zero). */
static void test_buffer_sizes(void **state)
{
	uint8_t data[100];
	struct aml a;

	(void)state;
	memset(data, 0x5a, sizeof(data));
	aml_init(&a);
	aml_buffer(&a, data, sizeof(data));
	assert_int_equal(aml_finish(&a), 0);
	assert_int_equal(a.len, 1 + 2 + 2 + 100);
	assert_memory_equal(a.buf, ((const uint8_t[]){ 0x11, 0x48, 0x06, 0x0a, 0x64 }), 5);
	assert_memory_equal(a.buf + 5, data, sizeof(data));
	aml_free(&a);

	aml_init(&a);
	aml_buffer(&a, NULL, 0);
	assert_aml(&a, 0x11, 0x02, 0x00);
	aml_free(&a);
}

/* Method flags: ArgCount in bits 2-0, Serialized in bit 3; a Processor()
 * carries its ID and P_BLK (20.2.5.2). */
static void test_method_processor(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_method_begin(&a, "_SRS", 1, 1);
	aml_end(&a);
	aml_processor_begin(&a, "CP01", 1, 0x610, 6);
	aml_end(&a);
	assert_aml(&a, 0x14, 0x06, '_', 'S', 'R', 'S', 0x09,
		   0x5b, 0x83, 0x0b, 'C', 'P', '0', '1', 0x01, 0x10, 0x06, 0x00, 0x00, 0x06);
	aml_free(&a);
}

static void test_errors(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_scope_begin(&a, "\\_SB");
	assert_int_equal(aml_finish(&a), -EINVAL); /* left open */
	aml_end(&a);
	assert_int_equal(aml_finish(&a), 0);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL); /* one end too many */
	aml_free(&a);

	aml_init(&a);
	aml_device_begin(&a, "lower");
	assert_int_equal(a.error, -EINVAL);
	/* Sticky: nothing more is written. */
	size_t len = a.len;
	aml_int(&a, 5);
	assert_int_equal(a.len, len);
	aml_free(&a);

	aml_init(&a);
	aml_local(&a, 8);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);

	aml_init(&a);
	aml_arg(&a, 7);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);

	aml_init(&a);
	aml_method_begin(&a, "M", 8, 0);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);

	aml_init(&a);
	aml_field_begin(&a, "REG", AML_BYTE_ACC, AML_NO_LOCK, AML_PRESERVE);
	aml_field_entry(&a, "AB.C", 8);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);

	aml_init(&a);
	aml_dword_memory(&a, AML_CACHEABLE, 0x2000, 0x1000);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);

	aml_init(&a);
	aml_string(&a, "caf\xc3\xa9");
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);

	aml_init(&a);
	for (unsigned i = 0; i <= AML_MAX_DEPTH; i++)
		aml_if_begin(&a);
	assert_int_equal(aml_finish(&a), -E2BIG);
	aml_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkglength),
		cmocka_unit_test(test_pkglength_inserted),
		cmocka_unit_test(test_namestring),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_eisaid),
		cmocka_unit_test(test_code),
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_buffer_sizes),
		cmocka_unit_test(test_method_processor),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

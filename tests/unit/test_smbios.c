/* Pins vmm/smbios.c: the blob is parsed back with offsets taken from DMTF
 * DSP0134 2.8.0 (written out here, not shared with the builder): the
 * entry point's checksums and counts (also after SeaBIOS's fix-up), every
 * structure's length, handle and string set, type 0's BIOS fields, the
 * UUID encoding of type 1, the chassis, one type 4 per socket with its
 * core and thread counts, and memory (types 16, 17, 19) adding up to the
 * RAM for sizes from 1.5 MiB to 6 TiB. Also --uuid parsing, the UUID
 * derived from the name and the SeaBIOS version found in an image. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "options.h"
#include "smbios.h"

#define GiB (1ULL << 30)
#define MiB (1ULL << 20)
#define KiB (1ULL << 10)
#define LOW_LIMIT (3 * GiB) /* where mem.c ends RAM below 4 GiB */
#define FOUR_GIB (4 * GiB)

#define MAX_STRUCTS 256
#define MAX_STRINGS 32

struct structure {
	const uint8_t *p;   /* the formatted area */
	unsigned type, length, handle;
	size_t size;        /* formatted area, strings and the final NUL(s) */
	unsigned nstrings;
	const char *strings[MAX_STRINGS];
};

struct parsed {
	struct smbios_tables t;
	unsigned count;
	size_t max_size;
	struct structure s[MAX_STRUCTS];
};

static uint32_t rd16(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8;
}

static uint32_t rd32(const uint8_t *b)
{
	return rd16(b) | rd16(b + 2) << 16;
}

static uint64_t rd64(const uint8_t *b)
{
	return rd32(b) | (uint64_t)rd32(b + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

/* The formatted-area length DSP0134 2.8 gives each type we emit. */
static unsigned spec_length(unsigned type)
{
	switch (type) {
	case 0: return 0x18;
	case 1: return 0x1b;
	case 3: return 0x16;
	case 4: return 0x2a;
	case 16: return 0x17;
	case 17: return 0x28;
	case 19: return 0x1f;
	case 32: return 0x0b;
	case 127: return 0x04;
	}
	fail_msg("unexpected structure type %u", type);
	return 0;
}

/* walk: 6.1.2 and 6.1.3, checking every bound as a guest's parser must. */
static void walk(struct parsed *p)
{
	const uint8_t *t = p->t.tables;
	size_t len = p->t.tables_len, pos = 0;

	p->count = 0;
	p->max_size = 0;
	while (pos < len) {
		struct structure *s = &p->s[p->count];
		size_t q;

		assert_true(p->count < MAX_STRUCTS);
		assert_true(pos + 4 <= len);
		memset(s, 0, sizeof(*s));
		s->p = t + pos;
		s->type = t[pos];
		s->length = t[pos + 1];
		s->handle = rd16(t + pos + 2);
		assert_int_equal(s->length, spec_length(s->type));
		assert_true(pos + s->length + 2 <= len);
		q = pos + s->length;
		if (t[q] == 0) {
			/* No strings: two NULs. */
			assert_int_equal(t[q + 1], 0);
			q += 2;
		} else {
			while (t[q] != 0) {
				const char *str = (const char *)t + q;
				size_t n = strnlen(str, len - q);

				assert_true(q + n < len);
				assert_true(n >= 1 && n <= SMBIOS_STRING_MAX);
				for (size_t i = 0; i < n; i++)
					assert_true(str[i] >= 0x20 && str[i] < 0x7f);
				assert_true(s->nstrings < MAX_STRINGS);
				s->strings[s->nstrings++] = str;
				q += n + 1;
				assert_true(q < len);
			}
			q++;
		}
		s->size = q - pos;
		if (s->size > p->max_size)
			p->max_size = s->size;
		pos = q;
		p->count++;
		if (s->type == 127)
			break;
	}
	assert_int_equal(pos, len); /* type 127 is last and nothing follows */
	assert_int_equal(p->s[p->count - 1].type, 127);
	for (unsigned i = 0; i < p->count; i++)
		for (unsigned j = i + 1; j < p->count; j++)
			assert_int_not_equal(p->s[i].handle, p->s[j].handle);
}

/* str: string number `offset` names, NULL for 0; it must exist. */
static const char *str(const struct structure *s, unsigned offset)
{
	unsigned n = s->p[offset];

	assert_true(offset < s->length);
	if (!n)
		return NULL;
	assert_true(n <= s->nstrings);
	return s->strings[n - 1];
}

static const struct structure *find(const struct parsed *p, unsigned type, unsigned nth)
{
	for (unsigned i = 0; i < p->count; i++)
		if (p->s[i].type == type && nth-- == 0)
			return &p->s[i];
	return NULL;
}

static unsigned count_type(const struct parsed *p, unsigned type)
{
	unsigned n = 0;

	for (unsigned i = 0; i < p->count; i++)
		n += p->s[i].type == type;
	return n;
}

static void default_config(struct smbios_config *cfg, uint64_t ram)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->bios_version, "1.16.2-debian-1.16.2-1");
	cfg->bios_image_size = 256 * KiB;
	cfg->name = "windows";
	assert_int_equal(smbios_uuid_parse("12345678-9abc-def0-1122-334455667788", cfg->uuid), 0);
	cfg->ram_low = ram < LOW_LIMIT ? ram : LOW_LIMIT;
	cfg->ram_high = ram - cfg->ram_low;
	cfg->sockets = 1;
	cfg->cores = 1;
	cfg->threads = 1;
	cfg->cpu.signature = 0x000806f8;
	cfg->cpu.features = 0x178bfbff;
	strcpy(cfg->cpu.vendor, "GenuineIntel");
	strcpy(cfg->cpu.brand, "       Intel(R) Xeon(R) CPU @ 2.60GHz");
	cfg->cpu.long_mode = 1;
	cfg->cpu.nx = 1;
	cfg->cpu.mhz = 2600;
}

static void build(struct parsed *p, const struct smbios_config *cfg)
{
	assert_int_equal(smbios_build(cfg, &p->t), 0);
	walk(p);
}

static void test_anchor(void **state)
{
	struct smbios_config cfg;
	struct parsed p;
	uint8_t *ep = p.t.anchor;

	(void)state;
	default_config(&cfg, 128 * MiB);
	build(&p, &cfg);
	/* 5.2.1 */
	assert_memory_equal(ep, "_SM_", 4);
	assert_int_equal(ep[5], 0x1f);
	assert_int_equal(sum8(ep, 0x1f), 0);
	assert_int_equal(ep[6], 2);
	assert_int_equal(ep[7], 8);
	assert_int_equal(rd16(ep + 8), p.max_size);
	assert_int_equal(ep[0x0a], 0);
	assert_memory_equal(ep + 0x10, "_DMI_", 5);
	assert_int_equal(sum8(ep + 0x10, 0x0f), 0);
	assert_int_equal(rd16(ep + 0x16), p.t.tables_len);
	assert_int_equal(rd32(ep + 0x18), 0);
	assert_int_equal(rd16(ep + 0x1c), p.count);
	assert_int_equal(ep[0x1e], 0x28);

	/* SeaBIOS (smbios_21_setup_entry_point) checks the first 16 bytes
	 * and the last 15 apart, writes the address and fixes both sums. */
	assert_int_equal(sum8(ep, 0x10), 0);
	ep[0x18] = 0x00, ep[0x19] = 0x00, ep[0x1a] = 0xff, ep[0x1b] = 0x07;
	ep[0x04] -= sum8(ep, 0x10);
	ep[0x15] -= sum8(ep + 0x10, 0x0f);
	assert_int_equal(sum8(ep, 0x10), 0);
	assert_int_equal(sum8(ep, 0x1f), 0);
	smbios_tables_free(&p.t);
}

static void test_structure_order(void **state)
{
	static const unsigned order[] = { 0, 1, 3, 4, 16, 17, 19, 32, 127 };
	struct smbios_config cfg;
	struct parsed p;
	unsigned k = 0;

	(void)state;
	default_config(&cfg, 128 * MiB);
	build(&p, &cfg);
	assert_int_equal(p.count, 9);
	for (unsigned i = 0; i < p.count; i++) {
		if (i && p.s[i].type == p.s[i - 1].type)
			continue;
		assert_true(k < sizeof(order) / sizeof(order[0]));
		assert_int_equal(p.s[i].type, order[k++]);
	}
	assert_int_equal(k, sizeof(order) / sizeof(order[0]));
	/* Type 32: six reserved zeros, "no errors". */
	for (unsigned i = 4; i < 0x0b; i++)
		assert_int_equal(find(&p, 32, 0)->p[i], 0);
	smbios_tables_free(&p.t);
}

static void test_bios(void **state)
{
	struct smbios_config cfg;
	const struct structure *s;
	uint64_t chars;
	struct parsed p;

	(void)state;
	default_config(&cfg, 128 * MiB);
	build(&p, &cfg);
	s = find(&p, 0, 0);
	assert_non_null(s);
	assert_string_equal(str(s, 0x04), "SeaBIOS");
	assert_string_equal(str(s, 0x05), "1.16.2-debian-1.16.2-1");
	assert_int_equal(rd16(s->p + 0x06), 0xe000);
	assert_string_equal(str(s, 0x08), "04/01/2014");
	assert_int_equal(s->p[0x09], 3); /* 64 KiB * (3 + 1) = 256 KiB */
	chars = rd64(s->p + 0x0a);
	assert_false(chars & (1ULL << 3));  /* "not supported" */
	assert_false(chars & (1ULL << 11)); /* upgradeable (flash) */
	assert_true(chars & (1ULL << 7));   /* PCI */
	assert_true(chars & (1ULL << 15));  /* boot from CD */
	assert_true(chars & (1ULL << 19));  /* EDD */
	assert_int_equal(s->p[0x12] & 0x01, 0x01); /* ACPI */
	assert_int_equal(s->p[0x13] & 0x15, 0x15); /* BBS, content, VM */
	assert_int_equal(s->p[0x14], 1);
	assert_int_equal(s->p[0x15], 16);
	assert_int_equal(s->p[0x16], 0xff);
	assert_int_equal(s->p[0x17], 0xff);
	smbios_tables_free(&p.t);

	/* An image whose version was not found: no string, release 0xff. */
	cfg.bios_version[0] = 0;
	cfg.bios_image_size = 128 * KiB;
	build(&p, &cfg);
	s = find(&p, 0, 0);
	assert_null(str(s, 0x05));
	assert_string_equal(str(s, 0x08), "04/01/2014");
	assert_int_equal(s->p[0x09], 1);
	assert_int_equal(s->p[0x14], 0xff);
	assert_int_equal(s->p[0x15], 0xff);
	smbios_tables_free(&p.t);

	strcpy(cfg.bios_version, "rel-1.16.3-0-gabcdef");
	build(&p, &cfg);
	s = find(&p, 0, 0);
	assert_int_equal(s->p[0x14], 1);
	assert_int_equal(s->p[0x15], 16);
	smbios_tables_free(&p.t);
}

static void test_system(void **state)
{
	static const uint8_t encoded[16] = { 0x78, 0x56, 0x34, 0x12, 0xbc, 0x9a, 0xf0, 0xde,
					     0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
	struct smbios_config cfg;
	const struct structure *s;
	struct parsed p;

	(void)state;
	default_config(&cfg, 128 * MiB);
	build(&p, &cfg);
	s = find(&p, 1, 0);
	assert_non_null(s);
	assert_string_equal(str(s, 0x04), "duet");
	assert_non_null(str(s, 0x05));
	assert_non_null(str(s, 0x06));
	assert_string_equal(str(s, 0x07), "12345678-9abc-def0-1122-334455667788");
	/* 7.2.1: the first three fields little-endian. */
	assert_memory_equal(s->p + 0x08, encoded, 16);
	assert_int_equal(s->p[0x18], 0x06); /* power switch */
	assert_non_null(str(s, 0x19));
	assert_string_equal(str(s, 0x1a), "duet");
	smbios_tables_free(&p.t);
}

static void test_chassis(void **state)
{
	char long_name[200];
	struct smbios_config cfg;
	const struct structure *s;
	struct parsed p;

	(void)state;
	default_config(&cfg, 128 * MiB);
	build(&p, &cfg);
	s = find(&p, 3, 0);
	assert_non_null(s);
	assert_string_equal(str(s, 0x04), "duet");
	assert_int_equal(s->p[0x05], 0x03); /* desktop */
	assert_string_equal(str(s, 0x08), "windows");
	assert_int_equal(s->p[0x09], 0x03);
	assert_int_equal(s->p[0x0a], 0x03);
	assert_int_equal(s->p[0x0b], 0x03);
	assert_int_equal(s->p[0x13], 0); /* no contained elements */
	assert_null(str(s, 0x15));
	smbios_tables_free(&p.t);

	/* A name longer than a string may be is cut, not overflowed. */
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	cfg.name = long_name;
	build(&p, &cfg);
	assert_int_equal(strlen(str(find(&p, 3, 0), 0x08)), SMBIOS_STRING_MAX);
	smbios_tables_free(&p.t);
}

/* check_memory: types 16, 17 and 19 describe exactly low + high. */
static void check_memory(uint64_t ram, unsigned want_devices)
{
	struct smbios_config cfg;
	const struct structure *a, *s;
	uint64_t sum17 = 0, sum19 = 0, max;
	unsigned handle16;
	struct parsed p;

	default_config(&cfg, ram);
	build(&p, &cfg);
	assert_int_equal(count_type(&p, 16), 1);
	a = find(&p, 16, 0);
	handle16 = a->handle;
	assert_int_equal(a->p[0x04], 0x03);
	assert_int_equal(a->p[0x05], 0x03);
	max = rd32(a->p + 0x07);
	if (max == 0x80000000)
		max = rd64(a->p + 0x0f);
	else
		max *= KiB;
	assert_int_equal(max, ram & ~(KiB - 1));
	assert_int_equal(rd16(a->p + 0x0d), want_devices);
	assert_int_equal(count_type(&p, 17), want_devices);

	for (unsigned i = 0; i < want_devices; i++) {
		char locator[16];
		uint32_t size;

		s = find(&p, 17, i);
		assert_int_equal(rd16(s->p + 0x04), handle16);
		assert_int_equal(rd16(s->p + 0x08), 64);
		assert_int_equal(rd16(s->p + 0x0a), 64);
		assert_int_equal(s->p[0x0e], 0x09);
		snprintf(locator, sizeof(locator), "DIMM %u", i);
		assert_string_equal(str(s, 0x10), locator);
		assert_int_equal(s->p[0x12], 0x07);
		size = rd16(s->p + 0x0c);
		assert_int_not_equal(size, 0);
		assert_int_not_equal(size, 0xffff);
		if (size == 0x7fff)
			sum17 += (uint64_t)(rd32(s->p + 0x1c) & 0x7fffffff) * MiB;
		else if (size & 0x8000)
			sum17 += (uint64_t)(size & 0x7fff) * KiB;
		else
			sum17 += (uint64_t)size * MiB;
	}
	assert_int_equal(sum17, ram);

	assert_int_equal(count_type(&p, 19), cfg.ram_high ? 2 : 1);
	for (unsigned i = 0; (s = find(&p, 19, i)) != NULL; i++) {
		uint64_t start = rd32(s->p + 0x04), end = rd32(s->p + 0x08);

		if (start == 0xffffffff) {
			assert_int_equal(end, 0xffffffff);
			start = rd64(s->p + 0x0f);
			end = rd64(s->p + 0x17) + 1;
		} else {
			start *= KiB;
			end = (end + 1) * KiB;
		}
		assert_int_equal(start, i == 0 ? 0 : FOUR_GIB);
		assert_int_equal(end - start, i == 0 ? cfg.ram_low : cfg.ram_high);
		assert_int_equal(rd16(s->p + 0x0c), handle16);
		sum19 += end - start;
	}
	assert_int_equal(sum19, ram);
	smbios_tables_free(&p.t);
}

static void test_memory_128m(void **state)
{
	(void)state;
	check_memory(128 * MiB, 1);
}

static void test_memory_3_5g_pci_hole(void **state)
{
	(void)state;
	/* 3 GiB below the PCI hole, 512 MiB from 4 GiB: one 3584 MiB DIMM. */
	check_memory(3 * GiB + 512 * MiB, 1);
}

static void test_memory_8g(void **state)
{
	(void)state;
	check_memory(8 * GiB, 1);
}

static void test_memory_40g(void **state)
{
	(void)state;
	check_memory(40 * GiB, 3); /* 16 + 16 + 8 */
}

static void test_memory_odd_sizes(void **state)
{
	(void)state;
	check_memory(1536 * KiB, 1);   /* KiB units: 0x8000 | 1536 */
	check_memory(2 * MiB, 1);
	check_memory(6ULL << 40, 64);  /* 64 x 96 GiB: extended sizes */
}

static void test_processors(void **state)
{
	struct smbios_config cfg;
	const struct structure *s;
	struct parsed p;

	(void)state;
	default_config(&cfg, 128 * MiB);
	cfg.cores = 4;
	build(&p, &cfg);
	assert_int_equal(count_type(&p, 4), 1);
	s = find(&p, 4, 0);
	assert_string_equal(str(s, 0x04), "CPU 0");
	assert_int_equal(s->p[0x05], 0x03); /* central processor */
	assert_int_not_equal(s->p[0x06], 0);
	assert_string_equal(str(s, 0x07), "Intel(R) Corporation");
	assert_int_equal(rd32(s->p + 0x08), 0x000806f8);
	assert_int_equal(rd32(s->p + 0x0c), 0x178bfbff);
	assert_string_equal(str(s, 0x10), "Intel(R) Xeon(R) CPU @ 2.60GHz");
	assert_int_equal(rd16(s->p + 0x14), 2600);
	assert_int_equal(rd16(s->p + 0x16), 2600);
	assert_int_equal(s->p[0x18], 0x41); /* populated, enabled */
	assert_int_equal(rd16(s->p + 0x1a), 0xffff);
	assert_int_equal(s->p[0x23], 4);
	assert_int_equal(s->p[0x24], 4);
	assert_int_equal(s->p[0x25], 4);
	assert_int_equal(rd16(s->p + 0x26), 0x04 | 0x08 | 0x20); /* 64-bit, multi-core, NX */
	assert_int_equal(rd16(s->p + 0x28), s->p[0x06]);
	smbios_tables_free(&p.t);

	/* Two sockets of two cores of two threads: 8 CPUs. */
	cfg.sockets = 2;
	cfg.cores = 2;
	cfg.threads = 2;
	strcpy(cfg.cpu.vendor, "AuthenticAMD");
	cfg.cpu.brand[0] = 0;
	cfg.cpu.mhz = 0;
	build(&p, &cfg);
	assert_int_equal(count_type(&p, 4), 2);
	for (unsigned i = 0; i < 2; i++) {
		char name[16];

		s = find(&p, 4, i);
		snprintf(name, sizeof(name), "CPU %u", i);
		assert_string_equal(str(s, 0x04), name);
		assert_string_equal(str(s, 0x07), "Advanced Micro Devices, Inc.");
		assert_null(str(s, 0x10));
		assert_int_equal(rd16(s->p + 0x16), 0);
		assert_int_equal(s->p[0x23], 2);
		assert_int_equal(s->p[0x25], 4);
		assert_int_equal(rd16(s->p + 0x26) & 0x18, 0x18);
	}
	smbios_tables_free(&p.t);

	/* One core, one thread, no long mode: none of those bits. */
	cfg.sockets = cfg.cores = cfg.threads = 1;
	cfg.cpu.long_mode = cfg.cpu.nx = 0;
	build(&p, &cfg);
	assert_int_equal(rd16(find(&p, 4, 0)->p + 0x26), 0);
	assert_int_equal(find(&p, 4, 0)->p[0x25], 1);
	smbios_tables_free(&p.t);
}

static void test_bad_config(void **state)
{
	struct smbios_config cfg;
	struct smbios_tables t;

	(void)state;
	default_config(&cfg, 128 * MiB);
	cfg.sockets = 0;
	assert_int_equal(smbios_build(&cfg, &t), -EINVAL);
	cfg.sockets = SMBIOS_MAX_SOCKETS + 1;
	assert_int_equal(smbios_build(&cfg, &t), -EINVAL);
	cfg.sockets = 1;
	cfg.cores = 0;
	assert_int_equal(smbios_build(&cfg, &t), -EINVAL);
	cfg.cores = 16;
	cfg.threads = 16; /* 256 threads: the count is a BYTE */
	assert_int_equal(smbios_build(&cfg, &t), -EINVAL);
	cfg.threads = 15;
	assert_int_equal(smbios_build(&cfg, &t), 0);
	smbios_tables_free(&t);
	cfg.threads = 1;
	cfg.ram_low = cfg.ram_high = 0;
	assert_int_equal(smbios_build(&cfg, &t), -EINVAL);
	assert_null(t.tables);
}

static void test_uuid_parse(void **state)
{
	static const uint8_t want[16] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
					  0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10 };
	static const char *bad[] = {
		"", "0123456789abcdeffedcba9876543210", "01234567-89ab-cdef-fedc-ba987654321",
		"01234567-89ab-cdef-fedc-ba98765432100", "01234567-89ab-cdef-fedc_ba9876543210",
		"0123456g-89ab-cdef-fedc-ba9876543210", "{01234567-89ab-cdef-fedc-ba98765432}",
		"01234567-89ab-cdef-fedc-ba987654321 ", "0123-4567-89ab-cdef-fedcba9876543210",
	};
	char text[SMBIOS_UUID_TEXT_SIZE];
	uint8_t u[16];

	(void)state;
	assert_int_equal(smbios_uuid_parse("01234567-89ab-cdef-fedc-ba9876543210", u), 0);
	assert_memory_equal(u, want, 16);
	assert_int_equal(smbios_uuid_parse("01234567-89AB-CDEF-FEDC-BA9876543210", u), 0);
	assert_memory_equal(u, want, 16);
	smbios_uuid_format(u, text);
	assert_string_equal(text, "01234567-89ab-cdef-fedc-ba9876543210");
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(smbios_uuid_parse(bad[i], u), -EINVAL);
}

static void test_uuid_from_name(void **state)
{
	uint8_t a[16], b[16], c[16];

	(void)state;
	smbios_uuid_from_name("windows", a);
	smbios_uuid_from_name("windows", b);
	smbios_uuid_from_name("ltsp", c);
	assert_memory_equal(a, b, 16);
	assert_memory_not_equal(a, c, 16);
	assert_int_equal(a[6] >> 4, 8);      /* version 8 */
	assert_int_equal(a[8] & 0xc0, 0x80); /* RFC variant */
	assert_int_equal(c[6] >> 4, 8);
	smbios_uuid_from_name("", c);
	assert_memory_not_equal(a, c, 16);
}

static void test_bios_version(void **state)
{
	static const uint8_t image[] = "\x55\xaa junk\0SeaBIOS (version %s)\0" "1.2 x\0"
				       "\xff" "9.9\0" "1.16.2-debian-1.16.2-1\0" "2.0\0";
	static const uint8_t rel[] = "\0rel-1.16.3-0-gabcdef\0";
	static const uint8_t unterminated[] = { 0, '1', '.', '2' };
	static const uint8_t none[] = "\0SeaBIOS\0" "1.\0" ".5\0" "v1.2\0";
	char out[SMBIOS_STRING_MAX + 1];

	(void)state;
	smbios_bios_version(image, sizeof(image), out, sizeof(out));
	assert_string_equal(out, "1.16.2-debian-1.16.2-1");
	smbios_bios_version(rel, sizeof(rel), out, sizeof(out));
	assert_string_equal(out, "rel-1.16.3-0-gabcdef");
	smbios_bios_version(unterminated, sizeof(unterminated), out, sizeof(out));
	assert_string_equal(out, "");
	smbios_bios_version(none, sizeof(none), out, sizeof(out));
	assert_string_equal(out, "");
	/* Too long for the buffer: not taken. */
	smbios_bios_version(rel, sizeof(rel), out, 8);
	assert_string_equal(out, "");
}

static int parse(struct vm_config *c, char *err, size_t errlen, int argc, ...)
{
	char *argv[16];
	va_list ap;
	int rc;

	va_start(ap, argc);
	argv[0] = "duet-vmm";
	for (int i = 1; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	argv[argc] = NULL;
	rc = options_parse(argc, argv, c, err, errlen);
	return rc;
}

static void test_uuid_option(void **state)
{
	struct vm_config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(&c, err, sizeof(err), 4, "--bios", "--uuid",
			       "01234567-89ab-cdef-fedc-ba9876543210"), 0);
	assert_string_equal(c.uuid, "01234567-89ab-cdef-fedc-ba9876543210");
	config_free(&c);
	assert_int_equal(parse(&c, err, sizeof(err), 2, "--bios"), 0);
	assert_null(c.uuid);
	config_free(&c);
	assert_int_equal(parse(&c, err, sizeof(err), 4, "--bios", "--uuid", "windows"), -EINVAL);
	assert_non_null(strstr(err, "--uuid: 'windows' is not a UUID"));
	config_free(&c);
	assert_int_equal(parse(&c, err, sizeof(err), 5, "--kernel", "bzImage", "--uuid",
			       "01234567-89ab-cdef-fedc-ba9876543210"), -EINVAL);
	assert_non_null(strstr(err, "--uuid needs --bios"));
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anchor),
		cmocka_unit_test(test_structure_order),
		cmocka_unit_test(test_bios),
		cmocka_unit_test(test_system),
		cmocka_unit_test(test_chassis),
		cmocka_unit_test(test_memory_128m),
		cmocka_unit_test(test_memory_3_5g_pci_hole),
		cmocka_unit_test(test_memory_8g),
		cmocka_unit_test(test_memory_40g),
		cmocka_unit_test(test_memory_odd_sizes),
		cmocka_unit_test(test_processors),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_uuid_parse),
		cmocka_unit_test(test_uuid_from_name),
		cmocka_unit_test(test_bios_version),
		cmocka_unit_test(test_uuid_option),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

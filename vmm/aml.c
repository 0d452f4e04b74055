/* The AML encoder behind the DSDT: see aml.h. Opcode values and grammar
 * are those of ACPI 6.4 chapter 20; resource descriptors chapter 6.4. */
#include "aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

/* Opcodes (20.2.3 - 20.2.6, 20.3). */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_ROOT_CHAR 0x5c
#define AML_PARENT_PREFIX 0x5e
#define AML_LOCAL0_OP 0x60
#define AML_ARG0_OP 0x68
#define AML_STORE_OP 0x70
#define AML_SHIFT_LEFT_OP 0x79
#define AML_SHIFT_RIGHT_OP 0x7a
#define AML_AND_OP 0x7b
#define AML_OR_OP 0x7d
#define AML_NOTIFY_OP 0x86
#define AML_CREATE_DWORD_FIELD_OP 0x8a
#define AML_CREATE_BYTE_FIELD_OP 0x8c
#define AML_LEQUAL_OP 0x93
#define AML_LLESS_OP 0x95
#define AML_IF_OP 0xa0
#define AML_ELSE_OP 0xa1
#define AML_RETURN_OP 0xa4
#define AML_ONES_OP 0xff
/* After AML_EXT_OP_PREFIX. */
#define AML_OP_REGION_OP 0x80
#define AML_FIELD_OP 0x81
#define AML_DEVICE_OP 0x82
#define AML_PROCESSOR_OP 0x83

#define AML_NULL_NAME 0x00
#define AML_NAMESEG_LEN 4
#define AML_MAX_NAMESEGS 255

/* Resource descriptor tags (6.4.2 small, 6.4.3 large). */
#define RES_IRQ_NOFLAGS 0x22        /* IRQ, 2 bytes of data */
#define RES_IRQ 0x23                /* IRQ, 3 bytes of data */
#define RES_IO 0x47                 /* I/O port, 7 bytes of data */
#define RES_END_TAG 0x79            /* End Tag, 1 byte of data */
#define RES_DWORD_ADDRESS 0x87
#define RES_WORD_ADDRESS 0x88
#define RES_EXT_INTERRUPT 0x89
#define RES_QWORD_ADDRESS 0x8a

#define RES_IO_DECODE16 0x01
/* Address space resource types and general flags (6.4.3.5.1). */
#define RES_TYPE_MEMORY 0
#define RES_TYPE_IO 1
#define RES_TYPE_BUS 2
#define RES_GFLAG_MIN_FIXED 0x04
#define RES_GFLAG_MAX_FIXED 0x08
#define RES_MEM_READ_WRITE 0x01
#define RES_IO_ENTIRE_RANGE 0x03

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	aml_init(a);
}

int aml_finish(const struct aml *a)
{
	if (a->error)
		return a->error;
	return a->depth ? -EINVAL : 0;
}

static void aml_fail(struct aml *a, int err)
{
	if (!a->error)
		a->error = err;
}

static int aml_reserve(struct aml *a, size_t extra)
{
	size_t cap;
	uint8_t *buf;

	if (a->error)
		return a->error;
	if (a->len + extra <= a->cap)
		return 0;
	cap = a->cap ? a->cap : 256;
	while (cap < a->len + extra) {
		if (cap > SIZE_MAX / 2) {
			aml_fail(a, -ENOMEM);
			return a->error;
		}
		cap *= 2;
	}
	buf = realloc(a->buf, cap);
	if (!buf) {
		aml_fail(a, -ENOMEM);
		return a->error;
	}
	a->buf = buf;
	a->cap = cap;
	return 0;
}

void aml_bytes(struct aml *a, const void *data, size_t len)
{
	if (len == 0 || aml_reserve(a, len))
		return;
	memcpy(a->buf + a->len, data, len);
	a->len += len;
}

void aml_byte(struct aml *a, uint8_t v)
{
	aml_bytes(a, &v, 1);
}

static void aml_insert(struct aml *a, size_t at, const uint8_t *data, size_t len)
{
	if (aml_reserve(a, len))
		return;
	memmove(a->buf + at + len, a->buf + at, a->len - at);
	memcpy(a->buf + at, data, len);
	a->len += len;
}

static void aml_le(struct aml *a, uint64_t v, unsigned size)
{
	uint8_t b[8];

	for (unsigned i = 0; i < size; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, size);
}

/* ---- Encodings ---- */

/* length_encode: `value` in the PkgLength scheme using exactly `n` bytes
 * (20.2.4): one byte holds 6 bits; otherwise the lead byte's bits 7-6 say
 * how many bytes follow, its bits 3-0 are the low nibble and each following
 * byte carries the next 8 bits. Returns 0 if it does not fit. */
static size_t length_encode(uint32_t value, size_t n, uint8_t out[4])
{
	if (n == 1) {
		if (value > 0x3f)
			return 0;
		out[0] = (uint8_t)value;
		return 1;
	}
	if (n > 4 || value >= 1U << (4 + 8 * (n - 1)))
		return 0;
	out[0] = (uint8_t)(((n - 1) << 6) | (value & 0x0f));
	for (size_t i = 1; i < n; i++)
		out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
	return n;
}

size_t aml_pkglength_encode(size_t body_len, uint8_t out[4])
{
	for (size_t n = 1; n <= 4; n++) {
		if (body_len > AML_PKGLENGTH_MAX - n)
			return 0;
		if (length_encode((uint32_t)(body_len + n), n, out))
			return n;
	}
	return 0;
}

/* field_length_encode: a field width in bits, which uses the PkgLength
 * scheme without counting its own bytes (20.2.5.2, NamedField). */
static size_t field_length_encode(uint32_t bits, uint8_t out[4])
{
	for (size_t n = 1; n <= 4; n++)
		if (length_encode(bits, n, out))
			return n;
	return 0;
}

static int is_lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
	return is_lead_char(c) || (c >= '0' && c <= '9');
}

/* nameseg_parse: one segment of 1-4 characters at *p, padded with '_'
 * (20.2.2, NameSeg). Advances *p past it; -EINVAL when malformed. */
static int nameseg_parse(const char **p, uint8_t seg[AML_NAMESEG_LEN])
{
	const char *s = *p;
	size_t n = 0;

	if (!is_lead_char(s[0]))
		return -EINVAL;
	while (is_name_char(s[n])) {
		if (n == AML_NAMESEG_LEN)
			return -EINVAL;
		seg[n] = (uint8_t)s[n];
		n++;
	}
	for (size_t i = n; i < AML_NAMESEG_LEN; i++)
		seg[i] = '_';
	*p = s + n;
	return 0;
}

int aml_namestring_encode(const char *path, uint8_t *out, size_t cap)
{
	uint8_t segs[AML_MAX_NAMESEGS][AML_NAMESEG_LEN];
	uint8_t prefix[AML_MAX_NAMESEGS];
	size_t nprefix = 0, nsegs = 0, len;
	const char *p = path;

	if (*p == '\\') {
		prefix[nprefix++] = AML_ROOT_CHAR;
		p++;
	} else {
		while (*p == '^') {
			if (nprefix == AML_MAX_NAMESEGS)
				return -EINVAL;
			prefix[nprefix++] = AML_PARENT_PREFIX;
			p++;
		}
	}
	if (*p) {
		for (;;) {
			if (nsegs == AML_MAX_NAMESEGS || nameseg_parse(&p, segs[nsegs]))
				return -EINVAL;
			nsegs++;
			if (*p == '\0')
				break;
			if (*p != '.')
				return -EINVAL;
			p++;
		}
	} else if (!nprefix) {
		return -EINVAL;
	}

	len = nprefix + nsegs * AML_NAMESEG_LEN + (nsegs == 0 || nsegs == 2 ? 1 : 0) +
	      (nsegs > 2 ? 2 : 0);
	if (len > cap)
		return -ENOSPC;
	memcpy(out, prefix, nprefix);
	out += nprefix;
	if (nsegs == 0) {
		*out = AML_NULL_NAME;
	} else {
		if (nsegs == 2) {
			*out++ = AML_DUAL_NAME_PREFIX;
		} else if (nsegs > 2) {
			*out++ = AML_MULTI_NAME_PREFIX;
			*out++ = (uint8_t)nsegs;
		}
		memcpy(out, segs, nsegs * AML_NAMESEG_LEN);
	}
	return (int)len;
}

uint32_t aml_eisaid(const char *id)
{
	uint32_t letters[3], digits = 0;

	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return 0;
		letters[i] = (uint32_t)(id[i] - 0x40);
	}
	for (int i = 3; i < 7; i++) {
		int d = parse_hex_digit(id[i]);

		if (d < 0)
			return 0;
		digits = digits << 4 | (uint32_t)d;
	}
	if (id[7] != '\0')
		return 0;
	/* Big-endian on the wire: 5 bits per letter, then the 16-bit product
	 * number; read back as a little-endian DWORD. */
	return (letters[0] << 2 | letters[1] >> 3) |
	       ((letters[1] & 7) << 5 | letters[2]) << 8 |
	       (digits >> 8) << 16 | (digits & 0xff) << 24;
}

/* ---- Data objects ---- */

/* int_encode: the shortest integer data object for `v` (20.2.3). */
static size_t int_encode(uint64_t v, uint8_t out[9])
{
	unsigned size;

	if (v == 0 || v == 1 || v == UINT64_MAX) {
		out[0] = v == 0 ? AML_ZERO_OP : v == 1 ? AML_ONE_OP : AML_ONES_OP;
		return 1;
	}
	if (v <= UINT8_MAX) {
		out[0] = AML_BYTE_PREFIX;
		size = 1;
	} else if (v <= UINT16_MAX) {
		out[0] = AML_WORD_PREFIX;
		size = 2;
	} else if (v <= UINT32_MAX) {
		out[0] = AML_DWORD_PREFIX;
		size = 4;
	} else {
		out[0] = AML_QWORD_PREFIX;
		size = 8;
	}
	for (unsigned i = 0; i < size; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return 1 + size;
}

void aml_int(struct aml *a, uint64_t v)
{
	uint8_t enc[9];

	aml_bytes(a, enc, int_encode(v, enc));
}

void aml_dword(struct aml *a, uint32_t v)
{
	aml_byte(a, AML_DWORD_PREFIX);
	aml_le(a, v, 4);
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *c = s; *c; c++) {
		if ((unsigned char)*c > 0x7f) {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

void aml_eisaid_const(struct aml *a, const char *id)
{
	uint32_t v = aml_eisaid(id);

	if (!v) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_dword(a, v);
}

void aml_name(struct aml *a, const char *path)
{
	uint8_t out[2 + 256 + AML_MAX_NAMESEGS * AML_NAMESEG_LEN];
	int len = aml_namestring_encode(path, out, sizeof(out));

	if (len < 0) {
		aml_fail(a, len);
		return;
	}
	aml_bytes(a, out, (size_t)len);
}

void aml_local(struct aml *a, unsigned n)
{
	if (n > 7) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, (uint8_t)(AML_LOCAL0_OP + n));
}

void aml_arg(struct aml *a, unsigned n)
{
	if (n > 6) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, (uint8_t)(AML_ARG0_OP + n));
}

void aml_no_target(struct aml *a)
{
	aml_byte(a, AML_NULL_NAME);
}

/* ---- Named objects ---- */

void aml_name_decl(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME_OP);
	aml_name(a, path);
}

void aml_name_int(struct aml *a, const char *path, uint64_t v)
{
	aml_name_decl(a, path);
	aml_int(a, v);
}

void aml_name_eisaid(struct aml *a, const char *path, const char *id)
{
	aml_name_decl(a, path);
	aml_eisaid_const(a, id);
}

void aml_name_string(struct aml *a, const char *path, const char *s)
{
	aml_name_decl(a, path);
	aml_string(a, s);
}

void aml_opregion(struct aml *a, const char *path, enum aml_region_space space,
		  uint64_t offset, uint64_t len)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_OP_REGION_OP);
	aml_name(a, path);
	aml_byte(a, (uint8_t)space);
	aml_int(a, offset);
	aml_int(a, len);
}

/* ---- PkgLength objects ---- */

static void aml_open(struct aml *a, int is_buffer)
{
	if (a->error)
		return;
	if (a->depth == AML_MAX_DEPTH) {
		aml_fail(a, -E2BIG);
		return;
	}
	a->open[a->depth].start = a->len;
	a->open[a->depth].is_buffer = is_buffer;
	a->depth++;
}

void aml_end(struct aml *a)
{
	struct aml_open o;
	uint8_t pkg[4];
	size_t n;

	if (a->error)
		return;
	if (a->depth == 0) {
		aml_fail(a, -EINVAL);
		return;
	}
	o = a->open[--a->depth];
	if (o.is_buffer) {
		/* BufferSize is a TermArg ahead of the bytes (20.2.5.4). */
		uint8_t size[9];

		aml_insert(a, o.start, size, int_encode(a->len - o.start, size));
	}
	n = aml_pkglength_encode(a->len - o.start, pkg);
	if (!n) {
		aml_fail(a, -E2BIG);
		return;
	}
	aml_insert(a, o.start, pkg, n);
}

void aml_scope_begin(struct aml *a, const char *path)
{
	aml_byte(a, AML_SCOPE_OP);
	aml_open(a, 0);
	aml_name(a, path);
}

void aml_device_begin(struct aml *a, const char *path)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	aml_open(a, 0);
	aml_name(a, path);
}

void aml_method_begin(struct aml *a, const char *path, unsigned nargs, int serialized)
{
	if (nargs > 7) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, AML_METHOD_OP);
	aml_open(a, 0);
	aml_name(a, path);
	/* MethodFlags: bits 2-0 ArgCount, bit 3 SerializeFlag, 7-4 SyncLevel. */
	aml_byte(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
}

void aml_processor_begin(struct aml *a, const char *path, uint8_t id,
			 uint32_t pblk_addr, uint8_t pblk_len)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_PROCESSOR_OP);
	aml_open(a, 0);
	aml_name(a, path);
	aml_byte(a, id);
	aml_le(a, pblk_addr, 4);
	aml_byte(a, pblk_len);
}

void aml_if_begin(struct aml *a)
{
	aml_byte(a, AML_IF_OP);
	aml_open(a, 0);
}

void aml_else_begin(struct aml *a)
{
	aml_byte(a, AML_ELSE_OP);
	aml_open(a, 0);
}

void aml_package_begin(struct aml *a, uint8_t count)
{
	aml_byte(a, AML_PACKAGE_OP);
	aml_open(a, 0);
	aml_byte(a, count);
}

void aml_buffer_begin(struct aml *a)
{
	aml_byte(a, AML_BUFFER_OP);
	aml_open(a, 1);
}

void aml_buffer(struct aml *a, const void *data, size_t len)
{
	aml_buffer_begin(a);
	aml_bytes(a, data, len);
	aml_end(a);
}

void aml_field_begin(struct aml *a, const char *region, enum aml_field_access access,
		     enum aml_field_lock lock, enum aml_field_update update)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_FIELD_OP);
	aml_open(a, 0);
	aml_name(a, region);
	/* FieldFlags: bits 3-0 AccessType, bit 4 LockRule, 6-5 UpdateRule. */
	aml_byte(a, (uint8_t)((unsigned)access | (unsigned)lock << 4 | (unsigned)update << 5));
}

static void aml_field_length(struct aml *a, uint32_t bits)
{
	uint8_t enc[4];
	size_t n = bits ? field_length_encode(bits, enc) : 0;

	if (!n) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_bytes(a, enc, n);
}

void aml_field_entry(struct aml *a, const char *name, uint32_t bits)
{
	uint8_t seg[AML_NAMESEG_LEN];
	const char *p = name;

	if (nameseg_parse(&p, seg) || *p != '\0') {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_bytes(a, seg, sizeof(seg));
	aml_field_length(a, bits);
}

void aml_field_skip(struct aml *a, uint32_t bits)
{
	aml_byte(a, 0x00); /* ReservedField */
	aml_field_length(a, bits);
}

/* ---- Statements and expressions ---- */

void aml_return(struct aml *a)
{
	aml_byte(a, AML_RETURN_OP);
}

void aml_store(struct aml *a)
{
	aml_byte(a, AML_STORE_OP);
}

void aml_and(struct aml *a)
{
	aml_byte(a, AML_AND_OP);
}

void aml_or(struct aml *a)
{
	aml_byte(a, AML_OR_OP);
}

void aml_shift_left(struct aml *a)
{
	aml_byte(a, AML_SHIFT_LEFT_OP);
}

void aml_shift_right(struct aml *a)
{
	aml_byte(a, AML_SHIFT_RIGHT_OP);
}

void aml_lequal(struct aml *a)
{
	aml_byte(a, AML_LEQUAL_OP);
}

void aml_lless(struct aml *a)
{
	aml_byte(a, AML_LLESS_OP);
}

void aml_notify(struct aml *a)
{
	aml_byte(a, AML_NOTIFY_OP);
}

void aml_create_dword_field(struct aml *a)
{
	aml_byte(a, AML_CREATE_DWORD_FIELD_OP);
}

void aml_create_byte_field(struct aml *a)
{
	aml_byte(a, AML_CREATE_BYTE_FIELD_OP);
}

/* ---- Resource descriptors ---- */

void aml_restemplate_begin(struct aml *a)
{
	aml_buffer_begin(a);
}

void aml_restemplate_end(struct aml *a)
{
	aml_byte(a, RES_END_TAG);
	aml_byte(a, 0x00); /* checksum 0: the OS treats the template as valid */
	aml_end(a);
}

void aml_irq(struct aml *a, uint16_t mask, uint8_t flags)
{
	aml_byte(a, RES_IRQ);
	aml_le(a, mask, 2);
	aml_byte(a, flags);
}

void aml_irq_noflags(struct aml *a, uint16_t mask)
{
	aml_byte(a, RES_IRQ_NOFLAGS);
	aml_le(a, mask, 2);
}

void aml_interrupt(struct aml *a, uint8_t flags, const uint32_t *irqs, unsigned n)
{
	if (n == 0 || n > 255) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, RES_EXT_INTERRUPT);
	aml_le(a, 2 + 4 * n, 2); /* flags, table length, the table */
	aml_byte(a, flags);
	aml_byte(a, (uint8_t)n);
	for (unsigned i = 0; i < n; i++)
		aml_le(a, irqs[i], 4);
}

void aml_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	aml_byte(a, RES_IO);
	aml_byte(a, RES_IO_DECODE16);
	aml_le(a, min, 2);
	aml_le(a, max, 2);
	aml_byte(a, align);
	aml_byte(a, len);
}

/* address_space: a Word/DWord/QWord Address Space Descriptor (6.4.3.5.1-3)
 * with `size`-byte fields: granularity, min, max, translation, length. */
static void address_space(struct aml *a, uint8_t tag, uint8_t type, uint8_t type_flags,
			  unsigned size, uint64_t min, uint64_t max)
{
	if (max < min) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, tag);
	aml_le(a, 3 + 5 * size, 2);
	aml_byte(a, type);
	/* ResourceProducer, PosDecode, MinFixed, MaxFixed. */
	aml_byte(a, RES_GFLAG_MIN_FIXED | RES_GFLAG_MAX_FIXED);
	aml_byte(a, type_flags);
	aml_le(a, 0, size);             /* granularity */
	aml_le(a, min, size);
	aml_le(a, max, size);
	aml_le(a, 0, size);             /* translation offset */
	aml_le(a, max - min + 1, size); /* length */
}

void aml_word_bus_number(struct aml *a, uint16_t min, uint16_t max)
{
	address_space(a, RES_WORD_ADDRESS, RES_TYPE_BUS, 0, 2, min, max);
}

void aml_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	address_space(a, RES_WORD_ADDRESS, RES_TYPE_IO, RES_IO_ENTIRE_RANGE, 2, min, max);
}

void aml_dword_memory(struct aml *a, enum aml_mem_cache cache, uint32_t min, uint32_t max)
{
	address_space(a, RES_DWORD_ADDRESS, RES_TYPE_MEMORY,
		      (uint8_t)(RES_MEM_READ_WRITE | (unsigned)cache << 1), 4, min, max);
}

void aml_qword_memory(struct aml *a, enum aml_mem_cache cache, uint64_t min, uint64_t max)
{
	address_space(a, RES_QWORD_ADDRESS, RES_TYPE_MEMORY,
		      (uint8_t)(RES_MEM_READ_WRITE | (unsigned)cache << 1), 8, min, max);
}

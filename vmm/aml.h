/* A small AML encoder: the byte code of ACPI definition blocks (DSDT),
 * ACPI 6.4 chapter 20 ("ACPI Machine Language Specification"), and the
 * resource descriptors of chapter 6.4 ("Resource Data Types for ACPI").
 *
 * AML is prefix code, so a `struct aml` is written front to back in the
 * order the bytes appear: an operator's function emits its opcode only and
 * the caller emits its operands next, in the order the spec lists them.
 * Objects that carry a PkgLength (Scope, Device, Method, If, Else, Package,
 * Buffer, Field, Processor) are opened with a *_begin call and closed with
 * aml_end(), which inserts the shortest PkgLength encoding (1-4 bytes).
 *
 * Errors are sticky: a bad name, an out-of-range argument, too deep a
 * nesting or a failed allocation sets `error` (a -errno), after which every
 * call does nothing; check once with aml_finish(). */
#ifndef DUET_AML_H
#define DUET_AML_H

#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 32

/* The largest value a PkgLength can carry: 28 bits (20.2.4). */
#define AML_PKGLENGTH_MAX 0x0fffffffU

struct aml_open {
	size_t start;  /* where the PkgLength goes (just after the opcode) */
	int is_buffer; /* a Buffer also gets its BufferSize inserted */
};

struct aml {
	uint8_t *buf;
	size_t len;
	size_t cap;
	struct aml_open open[AML_MAX_DEPTH];
	unsigned depth;
	int error;
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
/* aml_finish: 0 when every object was closed and nothing failed, else the
 * first error (-EINVAL for unbalanced begin/end). */
int aml_finish(const struct aml *a);

/* ---- Encodings, exposed for tests ---- */

/* aml_pkglength_encode: the PkgLength for a package whose contents after
 * the PkgLength are `body_len` bytes (the value counts its own bytes,
 * 20.2.4). Returns how many bytes it wrote to `out` (1-4), 0 if too long. */
size_t aml_pkglength_encode(size_t body_len, uint8_t out[4]);

/* aml_namestring_encode: an ASL path ("\\_SB.PCI0", "^^FOO", "LNKA",
 * "_S5") as a NameString (20.2.2): root or parent prefixes, then a single
 * NameSeg, a DualNamePath, a MultiNamePath, or NullName. Segments shorter
 * than four characters are padded with '_'. Returns the length written, or
 * -EINVAL for a malformed path, -ENOSPC when `cap` is too small. */
int aml_namestring_encode(const char *path, uint8_t *out, size_t cap);

/* aml_eisaid: the 32-bit compressed EISA ID of "PNP0A03" and the like
 * (three letters, four hex digits; 6.1.5), or 0 when malformed. */
uint32_t aml_eisaid(const char *id);

/* ---- Raw bytes ---- */

void aml_byte(struct aml *a, uint8_t v);
void aml_bytes(struct aml *a, const void *data, size_t len);

/* ---- Data objects (20.2.3) ---- */

/* aml_int: Zero, One, Ones (for UINT64_MAX), or the shortest of
 * ByteConst, WordConst, DWordConst, QWordConst that holds `v`. */
void aml_int(struct aml *a, uint64_t v);
/* aml_dword: always a DWordConst (what iasl emits for EisaId()). */
void aml_dword(struct aml *a, uint32_t v);
/* aml_string: a String (ASCII 0x01-0x7f, NUL-terminated in AML). */
void aml_string(struct aml *a, const char *s);
/* aml_eisaid_const: EisaId("PNP0A03") as a DWordConst. */
void aml_eisaid_const(struct aml *a, const char *id);
/* aml_name: a reference to a named object (a NameString). */
void aml_name(struct aml *a, const char *path);
/* aml_local: Local0-Local7; aml_arg: Arg0-Arg6. */
void aml_local(struct aml *a, unsigned n);
void aml_arg(struct aml *a, unsigned n);
/* aml_no_target: the NullName used where a Target is left out. */
void aml_no_target(struct aml *a);

/* ---- Named objects ---- */

/* aml_name_decl: Name(path, <the data object the caller emits next>). */
void aml_name_decl(struct aml *a, const char *path);
void aml_name_int(struct aml *a, const char *path, uint64_t v);
void aml_name_eisaid(struct aml *a, const char *path, const char *id);
void aml_name_string(struct aml *a, const char *path, const char *s);

enum aml_region_space {
	AML_SYSTEM_MEMORY = 0x00,
	AML_SYSTEM_IO = 0x01,
	AML_PCI_CONFIG = 0x02,
};

/* aml_opregion: OperationRegion(path, space, offset, len). */
void aml_opregion(struct aml *a, const char *path, enum aml_region_space space,
		  uint64_t offset, uint64_t len);

/* Field flags (20.2.5.2, FieldFlags). */
enum aml_field_access {
	AML_ANY_ACC = 0,
	AML_BYTE_ACC = 1,
	AML_WORD_ACC = 2,
	AML_DWORD_ACC = 3,
	AML_QWORD_ACC = 4,
	AML_BUFFER_ACC = 5,
};
enum aml_field_lock { AML_NO_LOCK = 0, AML_LOCK = 1 };
enum aml_field_update {
	AML_PRESERVE = 0,
	AML_WRITE_AS_ONES = 1,
	AML_WRITE_AS_ZEROS = 2,
};

/* aml_field_begin: Field(region, access, lock, update) { ... } with
 * aml_field_entry / aml_field_skip inside, closed by aml_end(). */
void aml_field_begin(struct aml *a, const char *region, enum aml_field_access access,
		     enum aml_field_lock lock, enum aml_field_update update);
/* aml_field_entry: a NamedField `name, bits` (name: one NameSeg). */
void aml_field_entry(struct aml *a, const char *name, uint32_t bits);
/* aml_field_skip: a ReservedField, ASL's `, bits` (or Offset()). */
void aml_field_skip(struct aml *a, uint32_t bits);

/* ---- Objects with a PkgLength: close each with aml_end() ---- */

void aml_scope_begin(struct aml *a, const char *path);
void aml_device_begin(struct aml *a, const char *path);
/* aml_method_begin: Method(path, nargs (0-7), Serialized|NotSerialized). */
void aml_method_begin(struct aml *a, const char *path, unsigned nargs, int serialized);
/* aml_processor_begin: Processor(path, id, pblk_addr, pblk_len) (the ACPI
 * 1.0 processor declaration, which Windows XP needs; 20.2.5.2). */
void aml_processor_begin(struct aml *a, const char *path, uint8_t id,
			 uint32_t pblk_addr, uint8_t pblk_len);
/* aml_if_begin: If (<predicate the caller emits next>) { ... }. */
void aml_if_begin(struct aml *a);
/* aml_else_begin: Else { ... }, right after an If's aml_end(). */
void aml_else_begin(struct aml *a);
/* aml_package_begin: Package(count) { <count data objects> }. */
void aml_package_begin(struct aml *a, uint8_t count);
/* aml_buffer_begin: Buffer() { <bytes> }; the BufferSize is filled in by
 * aml_end(). */
void aml_buffer_begin(struct aml *a);
void aml_end(struct aml *a);

/* aml_buffer: a whole Buffer holding `data`. */
void aml_buffer(struct aml *a, const void *data, size_t len);

/* ---- Statements and expressions: opcode only, operands follow ---- */

/* Return(Arg) */
void aml_return(struct aml *a);
/* Store(Source, Destination) */
void aml_store(struct aml *a);
/* And / Or / ShiftLeft / ShiftRight (Operand, Operand, Target) */
void aml_and(struct aml *a);
void aml_or(struct aml *a);
void aml_shift_left(struct aml *a);
void aml_shift_right(struct aml *a);
/* LEqual / LLess (Operand, Operand) */
void aml_lequal(struct aml *a);
void aml_lless(struct aml *a);
/* Notify(Object, Value) */
void aml_notify(struct aml *a);
/* CreateDWordField / CreateByteField (SourceBuffer, ByteIndex, Name): the
 * caller emits the buffer and index, then the name with aml_name(). */
void aml_create_dword_field(struct aml *a);
void aml_create_byte_field(struct aml *a);

/* ---- Resource descriptors (6.4): inside a ResourceTemplate ---- */

/* aml_restemplate_begin / _end: ResourceTemplate() { ... }, a Buffer
 * closed with an End Tag (6.4.2.9) whose checksum is 0 ("treat as
 * valid"). */
void aml_restemplate_begin(struct aml *a);
void aml_restemplate_end(struct aml *a);

/* IRQ information flags (6.4.2.1). */
#define AML_IRQ_EDGE 0x01
#define AML_IRQ_ACTIVE_LOW 0x08
#define AML_IRQ_SHARED 0x10

/* aml_irq: IRQ(flags) { irqs in `mask` } (3-byte info form). */
void aml_irq(struct aml *a, uint16_t mask, uint8_t flags);
/* aml_irq_noflags: IRQNoFlags() { irqs in `mask` }: edge, active high. */
void aml_irq_noflags(struct aml *a, uint16_t mask);

/* Extended Interrupt flags (6.4.3.6). */
#define AML_INT_CONSUMER 0x01
#define AML_INT_EDGE 0x02
#define AML_INT_ACTIVE_LOW 0x04
#define AML_INT_SHARED 0x08

/* aml_interrupt: Interrupt(...) { irqs[0..n-1] } (1 <= n <= 255). */
void aml_interrupt(struct aml *a, uint8_t flags, const uint32_t *irqs, unsigned n);

/* aml_io: IO(Decode16, min, max, align, len) (6.4.2.5). */
void aml_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);

/* Address space descriptors (6.4.3.5), always ResourceProducer, PosDecode,
 * MinFixed, MaxFixed, no translation, granularity 0, length max-min+1. */
enum aml_mem_cache {
	AML_NON_CACHEABLE = 0,
	AML_CACHEABLE = 1,
	AML_WRITE_COMBINING = 2,
	AML_PREFETCHABLE = 3,
};
void aml_word_bus_number(struct aml *a, uint16_t min, uint16_t max);
/* aml_word_io: WordIO(..., EntireRange, ...). */
void aml_word_io(struct aml *a, uint16_t min, uint16_t max);
/* aml_dword_memory / aml_qword_memory: ReadWrite memory. */
void aml_dword_memory(struct aml *a, enum aml_mem_cache cache, uint32_t min, uint32_t max);
void aml_qword_memory(struct aml *a, enum aml_mem_cache cache, uint64_t min, uint64_t max);

#endif

/* Pins vmm/loader.c: flat images, ELF32/ELF64 placement and entry, and the
 * refusal of truncated, foreign and hostile ELF files. */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "loader.h"

#define RAM (4ULL << 20)

static struct guest_mem mem;

static int setup(void **state)
{
	(void)state;
	return mem_create(&mem, RAM);
}

static int teardown(void **state)
{
	(void)state;
	mem_destroy(&mem);
	return 0;
}

static void test_flat(void **state)
{
	const uint8_t code[] = { 0xf4, 0xeb, 0xfe };
	struct boot_entry e;
	const char *why = NULL;

	(void)state;
	assert_int_equal(loader_load(&mem, code, sizeof(code), 0x7c00, &e, &why), 0);
	assert_int_equal(e.mode, BOOT_REAL);
	assert_int_equal(e.rip, 0x7c00);
	assert_memory_equal(mem_ptr(&mem, 0x7c00, 3), code, 3);
	assert_int_not_equal(loader_load(&mem, code, sizeof(code), 0x100000, &e, &why), 0);
	assert_non_null(strstr(why, "1 MiB"));
	assert_int_not_equal(loader_load(&mem, code, sizeof(code), 0x1000, &e, &why), 0);
	assert_non_null(strstr(why, "boot area"));
}

/* elf64: a one-segment ELF64 executable with `n` bytes of payload at paddr. */
static size_t elf64(uint8_t *buf, uint64_t paddr, uint64_t filesz, uint64_t memsz)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph = { 0 };

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_entry = paddr + 4;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	ph.p_type = PT_LOAD;
	ph.p_offset = sizeof(eh) + sizeof(ph);
	ph.p_paddr = paddr;
	ph.p_vaddr = paddr;
	ph.p_filesz = filesz;
	ph.p_memsz = memsz;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), &ph, sizeof(ph));
	memset(buf + ph.p_offset, 0xcc, 16);
	return sizeof(eh) + sizeof(ph) + 16;
}

static void test_elf64(void **state)
{
	uint8_t buf[256];
	size_t len = elf64(buf, 0x100000, 16, 64);
	struct boot_entry e;
	const char *why = NULL;
	uint8_t *p;
	uint64_t pml4;

	(void)state;
	memset(mem_ptr(&mem, 0x100000, 64), 0x55, 64);
	assert_int_equal(loader_load(&mem, buf, len, 0, &e, &why), 0);
	assert_int_equal(e.mode, BOOT_LONG);
	assert_int_equal(e.rip, 0x100004);
	p = mem_ptr(&mem, 0x100000, 64);
	assert_int_equal(p[15], 0xcc);
	assert_int_equal(p[16], 0); /* bss zeroed */
	assert_int_equal(p[63], 0);
	/* Page tables written: PML4[0] points at the PDPT. */
	assert_int_equal(mem_read(&mem, BOOT_PML4_ADDR, &pml4, 8), 0);
	assert_int_equal(pml4 & ~0xfffULL, BOOT_PDPT_ADDR);
}

static void test_elf_hostile(void **state)
{
	uint8_t buf[256];
	struct boot_entry e;
	const char *why = NULL;
	size_t len;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(Elf64_Ehdr));

	(void)state;
	/* Segment beyond RAM. */
	len = elf64(buf, RAM - 8, 16, 16);
	assert_int_equal(loader_load(&mem, buf, len, 0, &e, &why), -ENOSPC);
	/* filesz larger than the file. */
	len = elf64(buf, 0x100000, 16, 16);
	ph->p_filesz = 1 << 20;
	ph->p_memsz = 1 << 20;
	assert_int_equal(loader_load(&mem, buf, len, 0, &e, &why), -ENOEXEC);
	/* filesz > memsz. */
	len = elf64(buf, 0x100000, 16, 8);
	assert_int_equal(loader_load(&mem, buf, len, 0, &e, &why), -ENOEXEC);
	/* Offset wraps. */
	len = elf64(buf, 0x100000, 16, 16);
	ph->p_offset = UINT64_MAX - 4;
	assert_int_equal(loader_load(&mem, buf, len, 0, &e, &why), -ENOEXEC);
	/* Program headers past the end of the file. */
	len = elf64(buf, 0x100000, 16, 16);
	eh->e_phoff = len - 8;
	assert_int_equal(loader_load(&mem, buf, len, 0, &e, &why), -ENOEXEC);
	/* Too many program headers. */
	len = elf64(buf, 0x100000, 16, 16);
	eh->e_phnum = 0xffff;
	assert_int_equal(loader_load(&mem, buf, len, 0, &e, &why), -ENOEXEC);
	/* Wrong machine. */
	len = elf64(buf, 0x100000, 16, 16);
	eh->e_machine = EM_AARCH64;
	assert_int_equal(loader_load(&mem, buf, len, 0, &e, &why), -ENOEXEC);
	assert_non_null(strstr(why, "x86"));
	/* Truncated header. */
	assert_int_equal(loader_load(&mem, buf, 20, 0, &e, &why), -ENOEXEC);
	/* Into the boot area. */
	len = elf64(buf, 0x2000, 16, 16);
	assert_int_equal(loader_load(&mem, buf, len, 0, &e, &why), -EINVAL);
	/* Empty. */
	assert_int_equal(loader_load(&mem, buf, 0, 0, &e, &why), -ENOEXEC);
}

static void test_elf_random_headers_never_crash(void **state)
{
	uint8_t buf[512];
	struct boot_entry e;
	const char *why;
	uint32_t seed = 12345;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t len = elf64(buf, 0x100000, 16, 16);

		/* Flip a few random bytes of the headers. */
		for (int k = 0; k < 4; k++) {
			seed = seed * 1103515245 + 12345;
			buf[(seed >> 8) % len] = (uint8_t)(seed >> 20);
		}
		why = NULL;
		if (loader_load(&mem, buf, len, 0, &e, &why))
			assert_non_null(why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flat),
		cmocka_unit_test(test_elf64),
		cmocka_unit_test(test_elf_hostile),
		cmocka_unit_test(test_elf_random_headers_never_crash),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

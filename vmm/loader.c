/* Flat and ELF image loading. Every field of an ELF file is checked before
 * use: a truncated or hostile file gives an error, never a stray write. The
 * ELF layout is the System V ABI's (gABI, "ELF Header", "Program Header"). */
#include "loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Real-mode code can only run below 1 MiB. */
#define REAL_MODE_LIMIT 0x100000ULL
/* An image bigger than this is not a test guest or firmware. */
#define LOADER_MAX_IMAGE (1ULL << 30)
#define ELF_MAX_PHDRS 64

/* loader_place: copy filesz bytes to [paddr, paddr+memsz) and zero the
 * rest, refusing the boot-structure area and anything that is not RAM. */
static int loader_place(struct guest_mem *mem, uint64_t paddr, const uint8_t *src,
			uint64_t filesz, uint64_t memsz, const char **why)
{
	uint8_t *dst;

	if (paddr < BOOT_RESERVED_END) {
		*why = "image overlaps the boot area below 0x7000";
		return -EINVAL;
	}
	dst = mem_ptr(mem, paddr, memsz);
	if (!dst) {
		*why = "image does not fit in guest RAM (try a larger --memory)";
		return -ENOSPC;
	}
	memcpy(dst, src, filesz);
	memset(dst + filesz, 0, memsz - filesz);
	return 0;
}

static int loader_flat(struct guest_mem *mem, const uint8_t *image, size_t len,
		       uint64_t addr, struct boot_entry *entry, const char **why)
{
	int err;

	if (addr >= REAL_MODE_LIMIT) {
		*why = "a flat image starts in real mode, so it must load below 1 MiB";
		return -EINVAL;
	}
	err = loader_place(mem, addr, image, len, len, why);
	if (err)
		return err;
	entry->mode = BOOT_REAL;
	entry->rip = addr;
	return 0;
}

/* The fields of an ELF header or program header we use, read from either
 * class. */
struct elf_info {
	int is64;
	uint64_t entry, phoff;
	unsigned phentsize, phnum;
};

struct elf_segment {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
};

static int elf_header(const uint8_t *image, size_t len, struct elf_info *info,
		      const char **why)
{
	if (len < EI_NIDENT)
		goto truncated;
	if (image[EI_CLASS] == ELFCLASSNONE || image[EI_CLASS] > ELFCLASS64) {
		*why = "not an ELF32 or ELF64 file";
		return -ENOEXEC;
	}
	info->is64 = image[EI_CLASS] == ELFCLASS64;
	if (image[EI_DATA] != ELFDATA2LSB) {
		*why = "ELF file is not little-endian";
		return -ENOEXEC;
	}
	if (info->is64) {
		Elf64_Ehdr eh;

		if (len < sizeof(eh))
			goto truncated;
		memcpy(&eh, image, sizeof(eh));
		if (eh.e_machine != EM_X86_64)
			goto machine;
		if (eh.e_type != ET_EXEC)
			goto type;
		info->entry = eh.e_entry;
		info->phoff = eh.e_phoff;
		info->phentsize = eh.e_phentsize;
		info->phnum = eh.e_phnum;
		if (info->phentsize != sizeof(Elf64_Phdr))
			goto truncated;
	} else {
		Elf32_Ehdr eh;

		if (len < sizeof(eh))
			goto truncated;
		memcpy(&eh, image, sizeof(eh));
		if (eh.e_machine != EM_386)
			goto machine;
		if (eh.e_type != ET_EXEC)
			goto type;
		info->entry = eh.e_entry;
		info->phoff = eh.e_phoff;
		info->phentsize = eh.e_phentsize;
		info->phnum = eh.e_phnum;
		if (info->phentsize != sizeof(Elf32_Phdr))
			goto truncated;
	}
	if (info->phnum == 0 || info->phnum > ELF_MAX_PHDRS) {
		*why = "ELF file has no loadable program headers";
		return -ENOEXEC;
	}
	/* The whole program-header table must lie inside the file. */
	if (info->phoff > len ||
	    (uint64_t)info->phnum * info->phentsize > len - info->phoff)
		goto truncated;
	return 0;
truncated:
	*why = "ELF file is truncated or its headers are malformed";
	return -ENOEXEC;
machine:
	*why = "ELF file is not for x86 (EM_386 or EM_X86_64)";
	return -ENOEXEC;
type:
	*why = "ELF file is not a static executable (ET_EXEC)";
	return -ENOEXEC;
}

static void elf_segment_read(const uint8_t *image, const struct elf_info *info,
			     unsigned i, struct elf_segment *seg)
{
	const uint8_t *p = image + info->phoff + (uint64_t)i * info->phentsize;

	if (info->is64) {
		Elf64_Phdr ph;

		memcpy(&ph, p, sizeof(ph));
		*seg = (struct elf_segment){ ph.p_type, ph.p_offset, ph.p_paddr,
					     ph.p_filesz, ph.p_memsz };
	} else {
		Elf32_Phdr ph;

		memcpy(&ph, p, sizeof(ph));
		*seg = (struct elf_segment){ ph.p_type, ph.p_offset, ph.p_paddr,
					     ph.p_filesz, ph.p_memsz };
	}
}

static int loader_elf(struct guest_mem *mem, const uint8_t *image, size_t len,
		      struct boot_entry *entry, const char **why)
{
	struct elf_info info;
	unsigned loaded = 0;
	int err;

	err = elf_header(image, len, &info, why);
	if (err)
		return err;
	for (unsigned i = 0; i < info.phnum; i++) {
		struct elf_segment seg;

		elf_segment_read(image, &info, i, &seg);
		if (seg.type != PT_LOAD)
			continue;
		if (seg.filesz > seg.memsz || seg.offset > len ||
		    seg.filesz > len - seg.offset) {
			*why = "ELF segment lies outside the file";
			return -ENOEXEC;
		}
		err = loader_place(mem, seg.paddr, image + seg.offset, seg.filesz,
				   seg.memsz, why);
		if (err)
			return err;
		loaded++;
	}
	if (!loaded) {
		*why = "ELF file has no loadable program headers";
		return -ENOEXEC;
	}
	entry->mode = info.is64 ? BOOT_LONG : BOOT_PROTECTED;
	entry->rip = info.entry;
	return x86_boot_tables(mem, entry->mode) ? (*why = "guest RAM too small", -ENOSPC) : 0;
}

int loader_load(struct guest_mem *mem, const uint8_t *image, size_t len,
		uint64_t addr, struct boot_entry *entry, const char **why)
{
	if (len == 0) {
		*why = "image is empty";
		return -ENOEXEC;
	}
	if (len >= SELFMAG && !memcmp(image, ELFMAG, SELFMAG))
		return loader_elf(mem, image, len, entry, why);
	return loader_flat(mem, image, len, addr, entry, why);
}

/* loader_open: open a regular file of at most `max` bytes for reading;
 * its fd and size, or -errno with *why set. */
static int loader_open(const char *path, uint64_t max, int *out_fd, size_t *out_size,
		       const char **why)
{
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		*why = strerror(errno);
		return err;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*why = "not a regular file";
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		*why = "file is too large for guest RAM";
		return -EFBIG;
	}
	*out_fd = fd;
	*out_size = (size_t)st.st_size;
	return 0;
}

int loader_read_file(const char *path, uint64_t max, uint8_t **out, size_t *out_len,
		     const char **why)
{
	uint8_t *image;
	size_t size, done = 0;
	int fd, err;

	err = loader_open(path, max, &fd, &size, why);
	if (err)
		return err;
	image = malloc(size + 1);
	if (!image) {
		close(fd);
		*why = "out of memory";
		return -ENOMEM;
	}
	while (done < size) {
		ssize_t n = read(fd, image + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			*why = n < 0 ? strerror(errno) : "file shrank while being read";
			free(image);
			close(fd);
			return err;
		}
		done += (size_t)n;
	}
	close(fd);
	*out = image;
	*out_len = done;
	return 0;
}

int loader_map_file(const char *path, uint64_t max, uint8_t **out, size_t *out_len,
		    const char **why)
{
	size_t size;
	void *p;
	int fd, err;

	err = loader_open(path, max, &fd, &size, why);
	if (err)
		return err;
	if (size == 0) {
		close(fd);
		*why = "file is empty";
		return -EINVAL;
	}
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	err = p == MAP_FAILED ? -errno : 0;
	close(fd);
	if (err) {
		*why = strerror(-err);
		return err;
	}
	*out = p;
	*out_len = size;
	return 0;
}

void loader_release_pages(const uint8_t *map, size_t len)
{
	if (map)
		madvise((void *)map, len, MADV_DONTNEED);
}

void loader_unmap_file(const uint8_t *map, size_t len)
{
	if (map)
		munmap((void *)map, len);
}

int loader_load_file(struct guest_mem *mem, const char *path, uint64_t addr,
		     struct boot_entry *entry, const char **why)
{
	uint8_t *image;
	size_t len;
	int err = loader_read_file(path, LOADER_MAX_IMAGE, &image, &len, why);

	if (err)
		return err;
	err = loader_load(mem, image, len, addr, entry, why);
	free(image);
	return err;
}

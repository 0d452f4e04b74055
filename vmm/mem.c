/* Guest physical memory backed by one memfd. */
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_2M (2ULL << 20)

static int mem_map(struct guest_mem *mem, unsigned int memfd_flags)
{
	mem->fd = memfd_create("duet-guest-ram", MFD_CLOEXEC | memfd_flags);
	if (mem->fd < 0)
		return -errno;
	if (ftruncate(mem->fd, (off_t)mem->size) < 0)
		goto fail;
	mem->base = mmap(NULL, mem->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 mem->fd, 0);
	if (mem->base == MAP_FAILED)
		goto fail;
	return 0;
fail:
	{
		int err = -errno;

		close(mem->fd);
		mem->fd = -1;
		mem->base = NULL;
		return err;
	}
}

int mem_create(struct guest_mem *mem, uint64_t size)
{
	uint64_t low;
	int err = -EINVAL;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	if (size == 0 || size > (1ULL << 46))
		return -EINVAL;
	mem->size = size;
	if (size % HUGE_2M == 0) {
		err = mem_map(mem, MFD_HUGETLB | MFD_HUGE_2MB);
		/* hugetlbfs hands out pages lazily: touching fails with SIGBUS
		 * when the pool runs dry, so only use it when the pool holds
		 * the whole guest. */
		if (!err && fallocate(mem->fd, 0, 0, (off_t)size) < 0) {
			munmap(mem->base, size);
			close(mem->fd);
			err = -ENOMEM;
		}
		mem->hugepages = !err;
	}
	if (err) {
		err = mem_map(mem, 0);
		if (err)
			return err;
		madvise(mem->base, size, MADV_HUGEPAGE);
	}

	/* The memfd is laid out like the low guest-physical space, so the
	 * VGA window's 128 KiB of it stay unused. */
	low = size < MEM_LOW_LIMIT ? size : MEM_LOW_LIMIT;
	mem->regions[0] = (struct mem_region){ 0, low < MEM_VGA_START ? low : MEM_VGA_START,
					       mem->base, 0 };
	mem->nregions = 1;
	if (low > MEM_VGA_END)
		mem->regions[mem->nregions++] = (struct mem_region){
			MEM_VGA_END, low - MEM_VGA_END, mem->base + MEM_VGA_END, MEM_VGA_END
		};
	if (size > low)
		mem->regions[mem->nregions++] = (struct mem_region){
			MEM_HIGH_BASE, size - low, mem->base + low, low
		};
	return 0;
}

void mem_destroy(struct guest_mem *mem)
{
	if (mem->base)
		munmap(mem->base, mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
}

uint64_t mem_low_end(const struct guest_mem *mem)
{
	uint64_t end = 0;

	for (unsigned i = 0; i < mem->nregions; i++)
		if (mem->regions[i].gpa < MEM_HIGH_BASE)
			end = mem->regions[i].gpa + mem->regions[i].size;
	return end;
}

uint64_t mem_high_size(const struct guest_mem *mem)
{
	const struct mem_region *last = &mem->regions[mem->nregions - 1];

	return last->gpa >= MEM_HIGH_BASE ? last->size : 0;
}

void *mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct mem_region *r = &mem->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = mem_ptr(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

int mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len)
{
	void *p = mem_ptr(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

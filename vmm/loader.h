/* Placing test and firmware images in guest RAM: flat binaries at a given
 * address, ELF32/ELF64 executables at their own physical addresses. */
#ifndef DUET_LOADER_H
#define DUET_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"
#include "x86_boot.h"

/* Where a flat image goes when no address is given: where a BIOS puts a
 * boot sector. */
#define LOADER_FLAT_DEFAULT_ADDR 0x7c00ULL

/* loader_load: put `image` (len bytes) in guest RAM and say how to enter it.
 * A flat image goes at `addr` (real-mode entry there; must lie below
 * 1 MiB); an ELF goes where its program headers say. Returns -errno and
 * points *why at a sentence for the user on failure. */
int loader_load(struct guest_mem *mem, const uint8_t *image, size_t len,
		uint64_t addr, struct boot_entry *entry, const char **why);

/* loader_read_file: a whole regular file of at most `max` bytes into a
 * malloc'd buffer. */
int loader_read_file(const char *path, uint64_t max, uint8_t **out, size_t *out_len,
		     const char **why);

/* loader_map_file: a whole regular file mapped read-only. Its pages are
 * the page cache's: loader_release_pages drops them from the process
 * after use (they come back, from the cache, when touched again — no
 * open needed, so resets work under the sandbox), and the VMM's memory
 * does not grow by the size of the kernel and initrd. */
int loader_map_file(const char *path, uint64_t max, uint8_t **out, size_t *out_len,
		    const char **why);
void loader_release_pages(const uint8_t *map, size_t len);
void loader_unmap_file(const uint8_t *map, size_t len);

/* loader_load_file: the same, reading the image from `path`. */
int loader_load_file(struct guest_mem *mem, const char *path, uint64_t addr,
		     struct boot_entry *entry, const char **why);

#endif

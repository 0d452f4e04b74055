/* The QEMU firmware configuration device (fw_cfg), read-only, on the x86
 * ports. Register behaviour and the DMA interface follow QEMU's
 * docs/specs/fw_cfg.rst (section names in the comments); what SeaBIOS 1.16
 * does with it is in docs/fw_cfg.md. */
#include "hw/fw_cfg.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The two port ranges: selector + data, and the 64-bit DMA address. */
#define FW_CFG_CTL_PORTS 2
#define FW_CFG_REG_SELECTOR 0
#define FW_CFG_REG_DATA 1
#define FW_CFG_DMA_PORTS 8

/* "Signature": key 0x00 reads "QEMU"; reading the DMA address register
 * gives "QEMU CFG" (0x51454d5520434647, big-endian). */
static const uint8_t fw_cfg_signature[4] = { 'Q', 'E', 'M', 'U' };
static const uint8_t fw_cfg_dma_signature[FW_CFG_DMA_PORTS] = {
	'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G'
};

/* "Guest-side DMA Interface": struct FWCfgDmaAccess, big-endian: be32
 * control, be32 length, be64 address. */
#define FW_CFG_DMA_ACCESS_SIZE 16
#define FW_CFG_DMA_ACCESS_CONTROL 0
#define FW_CFG_DMA_ACCESS_LENGTH 4
#define FW_CFG_DMA_ACCESS_ADDRESS 8

#define FW_CFG_DMA_CTL_ERROR 0x01
#define FW_CFG_DMA_CTL_READ 0x02
#define FW_CFG_DMA_CTL_SKIP 0x04
#define FW_CFG_DMA_CTL_SELECT 0x08 /* the key is in bits 31-16 */
#define FW_CFG_DMA_CTL_WRITE 0x10

/* "File Directory": be32 count, then per file be32 size, be16 select,
 * be16 reserved, char name[56]. */
#define FW_CFG_DIR_HEADER 4
#define FW_CFG_DIR_ENTRY 64

/* "Ranges": generic keys stop at 0x3fff, so files take 0x20-0x3fff. */
#define FW_CFG_KEY_MASK 0x3fff
#define FW_CFG_MAX_FILES (FW_CFG_KEY_MASK + 1 - FW_CFG_FILE_FIRST)

/* The pages vm.c gives KVM with KVM_SET_IDENTITY_MAP_ADDR (one page at
 * 0xfeffc000) and KVM_SET_TSS_ADDR (three at 0xfeffd000). */
#define FW_CFG_KVM_PAGES_ADDR 0xfeffc000ULL
#define FW_CFG_KVM_PAGES_SIZE 0x4000ULL

struct fw_cfg_item {
	uint8_t *data;
	uint32_t len;
};

struct fw_cfg_keyed {
	uint16_t key;
	struct fw_cfg_item item;
};

struct fw_cfg_file {
	char name[FW_CFG_MAX_FILE_PATH];
	struct fw_cfg_item item;
};

struct fw_cfg {
	pthread_mutex_t lock;
	struct bus *pio;
	const struct guest_mem *mem;
	int ctl_registered, dma_registered;

	uint16_t selector; /* the selected key, bit 14 cleared */
	uint32_t offset;   /* into the selected item; never moves past its end */
	uint32_t dma_high; /* DMA address bits 63-32 as last written */

	struct fw_cfg_keyed *keyed; /* items by key, signature and ID among them */
	size_t nkeyed;
	struct fw_cfg_file *files;  /* sorted by name; files[i] has key 0x20 + i */
	size_t nfiles;
	struct fw_cfg_item dir;     /* FW_CFG_FILE_DIR, rebuilt as files come */
};

static uint32_t load_be32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static uint64_t load_be64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static void store_be32(void *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static const struct fw_cfg_item *fw_cfg_find(const struct fw_cfg *fw, uint16_t key)
{
	if (key == FW_CFG_FILE_DIR)
		return &fw->dir;
	if (key >= FW_CFG_FILE_FIRST && key <= FW_CFG_KEY_MASK)
		return (size_t)(key - FW_CFG_FILE_FIRST) < fw->nfiles
			       ? &fw->files[key - FW_CFG_FILE_FIRST].item
			       : NULL;
	for (size_t i = 0; i < fw->nkeyed; i++)
		if (fw->keyed[i].key == key)
			return &fw->keyed[i].item;
	return NULL;
}

/* "Selector Register": selecting rewinds the data offset; bit 14 (the old
 * write channel) names the same item. */
static void fw_cfg_select(struct fw_cfg *fw, uint16_t key)
{
	fw->selector = key & (uint16_t)~FW_CFG_WRITE_CHANNEL;
	fw->offset = 0;
}

/* "Data Register": the selected item's next byte; 0 past its end or when
 * no item has the key. */
static uint8_t fw_cfg_next_byte(struct fw_cfg *fw)
{
	const struct fw_cfg_item *item = fw_cfg_find(fw, fw->selector);

	if (!item || fw->offset >= item->len)
		return 0;
	return item->data[fw->offset++];
}

/* fw_cfg_dma_read: `length` bytes of the selected item from the offset on
 * to guest [gpa, gpa + length), zeros past the item's end. The whole
 * destination must be RAM, or nothing is written; the control value. */
static uint32_t fw_cfg_dma_read(struct fw_cfg *fw, uint64_t gpa, uint32_t length)
{
	const struct fw_cfg_item *item;
	uint8_t *dst;
	uint32_t n = 0;

	if (!length)
		return 0;
	dst = mem_ptr(fw->mem, gpa, length);
	if (!dst)
		return FW_CFG_DMA_CTL_ERROR;
	item = fw_cfg_find(fw, fw->selector);
	if (item && fw->offset < item->len) {
		n = item->len - fw->offset < length ? item->len - fw->offset : length;
		memcpy(dst, item->data + fw->offset, n);
		fw->offset += n;
	}
	memset(dst + n, 0, length - n);
	return 0;
}

static void fw_cfg_dma_skip(struct fw_cfg *fw, uint32_t length)
{
	const struct fw_cfg_item *item = fw_cfg_find(fw, fw->selector);

	if (item && fw->offset < item->len)
		fw->offset += item->len - fw->offset < length ? item->len - fw->offset
							      : length;
}

/* fw_cfg_dma: run the FWCfgDmaAccess at guest `access_gpa` to the end
 * ("Guest-side DMA Interface") and write the outcome to its control field:
 * 0, or the error bit. The guest may change the structure while we work,
 * so it is read once. Writes are refused: every item is read-only. */
static void fw_cfg_dma(struct fw_cfg *fw, uint64_t access_gpa)
{
	uint8_t *access = mem_ptr(fw->mem, access_gpa, FW_CFG_DMA_ACCESS_SIZE);
	uint32_t control, length, result = 0;
	uint64_t address;

	if (!access) {
		/* As QEMU: report the error if at least `control` is RAM. */
		access = mem_ptr(fw->mem, access_gpa, sizeof(uint32_t));
		if (access)
			store_be32(access + FW_CFG_DMA_ACCESS_CONTROL, FW_CFG_DMA_CTL_ERROR);
		return;
	}
	control = load_be32(access + FW_CFG_DMA_ACCESS_CONTROL);
	length = load_be32(access + FW_CFG_DMA_ACCESS_LENGTH);
	address = load_be64(access + FW_CFG_DMA_ACCESS_ADDRESS);

	if (control & FW_CFG_DMA_CTL_SELECT)
		fw_cfg_select(fw, (uint16_t)(control >> 16));
	/* Read wins over write, write over skip (QEMU's order). */
	if (control & FW_CFG_DMA_CTL_READ)
		result = fw_cfg_dma_read(fw, address, length);
	else if (control & FW_CFG_DMA_CTL_WRITE)
		result = FW_CFG_DMA_CTL_ERROR;
	else if (control & FW_CFG_DMA_CTL_SKIP)
		fw_cfg_dma_skip(fw, length);
	store_be32(access + FW_CFG_DMA_ACCESS_CONTROL, result);
}

static void fw_cfg_ctl_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct fw_cfg *fw = opaque;
	uint8_t *out = data;

	memset(data, 0, size);
	/* The selector is write-only. A wider read of the data register
	 * gives that many bytes in a row ("Data Register"). */
	if (offset != FW_CFG_REG_DATA)
		return;
	pthread_mutex_lock(&fw->lock);
	for (unsigned i = 0; i < size; i++)
		out[i] = fw_cfg_next_byte(fw);
	pthread_mutex_unlock(&fw->lock);
}

static void fw_cfg_ctl_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct fw_cfg *fw = opaque;
	uint16_t key;

	/* Only a 16-bit write selects; data-register writes have been
	 * ignored since QEMU 2.4. */
	if (offset != FW_CFG_REG_SELECTOR || size != sizeof(key))
		return;
	memcpy(&key, data, sizeof(key));
	pthread_mutex_lock(&fw->lock);
	fw_cfg_select(fw, le16toh(key));
	pthread_mutex_unlock(&fw->lock);
}

static void fw_cfg_dma_reg_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	(void)opaque;
	memcpy(data, fw_cfg_dma_signature + offset, size);
}

/* The address register is big-endian: SeaBIOS does
 * outl(cpu_to_be32(addr), 0x518). Writing the low half (or all 64 bits
 * at once) starts the transfer; afterwards the register is 0 again. Other
 * widths are ignored, as QEMU ignores them. */
static void fw_cfg_dma_reg_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct fw_cfg *fw = opaque;

	pthread_mutex_lock(&fw->lock);
	if (size == 4 && offset == 0) {
		fw->dma_high = load_be32(data);
	} else if (size == 4 && offset == 4) {
		fw_cfg_dma(fw, (uint64_t)fw->dma_high << 32 | load_be32(data));
		fw->dma_high = 0;
	} else if (size == 8 && offset == 0) {
		fw_cfg_dma(fw, load_be64(data));
		fw->dma_high = 0;
	}
	pthread_mutex_unlock(&fw->lock);
}

static const struct bus_ops fw_cfg_ctl_ops = {
	.read = fw_cfg_ctl_read,
	.write = fw_cfg_ctl_write,
};

static const struct bus_ops fw_cfg_dma_ops = {
	.read = fw_cfg_dma_reg_read,
	.write = fw_cfg_dma_reg_write,
};

/* fw_cfg_copy: a malloc'd copy of data in *item (data NULL when empty). */
static int fw_cfg_copy(struct fw_cfg_item *item, const void *data, size_t len)
{
	item->data = NULL;
	item->len = 0;
	if (len > UINT32_MAX)
		return -EFBIG;
	if (len && !data)
		return -EINVAL;
	item->len = (uint32_t)len;
	if (len) {
		item->data = malloc(len);
		if (!item->data)
			return -ENOMEM;
		memcpy(item->data, data, len);
	}
	return 0;
}

/* fw_cfg_put_keyed: store `item` (taking it over) under key, replacing
 * what was there. */
static int fw_cfg_put_keyed(struct fw_cfg *fw, uint16_t key, struct fw_cfg_item item)
{
	struct fw_cfg_keyed *grown;

	for (size_t i = 0; i < fw->nkeyed; i++) {
		if (fw->keyed[i].key == key) {
			free(fw->keyed[i].item.data);
			fw->keyed[i].item = item;
			return 0;
		}
	}
	grown = realloc(fw->keyed, (fw->nkeyed + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	fw->keyed = grown;
	fw->keyed[fw->nkeyed++] = (struct fw_cfg_keyed){ key, item };
	return 0;
}

/* fw_cfg_dir_fill: the directory for files[0..n) into dir (room for it). */
static void fw_cfg_dir_fill(uint8_t *dir, const struct fw_cfg_file *files, size_t n)
{
	store_be32(dir, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = dir + FW_CFG_DIR_HEADER + i * FW_CFG_DIR_ENTRY;
		uint16_t select = htobe16((uint16_t)(FW_CFG_FILE_FIRST + i));

		memset(e, 0, FW_CFG_DIR_ENTRY);
		store_be32(e, files[i].item.len);
		memcpy(e + 4, &select, sizeof(select));
		memcpy(e + 8, files[i].name, strlen(files[i].name));
	}
}

int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len)
{
	size_t namelen = strlen(name), pos;
	struct fw_cfg_item item, dir;
	struct fw_cfg_file *grown;
	int cmp = 1, err;

	if (!namelen || namelen >= FW_CFG_MAX_FILE_PATH)
		return -EINVAL;
	err = fw_cfg_copy(&item, data, len);
	if (err)
		return err;

	pthread_mutex_lock(&fw->lock);
	for (pos = 0; pos < fw->nfiles; pos++) {
		cmp = strcmp(name, fw->files[pos].name);
		if (cmp <= 0)
			break;
	}
	if (cmp == 0) {
		/* A new size shows in the directory entry. */
		free(fw->files[pos].item.data);
		fw->files[pos].item = item;
		fw_cfg_dir_fill(fw->dir.data, fw->files, fw->nfiles);
		pthread_mutex_unlock(&fw->lock);
		return 0;
	}
	err = -ENOSPC;
	if (fw->nfiles == FW_CFG_MAX_FILES)
		goto fail;
	err = -ENOMEM;
	dir.len = FW_CFG_DIR_HEADER + (uint32_t)(fw->nfiles + 1) * FW_CFG_DIR_ENTRY;
	dir.data = malloc(dir.len);
	if (!dir.data)
		goto fail;
	grown = realloc(fw->files, (fw->nfiles + 1) * sizeof(*grown));
	if (!grown) {
		free(dir.data);
		goto fail;
	}
	fw->files = grown;
	memmove(&fw->files[pos + 1], &fw->files[pos], (fw->nfiles - pos) * sizeof(*grown));
	memset(&fw->files[pos], 0, sizeof(*grown));
	memcpy(fw->files[pos].name, name, namelen);
	fw->files[pos].item = item;
	fw->nfiles++;
	fw_cfg_dir_fill(dir.data, fw->files, fw->nfiles);
	free(fw->dir.data);
	fw->dir = dir;
	pthread_mutex_unlock(&fw->lock);
	return 0;
fail:
	pthread_mutex_unlock(&fw->lock);
	free(item.data);
	return err;
}

int fw_cfg_add_key(struct fw_cfg *fw, uint16_t key, const void *data, size_t len)
{
	struct fw_cfg_item item;
	uint16_t index = key & FW_CFG_KEY_MASK;
	int err;

	if ((key & FW_CFG_WRITE_CHANNEL) ||
	    (!(key & FW_CFG_ARCH_LOCAL) &&
	     (index == FW_CFG_SIGNATURE || index == FW_CFG_ID ||
	      index == FW_CFG_FILE_DIR || index >= FW_CFG_FILE_FIRST)))
		return -EINVAL;
	err = fw_cfg_copy(&item, data, len);
	if (err)
		return err;
	pthread_mutex_lock(&fw->lock);
	err = fw_cfg_put_keyed(fw, key, item);
	pthread_mutex_unlock(&fw->lock);
	if (err)
		free(item.data);
	return err;
}

int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t value)
{
	value = htole16(value);
	return fw_cfg_add_key(fw, key, &value, sizeof(value));
}

int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t value)
{
	value = htole32(value);
	return fw_cfg_add_key(fw, key, &value, sizeof(value));
}

int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t value)
{
	value = htole64(value);
	return fw_cfg_add_key(fw, key, &value, sizeof(value));
}

static void e820_put(uint8_t *e, uint64_t addr, uint64_t len, uint32_t type)
{
	addr = htole64(addr);
	len = htole64(len);
	type = htole32(type);
	memcpy(e, &addr, 8);
	memcpy(e + 8, &len, 8);
	memcpy(e + 16, &type, 4);
}

int fw_cfg_add_e820(struct fw_cfg *fw, const struct guest_mem *mem)
{
	uint8_t table[(MEM_MAX_REGIONS + 1) * FW_CFG_E820_ENTRY_SIZE];
	unsigned n = 0;
	int reserved_done = 0;

	/* Regions come in address order; the KVM pages go below 4 GiB. */
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct mem_region *r = &mem->regions[i];

		if (!reserved_done && r->gpa > FW_CFG_KVM_PAGES_ADDR) {
			e820_put(table + n++ * FW_CFG_E820_ENTRY_SIZE, FW_CFG_KVM_PAGES_ADDR,
				 FW_CFG_KVM_PAGES_SIZE, FW_CFG_E820_RESERVED);
			reserved_done = 1;
		}
		e820_put(table + n++ * FW_CFG_E820_ENTRY_SIZE, r->gpa, r->size,
			 FW_CFG_E820_RAM);
	}
	if (!reserved_done)
		e820_put(table + n++ * FW_CFG_E820_ENTRY_SIZE, FW_CFG_KVM_PAGES_ADDR,
			 FW_CFG_KVM_PAGES_SIZE, FW_CFG_E820_RESERVED);
	return fw_cfg_add_file(fw, FW_CFG_E820_FILE, table, n * FW_CFG_E820_ENTRY_SIZE);
}

void fw_cfg_reset(struct fw_cfg *fw)
{
	pthread_mutex_lock(&fw->lock);
	fw_cfg_select(fw, FW_CFG_SIGNATURE);
	fw->dma_high = 0;
	pthread_mutex_unlock(&fw->lock);
}

struct fw_cfg *fw_cfg_new(struct bus *pio, const struct guest_mem *mem)
{
	struct fw_cfg *fw = calloc(1, sizeof(*fw));
	struct fw_cfg_item sig, id, dir;
	uint32_t features = htole32(FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	uint32_t no_files = 0;

	if (!fw)
		return NULL;
	pthread_mutex_init(&fw->lock, NULL);
	fw->pio = pio;
	fw->mem = mem;
	if (fw_cfg_copy(&sig, fw_cfg_signature, sizeof(fw_cfg_signature)) ||
	    fw_cfg_put_keyed(fw, FW_CFG_SIGNATURE, sig)) {
		free(sig.data);
		goto fail;
	}
	if (fw_cfg_copy(&id, &features, sizeof(features)) ||
	    fw_cfg_put_keyed(fw, FW_CFG_ID, id)) {
		free(id.data);
		goto fail;
	}
	if (fw_cfg_copy(&dir, &no_files, sizeof(no_files)))
		goto fail;
	fw->dir = dir;
	if (bus_register(pio, FW_CFG_PORT_SELECTOR, FW_CFG_CTL_PORTS, &fw_cfg_ctl_ops,
			 fw, "fw_cfg"))
		goto fail;
	fw->ctl_registered = 1;
	if (bus_register(pio, FW_CFG_PORT_DMA_HIGH, FW_CFG_DMA_PORTS, &fw_cfg_dma_ops,
			 fw, "fw_cfg-dma"))
		goto fail;
	fw->dma_registered = 1;
	return fw;
fail:
	fw_cfg_free(fw);
	return NULL;
}

void fw_cfg_free(struct fw_cfg *fw)
{
	if (!fw)
		return;
	if (fw->ctl_registered)
		bus_unregister(fw->pio, FW_CFG_PORT_SELECTOR);
	if (fw->dma_registered)
		bus_unregister(fw->pio, FW_CFG_PORT_DMA_HIGH);
	for (size_t i = 0; i < fw->nkeyed; i++)
		free(fw->keyed[i].item.data);
	for (size_t i = 0; i < fw->nfiles; i++)
		free(fw->files[i].item.data);
	free(fw->keyed);
	free(fw->files);
	free(fw->dir.data);
	pthread_mutex_destroy(&fw->lock);
	free(fw);
}

static void fw_cfg_destroy_hook(void *opaque)
{
	fw_cfg_free(opaque);
}

static void fw_cfg_reset_hook(void *opaque)
{
	fw_cfg_reset(opaque);
}

struct fw_cfg *fw_cfg_create(struct vm *vm)
{
	struct fw_cfg *fw = fw_cfg_new(&vm->pio, &vm->mem);

	if (!fw || vm_on_destroy(vm, fw_cfg_destroy_hook, fw)) {
		fw_cfg_free(fw);
		log_error("cannot set up fw_cfg at %#x", FW_CFG_PORT_SELECTOR);
		return NULL;
	}
	/* From here on vm_destroy frees it. */
	if (vm_on_reset(vm, fw_cfg_reset_hook, fw)) {
		log_error("cannot set up fw_cfg's reset");
		return NULL;
	}
	return fw;
}

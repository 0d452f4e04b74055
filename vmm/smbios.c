/* Builds duet's SMBIOS tables (see smbios.h and docs/smbios.md). Layouts:
 * DMTF DSP0134 2.8.0, section 5.2.1 (the 2.1 entry point), 6.1 (structure
 * and string set), 7.1 type 0, 7.2 type 1, 7.4 type 3, 7.5 type 4, 7.17
 * type 16, 7.18 type 17, 7.20 type 19, 7.33 type 32, 7.46 type 127. Each
 * structure is a formatted area written at the offsets below, then its
 * strings, each NUL-terminated, then one more NUL (two when it has none). */
#include "smbios.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"
#include "mem.h"
#include "vm.h"
#include "parse.h"

/* What the machine calls itself (types 1 and 3). The version is the
 * virtual platform's: raise it when the hardware a guest sees changes. */
#define SMBIOS_MANUFACTURER "duet"
#define SMBIOS_PRODUCT "duet-vmm (i440FX + PIIX)"
#define SMBIOS_PLATFORM_VERSION "1"
#define SMBIOS_SKU "duet-vmm-bios"
#define SMBIOS_FAMILY "duet"
#define SMBIOS_BIOS_VENDOR "SeaBIOS"
/* SeaBIOS's own type 0 gives every build this date (biostables.c
 * BIOS_DATE); keep it, as guests have seen it for years. */
#define SMBIOS_BIOS_DATE "04/01/2014"
/* The BIOS runs from 0xe0000 (bios_boot.c copies its last 128 KiB there). */
#define SMBIOS_BIOS_SEGMENT 0xe000

/* 5.2.1: the 2.1 entry point. */
#define EP_ANCHOR 0x00            /* "_SM_" */
#define EP_CHECKSUM 0x04          /* bytes 0x00-0x1e sum to 0 */
#define EP_LENGTH 0x05
#define EP_MAJOR 0x06
#define EP_MINOR 0x07
#define EP_MAX_STRUCTURE 0x08     /* WORD: the largest structure, strings included */
#define EP_REVISION 0x0a
#define EP_INTERMEDIATE 0x10      /* "_DMI_" */
#define EP_INTERMEDIATE_CHECKSUM 0x15 /* bytes 0x10-0x1e sum to 0 */
#define EP_TABLE_LENGTH 0x16      /* WORD */
#define EP_TABLE_ADDRESS 0x18     /* DWORD */
#define EP_STRUCTURES 0x1c        /* WORD */
#define EP_BCD_REVISION 0x1e
#define SMBIOS_MAJOR 2
#define SMBIOS_MINOR 8

/* 6.1.2: the header of every structure. */
#define HDR_TYPE 0x00
#define HDR_LENGTH 0x01
#define HDR_HANDLE 0x02
#define HDR_SIZE 4

/* 7.1: BIOS Information. */
#define T0_VENDOR 0x04
#define T0_VERSION 0x05
#define T0_START_SEGMENT 0x06
#define T0_RELEASE_DATE 0x08
#define T0_ROM_SIZE 0x09          /* 64 KiB * (n + 1) */
#define T0_CHARACTERISTICS 0x0a   /* QWORD, 7.1.1 */
#define T0_EXTENSION1 0x12        /* 7.1.2.1 */
#define T0_EXTENSION2 0x13        /* 7.1.2.2 */
#define T0_BIOS_MAJOR 0x14
#define T0_BIOS_MINOR 0x15
#define T0_EC_MAJOR 0x16
#define T0_EC_MINOR 0x17
#define T0_SIZE 0x18
#define T0_PCI (1ULL << 7)
#define T0_PNP (1ULL << 9)
#define T0_SHADOWING (1ULL << 12)
#define T0_CD_BOOT (1ULL << 15)
#define T0_SELECTABLE_BOOT (1ULL << 16)
#define T0_EDD (1ULL << 19)
#define T0_INT9_KEYBOARD (1ULL << 27)
#define T0_INT14_SERIAL (1ULL << 28)
#define T0_EXT1_ACPI 0x01
#define T0_EXT2_BBS 0x01
#define T0_EXT2_TARGETED_CONTENT 0x04 /* Windows' SVVP wants it */
#define T0_EXT2_VIRTUAL_MACHINE 0x10
#define T0_NOT_SUPPORTED 0xff     /* release numbers we do not know; no EC */

/* 7.2: System Information. */
#define T1_MANUFACTURER 0x04
#define T1_PRODUCT 0x05
#define T1_VERSION 0x06
#define T1_SERIAL 0x07
#define T1_UUID 0x08              /* 7.2.1: first three fields little-endian */
#define T1_WAKE_UP 0x18
#define T1_SKU 0x19
#define T1_FAMILY 0x1a
#define T1_SIZE 0x1b
#define T1_WAKE_UP_POWER_SWITCH 0x06

/* 7.4: System Enclosure or Chassis, no contained elements. */
#define T3_MANUFACTURER 0x04
#define T3_TYPE 0x05
#define T3_VERSION 0x06
#define T3_SERIAL 0x07
#define T3_ASSET_TAG 0x08
#define T3_BOOT_UP_STATE 0x09
#define T3_POWER_SUPPLY_STATE 0x0a
#define T3_THERMAL_STATE 0x0b
#define T3_SECURITY_STATUS 0x0c
#define T3_OEM 0x0d
#define T3_HEIGHT 0x11
#define T3_POWER_CORDS 0x12
#define T3_ELEMENT_COUNT 0x13
#define T3_ELEMENT_LENGTH 0x14
#define T3_SKU 0x15               /* after n * m bytes of elements: n = 0 */
#define T3_SIZE 0x16
#define T3_TYPE_DESKTOP 0x03
#define T3_STATE_SAFE 0x03
#define T3_SECURITY_NONE 0x03

/* 7.5: Processor Information. */
#define T4_SOCKET 0x04
#define T4_TYPE 0x05
#define T4_FAMILY 0x06
#define T4_MANUFACTURER 0x07
#define T4_ID 0x08                /* CPUID 1 EAX, then EDX */
#define T4_VERSION 0x10
#define T4_VOLTAGE 0x11
#define T4_EXTERNAL_CLOCK 0x12
#define T4_MAX_SPEED 0x14
#define T4_CURRENT_SPEED 0x16
#define T4_STATUS 0x18
#define T4_UPGRADE 0x19
#define T4_L1_CACHE 0x1a
#define T4_L2_CACHE 0x1c
#define T4_L3_CACHE 0x1e
#define T4_SERIAL 0x20
#define T4_ASSET_TAG 0x21
#define T4_PART 0x22
#define T4_CORE_COUNT 0x23
#define T4_CORE_ENABLED 0x24
#define T4_THREAD_COUNT 0x25
#define T4_CHARACTERISTICS 0x26   /* 7.5.9 */
#define T4_FAMILY2 0x28
#define T4_SIZE 0x2a
#define T4_TYPE_CENTRAL 0x03
#define T4_FAMILY_OTHER 0x01      /* CPUID does not name a 7.5.2 family */
#define T4_STATUS_POPULATED_ENABLED 0x41
#define T4_UPGRADE_OTHER 0x01
#define T4_NO_CACHE_INFO 0xffff
#define T4_64BIT 0x0004
#define T4_MULTI_CORE 0x0008
#define T4_HARDWARE_THREAD 0x0010
#define T4_EXECUTE_PROTECTION 0x0020

/* 7.17: Physical Memory Array. */
#define T16_LOCATION 0x04
#define T16_USE 0x05
#define T16_ERROR_CORRECTION 0x06
#define T16_MAX_CAPACITY 0x07     /* DWORD KiB; 0x80000000: see extended */
#define T16_ERROR_HANDLE 0x0b
#define T16_DEVICES 0x0d
#define T16_EXT_MAX_CAPACITY 0x0f /* QWORD bytes */
#define T16_SIZE 0x17
#define T16_LOCATION_SYSTEM_BOARD 0x03
#define T16_USE_SYSTEM_MEMORY 0x03
#define T16_ECC_NONE 0x03
#define T16_CAPACITY_EXTENDED 0x80000000u

/* 7.18: Memory Device. */
#define T17_ARRAY 0x04
#define T17_ERROR_HANDLE 0x06
#define T17_TOTAL_WIDTH 0x08
#define T17_DATA_WIDTH 0x0a
#define T17_SIZE_FIELD 0x0c       /* 7.18.5 */
#define T17_FORM_FACTOR 0x0e
#define T17_DEVICE_SET 0x0f
#define T17_LOCATOR 0x10
#define T17_BANK 0x11
#define T17_MEMORY_TYPE 0x12
#define T17_TYPE_DETAIL 0x13
#define T17_SPEED 0x15
#define T17_MANUFACTURER 0x17
#define T17_SERIAL 0x18
#define T17_ASSET_TAG 0x19
#define T17_PART 0x1a
#define T17_ATTRIBUTES 0x1b
#define T17_EXT_SIZE 0x1c         /* DWORD MiB, when the size field is 0x7fff */
#define T17_CONF_SPEED 0x20
#define T17_MIN_VOLTAGE 0x22
#define T17_MAX_VOLTAGE 0x24
#define T17_CONF_VOLTAGE 0x26
#define T17_SIZE 0x28
#define T17_WIDTH 64
#define T17_FORM_FACTOR_DIMM 0x09
#define T17_TYPE_RAM 0x07
#define T17_DETAIL_OTHER 0x0002
#define T17_SIZE_KIB 0x8000       /* bit 15: the size is in KiB */
#define T17_SIZE_EXTENDED 0x7fff

/* 7.20: Memory Array Mapped Address. */
#define T19_START 0x04            /* DWORD KiB; 0xffffffff: see extended */
#define T19_END 0x08              /* DWORD KiB, inclusive */
#define T19_ARRAY 0x0c
#define T19_PARTITION_WIDTH 0x0e
#define T19_EXT_START 0x0f        /* QWORD bytes */
#define T19_EXT_END 0x17          /* QWORD bytes, inclusive */
#define T19_SIZE 0x1f
#define T19_ADDRESS_EXTENDED 0xffffffffu

/* 7.33: System Boot Information. */
#define T32_STATUS 0x0a           /* after 6 reserved bytes */
#define T32_SIZE 0x0b
#define T32_NO_ERRORS 0x00

#define T127_SIZE 4

#define NO_ERROR_INFO 0xfffe      /* "not provided" (7.17.4, 7.18) */

/* Handles: the type in the high byte, the instance in the low one. */
#define HANDLE(type, instance) ((uint16_t)((type) << 8 | (instance)))

/* The longest formatted area (type 4); every one must fit. */
#define FORMATTED_MAX T4_SIZE
_Static_assert(T0_SIZE <= FORMATTED_MAX && T1_SIZE <= FORMATTED_MAX &&
	       T3_SIZE <= FORMATTED_MAX && T16_SIZE <= FORMATTED_MAX &&
	       T17_SIZE <= FORMATTED_MAX && T19_SIZE <= FORMATTED_MAX &&
	       T32_SIZE <= FORMATTED_MAX, "a formatted area outgrows smbios_struct");
#define STRINGS_MAX 8

/* One structure being put together. */
struct smbios_struct {
	uint8_t area[FORMATTED_MAX];
	uint8_t len;
	const char *strings[STRINGS_MAX];
	unsigned nstrings;
};

/* The tables being written into a buffer of SMBIOS_TABLES_MAX bytes. */
struct smbios_writer {
	uint8_t *buf;
	size_t len;
	unsigned count;
	size_t max_structure;
	int err;
};

static void put_le(uint8_t *p, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void st_begin(struct smbios_struct *s, uint8_t type, uint8_t len, uint16_t handle)
{
	memset(s, 0, sizeof(*s));
	s->len = len;
	s->area[HDR_TYPE] = type;
	s->area[HDR_LENGTH] = len;
	put_le(s->area + HDR_HANDLE, handle, 2);
}

static void st_put(struct smbios_struct *s, unsigned offset, uint64_t v, unsigned size)
{
	put_le(s->area + offset, v, size);
}

/* st_string: `str` as the structure's next string, its number stored at
 * `offset`; NULL or "" leaves the number 0 ("no string", 6.1.3). */
static void st_string(struct smbios_struct *s, unsigned offset, const char *str)
{
	if (!str || !*str || s->nstrings == STRINGS_MAX)
		return;
	s->strings[s->nstrings++] = str;
	s->area[offset] = (uint8_t)s->nstrings;
}

static void emit(struct smbios_writer *w, const struct smbios_struct *s)
{
	size_t need = s->len + 1;
	uint8_t *p;

	for (unsigned i = 0; i < s->nstrings; i++)
		need += strnlen(s->strings[i], SMBIOS_STRING_MAX) + 1;
	if (!s->nstrings)
		need++;
	if (w->err)
		return;
	if (need > SMBIOS_TABLES_MAX - w->len) {
		w->err = -E2BIG;
		return;
	}
	p = w->buf + w->len;
	memcpy(p, s->area, s->len);
	p += s->len;
	for (unsigned i = 0; i < s->nstrings; i++) {
		size_t n = strnlen(s->strings[i], SMBIOS_STRING_MAX);

		memcpy(p, s->strings[i], n);
		p += n;
		*p++ = 0;
	}
	if (!s->nstrings)
		*p++ = 0;
	*p = 0;
	w->len += need;
	w->count++;
	if (need > w->max_structure)
		w->max_structure = need;
}

/* release_numbers: "1.16.2..." or "rel-1.16.2..." gives 1 and 16. */
static void release_numbers(const char *version, uint8_t *major, uint8_t *minor)
{
	unsigned long a, b;
	char *end;

	*major = *minor = T0_NOT_SUPPORTED;
	if (!strncmp(version, "rel-", 4))
		version += 4;
	if (*version < '0' || *version > '9')
		return;
	a = strtoul(version, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return;
	b = strtoul(end + 1, NULL, 10);
	if (a < T0_NOT_SUPPORTED && b < T0_NOT_SUPPORTED) {
		*major = (uint8_t)a;
		*minor = (uint8_t)b;
	}
}

static void type0_bios(struct smbios_writer *w, const struct smbios_config *cfg)
{
	struct smbios_struct s;
	uint64_t rom_64k = (cfg->bios_image_size + 0xffff) >> 16;
	uint8_t major, minor;

	st_begin(&s, 0, T0_SIZE, HANDLE(0, 0));
	st_string(&s, T0_VENDOR, SMBIOS_BIOS_VENDOR);
	st_string(&s, T0_VERSION, cfg->bios_version);
	st_put(&s, T0_START_SEGMENT, SMBIOS_BIOS_SEGMENT, 2);
	st_string(&s, T0_RELEASE_DATE, SMBIOS_BIOS_DATE);
	/* 0xff would mean "see the 3.1 extended size", which 2.8 lacks. */
	st_put(&s, T0_ROM_SIZE, rom_64k == 0 ? 0 : rom_64k > 0xff ? 0xfe : rom_64k - 1, 1);
	/* What SeaBIOS offers; not "BIOS is upgradeable": nothing can flash it. */
	st_put(&s, T0_CHARACTERISTICS, T0_PCI | T0_PNP | T0_SHADOWING | T0_CD_BOOT |
	       T0_SELECTABLE_BOOT | T0_EDD | T0_INT9_KEYBOARD | T0_INT14_SERIAL, 8);
	st_put(&s, T0_EXTENSION1, T0_EXT1_ACPI, 1);
	st_put(&s, T0_EXTENSION2, T0_EXT2_BBS | T0_EXT2_TARGETED_CONTENT |
	       T0_EXT2_VIRTUAL_MACHINE, 1);
	release_numbers(cfg->bios_version, &major, &minor);
	st_put(&s, T0_BIOS_MAJOR, major, 1);
	st_put(&s, T0_BIOS_MINOR, minor, 1);
	st_put(&s, T0_EC_MAJOR, T0_NOT_SUPPORTED, 1);
	st_put(&s, T0_EC_MINOR, T0_NOT_SUPPORTED, 1);
	emit(w, &s);
}

static void type1_system(struct smbios_writer *w, const struct smbios_config *cfg,
			 const char *uuid_text)
{
	struct smbios_struct s;
	const uint8_t *u = cfg->uuid;
	uint8_t *dst;

	st_begin(&s, 1, T1_SIZE, HANDLE(1, 0));
	st_string(&s, T1_MANUFACTURER, SMBIOS_MANUFACTURER);
	st_string(&s, T1_PRODUCT, SMBIOS_PRODUCT);
	st_string(&s, T1_VERSION, SMBIOS_PLATFORM_VERSION);
	st_string(&s, T1_SERIAL, uuid_text);
	/* 7.2.1: time_low, time_mid, time_hi_and_version little-endian, the
	 * rest as printed (what Linux and Windows read since SMBIOS 2.6). */
	dst = s.area + T1_UUID;
	dst[0] = u[3], dst[1] = u[2], dst[2] = u[1], dst[3] = u[0];
	dst[4] = u[5], dst[5] = u[4];
	dst[6] = u[7], dst[7] = u[6];
	memcpy(dst + 8, u + 8, 8);
	st_put(&s, T1_WAKE_UP, T1_WAKE_UP_POWER_SWITCH, 1);
	st_string(&s, T1_SKU, SMBIOS_SKU);
	st_string(&s, T1_FAMILY, SMBIOS_FAMILY);
	emit(w, &s);
}

static void type3_chassis(struct smbios_writer *w, const struct smbios_config *cfg)
{
	struct smbios_struct s;

	st_begin(&s, 3, T3_SIZE, HANDLE(3, 0));
	st_string(&s, T3_MANUFACTURER, SMBIOS_MANUFACTURER);
	st_put(&s, T3_TYPE, T3_TYPE_DESKTOP, 1);
	st_string(&s, T3_VERSION, SMBIOS_PLATFORM_VERSION);
	st_string(&s, T3_ASSET_TAG, cfg->name);
	st_put(&s, T3_BOOT_UP_STATE, T3_STATE_SAFE, 1);
	st_put(&s, T3_POWER_SUPPLY_STATE, T3_STATE_SAFE, 1);
	st_put(&s, T3_THERMAL_STATE, T3_STATE_SAFE, 1);
	st_put(&s, T3_SECURITY_STATUS, T3_SECURITY_NONE, 1);
	/* OEM, height, power cords, contained elements (count and record
	 * length) and the SKU string all 0: not given. */
	emit(w, &s);
}

static const char *cpu_manufacturer(const char *vendor)
{
	if (!strcmp(vendor, "GenuineIntel"))
		return "Intel(R) Corporation";
	if (!strcmp(vendor, "AuthenticAMD"))
		return "Advanced Micro Devices, Inc.";
	if (!strcmp(vendor, "HygonGenuine"))
		return "Chengdu Haiguang IC Design Co., Ltd.";
	return vendor;
}

static void type4_processors(struct smbios_writer *w, const struct smbios_config *cfg)
{
	const struct smbios_cpu *cpu = &cfg->cpu;
	unsigned mhz = cpu->mhz > 0xffff ? 0xffff : cpu->mhz;
	unsigned characteristics = 0;
	const char *brand = cpu->brand;
	char socket_name[16];

	/* Intel pads its brand string with leading spaces. */
	while (*brand == ' ')
		brand++;
	if (cpu->long_mode)
		characteristics |= T4_64BIT;
	if (cfg->cores > 1)
		characteristics |= T4_MULTI_CORE;
	if (cfg->threads > 1)
		characteristics |= T4_HARDWARE_THREAD;
	if (cpu->nx)
		characteristics |= T4_EXECUTE_PROTECTION;
	for (unsigned i = 0; i < cfg->sockets; i++) {
		struct smbios_struct s;

		snprintf(socket_name, sizeof(socket_name), "CPU %u", i);
		st_begin(&s, 4, T4_SIZE, HANDLE(4, i));
		st_string(&s, T4_SOCKET, socket_name);
		st_put(&s, T4_TYPE, T4_TYPE_CENTRAL, 1);
		st_put(&s, T4_FAMILY, T4_FAMILY_OTHER, 1);
		st_string(&s, T4_MANUFACTURER, cpu_manufacturer(cpu->vendor));
		st_put(&s, T4_ID, cpu->signature, 4);
		st_put(&s, T4_ID + 4, cpu->features, 4);
		st_string(&s, T4_VERSION, brand);
		/* Voltage 0 (none given), external clock 0 (unknown). */
		st_put(&s, T4_MAX_SPEED, mhz, 2);
		st_put(&s, T4_CURRENT_SPEED, mhz, 2);
		st_put(&s, T4_STATUS, T4_STATUS_POPULATED_ENABLED, 1);
		st_put(&s, T4_UPGRADE, T4_UPGRADE_OTHER, 1);
		st_put(&s, T4_L1_CACHE, T4_NO_CACHE_INFO, 2);
		st_put(&s, T4_L2_CACHE, T4_NO_CACHE_INFO, 2);
		st_put(&s, T4_L3_CACHE, T4_NO_CACHE_INFO, 2);
		st_put(&s, T4_CORE_COUNT, cfg->cores, 1);
		st_put(&s, T4_CORE_ENABLED, cfg->cores, 1);
		st_put(&s, T4_THREAD_COUNT, cfg->cores * cfg->threads, 1);
		st_put(&s, T4_CHARACTERISTICS, characteristics, 2);
		st_put(&s, T4_FAMILY2, T4_FAMILY_OTHER, 2);
		emit(w, &s);
	}
}

/* The memory devices: SMBIOS_DIMM_SIZE each and a smaller last one, or
 * SMBIOS_MAX_MEMORY_DEVICES larger ones (whole GiB) for huge guests. */
static unsigned memory_devices(uint64_t total, uint64_t *device_size)
{
	uint64_t size = SMBIOS_DIMM_SIZE;

	if ((total + size - 1) / size > SMBIOS_MAX_MEMORY_DEVICES) {
		size = (total + SMBIOS_MAX_MEMORY_DEVICES - 1) / SMBIOS_MAX_MEMORY_DEVICES;
		size = (size + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);
	}
	*device_size = size;
	return (unsigned)((total + size - 1) / size);
}

static void type16_memory_array(struct smbios_writer *w, uint64_t total, unsigned devices)
{
	struct smbios_struct s;
	uint64_t kib = total >> 10;

	st_begin(&s, 16, T16_SIZE, HANDLE(16, 0));
	st_put(&s, T16_LOCATION, T16_LOCATION_SYSTEM_BOARD, 1);
	st_put(&s, T16_USE, T16_USE_SYSTEM_MEMORY, 1);
	st_put(&s, T16_ERROR_CORRECTION, T16_ECC_NONE, 1);
	/* The guest's RAM is all it can ever have. */
	if (kib >= T16_CAPACITY_EXTENDED) {
		st_put(&s, T16_MAX_CAPACITY, T16_CAPACITY_EXTENDED, 4);
		st_put(&s, T16_EXT_MAX_CAPACITY, total, 8);
	} else {
		st_put(&s, T16_MAX_CAPACITY, kib, 4);
	}
	st_put(&s, T16_ERROR_HANDLE, NO_ERROR_INFO, 2);
	st_put(&s, T16_DEVICES, devices, 2);
	emit(w, &s);
}

/* type17_size: the size field for `bytes` (7.18.5): MiB, or KiB with bit
 * 15 for a device under 32 MiB that is not whole MiB, or 0x7fff and the
 * MiB in the extended size from 32 GiB - 1 MiB up. Whole KiB or MiB are
 * kept; a remainder below that is dropped. */
static void type17_size(struct smbios_struct *s, uint64_t bytes)
{
	uint64_t mib = bytes >> 20, kib = bytes >> 10;

	if (bytes & ((1ULL << 20) - 1) && kib < T17_SIZE_EXTENDED)
		st_put(s, T17_SIZE_FIELD, T17_SIZE_KIB | kib, 2);
	else if (mib < T17_SIZE_EXTENDED)
		st_put(s, T17_SIZE_FIELD, mib, 2);
	else {
		st_put(s, T17_SIZE_FIELD, T17_SIZE_EXTENDED, 2);
		st_put(s, T17_EXT_SIZE, mib & 0x7fffffff, 4);
	}
}

static void type17_memory_devices(struct smbios_writer *w, uint64_t total, unsigned devices,
				  uint64_t device_size)
{
	char locator[16];

	for (unsigned i = 0; i < devices; i++) {
		uint64_t size = i + 1 < devices ? device_size : total - device_size * i;
		struct smbios_struct s;

		snprintf(locator, sizeof(locator), "DIMM %u", i);
		st_begin(&s, 17, T17_SIZE, HANDLE(17, i));
		st_put(&s, T17_ARRAY, HANDLE(16, 0), 2);
		st_put(&s, T17_ERROR_HANDLE, NO_ERROR_INFO, 2);
		st_put(&s, T17_TOTAL_WIDTH, T17_WIDTH, 2);
		st_put(&s, T17_DATA_WIDTH, T17_WIDTH, 2);
		type17_size(&s, size);
		st_put(&s, T17_FORM_FACTOR, T17_FORM_FACTOR_DIMM, 1);
		st_string(&s, T17_LOCATOR, locator);
		st_put(&s, T17_MEMORY_TYPE, T17_TYPE_RAM, 1);
		st_put(&s, T17_TYPE_DETAIL, T17_DETAIL_OTHER, 2);
		st_string(&s, T17_MANUFACTURER, SMBIOS_MANUFACTURER);
		/* Device set, speeds, rank and voltages 0: none, unknown. */
		emit(w, &s);
	}
}

static void type19_mapped_range(struct smbios_writer *w, unsigned instance, uint64_t start,
				uint64_t size)
{
	struct smbios_struct s;
	uint64_t end = start + size - 1;

	st_begin(&s, 19, T19_SIZE, HANDLE(19, instance));
	if ((end >> 10) < T19_ADDRESS_EXTENDED) {
		st_put(&s, T19_START, start >> 10, 4);
		st_put(&s, T19_END, end >> 10, 4);
	} else {
		st_put(&s, T19_START, T19_ADDRESS_EXTENDED, 4);
		st_put(&s, T19_END, T19_ADDRESS_EXTENDED, 4);
		st_put(&s, T19_EXT_START, start, 8);
		st_put(&s, T19_EXT_END, end, 8);
	}
	st_put(&s, T19_ARRAY, HANDLE(16, 0), 2);
	st_put(&s, T19_PARTITION_WIDTH, 1, 1);
	emit(w, &s);
}

static void type32_boot(struct smbios_writer *w)
{
	struct smbios_struct s;

	st_begin(&s, 32, T32_SIZE, HANDLE(32, 0));
	st_put(&s, T32_STATUS, T32_NO_ERRORS, 1);
	emit(w, &s);
}

static void type127_end(struct smbios_writer *w)
{
	struct smbios_struct s;

	st_begin(&s, 127, T127_SIZE, HANDLE(127, 0));
	emit(w, &s);
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

static void entry_point(uint8_t *ep, const struct smbios_writer *w)
{
	memset(ep, 0, SMBIOS_ANCHOR_SIZE);
	memcpy(ep + EP_ANCHOR, "_SM_", 4);
	ep[EP_LENGTH] = SMBIOS_ANCHOR_SIZE;
	ep[EP_MAJOR] = SMBIOS_MAJOR;
	ep[EP_MINOR] = SMBIOS_MINOR;
	put_le(ep + EP_MAX_STRUCTURE, w->max_structure, 2);
	ep[EP_REVISION] = 0;
	memcpy(ep + EP_INTERMEDIATE, "_DMI_", 5);
	put_le(ep + EP_TABLE_LENGTH, w->len, 2);
	put_le(ep + EP_TABLE_ADDRESS, 0, 4);
	put_le(ep + EP_STRUCTURES, w->count, 2);
	ep[EP_BCD_REVISION] = SMBIOS_MAJOR << 4 | SMBIOS_MINOR;
	ep[EP_INTERMEDIATE_CHECKSUM] = checksum(ep + EP_INTERMEDIATE,
						SMBIOS_ANCHOR_SIZE - EP_INTERMEDIATE);
	ep[EP_CHECKSUM] = checksum(ep, SMBIOS_ANCHOR_SIZE);
}

int smbios_build(const struct smbios_config *cfg, struct smbios_tables *out)
{
	struct smbios_writer w = { 0 };
	uint64_t total = cfg->ram_low + cfg->ram_high, device_size;
	char uuid_text[SMBIOS_UUID_TEXT_SIZE];
	unsigned devices, range = 0;

	memset(out, 0, sizeof(*out));
	if (cfg->sockets < 1 || cfg->sockets > SMBIOS_MAX_SOCKETS || cfg->cores < 1 ||
	    cfg->threads < 1 || cfg->cores > SMBIOS_MAX_CORES ||
	    cfg->threads > SMBIOS_MAX_CORES / cfg->cores || total == 0 ||
	    cfg->ram_low > MEM_HIGH_BASE || total < cfg->ram_low)
		return -EINVAL;
	w.buf = malloc(SMBIOS_TABLES_MAX);
	if (!w.buf)
		return -ENOMEM;
	devices = memory_devices(total, &device_size);
	smbios_uuid_format(cfg->uuid, uuid_text);

	type0_bios(&w, cfg);
	type1_system(&w, cfg, uuid_text);
	type3_chassis(&w, cfg);
	type4_processors(&w, cfg);
	type16_memory_array(&w, total, devices);
	type17_memory_devices(&w, total, devices, device_size);
	if (cfg->ram_low)
		type19_mapped_range(&w, range++, 0, cfg->ram_low);
	if (cfg->ram_high)
		type19_mapped_range(&w, range++, MEM_HIGH_BASE, cfg->ram_high);
	type32_boot(&w);
	type127_end(&w);
	if (w.err) {
		free(w.buf);
		return w.err;
	}
	entry_point(out->anchor, &w);
	out->tables = w.buf;
	out->tables_len = w.len;
	return 0;
}

void smbios_tables_free(struct smbios_tables *t)
{
	free(t->tables);
	t->tables = NULL;
	t->tables_len = 0;
}

int smbios_uuid_parse(const char *text, uint8_t uuid[SMBIOS_UUID_SIZE])
{
	unsigned n = 0;

	if (strlen(text) != SMBIOS_UUID_TEXT_SIZE - 1)
		return -EINVAL;
	for (unsigned i = 0; i < SMBIOS_UUID_TEXT_SIZE - 1; i++) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				return -EINVAL;
			continue;
		}
		hi = parse_hex_digit(text[i]);
		lo = parse_hex_digit(text[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		uuid[n++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return 0;
}

void smbios_uuid_format(const uint8_t u[SMBIOS_UUID_SIZE], char text[SMBIOS_UUID_TEXT_SIZE])
{
	snprintf(text, SMBIOS_UUID_TEXT_SIZE,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		 u[12], u[13], u[14], u[15]);
}

/* FNV-1a, 128 bits (draft-eastlake-fnv: prime 2^88 + 2^8 + 0x3b). */
#define FNV128_PRIME (((unsigned __int128)1 << 88) + 0x13b)
#define FNV128_OFFSET (((unsigned __int128)0x6c62272e07bb0142ULL << 64) | 0x62b821756295c58dULL)

void smbios_uuid_from_name(const char *name, uint8_t uuid[SMBIOS_UUID_SIZE])
{
	static const char prefix[] = "duet-vmm:";
	unsigned __int128 h = FNV128_OFFSET;

	for (const char *p = prefix; *p; p++)
		h = (h ^ (uint8_t)*p) * FNV128_PRIME;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * FNV128_PRIME;
	for (int i = SMBIOS_UUID_SIZE - 1; i >= 0; i--, h >>= 8)
		uuid[i] = (uint8_t)h;
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x80); /* version 8 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* variant 10 (RFC) */
}

static int version_char(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '.' || c == '-' || c == '_' || c == '+' || c == '~';
}

/* version_at: the length of a version string starting at p (NUL-ended
 * within `left` bytes), or 0. */
static size_t version_at(const uint8_t *p, size_t left)
{
	size_t n = 0, digits = 0;

	if (left >= 4 && !memcmp(p, "rel-", 4))
		n = 4;
	while (n < left && p[n] >= '0' && p[n] <= '9')
		n++, digits++;
	if (!digits || n + 1 >= left || p[n] != '.' || p[n + 1] < '0' || p[n + 1] > '9')
		return 0;
	while (n < left && version_char(p[n]))
		n++;
	if (n >= left || p[n] != 0 || n > SMBIOS_STRING_MAX)
		return 0;
	return n;
}

void smbios_bios_version(const uint8_t *image, size_t len, char *out, size_t outlen)
{
	if (outlen)
		out[0] = 0;
	for (size_t i = 1; i < len; i++) {
		size_t n;

		if (image[i - 1] != 0)
			continue;
		n = version_at(image + i, len - i);
		if (n && n < outlen) {
			memcpy(out, image + i, n);
			out[n] = 0;
			return;
		}
	}
}

/* KVM_GET_SUPPORTED_CPUID fills 256 entries on these machines; room left. */
#define CPUID_MAX_ENTRIES 512
#define CPUID_EXT_LM (1u << 29)
#define CPUID_EXT_NX (1u << 20)

static const struct kvm_cpuid_entry2 *cpuid_leaf(const struct kvm_cpuid2 *c, uint32_t fn)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == 0)
			return &c->entries[i];
	return NULL;
}

/* smbios_vcpu_cpu: what vCPU `fd` reports: its CPUID as set (vcpu.c) and
 * its TSC rate. */
static int smbios_vcpu_cpu(int fd, struct smbios_cpu *cpu)
{
	const struct kvm_cpuid_entry2 *e;
	struct kvm_cpuid2 *c;
	int khz;

	memset(cpu, 0, sizeof(*cpu));
	c = calloc(1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(fd, KVM_GET_CPUID2, c) < 0) {
		int err = -errno;

		free(c);
		return err;
	}
	if ((e = cpuid_leaf(c, 0))) {
		memcpy(cpu->vendor, &e->ebx, 4);
		memcpy(cpu->vendor + 4, &e->edx, 4);
		memcpy(cpu->vendor + 8, &e->ecx, 4);
	}
	if ((e = cpuid_leaf(c, 1))) {
		cpu->signature = e->eax;
		cpu->features = e->edx;
	}
	if ((e = cpuid_leaf(c, 0x80000001))) {
		cpu->long_mode = !!(e->edx & CPUID_EXT_LM);
		cpu->nx = !!(e->edx & CPUID_EXT_NX);
	}
	for (unsigned i = 0; i < 3; i++) {
		if (!(e = cpuid_leaf(c, 0x80000002 + i))) {
			cpu->brand[0] = 0;
			break;
		}
		memcpy(cpu->brand + 16 * i, &e->eax, 4);
		memcpy(cpu->brand + 16 * i + 4, &e->ebx, 4);
		memcpy(cpu->brand + 16 * i + 8, &e->ecx, 4);
		memcpy(cpu->brand + 16 * i + 12, &e->edx, 4);
	}
	free(c);
	khz = ioctl(fd, KVM_GET_TSC_KHZ);
	if (khz > 0)
		cpu->mhz = (unsigned)(khz + 500) / 1000;
	return 0;
}

int smbios_vm_config(const struct vm *vm, const uint8_t *bios, size_t bios_len,
		     struct smbios_config *cfg)
{
	const struct vm_config *c = vm->config;
	int err;

	memset(cfg, 0, sizeof(*cfg));
	smbios_bios_version(bios, bios_len, cfg->bios_version, sizeof(cfg->bios_version));
	cfg->bios_image_size = bios_len;
	cfg->name = c->name;
	if (c->uuid) {
		if (smbios_uuid_parse(c->uuid, cfg->uuid)) {
			log_error("--uuid '%s': not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
				  c->uuid);
			return -EINVAL;
		}
	} else {
		smbios_uuid_from_name(c->name ? c->name : "", cfg->uuid);
	}
	cfg->ram_low = mem_low_end(&vm->mem);
	cfg->ram_high = mem_high_size(&vm->mem);
	/* vcpu.c's topology: one package of ncpus cores, one thread each. */
	cfg->sockets = 1;
	cfg->cores = vm->ncpus;
	cfg->threads = 1;
	err = smbios_vcpu_cpu(vm->vcpus[0].fd, &cfg->cpu);
	if (err)
		log_error("cannot read vCPU 0's CPUID for SMBIOS: %s", strerror(-err));
	return err;
}

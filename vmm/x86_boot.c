/* Boot-time vCPU state for flat and ELF images. Segment and paging bits
 * follow the Intel SDM vol. 3A, 3.4.5 (segment descriptors) and 4.5
 * (4-level paging). */
#include "x86_boot.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"
#include "vm.h"

#define CR0_PE (1ULL << 0)
#define CR0_ET (1ULL << 4)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define PTE_P (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7)

/* GDT descriptors: flat 4 GiB, present, DPL 0 (SDM 3.4.5). */
#define GDT_CODE32 0x00cf9b000000ffffULL /* G, D, P, S, type 0xb */
#define GDT_DATA 0x00cf93000000ffffULL   /* G, B, P, S, type 0x3 */
#define GDT_CODE64 0x00af9b000000ffffULL /* G, L, P, S, type 0xb */

int x86_boot_tables(struct guest_mem *mem, enum boot_mode mode)
{
	const uint64_t gdt[4] = { 0, GDT_CODE32, GDT_CODE64, GDT_DATA };
	uint64_t table[512];

	if (mode == BOOT_REAL)
		return 0;
	if (mem_write(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt)))
		return -EFAULT;
	if (mode != BOOT_LONG)
		return 0;

	memset(table, 0, sizeof(table));
	table[0] = BOOT_PDPT_ADDR | PTE_P | PTE_RW;
	if (mem_write(mem, BOOT_PML4_ADDR, table, sizeof(table)))
		return -EFAULT;
	memset(table, 0, sizeof(table));
	for (unsigned i = 0; i < 4; i++)
		table[i] = (BOOT_PD_ADDR + i * 0x1000ULL) | PTE_P | PTE_RW;
	if (mem_write(mem, BOOT_PDPT_ADDR, table, sizeof(table)))
		return -EFAULT;
	for (unsigned i = 0; i < 4; i++) {
		for (unsigned j = 0; j < 512; j++)
			table[j] = ((uint64_t)i << 30) + ((uint64_t)j << 21) +
				   (PTE_P | PTE_RW | PTE_PS);
		if (mem_write(mem, BOOT_PD_ADDR + i * 0x1000ULL, table, sizeof(table)))
			return -EFAULT;
	}
	return 0;
}

static struct kvm_segment boot_segment(uint16_t selector, uint8_t type,
				       int l, int db)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector,
		.type = type, .present = 1, .dpl = 0, .db = (uint8_t)db,
		.s = 1, .l = (uint8_t)l, .g = 1,
	};
}

int x86_boot_vcpu(struct vcpu *vcpu, const struct boot_entry *entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;

	if (entry->mode == BOOT_REAL) {
		/* CS:IP = 0:addr below 64 KiB (what a boot sector expects),
		 * else addr>>4 : addr&15. */
		uint16_t cs = entry->rip < 0x10000 ? 0 : (uint16_t)(entry->rip >> 4);
		struct kvm_segment *segs[] = { &sregs.ds, &sregs.es, &sregs.fs,
					       &sregs.gs, &sregs.ss };

		sregs.cs.selector = cs;
		sregs.cs.base = (uint64_t)cs << 4;
		for (unsigned i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
			segs[i]->selector = 0;
			segs[i]->base = 0;
		}
		regs.rip = entry->rip - sregs.cs.base;
		regs.rsp = entry->rip < 0x10000 ? entry->rip : 0xfff0;
	} else {
		struct kvm_segment data = boot_segment(BOOT_SEL_DATA, 0x3, 0, 1);

		sregs.gdt.base = BOOT_GDT_ADDR;
		sregs.gdt.limit = 4 * 8 - 1;
		sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
		sregs.cr0 = CR0_PE | CR0_ET;
		if (entry->mode == BOOT_PROTECTED) {
			sregs.cs = boot_segment(BOOT_SEL_CODE32, 0xb, 0, 1);
		} else {
			sregs.cs = boot_segment(BOOT_SEL_CODE64, 0xb, 1, 0);
			sregs.cr3 = BOOT_PML4_ADDR;
			sregs.cr4 |= CR4_PAE;
			sregs.cr0 |= CR0_PG;
			sregs.efer |= EFER_LME | EFER_LMA;
		}
		regs.rip = entry->rip;
		regs.rsp = BOOT_STACK_TOP;
		regs.rsi = entry->rsi;
	}
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

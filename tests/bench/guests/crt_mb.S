/* Entry of a 32-bit benchmark guest that both duet-vmm (--load, ELF32:
 * flat protected mode at the ELF entry) and QEMU (-kernel, multiboot) can
 * start. Multiboot gives no stack, so set one up; then run main() and write
 * its return value to port 0x501 (duet-vmm: test-exit; QEMU:
 * -device isa-debug-exit,iobase=0x501, exit status (v << 1) | 1). */
	.code32
	.section .text.multiboot, "ax"
	.align 4
multiboot_header:
	.long 0x1badb002		/* magic */
	.long 0				/* flags: load by the ELF headers */
	.long -0x1badb002		/* checksum */

	.text
	.globl _start
_start:
	cli
	movl $stack_top, %esp
	call main
	movw $0x501, %dx
	outb %al, %dx
1:	cli
	hlt
	jmp 1b

	.bss
	.align 16
	.space 8192
stack_top:
	.section .note.GNU-stack,"",@progbits

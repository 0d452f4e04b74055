/* Entry of a 32-bit test guest: duet-vmm starts it in flat protected mode
 * with a stack; run main() and report its return value as exit status. */
	.code32
	.text
	.globl _start
_start:
	call main
	movw $0x501, %dx
	outb %al, %dx
1:	cli
	hlt
	jmp 1b
	.section .note.GNU-stack,"",@progbits

/* Entry of a 64-bit test guest: duet-vmm starts it in long mode with the
 * first 4 GiB identity-mapped and a stack; run main() and report its
 * return value as exit status. */
	.code64
	.text
	.globl _start
_start:
	andq $-16, %rsp
	call main
	movw $0x501, %dx
	outb %al, %dx
1:	cli
	hlt
	jmp 1b
	.section .note.GNU-stack,"",@progbits

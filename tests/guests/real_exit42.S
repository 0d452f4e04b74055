/* Real-mode guest: the value written to port 0x501 becomes duet-vmm's exit
 * status, here 42, with a 16-bit write.
 * expect-exit: 42
 */
	.code16
	.text
	.globl _start
_start:
	movw $42, %ax
	movw $0x501, %dx
	outw %ax, %dx
	hlt

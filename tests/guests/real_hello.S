/* Real-mode guest: prints a line on COM1 and exits 0 through port 0x501.
 * expect-exit: 0
 * expect-serial: hello from real mode
 */
	.code16
	.text
	.globl _start
_start:
	cli
	movw $msg, %si
next:
	lodsb
	testb %al, %al
	jz done
	movb %al, %bl
	movw $0x3fd, %dx	/* LSR: wait for THRE */
wait:
	inb %dx, %al
	testb $0x20, %al
	jz wait
	movb %bl, %al
	movw $0x3f8, %dx
	outb %al, %dx
	jmp next
done:
	xorb %al, %al
	movw $0x501, %dx
	outb %al, %dx
	hlt
msg:
	.asciz "hello from real mode\n"

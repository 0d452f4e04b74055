/* A deliberately broken guest: it claims to print a greeting and exit 0,
 * but prints something else and exits 3. The kvm harness self-test runs it
 * to prove a failing guest fails the tier with a readable message.
 * expect-exit: 0
 * expect-serial: all good
 */
	.code16
	.text
	.globl _start
_start:
	movw $0x3f8, %dx
	movb $'X', %al
	outb %al, %dx
	movb $'\n', %al
	outb %al, %dx
	movb $3, %al
	movw $0x501, %dx
	outb %al, %dx
	hlt

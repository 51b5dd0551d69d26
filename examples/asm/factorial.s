# Factorial with a recursive bpf-to-bpf call, in kernel (LLVM) syntax.
# The argument is the first memory byte (r1 points to it); without memory, 5.
#   apiary run examples/asm/factorial.s --mem 06     -> r0 = 720
    r6 = 5
    if r2 == 0 goto start
    r6 = *(u8 *)(r1 + 0)
start:
    r1 = r6
    call fact
    exit
# fact(r1) = r1 <= 1 ? 1 : r1 * fact(r1 - 1); recursion depth is bounded
# by the kernel's 8 call frames, so arguments above 7 fail with a clear error.
fact:
    r0 = 1
    if r1 <= 1 goto out
    r6 = r1
    r1 += -1
    call fact
    r0 *= r6
out:
    exit

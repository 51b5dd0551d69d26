# Sums the bytes of the memory the program is given (r1 = address,
# r2 = length) and returns the sum in r0.
#   apiary run examples/asm/sum.s --mem 01020304     -> r0 = 10
    mov %r0, 0
    mov %r3, 0
loop:
    jge %r3, %r2, done
    mov %r4, %r1
    add %r4, %r3
    ldxb %r5, [%r4]
    add %r0, %r5
    add %r3, 1
    ja loop
done:
    exit

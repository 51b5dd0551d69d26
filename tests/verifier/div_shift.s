# Division and modulo by zero are defined at run time (x/0 = 0, x%0 = x)
# and allowed with a register divisor, but a constant divisor of 0 is
# refused. Shifts by an immediate must be below the operand width; by a
# register anything goes. Selftests: verifier_div0.c, verifier_sdiv.c,
# verifier/basic_instr.c, verifier_precision.c.

;; case divide_by_zero_immediate
;; type socket_filter
;; expect reject: div by zero
	r0 = 5
	r0 /= 0
	exit

;; case divide_by_zero_register
;; type socket_filter
;; expect accept
	r0 = 5
	r1 = 0
	r0 /= r1
	exit

;; case modulo_by_zero_immediate
;; type socket_filter
;; expect reject: div by zero
	r0 = 5
	r0 %= 0
	exit

;; case modulo_by_zero_register
;; type socket_filter
;; expect accept
	r0 = 5
	r1 = 0
	r0 %= r1
	exit

;; case divide_32bit_by_zero_immediate
;; type socket_filter
;; expect reject: div by zero
	w0 = 5
	w0 /= 0
	exit

;; case signed_divide_by_zero_immediate
;; type socket_filter
;; expect reject: div by zero
	r0 = 5
	r0 s/= 0
	exit

;; case signed_divide_by_zero_register
;; type socket_filter
;; expect accept
	r0 = 5
	r1 = 0
	r0 s/= r1
	exit

;; case signed_modulo_by_minus_one
;; type socket_filter
;; expect accept
	r0 = 5
	r0 s%= -1
	exit

;; case divide_by_unknown
;; type socket_filter
;; expect accept
	r2 = *(u32 *)(r1 + 0)
	r0 = 100
	r0 /= r2
	exit

;; case shift_64_by_63
;; type socket_filter
;; expect accept
	r0 = 1
	r0 <<= 63
	r0 >>= 63
	exit

;; case shift_64_by_64
;; type socket_filter
;; expect reject: invalid shift 64
	r0 = 1
	r0 <<= 64
	exit

;; case right_shift_64_by_64
;; type socket_filter
;; expect reject: invalid shift 64
	r0 = 1
	r0 >>= 64
	exit

;; case arithmetic_shift_64_by_64
;; type socket_filter
;; expect reject: invalid shift 64
	r0 = 1
	r0 s>>= 64
	exit

;; case shift_32_by_31
;; type socket_filter
;; expect accept
	w0 = 1
	w0 <<= 31
	exit

;; case shift_32_by_32
;; type socket_filter
;; expect reject: invalid shift 32
	w0 = 1
	w0 <<= 32
	exit

;; case shift_by_negative_immediate
;; type socket_filter
;; expect reject: invalid shift -1
	r0 = 1
	r0 <<= -1
	exit

;; case shift_by_large_register
;; type socket_filter
;; expect accept
	r0 = 1
	r1 = 100
	r0 <<= r1
	exit

;; case shift_by_unknown_register
;; type socket_filter
;; expect accept
	r1 = *(u32 *)(r1 + 0)
	r0 = 1
	r0 s>>= r1
	exit

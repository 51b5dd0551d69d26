/* Layout corner cases for the C dump: packing, padding, alignment and
 * bitfields, plus name clashes between types. */
struct packed_small {
	int a;
	char b;
} __attribute__((packed));

struct packed_misaligned {
	char a;
	int b;
	short c;
} __attribute__((packed));

struct aligned_big {
	char c;
	int x __attribute__((aligned(16)));
} __attribute__((aligned(32)));

struct bit_gaps {
	unsigned a : 1;
	unsigned : 7;
	unsigned b : 2;
	unsigned long long : 0;
	unsigned c : 4;
	char after;
	unsigned long long wide : 40;
};

struct holes {
	char a;
	long b;
	char c;
	short d;
	char e;
	int f;
};

struct empty {};

struct with_empty {
	struct empty e;
	int x;
};

union mixed {
	char c;
	long l;
	struct {
		char p;
		int q : 5;
	} s;
};

struct outer_packed {
	char x;
	struct packed_small inner;
	char y;
} __attribute__((packed));

struct holes holes_global;
struct packed_small packed_small_global;
struct packed_misaligned packed_misaligned_global;
struct aligned_big aligned_big_global;
struct bit_gaps bit_gaps_global;
struct with_empty with_empty_global;
union mixed mixed_global;
struct outer_packed outer_packed_global;

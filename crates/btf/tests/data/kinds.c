/* Every BTF kind clang emits: ints, floats, pointers, arrays, structs,
 * unions, enums (signed, unsigned, 64-bit), forward declarations,
 * typedef chains, qualifiers, functions and prototypes, variables in data
 * sections, declaration tags and type tags. */
typedef unsigned char u8;
typedef unsigned int u32;
typedef u32 my_u32;
typedef const my_u32 const_my_u32;
typedef unsigned long long u64;
typedef _Bool flag_t;

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __user __attribute__((btf_type_tag("user")))
#define __rcu __attribute__((btf_type_tag("rcu")))

enum color { RED, GREEN = 5, BLUE };
enum delta { MINUS_TWO = -2, MINUS_ONE = -1, ZERO = 0 };
enum wide { WIDE_SMALL = 1, WIDE_BIG = 0x123456789aULL };
enum wide_signed { WS_NEG = -0x123456789aLL, WS_POS = 7 };
enum { ANON_CONST_A = 10, ANON_CONST_B = 20 };

struct opaque;
union opaque_u;

struct point {
	int x;
	int y;
} __tag("point_tag");

union value {
	u32 as_u32;
	float as_float;
	double as_double;
	u8 bytes[8];
};

struct nested {
	struct point origin;
	struct point *next;
	union {
		int anon_i;
		struct {
			short lo;
			short hi;
		};
	};
	struct {
		char tag;
		enum color shade;
	} named_anon;
	enum { NESTED_A, NESTED_B } inline_enum;
	int matrix[3][4];
	const char *names[2];
	int (*callback)(int, const char *);
	void (*handlers[2])(void *);
	int (*(*fn_returning_ptr)(void))[5];
	volatile int counter;
	int *restrict rptr;
	int __user *user_ptr;
	struct opaque *hidden;
	union opaque_u *hidden_u;
	const_my_u32 cu;
	flag_t flag __tag("member_tag");
	unsigned a : 3;
	unsigned b : 5;
	signed c : 12;
	u64 d : 33;
	long double ld;
	char tail[];
};

typedef struct nested nested_t;
typedef nested_t *nested_ptr_t;
typedef int (*binop_t)(int, int);
typedef int (*vararg_fn_t)(int, ...);

struct self_ref {
	struct self_ref *prev;
	struct self_ref *next;
	struct other_ref *other;
};

struct other_ref {
	struct self_ref embedded;
	struct other_ref *back;
};

int counter_global __tag("global_tag") = 1;
static volatile unsigned long static_counter;
const volatile int ro_config = 42;
struct nested nested_global;
nested_ptr_t nested_ptr_global;
binop_t binop_global;
vararg_fn_t vararg_global;
enum delta delta_global;
enum wide wide_global;
enum wide_signed wide_signed_global;
union value value_global;
struct self_ref self_ref_global;
struct other_ref other_ref_global;
int __rcu *rcu_ptr_global;
long long ll_array[16];
char string_global[] = "apiary";

static __attribute__((noinline)) int helper(int a __tag("param_tag"), struct point *p)
{
	return a + p->x + (int)static_counter++;
}

__attribute__((section("xdp"), used)) int prog(void *ctx)
{
	struct point p = { 1, 2 };
	return helper(counter_global, &p) + ANON_CONST_B;
}

__attribute__((section("tc"), used)) __tag("func_tag") int second_prog(void *ctx)
{
	return ro_config + nested_global.matrix[1][2];
}

char LICENSE[] __attribute__((section("license"), used)) = "GPL";

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The map definition structs older loaders read from SEC("maps"), which
 * today's libbpf headers no longer declare: libbpf 0.x's struct
 * bpf_map_def, samples/bpf's longer one, and iproute2's struct bpf_elf_map
 * (include/bpf_elf.h) in its current and its first, shorter form.
 */
#ifndef LEGACY_DEFS_H
#define LEGACY_DEFS_H

#include <linux/types.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

/* samples/bpf's bpf_load.c definition (Linux 4.12 to 5.x): a map of maps
 * names its inner template by index in SEC("maps"). */
struct bpf_load_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
	unsigned int inner_map_idx;
	unsigned int numa_node;
};

/* iproute2's struct bpf_elf_map before map-in-map (Linux 4.x era). */
struct bpf_elf_map_v1 {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
};

#define PIN_OBJECT_NS 1
#define PIN_GLOBAL_NS 2

#endif

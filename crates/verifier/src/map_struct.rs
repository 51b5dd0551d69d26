//! Loads through a map pointer (`check_ptr_to_map_access`): with the
//! privileges Apiary models, a program may read the kernel's struct behind
//! a map (`struct bpf_array` for the array maps, `struct bpf_htab` for the
//! hash maps; `map->max_entries` through CO-RE is the common use), field
//! by field as a `btf_id` pointer is read, and never write it. The other
//! map types' structs are not modelled: their loads are refused.

use apiary_btf::BtfKind;
use apiary_kernel::types::MapType;

use crate::btf_ptr::{StructAccess, read_field};
use crate::error::Rejection;
use crate::regs::{RegState, RegType, Trust};

/// The kernel struct of a map of `map_type` (its ops' `map_btf_id`), for
/// the types modelled.
fn struct_name(map_type: MapType) -> Option<&'static str> {
    match map_type {
        MapType::ARRAY
        | MapType::PERCPU_ARRAY
        | MapType::PROG_ARRAY
        | MapType::PERF_EVENT_ARRAY
        | MapType::CGROUP_ARRAY
        | MapType::ARRAY_OF_MAPS => Some("bpf_array"),
        MapType::HASH
        | MapType::PERCPU_HASH
        | MapType::LRU_HASH
        | MapType::LRU_PERCPU_HASH
        | MapType::HASH_OF_MAPS => Some("bpf_htab"),
        _ => None,
    }
}

/// The load or store `a` through the map pointer `a.reg`; `None` for a
/// map whose struct is not modelled, or without the kernel's BTF (read
/// here on first use when the embedder gave none: few programs read a
/// map's struct).
pub(crate) fn access(a: &StructAccess, next_id: &mut u32) -> Option<Result<RegState, Rejection>> {
    let (regno, off) = (a.regno, a.off);
    let name = struct_name(a.prog.maps.get(a.reg.map as usize)?.map_type)?;
    let btf = a
        .prog
        .kernel_btf
        .or_else(|| crate::kernel_btf::kernel_btf().ok())?;
    let id = btf.find_by_name_kind(name, BtfKind::Struct)?;
    if off < 0 {
        return Some(a.refuse(
            format!("R{regno} is {name} invalid negative access: off={off}"),
            format!(
                "the access is {} bytes before the map's struct {name}",
                -off
            ),
        ));
    }
    if a.writes {
        return Some(a.refuse(
            format!("only read from {name} is supported"),
            format!("a program may read the map's struct {name}, not write it"),
        ));
    }
    let base = RegState {
        btf_id: id.0,
        trust: Trust::Plain,
        ..RegState::pointer(RegType::BtfId)
    };
    Some(read_field(btf, &StructAccess { reg: &base, ..*a }, next_id))
}

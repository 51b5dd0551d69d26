//! Which helpers may be given which map types
//! (`check_map_func_compatibility`): both ways, a map type limits the
//! helpers it may be passed to, and a helper limits the map types it takes.

use apiary_kernel::types::MapType;

use crate::error::Rejection;
use crate::helpers::HelperProto;

/// The helpers a map of `map` type may be passed to, or `None` when the
/// map type does not restrict them. Sockmaps and sockhashes are left out:
/// which of their updates are allowed depends on the program type.
fn helpers_of_map(map: MapType) -> Option<&'static [i32]> {
    Some(match map {
        MapType::PROG_ARRAY => &[12],
        MapType::PERF_EVENT_ARRAY => &[22, 25, 55, 111, 121],
        MapType::RINGBUF => &[130, 131, 134, 198, 199, 200],
        MapType::USER_RINGBUF => &[209],
        MapType::STACK_TRACE => &[27],
        MapType::CGROUP_ARRAY => &[33, 37],
        MapType::CGROUP_STORAGE | MapType::PERCPU_CGROUP_STORAGE => &[81],
        MapType::DEVMAP | MapType::DEVMAP_HASH | MapType::XSKMAP => &[51, 1],
        MapType::CPUMAP => &[51],
        MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS => &[1],
        MapType::REUSEPORT_SOCKARRAY => &[82],
        MapType::QUEUE | MapType::STACK => &[87, 88, 89],
        MapType::BLOOM_FILTER => &[87, 89],
        MapType::SK_STORAGE => &[107, 108, 194],
        MapType::INODE_STORAGE => &[145, 146, 194],
        MapType::TASK_STORAGE => &[156, 157, 194],
        MapType::CGRP_STORAGE => &[210, 211, 194],
        _ => return None,
    })
}

/// The map types helper `id` takes, or `None` when it takes any.
fn maps_of_helper(id: i32) -> Option<&'static [MapType]> {
    Some(match id {
        12 => &[MapType::PROG_ARRAY],
        22 | 25 | 55 | 111 | 121 => &[MapType::PERF_EVENT_ARRAY],
        130 | 131 | 134 | 198 | 199 | 200 => &[MapType::RINGBUF],
        209 => &[MapType::USER_RINGBUF],
        27 => &[MapType::STACK_TRACE],
        33 | 37 => &[MapType::CGROUP_ARRAY],
        51 => &[
            MapType::DEVMAP,
            MapType::DEVMAP_HASH,
            MapType::CPUMAP,
            MapType::XSKMAP,
        ],
        52 | 53 | 60 => &[MapType::SOCKMAP],
        70..=72 => &[MapType::SOCKHASH],
        81 => &[MapType::CGROUP_STORAGE, MapType::PERCPU_CGROUP_STORAGE],
        82 => &[
            MapType::REUSEPORT_SOCKARRAY,
            MapType::SOCKMAP,
            MapType::SOCKHASH,
        ],
        88 => &[MapType::QUEUE, MapType::STACK],
        87 | 89 => &[MapType::QUEUE, MapType::STACK, MapType::BLOOM_FILTER],
        195 => &[
            MapType::PERCPU_ARRAY,
            MapType::PERCPU_HASH,
            MapType::LRU_PERCPU_HASH,
        ],
        107 | 108 => &[MapType::SK_STORAGE],
        145 | 146 => &[MapType::INODE_STORAGE],
        156 | 157 => &[MapType::TASK_STORAGE],
        210 | 211 => &[MapType::CGRP_STORAGE],
        _ => return None,
    })
}

/// Refuses passing a map of type `map` to helper `proto`.
pub(crate) fn check(insn: usize, map: MapType, proto: &HelperProto) -> Result<(), Rejection> {
    let helper_ok = helpers_of_map(map).is_none_or(|ids| ids.contains(&proto.id));
    let map_ok = maps_of_helper(proto.id).is_none_or(|types| types.contains(&map));
    if helper_ok && map_ok {
        return Ok(());
    }
    Err(Rejection::new(
        insn,
        format!(
            "cannot pass map_type {} into func bpf_{}#{}",
            map.0, proto.name, proto.id
        ),
    )
    .cause(format!(
        "bpf_{} cannot be used with a {map} map",
        proto.name
    )))
}

//! Stack trace and socket maps against the running kernel: creation checks
//! and every host operation on the empty maps (Apiary never holds a stack
//! trace or a socket, and a fresh kernel map holds none either). Updates
//! pass the fd of an open regular file, which the kernel refuses as a
//! non-socket exactly as Apiary refuses every fd.

mod common;

use std::os::fd::AsRawFd;

use apiary_maps::*;
use common::*;

fn k32(k: u32) -> Vec<u8> {
    k.to_ne_bytes().to_vec()
}

#[test]
fn creation_checks_match_kernel() {
    if !kernel_available("creation_checks_match_kernel") {
        return;
    }
    use MapType::*;
    let d = |t, k, v, m, f| MapDef::new(t, k, v, m).with_flags(f);
    let cases = [
        d(StackTrace, 4, 8, 16, 0),
        d(StackTrace, 4, 1016, 16, 0),
        d(StackTrace, 4, 1024, 16, 0),
        d(StackTrace, 4, 12, 16, 0),
        d(StackTrace, 4, 4, 16, 0),
        d(StackTrace, 8, 8, 16, 0),
        d(StackTrace, 4, 8, 0, 0),
        d(StackTrace, 4, 32, 16, BPF_F_STACK_BUILD_ID),
        d(StackTrace, 4, 40, 16, BPF_F_STACK_BUILD_ID),
        d(StackTrace, 4, 32 * 127, 16, BPF_F_STACK_BUILD_ID),
        d(StackTrace, 4, 32 * 128, 16, BPF_F_STACK_BUILD_ID),
        d(StackTrace, 4, 8, 16, BPF_F_NO_PREALLOC),
        d(StackTrace, 4, 8, 16, BPF_F_RDONLY_PROG),
        d(StackTrace, 4, 8, 16, BPF_F_RDONLY),
        d(StackTrace, 4, 8, (1 << 31) + 1, 0),
        d(Sockmap, 4, 8, 4, 0),
        d(Sockmap, 4, 4, 4, 0),
        d(Sockmap, 4, 6, 4, 0),
        d(Sockmap, 8, 8, 4, 0),
        d(Sockmap, 4, 8, 0, 0),
        d(Sockmap, 4, 8, 4, BPF_F_NO_PREALLOC),
        d(Sockmap, 4, 8, 4, BPF_F_RDONLY_PROG),
        d(Sockmap, 4, 8, 4, BPF_F_WRONLY),
        d(Sockhash, 16, 8, 4, 0),
        d(Sockhash, 1, 4, 4, 0),
        d(Sockhash, 0, 8, 4, 0),
        d(Sockhash, 512, 8, 4, 0),
        d(Sockhash, 513, 8, 4, 0),
        d(Sockhash, 4, 2, 4, 0),
        d(Sockhash, 4, 8, 0, 0),
        d(Sockhash, 4, 8, 4, BPF_F_NO_PREALLOC),
        d(Sockhash, 4, 8, (1 << 27) + 1, 0),
        d(ReuseportSockarray, 4, 8, 4, 0),
        d(ReuseportSockarray, 4, 4, 4, 0),
        d(ReuseportSockarray, 4, 2, 4, 0),
        d(ReuseportSockarray, 8, 8, 4, 0),
        d(ReuseportSockarray, 4, 8, 0, 0),
        d(ReuseportSockarray, 4, 8, 4, BPF_F_MMAPABLE),
        d(ReuseportSockarray, 4, 8, 4, BPF_F_RDONLY_PROG),
        d(ReuseportSockarray, 4, 8, 4, BPF_F_NO_PREALLOC),
    ];
    assert_creation_matches_kernel(&cases);
}

/// A regular file's fd: a valid fd that is not a socket.
fn non_socket_fd() -> (std::fs::File, u32) {
    let file = std::fs::File::open("/dev/null").expect("open /dev/null");
    let fd = file.as_raw_fd() as u32;
    (file, fd)
}

fn value(fd: u64, size: usize) -> Vec<u8> {
    fd.to_ne_bytes()
        .get(..size)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

#[test]
fn empty_stack_trace_map_matches_kernel() {
    let def = MapDef::new(MapType::StackTrace, 4, 64, 10);
    let ops = vec![
        Op::Lookup(k32(0), 0),
        Op::Lookup(k32(15), 0),
        Op::Lookup(k32(16), 0),
        Op::Lookup(k32(0), BPF_F_LOCK),
        Op::Update(k32(0), vec![0; 64], BPF_ANY),
        Op::Delete(k32(0)),
        Op::Delete(k32(15)),
        Op::Delete(k32(16)),
        Op::NextKey(None),
        Op::NextKey(Some(k32(3))),
        Op::NextKey(Some(k32(99))),
        Op::LookupAndDelete(k32(0), 0),
        Op::LookupAndDelete(k32(0), BPF_F_LOCK),
        Op::LookupAndDelete(k32(0), 8),
        Op::LookupAndDelete(k32(99), 0),
    ];
    replay("empty_stack_trace_map_matches_kernel", &def, &ops);
    let build_id = MapDef::new(MapType::StackTrace, 4, 64, 4).with_flags(BPF_F_STACK_BUILD_ID);
    replay(
        "empty_build_id_stack_map_matches_kernel",
        &build_id,
        &[Op::Lookup(k32(1), 0), Op::NextKey(None), Op::Delete(k32(9))],
    );
}

fn socket_map_ops(key: &[u8], out_of_range: &[u8], value_size: usize, fd: u32) -> Vec<Op> {
    vec![
        Op::Lookup(key.to_vec(), 0),
        Op::Lookup(out_of_range.to_vec(), 0),
        Op::Update(key.to_vec(), value(u64::from(fd), value_size), BPF_ANY),
        Op::Update(key.to_vec(), value(u64::from(fd), value_size), BPF_NOEXIST),
        Op::Update(key.to_vec(), value(u64::from(fd), value_size), 7),
        Op::Update(out_of_range.to_vec(), value(u64::from(fd), value_size), 0),
        Op::Update(key.to_vec(), value(u64::from(u32::MAX), value_size), 0),
        Op::Update(key.to_vec(), value(u64::MAX, value_size), 0),
        Op::Update(key.to_vec(), value(1 << 31, value_size), 0),
        Op::Delete(key.to_vec()),
        Op::Delete(out_of_range.to_vec()),
        Op::NextKey(None),
        Op::NextKey(Some(key.to_vec())),
        Op::NextKey(Some(out_of_range.to_vec())),
        Op::LookupAndDelete(key.to_vec(), 0),
    ]
}

#[test]
fn empty_socket_maps_match_kernel() {
    let (_file, fd) = non_socket_fd();
    for value_size in [4u32, 8] {
        for ty in [MapType::Sockmap, MapType::ReuseportSockarray] {
            let def = MapDef::new(ty, 4, value_size, 4);
            let ops = socket_map_ops(&k32(1), &k32(4), value_size as usize, fd);
            replay(&format!("empty {ty:?} value {value_size}"), &def, &ops);
            let last = [Op::NextKey(Some(k32(3))), Op::NextKey(Some(k32(2)))];
            replay(&format!("{ty:?} walk"), &def, &last);
        }
        let def = MapDef::new(MapType::Sockhash, 12, value_size, 4);
        let ops = socket_map_ops(&[7; 12], &[0xff; 12], value_size as usize, fd);
        replay(&format!("empty sockhash value {value_size}"), &def, &ops);
    }
}

#[test]
fn socket_maps_are_empty_for_programs() {
    let map = Map::create(MapDef::new(MapType::Sockmap, 4, 8, 2), 1).expect("sockmap");
    assert_eq!(map.lookup(&k32(0), 0), Ok(None));
    assert_eq!(map.lookup(&k32(99), 0), Ok(None));
    assert_eq!(
        map.update(&k32(0), &[0; 8], BPF_ANY, 0)
            .map_err(|e| e.errno()),
        Err(-libc::EINVAL)
    );
    assert!(map.is_empty());
    let hash = Map::create(MapDef::new(MapType::Sockhash, 16, 8, 2), 1).expect("sockhash");
    assert_eq!(hash.lookup(&[1; 16], 0), Ok(None));
    assert_eq!(
        hash.delete(&[1; 16]).map_err(|e| e.errno()),
        Err(-libc::ENOENT)
    );
    // Hostile key lengths are typed errors, not panics.
    assert!(matches!(
        hash.lookup(&[1; 3], 0),
        Err(MapError::BadLength { .. })
    ));
    let stacks = Map::create(MapDef::new(MapType::StackTrace, 4, 16, 2), 1).expect("stacks");
    assert!(stacks.lookup(&k32(0), 0).is_err());
    assert!(matches!(
        stacks.sys_update(&k32(0), &[0; 3], BPF_ANY),
        Err(MapError::BadLength { .. })
    ));
}

#[test]
fn pin_files_keep_the_definition_of_empty_maps() {
    for def in [
        MapDef::new(MapType::StackTrace, 4, 16, 8).with_name("stacks"),
        MapDef::new(MapType::Sockmap, 4, 8, 8).with_name("socks"),
        MapDef::new(MapType::Sockhash, 16, 8, 8).with_name("by_tuple"),
        MapDef::new(MapType::ReuseportSockarray, 4, 4, 8).with_name("reuse"),
    ] {
        let map = Map::create(def.clone(), 2).expect("create");
        let bytes = pin::encode(&map, None).expect("encode");
        let back = pin::decode(&bytes).expect("decode");
        assert_eq!(back.map.def(), &def);
        assert!(matches!(back.contents, pin::PinContents::DefinitionOnly(_)));
    }
}

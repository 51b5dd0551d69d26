//! Pin files: save/load round trips for every map family (contents, order,
//! per-CPU values, queue order, bloom bits, BTF), and hostile files.

use apiary_maps::pin::{self, MapBtf, PinContents, PinError};
use apiary_maps::{
    BPF_ANY, BPF_F_NO_PREALLOC, BPF_F_RDONLY, BPF_F_WRONLY, Map, MapDef, MapError, MapType,
};

fn create(ty: MapType, ks: u32, vs: u32, max: u32, flags: u32, cpus: u32) -> Map {
    Map::create(
        MapDef::new(ty, ks, vs, max)
            .with_flags(flags)
            .with_name("pinned.map"),
        cpus,
    )
    .expect("create")
}

/// Every element through the `bpf()`-style host API, in iteration order.
fn dump(map: &Map) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut prev: Option<Vec<u8>> = None;
    loop {
        match map.sys_get_next_key(prev.as_deref()) {
            Ok(key) => {
                let value = map.sys_lookup(&key, 0).expect("lookup of a listed key");
                out.push((key.clone(), value));
                prev = Some(key);
            }
            Err(MapError::NotFound) => return out,
            Err(e) => panic!("get_next_key: {e}"),
        }
    }
}

fn round_trip(map: &Map, btf: Option<&MapBtf>) -> pin::PinnedMap {
    let bytes = pin::encode(map, btf).expect("encode");
    let back = pin::decode(&bytes).expect("decode");
    assert_eq!(back.map.def(), map.def());
    assert_eq!(back.map.nr_cpus(), map.nr_cpus());
    assert_eq!(back.btf.as_ref(), btf);
    // Encoding is deterministic: the reloaded map saves to the same bytes.
    assert_eq!(pin::encode(&back.map, btf).expect("re-encode"), bytes);
    back
}

#[test]
fn array_and_percpu_array_keep_every_value() {
    let array = create(MapType::Array, 4, 6, 5, 0, 1);
    array
        .sys_update(&3u32.to_ne_bytes(), b"abcdef", BPF_ANY)
        .unwrap();
    let back = round_trip(&array, None);
    assert_eq!(back.contents, PinContents::Saved);
    assert_eq!(dump(&back.map), dump(&array));
    assert_eq!(
        back.map.sys_lookup(&3u32.to_ne_bytes(), 0).unwrap(),
        b"abcdef"
    );

    let percpu = create(MapType::PercpuArray, 4, 4, 3, 0, 3);
    let mut value = Vec::new();
    for cpu in 0..3u32 {
        value.extend_from_slice(&(cpu + 10).to_ne_bytes());
        value.extend_from_slice(&[0; 4]);
    }
    percpu
        .sys_update(&1u32.to_ne_bytes(), &value, BPF_ANY)
        .unwrap();
    let back = round_trip(&percpu, None);
    assert_eq!(back.map.sys_lookup(&1u32.to_ne_bytes(), 0).unwrap(), value);
    assert_eq!(dump(&back.map), dump(&percpu));
}

#[test]
fn hash_maps_keep_contents_and_iteration_order() {
    for (ty, flags) in [
        (MapType::Hash, 0),
        (MapType::Hash, BPF_F_NO_PREALLOC),
        (MapType::LruHash, 0),
        (MapType::PercpuHash, 0),
        (MapType::LruPercpuHash, 0),
    ] {
        // Few buckets and many keys: buckets hold several elements each, so
        // the order inside a bucket is exercised too. The seed is random.
        let map = create(ty, 4, 8, 64, flags, 2);
        for k in 0..60u32 {
            let v: Vec<u8> = (0..map.host_value_size() as u32)
                .map(|i| (k * 7 + i) as u8)
                .collect();
            map.sys_update(&k.to_ne_bytes(), &v, BPF_ANY).unwrap();
        }
        let back = round_trip(&map, None);
        assert_eq!(dump(&back.map), dump(&map), "{ty:?} flags {flags:#x}");
        assert_eq!(back.map.len(), 60);
    }
}

#[test]
fn lpm_trie_and_devmap_keep_contents() {
    let trie = create(MapType::LpmTrie, 8, 4, 16, BPF_F_NO_PREALLOC, 1);
    for (prefix, addr, v) in [
        (24u32, [10, 0, 0, 0], 1u32),
        (8, [10, 0, 0, 0], 2),
        (32, [10, 0, 0, 7], 3),
    ] {
        let mut key = prefix.to_ne_bytes().to_vec();
        key.extend_from_slice(&addr);
        trie.sys_update(&key, &v.to_ne_bytes(), BPF_ANY).unwrap();
    }
    let back = round_trip(&trie, None);
    assert_eq!(dump(&back.map), dump(&trie));

    let devmap = create(MapType::Devmap, 4, 4, 8, 0, 1);
    devmap
        .sys_update(&2u32.to_ne_bytes(), &7u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    let back = round_trip(&devmap, None);
    assert_eq!(
        back.map.sys_lookup(&2u32.to_ne_bytes(), 0).unwrap(),
        7u32.to_ne_bytes()
    );
    assert_eq!(
        back.map.sys_lookup(&3u32.to_ne_bytes(), 0),
        Err(MapError::NotFound)
    );
}

#[test]
fn queue_and_stack_keep_order_after_wrapping() {
    for ty in [MapType::Queue, MapType::Stack] {
        let map = create(ty, 0, 4, 4, 0, 1);
        // Push 6 into a 4-slot map with BPF_EXIST so the ring wraps.
        for v in 1..=6u32 {
            map.push(&v.to_ne_bytes(), apiary_maps::BPF_EXIST).unwrap();
        }
        let back = round_trip(&map, None);
        let drain = |m: &Map| {
            let mut out = Vec::new();
            let mut buf = [0u8; 4];
            while m.pop(&mut buf).is_ok() {
                out.push(u32::from_ne_bytes(buf));
            }
            out
        };
        let expected = if ty == MapType::Queue {
            vec![3, 4, 5, 6]
        } else {
            vec![6, 5, 4, 3]
        };
        assert_eq!(drain(&back.map), expected, "{ty:?}");
        assert_eq!(drain(&map), expected, "{ty:?}");
    }
}

#[test]
fn bloom_filter_keeps_its_bits_and_seed() {
    let map = create(MapType::BloomFilter, 0, 4, 100, 0, 1);
    for v in 0..50u32 {
        map.push(&v.to_ne_bytes(), BPF_ANY).unwrap();
    }
    let back = round_trip(&map, None);
    for v in 0..50u32 {
        let mut probe = v.to_ne_bytes();
        assert_eq!(back.map.peek(&mut probe), Ok(()), "value {v} was pushed");
    }
    let mut misses_before = 0;
    let mut misses_after = 0;
    for v in 1000..2000u32 {
        misses_before += u32::from(map.peek(&mut v.to_ne_bytes()).is_err());
        misses_after += u32::from(back.map.peek(&mut v.to_ne_bytes()).is_err());
    }
    assert_eq!(
        misses_before, misses_after,
        "same bits, same seed: same answers"
    );
}

#[test]
fn access_flags_do_not_stop_a_pin_from_saving_and_restoring() {
    for flags in [BPF_F_RDONLY, BPF_F_WRONLY] {
        let map = create(MapType::Hash, 4, 4, 8, flags, 1);
        // Host updates are refused by RDONLY: fill a WRONLY map, then check the
        // RDONLY one round-trips empty and the WRONLY one keeps its element.
        let _ = map.sys_update(&1u32.to_ne_bytes(), &5u32.to_ne_bytes(), BPF_ANY);
        let back = round_trip(&map, None);
        assert_eq!(back.map.len(), map.len());
    }
}

#[test]
fn definition_only_maps_say_so() {
    let inner = MapDef::new(MapType::Array, 4, 4, 1);
    let mut outer = MapDef::new(MapType::ArrayOfMaps, 4, 4, 2).with_name("outer");
    outer.inner = Some(Box::new(inner));
    let cases = [
        Map::create(outer, 1).unwrap(),
        create(MapType::ProgArray, 4, 4, 4, 0, 1),
        create(MapType::PerfEventArray, 4, 4, 2, 0, 1),
        Map::create(MapDef::new(MapType::Ringbuf, 0, 0, 4096 * 4), 1).unwrap(),
    ];
    for map in &cases {
        let back = round_trip(map, None);
        match back.contents {
            PinContents::DefinitionOnly(reason) => assert!(!reason.is_empty()),
            PinContents::Saved => panic!("{:?} cannot save contents", map.map_type()),
        }
    }
}

#[test]
fn btf_travels_with_the_map() {
    let map = create(MapType::Array, 4, 4, 1, 0, 1);
    let btf = MapBtf {
        blob: vec![0x9f, 0xeb, 1, 0, 24, 0, 0, 0],
        key_type_id: 0,
        value_type_id: 3,
    };
    let back = round_trip(&map, Some(&btf));
    assert_eq!(back.btf, Some(btf));
}

#[test]
fn files_save_atomically_and_load_back_under_bpftool_names() {
    let dir = std::env::temp_dir().join(format!("apiary-pin-test-{}", std::process::id()));
    let map = create(MapType::Hash, 4, 4, 4, 0, 1);
    map.sys_update(&9u32.to_ne_bytes(), &1u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    let written = pin::save_dir(&dir, [("xdp_stat.bss", &map, None)]).unwrap();
    // bpftool 7.1 `prog loadall ... pinmaps` on this machine pins
    // global_data.o's maps as global_d_bss, _data_counters, _rodata_str1_1.
    assert_eq!(written, vec![dir.join("xdp_stat_bss")]);
    assert_eq!(
        pin::pin_file_name(".data.counters").unwrap(),
        "_data_counters"
    );
    assert_eq!(
        pin::pin_file_name(".rodata.str1.1").unwrap(),
        "_rodata_str1_1"
    );
    assert!(matches!(
        pin::pin_file_name("a/b"),
        Err(PinError::BadName(_))
    ));
    let back = pin::load(&written[0]).unwrap();
    assert_eq!(dump(&back.map), dump(&map));
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(pin::load(&written[0]), Err(PinError::Io { .. })));
}

fn sample_files() -> Vec<Vec<u8>> {
    let hash = create(MapType::Hash, 4, 8, 16, 0, 2);
    for k in 0..5u32 {
        hash.sys_update(&k.to_ne_bytes(), &[k as u8; 8], BPF_ANY)
            .unwrap();
    }
    let queue = create(MapType::Queue, 0, 4, 4, 0, 1);
    queue.push(&1u32.to_ne_bytes(), BPF_ANY).unwrap();
    let bloom = create(MapType::BloomFilter, 0, 4, 8, 0, 1);
    let percpu = create(MapType::PercpuHash, 4, 4, 4, 0, 2);
    percpu
        .sys_update(&1u32.to_ne_bytes(), &[1; 16], BPF_ANY)
        .unwrap();
    let btf = MapBtf {
        blob: vec![1, 2, 3],
        key_type_id: 1,
        value_type_id: 2,
    };
    vec![
        pin::encode(&hash, Some(&btf)).unwrap(),
        pin::encode(&queue, None).unwrap(),
        pin::encode(&bloom, None).unwrap(),
        pin::encode(&percpu, None).unwrap(),
        pin::encode(&create(MapType::ProgArray, 4, 4, 2, 0, 1), None).unwrap(),
    ]
}

#[test]
fn every_truncation_and_byte_flip_is_a_typed_error_or_a_valid_map() {
    for file in sample_files() {
        for len in 0..file.len() {
            assert!(
                pin::decode(&file[..len]).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
        for at in 0..file.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = file.clone();
                bad[at] ^= flip;
                // Either refused or a consistent map; never a panic.
                if let Ok(back) = pin::decode(&bad) {
                    let _ = pin::encode(&back.map, back.btf.as_ref());
                }
            }
        }
        let mut longer = file.clone();
        longer.push(0);
        assert!(matches!(
            pin::decode(&longer),
            Err(PinError::TrailingBytes(1))
        ));
    }
}

#[test]
fn hostile_headers_are_refused_before_allocating() {
    let file = &sample_files()[0];
    let mut bad_magic = file.clone();
    bad_magic[0] = b'X';
    assert!(matches!(pin::decode(&bad_magic), Err(PinError::BadMagic)));
    let mut version = file.clone();
    version[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        pin::decode(&version),
        Err(PinError::UnsupportedVersion(2))
    ));

    // A hash of 16 entries claiming 2^32-1 elements: refused from the count.
    let header = header_len(file);
    let mut many = file[..header].to_vec();
    many.push(0); // contents: elements
    many.push(0); // no seed
    many.extend_from_slice(&0u32.to_le_bytes());
    many.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        pin::decode(&many),
        Err(PinError::TooManyElements {
            count: u32::MAX,
            max: 16
        })
    ));
    // Within max_entries but more than the file holds: truncated, no allocation.
    let mut short = many[..many.len() - 4].to_vec();
    short.extend_from_slice(&16u32.to_le_bytes());
    assert!(matches!(
        pin::decode(&short),
        Err(PinError::Truncated { .. })
    ));

    // A BTF blob length beyond the kernel's 16 MiB limit.
    let btf_len_at = 12 + def_len(file) + 4 + 1 + 8;
    let mut huge_btf = file.clone();
    huge_btf[btf_len_at..btf_len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        pin::decode(&huge_btf),
        Err(PinError::BadField {
            what: "BTF blob length",
            ..
        })
    ));

    // A queue of 2^31 four-byte values: 8 GiB before a single byte is read.
    let mut queue = sample_files()[1].clone();
    queue[24..28].copy_from_slice(&(1u32 << 31).to_le_bytes());
    assert!(matches!(
        pin::decode(&queue),
        Err(PinError::TooLarge { .. })
    ));

    // A definition the kernel refuses (key size 0 for a hash).
    let mut bad_def = file.clone();
    bad_def[16..20].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        pin::decode(&bad_def),
        Err(PinError::Definition(_))
    ));
}

/// Length of the top-level definition of a sample file (no inner map).
fn def_len(file: &[u8]) -> usize {
    let name_len = file[12 + 32] as usize;
    32 + 1 + name_len + 1
}

/// Offset of the contents kind byte of a sample file with a 3-byte BTF blob.
fn header_len(file: &[u8]) -> usize {
    12 + def_len(file) + 4 + 1 + 12 + 3
}

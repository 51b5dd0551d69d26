//! The BTF a case needs: func info for its functions (`;; func`) and
//! value types holding a `struct bpf_spin_lock` (at offset 0) and a
//! `struct bpf_timer` (after it, at offset 8, or at 0) for its
//! `spin_lock` and `timer` maps (and the key and value types of local
//! storage maps),
//! written as raw `.BTF` bytes (apiary-btf reads BTF; nothing in the
//! workspace builds it from scratch, and these few kinds are all a case needs).

use apiary_isa::RawInsn;

use super::{FuncDecl, Linkage, MapDecl, Param};

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_STRUCT: u32 = 4;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const INT_SIGNED: u32 = 1;

/// The BTF of one case and the ids in it that the loads refer to.
#[derive(Debug, Default)]
pub(super) struct CaseBtf {
    /// The `.BTF` blob.
    pub bytes: Vec<u8>,
    /// Per map: the key and value type ids when it is a spin-lock map.
    pub map_types: Vec<Option<(u32, u32)>>,
    /// Per function of the case: its `FUNC` type id.
    pub func_ids: Vec<u32>,
}

#[derive(Default)]
struct Writer {
    types: Vec<u8>,
    strings: Vec<u8>,
    count: u32,
}

impl Writer {
    fn string(&mut self, text: &str) -> u32 {
        if self.strings.is_empty() {
            self.strings.push(0);
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(text.as_bytes());
        self.strings.push(0);
        off
    }

    /// Appends a type header and its trailing words; returns the new id.
    fn add(&mut self, name: &str, kind: u32, vlen: u32, size_or_type: u32, rest: &[u32]) -> u32 {
        let name_off = if name.is_empty() {
            0
        } else {
            self.string(name)
        };
        for word in [name_off, (kind << 24) | vlen, size_or_type]
            .iter()
            .chain(rest)
        {
            self.types.extend_from_slice(&word.to_le_bytes());
        }
        self.count += 1;
        self.count
    }

    fn int(&mut self, name: &str, bytes: u32, signed: bool) -> u32 {
        let encoding = if signed { INT_SIGNED << 24 } else { 0 };
        self.add(name, KIND_INT, 0, bytes, &[encoding | (bytes * 8)])
    }

    fn finish(mut self) -> Vec<u8> {
        if self.strings.is_empty() {
            self.strings.push(0);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9f_u16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        let type_len = self.types.len() as u32;
        for word in [24, 0, type_len, type_len, self.strings.len() as u32] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// The BTF for `maps` and `funcs`, or `None` when the case needs none.
pub(super) fn case_btf(maps: &[MapDecl], funcs: &[FuncDecl]) -> Option<CaseBtf> {
    if funcs.is_empty() && !maps.iter().any(MapDecl::has_btf) {
        return None;
    }
    let mut w = Writer::default();
    let int = w.int("int", 4, true);
    let (mut lock, mut timer) = (None, None);
    let mut map_types = Vec::new();
    for map in maps {
        if !map.has_btf() {
            map_types.push(None);
            continue;
        }
        // Members: name offset, type id, offset in bits.
        let mut members = Vec::new();
        if map.spin_lock {
            let lock = *lock.get_or_insert_with(|| {
                let val = w.string("val");
                w.add("bpf_spin_lock", KIND_STRUCT, 1, 4, &[val, int, 0])
            });
            members.extend([w.string("lock"), lock, 0]);
        }
        if map.timer {
            let timer = *timer.get_or_insert_with(|| {
                let u64_id = w.int("u64", 8, false);
                let (a, b) = (w.string("a"), w.string("b"));
                w.add(
                    "bpf_timer",
                    KIND_STRUCT,
                    2,
                    16,
                    &[a, u64_id, 0, b, u64_id, 64],
                )
            });
            let offset = if map.spin_lock { 64 } else { 0 };
            members.extend([w.string("timer"), timer, offset]);
        }
        let key = w.int(&format!("{}_key", map.name), map.key_size, false);
        let value = w.add(
            &format!("{}_value", map.name),
            KIND_STRUCT,
            members.len() as u32 / 3,
            map.value_size,
            &members,
        );
        map_types.push(Some((key, value)));
    }
    let mut func_ids = Vec::new();
    for func in funcs {
        let mut params = Vec::new();
        for (n, param) in func.params.iter().enumerate() {
            let ty = match param {
                Param::Int => int,
                Param::Mem => w.add("", KIND_PTR, 0, int, &[]),
                Param::Ctx(name) => {
                    let ctx = w.add(name, KIND_STRUCT, 0, 0, &[]);
                    w.add("", KIND_PTR, 0, ctx, &[])
                }
            };
            params.extend([w.string(&format!("a{}", n + 1)), ty]);
        }
        let count = func.params.len() as u32;
        let proto = w.add("", KIND_FUNC_PROTO, count, int, &params);
        let linkage = match func.linkage {
            Linkage::Static => 0,
            Linkage::Global => 1,
        };
        func_ids.push(w.add(&func.name, KIND_FUNC, linkage, proto, &[]));
    }
    Some(CaseBtf {
        bytes: w.finish(),
        map_types,
        func_ids,
    })
}

/// Where the program's functions start: slot 0 and every target of a
/// local call or function address, in order (what a case's `;; func`
/// lines describe, one each).
pub fn function_starts(slots: &[RawInsn]) -> Vec<u32> {
    const CALL: u8 = 0x85;
    const LDDW: u8 = 0x18;
    const PSEUDO_CALL: u8 = 1;
    const PSEUDO_FUNC: u8 = 4;
    let mut starts = vec![0i64];
    for (index, slot) in slots.iter().enumerate() {
        let is_target = (slot.code == CALL && slot.src == PSEUDO_CALL)
            || (slot.code == LDDW && slot.src == PSEUDO_FUNC);
        if is_target {
            starts.push(index as i64 + 1 + i64::from(slot.imm));
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
        .into_iter()
        .filter_map(|start| u32::try_from(start).ok())
        .collect()
}

/// Whether `funcs` (when given) describe every function of `slots`.
pub(super) fn check_funcs(funcs: &[FuncDecl], slots: &[RawInsn]) -> Result<(), String> {
    let starts = function_starts(slots);
    if funcs.is_empty() || funcs.len() == starts.len() {
        Ok(())
    } else {
        Err(format!(
            "{} `;; func` lines for {} functions (the program at 0 and each call target)",
            funcs.len(),
            starts.len()
        ))
    }
}

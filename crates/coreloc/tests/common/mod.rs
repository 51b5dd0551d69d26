//! A small BTF encoder for hand-built local/target type pairs. Types are
//! encoded in the wire format and parsed back with `apiary_btf::Btf::parse`,
//! so the tests exercise the same path as real objects.

#![allow(dead_code)]

use apiary_btf::{Btf, CoreRelo, CoreReloKind, TypeId};

/// One struct/union member: name, type, bit offset, bitfield width.
pub type MemberSpec<'a> = (&'a str, u32, u32, u8);

#[derive(Default)]
pub struct BtfBuilder {
    strings: Vec<u8>,
    types: Vec<u8>,
    count: u32,
}

impl BtfBuilder {
    pub fn new() -> Self {
        BtfBuilder {
            strings: vec![0],
            types: Vec::new(),
            count: 0,
        }
    }

    pub fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn word(&mut self, w: u32) {
        self.types.extend_from_slice(&w.to_le_bytes());
    }

    fn header(&mut self, name: &str, kind: u32, kflag: bool, vlen: u32, size_or_type: u32) -> u32 {
        let name_off = self.str(name);
        self.word(name_off);
        self.word((u32::from(kflag) << 31) | (kind << 24) | vlen);
        self.word(size_or_type);
        self.count += 1;
        self.count
    }

    /// Integer; `encoding` 1 = signed, 2 = char, 4 = bool.
    pub fn int_full(
        &mut self,
        name: &str,
        size: u32,
        encoding: u32,
        offset: u32,
        bits: u32,
    ) -> u32 {
        let id = self.header(name, 1, false, 0, size);
        self.word((encoding << 24) | (offset << 16) | bits);
        id
    }

    pub fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        self.int_full(name, size, u32::from(signed), 0, size * 8)
    }

    pub fn ptr(&mut self, target: u32) -> u32 {
        self.header("", 2, false, 0, target)
    }

    pub fn array(&mut self, elem: u32, index: u32, nelems: u32) -> u32 {
        let id = self.header("", 3, false, 0, 0);
        self.word(elem);
        self.word(index);
        self.word(nelems);
        id
    }

    fn composite(&mut self, kind: u32, name: &str, size: u32, members: &[MemberSpec<'_>]) -> u32 {
        let kflag = members.iter().any(|m| m.3 > 0);
        let id = self.header(name, kind, kflag, members.len() as u32, size);
        for &(mname, ty, bit_off, bits) in members {
            let off = self.str(mname);
            self.word(off);
            self.word(ty);
            self.word(if kflag {
                (u32::from(bits) << 24) | bit_off
            } else {
                bit_off
            });
        }
        id
    }

    pub fn structure(&mut self, name: &str, size: u32, members: &[MemberSpec<'_>]) -> u32 {
        self.composite(4, name, size, members)
    }

    pub fn union(&mut self, name: &str, size: u32, members: &[MemberSpec<'_>]) -> u32 {
        self.composite(5, name, size, members)
    }

    pub fn enumeration(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        values: &[(&str, i32)],
    ) -> u32 {
        let id = self.header(name, 6, signed, values.len() as u32, size);
        for &(vname, v) in values {
            let off = self.str(vname);
            self.word(off);
            self.word(v as u32);
        }
        id
    }

    pub fn enum64(&mut self, name: &str, size: u32, signed: bool, values: &[(&str, u64)]) -> u32 {
        let id = self.header(name, 19, signed, values.len() as u32, size);
        for &(vname, v) in values {
            let off = self.str(vname);
            self.word(off);
            self.word(v as u32);
            self.word((v >> 32) as u32);
        }
        id
    }

    pub fn fwd(&mut self, name: &str, union: bool) -> u32 {
        self.header(name, 7, union, 0, 0)
    }

    pub fn typedef(&mut self, name: &str, target: u32) -> u32 {
        self.header(name, 8, false, 0, target)
    }

    pub fn constant(&mut self, target: u32) -> u32 {
        self.header("", 10, false, 0, target)
    }

    pub fn func_proto(&mut self, ret: u32, params: &[u32]) -> u32 {
        let id = self.header("", 13, false, params.len() as u32, ret);
        for &p in params {
            self.word(0);
            self.word(p);
        }
        id
    }

    pub fn float(&mut self, name: &str, size: u32) -> u32 {
        self.header(name, 16, false, 0, size)
    }

    /// A CO-RE record whose access string lives in this (local) BTF.
    pub fn relo(&mut self, type_id: u32, access: &str, kind: CoreReloKind) -> CoreRelo {
        CoreRelo {
            insn_off: 0,
            type_id: TypeId(type_id),
            access_str_off: self.str(access),
            kind,
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.push(1);
        out.push(0);
        out.extend_from_slice(&24u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(self.types.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.types.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.strings.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }

    pub fn build(&self) -> Btf {
        Btf::parse(&self.bytes()).expect("hand-built BTF parses")
    }
}

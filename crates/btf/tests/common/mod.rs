//! A BTF writer for hand-built test blobs, shared by the test files.

#![allow(dead_code)] // each test binary uses a different subset

/// Writes BTF the way the format document describes it.
pub struct Builder {
    pub big_endian: bool,
    pub types: Vec<u32>,
    pub strings: Vec<u8>,
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            big_endian: false,
            types: Vec::new(),
            strings: vec![0],
        }
    }

    pub fn str(&mut self, s: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// Appends a type: `kind`, `vlen`, `kflag`, size/type word, then `extra`.
    pub fn ty(
        &mut self,
        name_off: u32,
        kind: u32,
        vlen: u32,
        kflag: bool,
        size_or_type: u32,
        extra: &[u32],
    ) {
        let info = (u32::from(kflag) << 31) | (kind << 24) | vlen;
        self.types
            .extend_from_slice(&[name_off, info, size_or_type]);
        self.types.extend_from_slice(extra);
    }

    fn word(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let type_len = self.types.len() as u32 * 4;
        let mut out = Vec::new();
        let magic: u16 = 0xeb9f;
        out.extend_from_slice(&if self.big_endian {
            magic.to_be_bytes()
        } else {
            magic.to_le_bytes()
        });
        out.extend_from_slice(&[1, 0]);
        for v in [24, 0, type_len, type_len, self.strings.len() as u32] {
            out.extend_from_slice(&self.word(v));
        }
        for &v in &self.types {
            out.extend_from_slice(&self.word(v));
        }
        out.extend_from_slice(&self.strings);
        out
    }
}

pub const INT: u32 = 1;
pub const PTR: u32 = 2;
pub const ARRAY: u32 = 3;
pub const STRUCT: u32 = 4;
pub const UNION: u32 = 5;
pub const ENUM: u32 = 6;
pub const FWD: u32 = 7;
pub const TYPEDEF: u32 = 8;
pub const CONST: u32 = 10;
pub const FUNC: u32 = 12;
pub const FUNC_PROTO: u32 = 13;
pub const VAR: u32 = 14;
pub const DATASEC: u32 = 15;
pub const FLOAT: u32 = 16;
pub const DECL_TAG: u32 = 17;
pub const TYPE_TAG: u32 = 18;
pub const ENUM64: u32 = 19;

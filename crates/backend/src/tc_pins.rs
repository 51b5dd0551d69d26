//! iproute2's map pinning for `struct bpf_elf_map` definitions, as `tc`
//! and `ip` do it (`lib/bpf_legacy.c`): a map whose `pinning` is
//! `PIN_GLOBAL_NS` lives at `<root>/tc/globals/NAME`, one whose `pinning`
//! is `PIN_OBJECT_NS` at `<root>/tc/<object uid>/NAME`, the uid being the
//! SHA-1 of the object file in hex. A map already pinned there is reused
//! when its type, sizes, max entries and flags match the definition (else
//! the load fails, as iproute2's "Map specs from pinned file differ!"),
//! otherwise the created map is pinned there.
//!
//! It must not pin anything but `bpf_elf_map` definitions, and knows no
//! custom pinning values (iproute2 reads those from
//! `/etc/iproute2/bpf_pinning`): such maps are created unpinned.

use std::path::{Path, PathBuf};

use apiary_kernel::MapFd;
use apiary_loader::{ElfPinning, MapOrigin, MapSpec};

use crate::Error;

/// Where a load pins iproute2's maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcPins {
    /// The bpffs mount iproute2 works under (`/sys/fs/bpf`, or
    /// `$TC_BPF_MNT`).
    pub root: PathBuf,
    /// The object's namespace directory name for `PIN_OBJECT_NS` maps.
    pub object_uid: String,
}

impl TcPins {
    /// As iproute2 names them for the object file `elf`: the object's
    /// namespace is the SHA-1 of its bytes in lowercase hex.
    pub fn for_object(root: impl Into<PathBuf>, elf: &[u8]) -> TcPins {
        let object_uid = sha1(elf).iter().map(|b| format!("{b:02x}")).collect();
        TcPins {
            root: root.into(),
            object_uid,
        }
    }

    /// Where `spec` is pinned, if iproute2 pins it.
    pub fn path(&self, spec: &MapSpec) -> Option<PathBuf> {
        let MapOrigin::Iproute2(ids) = &spec.origin else {
            return None;
        };
        let dir = match ids.pinning_kind() {
            ElfPinning::Global => "globals",
            ElfPinning::Object => self.object_uid.as_str(),
            ElfPinning::None | ElfPinning::Custom(_) => return None,
        };
        Some(self.root.join("tc").join(dir).join(&spec.name))
    }
}

/// The map pinned at `path` if it matches `spec`, else `None` when nothing
/// is pinned there.
pub(crate) fn reuse(spec: &MapSpec, path: &Path) -> Result<Option<MapFd>, Error> {
    let pin_err = |reason: String| Error::Pin {
        map: spec.name.clone(),
        path: path.to_owned(),
        reason,
    };
    if !path.exists() {
        return Ok(None);
    }
    let map = MapFd::from_pinned(path).map_err(|e| pin_err(e.to_string()))?;
    let info = map.info().map_err(|e| pin_err(e.to_string()))?;
    let pinned = (
        info.map_type,
        info.key_size,
        info.value_size,
        info.max_entries,
        info.map_flags,
    );
    let wanted = (
        spec.map_type,
        spec.key_size,
        spec.value_size,
        spec.max_entries,
        spec.map_flags,
    );
    if pinned != wanted {
        return Err(pin_err(format!(
            "the pinned map differs from the definition (type, key, value, max_entries, flags): pinned {pinned:?}, defined {wanted:?}"
        )));
    }
    Ok(Some(map))
}

/// Pins the new map `map` of `spec` at `path`, creating its directory.
pub(crate) fn pin(spec: &MapSpec, map: &MapFd, path: &Path) -> Result<(), Error> {
    let pin_err = |reason: String| Error::Pin {
        map: spec.name.clone(),
        path: path.to_owned(),
        reason,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| pin_err(e.to_string()))?;
    }
    map.pin(path).map_err(|e| pin_err(e.to_string()))
}

/// SHA-1 (FIPS 180-4), which iproute2 names object namespaces with.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xefcd_ab89,
        0x98ba_dcfe,
        0x1032_5476,
        0xc3d2_e1f0,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..20 => ((b & c) | (!b & d), 0x5a82_7999),
                20..40 => (b ^ c ^ d, 0x6ed9_eba1),
                40..60 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
                _ => (b ^ c ^ d, 0xca62_c1d6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (state, add) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(add);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(data: &[u8]) -> String {
        TcPins::for_object("/", data).object_uid
    }

    #[test]
    fn object_uids_are_the_sha1_of_the_file() {
        // FIPS 180-4 examples.
        assert_eq!(hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&vec![b'a'; 1_000_000]),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }
}

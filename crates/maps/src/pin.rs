//! Pinned maps: one file per map holding its definition, its BTF (when the
//! caller has it) and its contents, so that a map outlives the process that
//! filled it, as a map pinned in bpffs outlives its creator.
//!
//! # File format, version 1
//!
//! All integers little-endian. A file is:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `APIARYMP` |
//! | 4 | format version (1) |
//! | .. | definition (below) |
//! | 4 | possible CPUs the map was created for (per-CPU value layout) |
//! | 1 | BTF present (0/1); if 1: key type id u32, value type id u32, blob length u32, blob |
//! | 1 | contents kind: 0 elements, 1 queue/stack values, 2 bloom bitset, 3 definition only |
//! | .. | contents (below) |
//!
//! A definition is `map_type`, `key_size`, `value_size`, `max_entries`,
//! `map_flags` (u32 each), `map_extra` (u64), the `bpf_spin_lock` offset
//! (u32, `0xffffffff` for none), the name (u8 length, at most 15, then the
//! bytes) and an inner-map flag (u8) followed by the inner template's
//! definition, which may not have an inner map itself.
//!
//! Contents: elements are a hash seed flag (u8) and seed (u32), a count
//! (u32) and `count` pairs of key bytes (`key_size`) and value bytes (one
//! value, or for per-CPU maps one value per CPU padded to 8 bytes, as
//! `bpf()` transfers them), in iteration order. Queue/stack values are a
//! count and `count` values, oldest first. A bloom filter is its seed (u32),
//! a word count (u32) and the bitset words (u64). "Definition only" is a
//! reason (u8 length + UTF-8 text): ring buffers, perf event arrays, program
//! arrays, xskmaps and maps of maps keep their definition but not contents
//! that only mean something in the process that made them.
//!
//! Every length is checked against the definition and the bytes left in the
//! file before anything is allocated, trailing bytes are an error, and a
//! definition larger than [`MAX_PIN_MAP_BYTES`] is refused before the map is
//! created.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::def::MapDef;
use crate::error::MapError;
use crate::map::{Map, Snapshot};

/// The first bytes of every pin file.
pub const PIN_MAGIC: [u8; 8] = *b"APIARYMP";
/// The format version this crate writes and reads.
pub const PIN_FORMAT_VERSION: u32 = 1;
/// Largest BTF blob a pin file may carry: the kernel's `BTF_MAX_SIZE`.
pub const MAX_PIN_BTF_BYTES: u32 = 16 << 20;
/// Largest map a pin file may describe, as `max_entries` times the key and
/// (per-CPU: all CPUs') value bytes. Creating a map allocates part of that
/// up front, so a hostile file must not be able to ask for gigabytes.
pub const MAX_PIN_MAP_BYTES: u64 = 1 << 30;

const NO_SPIN_LOCK: u32 = u32::MAX;
const CONTENTS_ENTRIES: u8 = 0;
const CONTENTS_QUEUE: u8 = 1;
const CONTENTS_BLOOM: u8 = 2;
const CONTENTS_DEFINITION_ONLY: u8 = 3;

/// The BTF describing a map's key and value, as given at creation
/// (`btf_fd`, `btf_key_type_id`, `btf_value_type_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapBtf {
    /// A complete `.BTF` blob (header, types, strings).
    pub blob: Vec<u8>,
    /// Type id of the key in `blob`; 0 when the key has no type (global data).
    pub key_type_id: u32,
    /// Type id of the value in `blob`.
    pub value_type_id: u32,
}

/// Whether a pin file kept a map's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinContents {
    /// The contents were saved and are back in the map.
    Saved,
    /// Only the definition was saved; the map starts empty, for this reason.
    DefinitionOnly(String),
}

/// A map read back from its pin file.
#[derive(Debug)]
pub struct PinnedMap {
    /// The map, recreated from the definition and refilled.
    pub map: Map,
    /// The BTF saved with it.
    pub btf: Option<MapBtf>,
    /// Whether its contents came back.
    pub contents: PinContents,
}

/// Why a pin file could not be written or read.
#[derive(Debug, Error)]
pub enum PinError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file does not start with [`PIN_MAGIC`].
    #[error("not an apiary pinned map (bad magic)")]
    BadMagic,
    /// A format version this build does not read.
    #[error("pinned map format version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u32),
    /// The file ends inside a field.
    #[error("truncated: {what} needs {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: u64,
        /// Where it starts.
        offset: usize,
        /// Bytes left in the file.
        available: usize,
    },
    /// Bytes after the last field.
    #[error("{0} unexpected bytes after the map contents")]
    TrailingBytes(usize),
    /// A field holds a value the format does not allow.
    #[error("bad {what}: {value}")]
    BadField {
        /// The field.
        what: &'static str,
        /// The value found.
        value: u64,
    },
    /// A string field is not UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// The saved definition is refused by map creation.
    #[error("saved definition refused: {0}")]
    Definition(MapError),
    /// More elements than the definition's `max_entries`.
    #[error("{count} saved elements exceed max_entries {max}")]
    TooManyElements {
        /// Elements in the file.
        count: u32,
        /// The map's limit.
        max: u32,
    },
    /// A saved element could not be put back.
    #[error("saved element {index} refused: {source}")]
    Element {
        /// Index of the element in the file.
        index: u32,
        /// The map's refusal.
        source: MapError,
    },
    /// The definition describes a map above [`MAX_PIN_MAP_BYTES`].
    #[error(
        "saved definition describes {bytes} bytes of elements, above the {max}-byte limit for pins"
    )]
    TooLarge {
        /// `max_entries` times the element size.
        bytes: u64,
        /// [`MAX_PIN_MAP_BYTES`].
        max: u64,
    },
    /// Reading the map's contents for saving failed.
    #[error("reading the map failed: {0}")]
    Snapshot(MapError),
    /// A map name that cannot be a pin file name.
    #[error("map name {0:?} cannot name a pin file")]
    BadName(String),
}

/// The file name `bpftool prog loadall OBJ DIR pinmaps MAPDIR` gives a map:
/// libbpf's map name with every `.` replaced by `_` (bpffs refuses dots),
/// e.g. `xdp_stat.bss` becomes `xdp_stat_bss`.
pub fn pin_file_name(map_name: &str) -> Result<String, PinError> {
    if map_name.is_empty() || map_name.contains(['/', '\0']) {
        return Err(PinError::BadName(map_name.to_owned()));
    }
    Ok(map_name.replace('.', "_"))
}

/// Encodes `map` (definition, contents) and `btf` as a pin file's bytes.
pub fn encode(map: &Map, btf: Option<&MapBtf>) -> Result<Vec<u8>, PinError> {
    let mut out = Vec::new();
    out.extend_from_slice(&PIN_MAGIC);
    put_u32(&mut out, PIN_FORMAT_VERSION);
    put_def(&mut out, map.def(), true)?;
    put_u32(&mut out, map.nr_cpus());
    match btf {
        None => out.push(0),
        Some(b) => {
            let len = u32::try_from(b.blob.len())
                .ok()
                .filter(|&n| n <= MAX_PIN_BTF_BYTES)
                .ok_or(PinError::BadField {
                    what: "BTF blob length",
                    value: b.blob.len() as u64,
                })?;
            out.push(1);
            put_u32(&mut out, b.key_type_id);
            put_u32(&mut out, b.value_type_id);
            put_u32(&mut out, len);
            out.extend_from_slice(&b.blob);
        }
    }
    match map.snapshot().map_err(PinError::Snapshot)? {
        Snapshot::Entries { seed, entries } => {
            out.push(CONTENTS_ENTRIES);
            out.push(u8::from(seed.is_some()));
            put_u32(&mut out, seed.unwrap_or(0));
            put_u32(&mut out, count_u32(entries.len())?);
            for (key, value) in &entries {
                out.extend_from_slice(key);
                out.extend_from_slice(value);
            }
        }
        Snapshot::Queue(values) => {
            out.push(CONTENTS_QUEUE);
            put_u32(&mut out, count_u32(values.len())?);
            for value in &values {
                out.extend_from_slice(value);
            }
        }
        Snapshot::Bloom { seed, words } => {
            out.push(CONTENTS_BLOOM);
            put_u32(&mut out, seed);
            put_u32(&mut out, count_u32(words.len())?);
            for word in words {
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
        Snapshot::Unsaveable(reason) => {
            out.push(CONTENTS_DEFINITION_ONLY);
            put_str(&mut out, reason)?;
        }
    }
    Ok(out)
}

/// Recreates a map from a pin file's bytes. Hostile bytes give a
/// [`PinError`]; nothing is allocated beyond what the definition and the
/// remaining bytes allow.
pub fn decode(bytes: &[u8]) -> Result<PinnedMap, PinError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take("magic", PIN_MAGIC.len() as u64)? != PIN_MAGIC {
        return Err(PinError::BadMagic);
    }
    let version = r.u32("format version")?;
    if version != PIN_FORMAT_VERSION {
        return Err(PinError::UnsupportedVersion(version));
    }
    let def = read_def(&mut r, true)?;
    let nr_cpus = r.u32("CPU count")?;
    let btf = match r.u8("BTF flag")? {
        0 => None,
        1 => {
            let key_type_id = r.u32("BTF key type id")?;
            let value_type_id = r.u32("BTF value type id")?;
            let len = r.u32("BTF blob length")?;
            if len > MAX_PIN_BTF_BYTES {
                return Err(PinError::BadField {
                    what: "BTF blob length",
                    value: u64::from(len),
                });
            }
            Some(MapBtf {
                blob: r.take("BTF blob", u64::from(len))?.to_vec(),
                key_type_id,
                value_type_id,
            })
        }
        other => return Err(bad("BTF flag", other)),
    };
    check_footprint(&def, nr_cpus)?;
    let mut map = Map::create(def, nr_cpus).map_err(PinError::Definition)?;
    let contents = read_contents(&mut r, &mut map)?;
    if r.remaining() != 0 {
        return Err(PinError::TrailingBytes(r.remaining()));
    }
    Ok(PinnedMap { map, btf, contents })
}

/// Writes `map` to the pin file `path`, replacing it atomically (a
/// temporary file in the same directory renamed over it).
pub fn save(path: &Path, map: &Map, btf: Option<&MapBtf>) -> Result<(), PinError> {
    let bytes = encode(map, btf)?;
    let io = |source| PinError::Io {
        path: path.to_owned(),
        source,
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| PinError::BadName(path.display().to_string()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(&bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// An exclusive lock on a directory of pin files, released when dropped.
/// Every process that reads a pin file, changes the map and writes it back
/// (`apiary map update`, a running `xdp run --pin-maps`) holds it for the
/// whole exchange, so that no write is lost between another's read and
/// write.
#[derive(Debug)]
pub struct DirLock {
    _dir: fs::File,
}

/// Locks the directory holding the pin file `path` (`flock`, exclusive,
/// waiting for other holders).
pub fn lock_dir_of(path: &Path) -> Result<DirLock, PinError> {
    use std::os::fd::AsRawFd;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let io = |source| PinError::Io {
        path: dir.to_owned(),
        source,
    };
    let file = fs::File::open(dir).map_err(io)?;
    loop {
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(DirLock { _dir: file });
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EINTR) {
            return Err(io(error));
        }
    }
}

/// Reads the pin file `path` back into a map.
pub fn load(path: &Path) -> Result<PinnedMap, PinError> {
    let bytes = fs::read(path).map_err(|source| PinError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode(&bytes)
}

/// Pins every map in `dir` under [`pin_file_name`] of its name, as
/// `bpftool ... pinmaps DIR` does, and returns the paths written. `dir` is
/// created when missing, but not its parents (libbpf's single `mkdir`).
pub fn save_dir<'a>(
    dir: &Path,
    maps: impl IntoIterator<Item = (&'a str, &'a Map, Option<&'a MapBtf>)>,
) -> Result<Vec<PathBuf>, PinError> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(PinError::Io {
                path: dir.to_owned(),
                source: e,
            });
        }
        _ => {}
    }
    let mut written = Vec::new();
    for (name, map, btf) in maps {
        let path = dir.join(pin_file_name(name)?);
        save(&path, map, btf)?;
        written.push(path);
    }
    Ok(written)
}

fn read_contents(r: &mut Reader<'_>, map: &mut Map) -> Result<PinContents, PinError> {
    let kind = r.u8("contents kind")?;
    let reason = map.unsaveable_reason();
    let expected = match (reason, map.bloom_words(), map.map_type()) {
        (Some(_), _, _) => CONTENTS_DEFINITION_ONLY,
        (None, Some(_), _) => CONTENTS_BLOOM,
        (None, None, crate::def::MapType::Queue | crate::def::MapType::Stack) => CONTENTS_QUEUE,
        (None, None, _) => CONTENTS_ENTRIES,
    };
    if kind != expected {
        return Err(bad("contents kind for this map type", kind));
    }
    match kind {
        CONTENTS_ENTRIES => {
            let has_seed = r.u8("seed flag")?;
            let seed = r.u32("hash seed")?;
            match has_seed {
                0 => {}
                1 => map.restore_seed(seed).map_err(PinError::Definition)?,
                other => return Err(bad("seed flag", other)),
            }
            let count = check_count(r.u32("element count")?, map.max_entries())?;
            let (key_size, value_size) = (map.key_size() as u64, map.host_value_size() as u64);
            let pair = key_size + value_size;
            r.ensure("elements", pair * u64::from(count))?;
            // A hash bucket lists its newest element first: inserting in
            // reverse iteration order rebuilds every bucket's order.
            let base = r.at;
            for index in (0..count).rev() {
                let at = base + (u64::from(index) * pair) as usize;
                let mut element = Reader { bytes: r.bytes, at };
                let key = element.take("element key", key_size)?;
                let value = element.take("element value", value_size)?;
                map.restore_entry(key, value)
                    .map_err(|source| PinError::Element { index, source })?;
            }
            r.take("elements", pair * u64::from(count))?;
            Ok(PinContents::Saved)
        }
        CONTENTS_QUEUE => {
            let count = check_count(r.u32("value count")?, map.max_entries())?;
            let value_size = map.value_size() as u64;
            r.ensure("queue values", value_size * u64::from(count))?;
            for index in 0..count {
                let value = r.take("queue value", value_size)?;
                map.restore_queue_value(value)
                    .map_err(|source| PinError::Element { index, source })?;
            }
            Ok(PinContents::Saved)
        }
        CONTENTS_BLOOM => {
            let seed = r.u32("bloom seed")?;
            let words = r.u32("bloom word count")?;
            let expected_words = map.bloom_words().unwrap_or(0);
            if words as usize != expected_words {
                return Err(bad("bloom word count", words));
            }
            let raw = r.take("bloom bitset", u64::from(words) * 8)?;
            let bits: Vec<u64> = raw
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect();
            map.restore_bloom(seed, &bits)
                .map_err(PinError::Definition)?;
            Ok(PinContents::Saved)
        }
        _ => {
            let saved_reason = r.str("definition-only reason")?;
            Ok(PinContents::DefinitionOnly(saved_reason))
        }
    }
}

fn check_footprint(def: &MapDef, nr_cpus: u32) -> Result<(), PinError> {
    let percpu = def.kind().is_ok_and(|t| t.is_percpu());
    let value = if percpu {
        u64::from(def.value_size).div_ceil(8) * 8 * u64::from(nr_cpus.max(1))
    } else {
        u64::from(def.value_size)
    };
    let element = (u64::from(def.key_size) + value).max(1);
    let bytes = u64::from(def.max_entries).saturating_mul(element);
    if bytes > MAX_PIN_MAP_BYTES {
        return Err(PinError::TooLarge {
            bytes,
            max: MAX_PIN_MAP_BYTES,
        });
    }
    Ok(())
}

fn check_count(count: u32, max: u32) -> Result<u32, PinError> {
    if count > max {
        return Err(PinError::TooManyElements { count, max });
    }
    Ok(count)
}

fn count_u32(n: usize) -> Result<u32, PinError> {
    u32::try_from(n).map_err(|_| PinError::BadField {
        what: "element count",
        value: n as u64,
    })
}

fn bad(what: &'static str, value: impl Into<u64>) -> PinError {
    PinError::BadField {
        what,
        value: value.into(),
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), PinError> {
    let len = u8::try_from(s.len()).map_err(|_| bad("string length", s.len() as u64))?;
    out.push(len);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_def(out: &mut Vec<u8>, def: &MapDef, allow_inner: bool) -> Result<(), PinError> {
    for v in [
        def.map_type,
        def.key_size,
        def.value_size,
        def.max_entries,
        def.map_flags,
    ] {
        put_u32(out, v);
    }
    out.extend_from_slice(&def.map_extra.to_le_bytes());
    put_u32(out, def.spin_lock_off.unwrap_or(NO_SPIN_LOCK));
    put_str(out, &def.name)?;
    match (&def.inner, allow_inner) {
        (None, _) => out.push(0),
        (Some(inner), true) => {
            out.push(1);
            put_def(out, inner, false)?;
        }
        (Some(_), false) => return Err(bad("inner map nesting depth", 2u8)),
    }
    Ok(())
}

fn read_def(r: &mut Reader<'_>, allow_inner: bool) -> Result<MapDef, PinError> {
    let map_type = r.u32("map type")?;
    let key_size = r.u32("key size")?;
    let value_size = r.u32("value size")?;
    let max_entries = r.u32("max entries")?;
    let map_flags = r.u32("map flags")?;
    let map_extra = r.u64("map extra")?;
    let lock = r.u32("spin lock offset")?;
    let name = r.str("map name")?;
    if name.len() >= 16 {
        return Err(bad("map name length", name.len() as u64));
    }
    let inner = match (r.u8("inner map flag")?, allow_inner) {
        (0, _) => None,
        (1, true) => Some(Box::new(read_def(r, false)?)),
        (1, false) => return Err(bad("inner map nesting depth", 2u8)),
        (other, _) => return Err(bad("inner map flag", other)),
    };
    Ok(MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags,
        inner,
        spin_lock_off: (lock != NO_SPIN_LOCK).then_some(lock),
        map_extra,
        name,
    })
}

/// A bounds-checked cursor over the file bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    fn ensure(&self, what: &'static str, needed: u64) -> Result<(), PinError> {
        if needed > self.remaining() as u64 {
            return Err(PinError::Truncated {
                what,
                needed,
                offset: self.at,
                available: self.remaining(),
            });
        }
        Ok(())
    }

    fn take(&mut self, what: &'static str, n: u64) -> Result<&'a [u8], PinError> {
        self.ensure(what, n)?;
        // `ensure` proved n <= remaining, which fits in usize.
        let end = self.at + n as usize;
        let slice = self.bytes.get(self.at..end).ok_or(PinError::Truncated {
            what,
            needed: n,
            offset: self.at,
            available: self.remaining(),
        })?;
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], PinError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(what, N as u64)?);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, PinError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, PinError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, PinError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn str(&mut self, what: &'static str) -> Result<String, PinError> {
        let len = self.u8(what)?;
        let raw = self.take(what, u64::from(len))?;
        String::from_utf8(raw.to_vec()).map_err(|_| PinError::NotUtf8(what))
    }
}

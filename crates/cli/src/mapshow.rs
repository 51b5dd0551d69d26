//! `apiary map show|list`: bpftool's listing of maps, for the three places
//! Apiary's maps live: the running kernel (`show` alone, `id N`, `name
//! NAME`, a pin or directory on a bpffs; needs root), a directory of
//! Apiary pin files (`--pin-maps DIR`), and an object file's definitions.
//! Kernel maps print exactly as bpftool 7.1 prints them (without its
//! `pids` line, which needs bpftool's own BPF iterator); pins and object
//! maps print in the same shape, named by their path instead of an id.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use apiary_btf::BpftoolJson;
use apiary_kernel::MapFd;
use apiary_kernel::types::{MapType, ProgType};
use apiary_maps::pin;

use crate::mapcmd::{Failure, Output, parse_map_spec};
use crate::mapsource::{self, Handle};

/// What one listed map shows.
#[derive(Debug, Default)]
struct Shown {
    /// Kernel id.
    id: Option<u32>,
    /// Where an Apiary pin file lives (its line starts with the path).
    pin_file: Option<PathBuf>,
    /// A kernel pin's path, listed as bpftool's `-f` lists it.
    kernel_pin: Option<PathBuf>,
    map_type: MapType,
    name: String,
    flags: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    /// From the kernel's fdinfo: `memlock`, `owner_prog_type`,
    /// `owner_jited`, `frozen`.
    memlock: Option<String>,
    owner_prog_type: Option<u32>,
    owner_jited: Option<bool>,
    frozen: Option<bool>,
    btf_id: u32,
}

/// `map show|list [MAP | DIR | FILE.o]`.
pub fn show(words: &[&str], out: &mut Output) -> Result<(), Failure> {
    let (shown, single) = match words {
        [] => (kernel_maps()?, false),
        [kind, _]
            if ["id", "name", "pinned"]
                .iter()
                .any(|k| k.starts_with(*kind)) =>
        {
            let (handle, _) = parse_map_spec(words)?;
            match handle {
                Handle::Pinned(path) if path.is_dir() => (directory(path)?, false),
                Handle::Pinned(path) if !mapsource::on_bpffs(path) => (vec![pin_file(path)?], true),
                handle => {
                    let fds = mapsource::open_kernel(handle)?;
                    if fds.is_empty() {
                        return Err(mapsource::no_map_named(handle).into());
                    }
                    let single = fds.len() == 1;
                    let shown = fds
                        .iter()
                        .map(|fd| kernel_map(fd, None))
                        .collect::<Result<_, _>>()?;
                    (shown, single)
                }
            }
        }
        [path] => {
            let path = Path::new(path);
            if path.is_dir() {
                (directory(path)?, false)
            } else if is_elf(path) {
                (object_maps(path)?, false)
            } else if path.is_file() {
                (vec![pin_file(path)?], true)
            } else {
                return Err(format!(
                    "what is '{}'? (expected id ID, name NAME, pinned FILE, a directory of pins or an object file)",
                    path.display()
                )
                .into());
            }
        }
        [word, ..] => return Err(format!("what is '{word}'?").into()),
    };
    match out.json.as_mut() {
        Some(w) => {
            if !single {
                w.start_array();
            }
            for map in &shown {
                json(w, map);
            }
            if !single {
                w.end_array();
            }
        }
        None => {
            for map in &shown {
                out.text.push_str(&plain(map));
            }
        }
    }
    Ok(())
}

/// Every kernel map, as `bpftool map show` lists them.
fn kernel_maps() -> Result<Vec<Shown>, Failure> {
    apiary_kernel::probe().map_err(|reason| {
        format!(
            "listing the kernel's maps needs bpf(): {reason} \
             (`map show DIR` lists Apiary's pins, `map show FILE.o` an object's maps)"
        )
    })?;
    mapsource::every_kernel_map()?
        .iter()
        .map(|fd| kernel_map(fd, None))
        .collect()
}

/// A kernel map's info and fdinfo lines.
fn kernel_map(fd: &MapFd, pin: Option<&Path>) -> Result<Shown, Failure> {
    let info = fd.info().map_err(|e| format!("can't get map info: {e}"))?;
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_fd().as_raw_fd()))
        .unwrap_or_default();
    let field = |key: &str| {
        fdinfo.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name == key).then(|| value.trim().to_owned())
        })
    };
    let number = |key: &str| field(key).and_then(|v| v.parse::<u32>().ok());
    Ok(Shown {
        id: Some(info.id),
        kernel_pin: pin.map(Path::to_owned),
        map_type: info.map_type,
        name: info.name,
        flags: info.map_flags,
        key_size: info.key_size,
        value_size: info.value_size,
        max_entries: info.max_entries,
        memlock: field("memlock"),
        owner_prog_type: number("owner_prog_type").filter(|_| info.map_type == MapType::PROG_ARRAY),
        owner_jited: number("owner_jited")
            .filter(|_| info.map_type == MapType::PROG_ARRAY)
            .map(|n| n != 0),
        frozen: Some(number("frozen").is_some_and(|n| n != 0)),
        btf_id: info.btf_id,
        ..Shown::default()
    })
}

/// An Apiary pin file's map.
fn pin_file(path: &Path) -> Result<Shown, Failure> {
    let pinned = pin::load(path)
        .map_err(|e| format!("{}: not a usable apiary pinned map: {e}", path.display()))?;
    let def = pinned.map.def();
    Ok(Shown {
        pin_file: Some(path.to_owned()),
        map_type: MapType(def.map_type),
        name: def.name.clone(),
        flags: def.map_flags,
        key_size: def.key_size,
        value_size: def.value_size,
        max_entries: def.max_entries,
        ..Shown::default()
    })
}

/// The maps pinned in `dir`: kernel pins on a bpffs (needs root), else
/// Apiary pin files (other files are skipped), in name order.
fn directory(dir: &Path) -> Result<Vec<Shown>, Failure> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {}", dir.display(), mapsource::strerror_of(&e)))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    if mapsource::on_bpffs(dir) {
        let mut shown = Vec::new();
        for path in &paths {
            // Programs and links pinned beside maps are not listed.
            if let Ok(mut fds) = mapsource::open_kernel(Handle::Pinned(path)) {
                shown.push(kernel_map(&fds.remove(0), Some(path))?);
            } else if let Err(reason) = apiary_kernel::probe() {
                return Err(format!(
                    "{} is on bpffs, where only the kernel pins maps: listing it needs bpf(): {reason}",
                    dir.display()
                )
                .into());
            }
        }
        return Ok(shown);
    }
    Ok(paths
        .iter()
        .filter_map(|path| pin_file(path).ok())
        .collect())
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// The maps an object file defines, as libbpf would create them.
fn object_maps(path: &Path) -> Result<Vec<Shown>, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("{}: {}", path.display(), mapsource::strerror_of(&e)))?;
    let name = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let object = apiary_loader::Object::parse(&bytes, &name)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(object
        .maps
        .iter()
        .map(|spec| Shown {
            map_type: spec.map_type,
            name: spec.name.clone(),
            flags: spec.map_flags,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            ..Shown::default()
        })
        .collect())
}

/// bpftool's `show_map_header_plain`: `ID: TYPE  name NAME  flags 0xF`
/// and a newline; a pin file's path stands for the id of a kernel map.
pub fn header_plain(
    id: Option<u32>,
    path: Option<&Path>,
    map_type: MapType,
    name: &str,
    flags: u32,
) -> String {
    let mut text = String::new();
    if let Some(id) = id {
        text.push_str(&format!("{id}: "));
    } else if let Some(path) = path {
        text.push_str(&format!("{}: ", path.display()));
    }
    text.push_str(&format!("{map_type}  "));
    if !name.is_empty() {
        text.push_str(&format!("name {name}  "));
    }
    text.push_str(&format!("flags 0x{flags:x}\n"));
    text
}

/// bpftool's `show_map_header_json`: `id`, `type`, `name`, `flags`.
pub fn header_json(
    w: &mut BpftoolJson,
    id: Option<u32>,
    map_type: MapType,
    name: &str,
    flags: u32,
) {
    if let Some(id) = id {
        w.name("id");
        w.raw(&id.to_string());
    }
    w.name("type");
    match map_type.name() {
        Some(name) => w.string(name),
        None => w.raw(&map_type.0.to_string()),
    }
    if !name.is_empty() {
        w.name("name");
        w.string(name);
    }
    w.name("flags");
    w.raw(&flags.to_string());
}

/// bpftool's `show_map_close_plain`.
fn plain(map: &Shown) -> String {
    let mut text = header_plain(
        map.id,
        map.pin_file.as_deref(),
        map.map_type,
        &map.name,
        map.flags,
    );
    text.push_str(&format!(
        "\tkey {}B  value {}B  max_entries {}",
        map.key_size, map.value_size, map.max_entries
    ));
    if let Some(memlock) = &map.memlock {
        text.push_str(&format!("  memlock {memlock}B"));
    }
    if map.owner_prog_type.is_some() || map.owner_jited.is_some() {
        text.push_str("\n\t");
    }
    if let Some(owner) = map.owner_prog_type {
        text.push_str(&format!("owner_prog_type {}  ", ProgType(owner)));
    }
    if let Some(jited) = map.owner_jited {
        text.push_str(if jited {
            "owner jited"
        } else {
            "owner not jited"
        });
    }
    if let Some(pin) = &map.kernel_pin {
        text.push_str(&format!("\n\tpinned {}", pin.display()));
    }
    let frozen = map.frozen == Some(true);
    if map.btf_id != 0 || frozen {
        text.push_str("\n\t");
    }
    if map.btf_id != 0 {
        text.push_str(&format!("btf_id {}", map.btf_id));
    }
    if frozen {
        text.push_str(if map.btf_id != 0 {
            "  frozen"
        } else {
            "frozen"
        });
    }
    text.push('\n');
    text
}

/// bpftool's `show_map_close_json`.
fn json(w: &mut BpftoolJson, map: &Shown) {
    let number = |w: &mut BpftoolJson, key: &str, value: u64| {
        w.name(key);
        w.raw(&value.to_string());
    };
    w.start_object();
    header_json(w, map.id, map.map_type, &map.name, map.flags);
    number(w, "bytes_key", u64::from(map.key_size));
    number(w, "bytes_value", u64::from(map.value_size));
    number(w, "max_entries", u64::from(map.max_entries));
    if let Some(memlock) = map.memlock.as_deref().and_then(|m| m.parse::<u64>().ok()) {
        number(w, "bytes_memlock", memlock);
    }
    if let Some(owner) = map.owner_prog_type {
        w.name("owner_prog_type");
        match ProgType(owner).name() {
            Some(name) => w.string(name),
            None => w.raw(&owner.to_string()),
        }
    }
    if let Some(jited) = map.owner_jited {
        w.name("owner_jited");
        w.raw(if jited { "true" } else { "false" });
    }
    if let Some(frozen) = map.frozen {
        number(w, "frozen", u64::from(frozen));
    }
    if map.btf_id != 0 {
        number(w, "btf_id", u64::from(map.btf_id));
    }
    if let Some(path) = map.pin_file.as_ref().or(map.kernel_pin.as_ref()) {
        w.name("pinned");
        w.start_array();
        w.string(&path.display().to_string());
        w.end_array();
    }
    w.end_object();
}

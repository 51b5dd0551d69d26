//! `prog run --pin-maps DIR`: maps saved in DIR by an earlier run are
//! reused (their contents copied into the new run's maps, in whichever
//! backends run) and the maps are saved there afterwards, one file per map
//! named as bpftool's `pinmaps` names its pins, with the BTF libbpf gives
//! the map so that `apiary map dump` formats values as bpftool does.

use std::path::{Path, PathBuf};

use apiary_loader::{BPF_F_RDONLY_PROG, MapSpec, Object};
use apiary_maps::pin::{self, MapBtf, PinContents};
use apiary_maps::{Map, MapError, MapType};

use crate::error::CliError;
use apiary_difftest::objects::{
    KernelBackend, VmBackend, cpu_count, kernel_map_entries, vm_map_entries,
};

fn pin_path(dir: &Path, spec: &MapSpec) -> Result<PathBuf, CliError> {
    let file = pin::pin_file_name(&spec.name).map_err(|e| CliError::at(dir.display(), e))?;
    Ok(dir.join(file))
}

/// Refuses a `--pin-maps` directory that could not be created after the
/// run: like bpftool's `pinmaps` (libbpf's one `mkdir`), only the last
/// component is made, inside a directory that exists; checked before the
/// run so that no result is lost to it.
pub fn check_pin_dir(dir: &Path) -> Result<(), CliError> {
    if dir.is_dir() {
        return Ok(());
    }
    let at = || format!("--pin-maps {}", dir.display());
    if dir.exists() {
        return Err(CliError::at(at(), "exists and is not a directory"));
    }
    let parent = match dir.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => return Ok(()),
    };
    if parent.is_dir() {
        Ok(())
    } else {
        Err(CliError::at(
            at(),
            format!(
                "{} is not a directory; only the last component of DIR is created, as bpftool's pinmaps does",
                parent.display()
            ),
        ))
    }
}

/// Copies the contents of every map pinned in `dir` into the maps of the
/// same name in the backends that run. A map with no pin file starts as
/// the object defines it.
pub fn load_pinned(
    dir: &Path,
    specs: &[MapSpec],
    vm: Option<&VmBackend>,
    kernel: Option<&KernelBackend>,
) -> Result<(), CliError> {
    for spec in specs {
        let path = pin_path(dir, spec)?;
        if !path.exists() {
            continue;
        }
        let fail = |e: String| CliError::at(path.display(), e);
        let pinned = pin::load(&path).map_err(|e| fail(e.to_string()))?;
        if let PinContents::DefinitionOnly(reason) = &pinned.contents {
            eprintln!(
                "apiary: {}: contents were not saved ({reason}); the map starts as the object defines it",
                path.display()
            );
            continue;
        }
        check_definition(&pinned.map, spec).map_err(fail)?;
        if pinned.map.map_type() == MapType::BloomFilter {
            // A bloom filter's bits cannot be written through bpf()-style
            // operations, and neither backend can adopt the pinned map.
            eprintln!(
                "apiary: {}: a bloom filter's saved bits cannot be loaded into a new run yet; {} starts empty",
                path.display(),
                spec.name
            );
            continue;
        }
        if let Some(vm) = vm {
            let target = vm
                .map(&spec.name)
                .ok_or_else(|| fail(format!("the vm has no map {}", spec.name)))?;
            copy_into_vm(&pinned.map, &target)
                .map_err(|e| fail(format!("copying into map {}: {e}", spec.name)))?;
        }
        // The kernel backend froze read-only global data at load, as libbpf
        // does; those values can only come from the object.
        if let Some(kernel) = kernel.filter(|_| spec.map_flags & BPF_F_RDONLY_PROG == 0) {
            let target = kernel
                .map(&spec.name)
                .ok_or_else(|| fail(format!("the kernel has no map {}", spec.name)))?;
            copy_into_kernel(&pinned.map, target)
                .map_err(|e| fail(format!("copying into the kernel's map {}: {e}", spec.name)))?;
        }
    }
    Ok(())
}

/// The BTF libbpf gives a map at creation: the object's BTF (data
/// sections fixed up, as the loader does at open) with the spec's key and
/// value types. `None` when the map has no value type, as bpftool then
/// prints it without BTF.
pub fn map_btf(object: &Object, spec: &MapSpec) -> Option<MapBtf> {
    let value_type = spec.value_type?;
    Some(MapBtf {
        blob: object.btf.as_ref()?.to_bytes(),
        key_type_id: spec.key_type.map_or(0, |t| t.0),
        value_type_id: value_type.0,
    })
}

/// Saves the object's maps into `dir` (created if missing) with their BTF:
/// the vm's maps when it ran, otherwise the kernel's, read back into
/// Apiary maps.
pub fn save_pinned(
    dir: &Path,
    object: &Object,
    vm: Option<&VmBackend>,
    kernel: Option<&KernelBackend>,
) -> Result<(), CliError> {
    let mut maps: Vec<(String, std::sync::Arc<Map>, Option<MapBtf>)> = Vec::new();
    for spec in &object.maps {
        let map = match (vm, kernel) {
            (Some(vm), _) => vm.map(&spec.name),
            (None, Some(kernel)) => kernel_snapshot(spec, kernel)
                .map_err(|e| CliError::at(&spec.name, format!("reading the kernel's map: {e}")))?
                .map(std::sync::Arc::new),
            (None, None) => None,
        };
        if let Some(map) = map {
            maps.push((spec.name.clone(), map, map_btf(object, spec)));
        }
    }
    pin::save_dir(
        dir,
        maps.iter()
            .map(|(name, map, btf)| (name.as_str(), map.as_ref(), btf.as_ref())),
    )
    .map_err(|e| CliError::at(dir.display(), e))?;
    Ok(())
}

fn check_definition(pinned: &Map, spec: &MapSpec) -> Result<(), String> {
    let saved = pinned.def();
    let created = apiary_runtime::map_def_for(spec, cpu_count());
    let ours = (
        created.map_type,
        created.key_size,
        created.value_size,
        created.max_entries,
    );
    let theirs = (
        saved.map_type,
        saved.key_size,
        saved.value_size,
        saved.max_entries,
    );
    if ours != theirs {
        return Err(format!(
            "pinned map (type {}, key {} bytes, value {} bytes, {} entries) does not match the object's {} (type {}, key {} bytes, value {} bytes, {} entries)",
            theirs.0, theirs.1, theirs.2, theirs.3, spec.name, ours.0, ours.1, ours.2, ours.3
        ));
    }
    let cpus = cpu_count();
    if pinned.map_type().is_percpu() && pinned.nr_cpus() != cpus {
        return Err(format!(
            "pinned per-CPU map was saved for {} CPUs, this machine has {cpus}",
            pinned.nr_cpus()
        ));
    }
    Ok(())
}

/// Queue and stack values, oldest first, taken out of `from`.
fn drain_queue(from: &Map) -> Result<Vec<Vec<u8>>, MapError> {
    let mut values = Vec::new();
    let mut value = vec![0u8; from.value_size()];
    for _ in 0..from.max_entries() {
        match from.pop(&mut value) {
            Ok(()) => values.push(value.clone()),
            Err(MapError::NotFound) => break,
            Err(error) => return Err(error),
        }
    }
    if from.map_type() == MapType::Stack {
        values.reverse();
    }
    Ok(values)
}

fn is_queue(map: &Map) -> bool {
    matches!(map.map_type(), MapType::Queue | MapType::Stack)
}

/// Copies every element of `from` (queue/stack values oldest first) with
/// `push` and `update`, the target's host-side `bpf()` operations.
fn copy_map(
    from: &Map,
    mut push: impl FnMut(&[u8]) -> Result<(), String>,
    mut update: impl FnMut(&[u8], &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    if is_queue(from) {
        for value in drain_queue(from).map_err(|e| e.to_string())? {
            push(&value)?;
        }
        return Ok(());
    }
    for (key, value) in vm_map_entries(from)? {
        update(&key, &value)?;
    }
    Ok(())
}

fn copy_into_vm(from: &Map, to: &Map) -> Result<(), String> {
    copy_map(
        from,
        |value| to.push(value, 0).map_err(|e| e.to_string()),
        |key, value| to.sys_update(key, value, 0).map_err(|e| e.to_string()),
    )
}

/// An empty key pushes into a kernel queue or stack.
fn copy_into_kernel(from: &Map, to: &apiary_kernel::MapFd) -> Result<(), String> {
    copy_map(
        from,
        |value| to.update(&[], value, 0).map_err(|e| e.to_string()),
        |key, value| to.update(key, value, 0).map_err(|e| e.to_string()),
    )
}

/// An Apiary map holding what the kernel's map holds after the run, for
/// saving; `None` for map types whose contents cannot be read back
/// (program and map references, rings, bloom filters).
fn kernel_snapshot(spec: &MapSpec, kernel: &KernelBackend) -> Result<Option<Map>, String> {
    let Some(source) = kernel.map(&spec.name) else {
        return Ok(None);
    };
    let map = Map::create(apiary_runtime::map_def_for(spec, cpu_count()), cpu_count())
        .map_err(|e| e.to_string())?;
    if is_queue(&map) {
        for _ in 0..spec.max_entries {
            match source
                .lookup_and_delete(&[], 0)
                .map_err(|e| e.to_string())?
            {
                Some(value) => map.push(&value, 0).map_err(|e| e.to_string())?,
                None => break,
            }
        }
        return Ok(Some(map));
    }
    let Ok(entries) = kernel_map_entries(spec, source) else {
        return Ok(None);
    };
    for (key, value) in entries {
        map.sys_update(&key, &value, 0).map_err(|e| e.to_string())?;
    }
    Ok(Some(map))
}

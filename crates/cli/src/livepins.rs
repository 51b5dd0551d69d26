//! `xdp run --pin-maps DIR`: the running program's maps shared with other
//! processes, live and through the pin files.
//!
//! Live: `liveserve` answers `apiary map ... pinned DIR/NAME` on
//! `DIR/.apiary-live.sock` by applying each operation to the running map
//! itself, so an update is seen by the next frame and a dump shows the
//! values of that moment.
//!
//! Files: every second and at the end, every map is written to its pin
//! file, so that the maps outlive the run (the next run, `map show`, or a
//! `map` command after the end read them). Before writing, a pin file
//! that changed since this process last wrote it (a process that did not
//! go through the socket: an older `apiary`, or one that read the
//! directory before the socket existed) is merged: the elements that
//! differ from what was last written — added, changed, deleted — are
//! applied to the running map. A three-way merge rather than a reload, so
//! that what the program changed meanwhile (counters) is kept where the
//! other process did not touch the same element. The exchange holds the
//! directory's lock ([`pin::lock_dir_of`]), as `apiary map` commands do.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use apiary_loader::Object;
use apiary_maps::Map;
use apiary_maps::pin::{self, MapBtf};

use crate::error::CliError;
use crate::liveserve::{LiveServer, Served};
use apiary_difftest::objects::{VmBackend, vm_map_entries};

/// What identifies one version of a pin file: inode, modification time
/// and length.
type Stamp = (u64, i64, i64, u64);

struct Tracked {
    path: PathBuf,
    map: Arc<Map>,
    btf: Option<MapBtf>,
    /// The elements as last written (`None`: a map whose elements cannot
    /// be listed, such as a queue; it is only written, never merged).
    written: Option<BTreeMap<Vec<u8>, Vec<u8>>>,
    stamp: Option<Stamp>,
}

/// The pin files of a running object's maps.
pub struct LivePins {
    maps: Vec<Tracked>,
    /// Serves the maps live until dropped.
    server: LiveServer,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.len()))
}

impl LivePins {
    /// Tracks the maps of `object` running in `vm`, writing each to `dir`
    /// now (created if missing).
    pub fn start(dir: &Path, object: &Object, vm: &VmBackend) -> Result<LivePins, CliError> {
        std::fs::create_dir_all(dir).map_err(|e| CliError::at(dir.display(), e))?;
        let mut maps = Vec::new();
        for spec in &object.maps {
            let Some(map) = vm.map(&spec.name) else {
                continue;
            };
            let file =
                pin::pin_file_name(&spec.name).map_err(|e| CliError::at(dir.display(), e))?;
            maps.push(Tracked {
                path: dir.join(&file),
                map,
                btf: crate::pinning::map_btf(object, spec),
                written: None,
                stamp: None,
            });
        }
        for tracked in &mut maps {
            let _lock = pin::lock_dir_of(&tracked.path)
                .map_err(|e| CliError::at(tracked.path.display(), e))?;
            tracked.write()?;
        }
        let served: HashMap<String, Served> = maps
            .iter()
            .filter_map(|tracked| {
                let name = tracked.path.file_name()?.to_str()?.to_owned();
                let map = Arc::clone(&tracked.map);
                let btf = tracked.btf.clone();
                Some((name, Served { map, btf }))
            })
            .collect();
        let server = LiveServer::start(dir, served)?;
        Ok(LivePins { maps, server })
    }

    /// Takes in what other processes changed in the pin files, then
    /// writes every map out. Returns a note per change taken in or refused.
    pub fn sync(&mut self) -> Result<Vec<String>, CliError> {
        let mut notes = Vec::new();
        for tracked in &mut self.maps {
            let _lock = pin::lock_dir_of(&tracked.path)
                .map_err(|e| CliError::at(tracked.path.display(), e))?;
            tracked.sync(&mut notes)?;
        }
        Ok(notes)
    }

    /// Stops serving the maps live, then syncs them a last time, holding
    /// the directory's lock throughout: an update answered live is in the
    /// files, and a command that finds the socket gone reads the files
    /// only once they are final.
    pub fn finish(self) -> Result<Vec<String>, CliError> {
        let LivePins { mut maps, server } = self;
        let _lock = match maps.first() {
            Some(tracked) => Some(
                pin::lock_dir_of(&tracked.path)
                    .map_err(|e| CliError::at(tracked.path.display(), e))?,
            ),
            None => None,
        };
        drop(server);
        let mut notes = Vec::new();
        for tracked in &mut maps {
            tracked.sync(&mut notes)?;
        }
        Ok(notes)
    }
}

impl Tracked {
    /// Takes in what another process changed in the file, then writes the
    /// map out (the caller holds the directory's lock).
    fn sync(&mut self, notes: &mut Vec<String>) -> Result<(), CliError> {
        if stamp(&self.path) != self.stamp && self.stamp.is_some() {
            match self.merge() {
                Ok(0) => {}
                Ok(n) => notes.push(format!(
                    "{}: {n} element(s) changed by another process taken in",
                    self.path.display()
                )),
                Err(why) => notes.push(format!(
                    "{}: changes by another process not taken in: {why}",
                    self.path.display()
                )),
            }
        }
        self.write()
    }

    fn write(&mut self) -> Result<(), CliError> {
        // The elements are listed before the file is written: an element
        // the program adds in between is in the file but not in `written`,
        // and is then seen as added by the file, which is harmless.
        self.written = vm_map_entries(&self.map).ok();
        pin::save(&self.path, &self.map, self.btf.as_ref())
            .map_err(|e| CliError::at(self.path.display(), e))?;
        self.stamp = stamp(&self.path);
        Ok(())
    }

    /// Applies the file's differences from what was last written to the
    /// running map; returns how many elements changed.
    fn merge(&mut self) -> Result<usize, String> {
        let Some(written) = &self.written else {
            return Err("this map type's elements cannot be listed".to_owned());
        };
        let pinned = pin::load(&self.path).map_err(|e| e.to_string())?;
        let now = vm_map_entries(&pinned.map)?;
        let mut changed = 0;
        for (key, value) in &now {
            if written.get(key) != Some(value) {
                self.map
                    .sys_update(key, value, 0)
                    .map_err(|e| format!("updating an element: {e}"))?;
                changed += 1;
            }
        }
        for key in written.keys().filter(|k| !now.contains_key(*k)) {
            match self.map.sys_delete(key) {
                Ok(()) | Err(apiary_maps::MapError::NotFound) => changed += 1,
                Err(e) => return Err(format!("deleting an element: {e}")),
            }
        }
        Ok(changed)
    }
}

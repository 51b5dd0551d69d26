//! Map specifications: BTF-defined maps in `.maps`, legacy `struct
//! bpf_map_def` records in `maps`, and the one-entry array maps libbpf makes
//! of global data sections. Only specs: nothing here creates a map.

use apiary_btf::{Btf, Kind, TypeId};
use apiary_kernel::types::MapType;

use crate::elf::{ElfObject, R_BPF_64_ABS64, SymbolKind};
use crate::error::LoadError;

/// `BPF_F_RDONLY_PROG`: programs may not write the map.
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_MMAPABLE`: the map can be memory-mapped.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// Where a map's definition came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapOrigin {
    /// A BTF-defined map variable in `.maps`.
    BtfDefined,
    /// A `struct bpf_map_def` in the legacy `maps` section (libbpf 0.x,
    /// samples/bpf).
    Legacy,
    /// An iproute2 `struct bpf_elf_map` in the `maps` section (tc, Cilium).
    Iproute2(ElfMapIds),
    /// A global data section (`.data*`, `.rodata*`, `.bss*`).
    GlobalData {
        /// ELF section name.
        section: String,
    },
    /// The `.kconfig` externs.
    Kconfig,
}

/// The fields of iproute2's `struct bpf_elf_map` that libbpf's
/// `struct bpf_map_def` does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfMapIds {
    /// The map's id: tail-call sections `ID/KEY` name program arrays by
    /// it, and map-in-map definitions name their inner map by it.
    pub id: u32,
    /// `PIN_NONE` (0), `PIN_OBJECT_NS` (1) or `PIN_GLOBAL_NS` (2): where
    /// `tc` pins the map under `/sys/fs/bpf/tc/` ([`ElfMapIds::pinning_kind`]).
    pub pinning: u32,
    /// For a map of maps: the id of the map that is its inner template.
    pub inner_id: u32,
    /// For an inner map: its slot in every map of maps whose `inner_id` is
    /// this map's id (`u32::MAX`: none).
    pub inner_idx: u32,
}

/// Where iproute2 pins a `struct bpf_elf_map` (its `pinning` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfPinning {
    /// `PIN_NONE`: not pinned.
    None,
    /// `PIN_OBJECT_NS`: in the object's own directory,
    /// `tc/<SHA-1 of the object file>/NAME`.
    Object,
    /// `PIN_GLOBAL_NS`: shared by every object, `tc/globals/NAME`.
    Global,
    /// Any other value: a directory iproute2 looks up in
    /// `/etc/iproute2/bpf_pinning`.
    Custom(u32),
}

impl ElfMapIds {
    /// What the `pinning` field asks for.
    pub fn pinning_kind(&self) -> ElfPinning {
        match self.pinning {
            0 => ElfPinning::None,
            1 => ElfPinning::Object,
            2 => ElfPinning::Global,
            other => ElfPinning::Custom(other),
        }
    }

    /// Where `tc` pins map `name`, relative to the bpffs mount, in words
    /// for listings (`global (tc/globals/NAME)`); `None` when unpinned.
    pub fn describe_pinning(&self, name: &str) -> Option<String> {
        match self.pinning_kind() {
            ElfPinning::None => None,
            ElfPinning::Object => Some(format!("object (tc/<SHA-1 of the object file>/{name})")),
            ElfPinning::Global => Some(format!("global (tc/globals/{name})")),
            ElfPinning::Custom(value) => Some(format!(
                "custom {value} (the directory /etc/iproute2/bpf_pinning names; not pinned by Apiary)"
            )),
        }
    }
}

/// What one initial slot of a map-in-map or program array points to
/// (`values[] = { [i] = &x }` in `.maps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialSlotTarget {
    /// Another map, by index in [`crate::Object::maps`].
    Map(usize),
    /// A program, by name.
    Program(String),
}

/// One initialised slot of a map-in-map or program array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialSlot {
    /// Array index (key) of the slot.
    pub index: u32,
    /// What the slot holds.
    pub target: InitialSlotTarget,
}

/// A pointer stored in a global data section (`int *p = &x;`), i.e. an
/// `R_BPF_64_ABS64`/`R_BPF_64_ABS32` relocation in `.data*`/`.rodata*`.
///
/// libbpf relocates only code, `.maps` and `.struct_ops` sections and skips
/// these ("elf: skipping relo section ... for section ... .data"), so the
/// map's initial value keeps the bytes clang wrote there (the implicit
/// addend, not an address) and [`MapSpec::initial_data`] does the same.
/// They are reported so that a user can see which bytes are unresolved
/// pointers and what they were meant to point to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRelocation {
    /// Byte offset of the pointer within the map value.
    pub offset: u32,
    /// Width of the pointer in bytes: 8 (`R_BPF_64_ABS64`) or 4
    /// (`R_BPF_64_ABS32`).
    pub width: u8,
    /// The relocation's symbol (a variable, a function, or for section
    /// symbols the section's name).
    pub symbol: String,
    /// The section the pointer points into, `None` for an undefined symbol.
    pub target_section: Option<String>,
    /// Byte offset of the pointee within `target_section`: the symbol's
    /// value plus the addend stored in the data.
    pub target_offset: u64,
}

/// A map as the object describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    /// libbpf's name: the variable or symbol name, or
    /// `<object prefix>.<section>` for internal maps. The kernel keeps the
    /// first 15 bytes.
    pub name: String,
    /// Where the definition came from.
    pub origin: MapOrigin,
    /// Map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` creation flags.
    pub map_flags: u32,
    /// NUMA node (meaningful with `BPF_F_NUMA_NODE`).
    pub numa_node: u32,
    /// `LIBBPF_PIN_*` pinning mode (0 none, 1 by name).
    pub pinning: u32,
    /// Type-specific extra (bloom filter hash count, arena address).
    pub map_extra: u64,
    /// BTF type of the key, when the definition names one.
    pub key_type: Option<TypeId>,
    /// BTF type of the value, when the definition names one.
    pub value_type: Option<TypeId>,
    /// Inner map template of a map-in-map.
    pub inner: Option<Box<MapSpec>>,
    /// Initial slots of a map-in-map or program array.
    pub initial_slots: Vec<InitialSlot>,
    /// Initial contents of a global-data map's single value (zeros for
    /// `.bss`); empty for other maps.
    pub initial_data: Vec<u8>,
    /// Pointers in a global-data map's initial value, left unrelocated as
    /// libbpf leaves them.
    pub data_relocations: Vec<DataRelocation>,
    /// Offset of the `struct bpf_spin_lock` member in the value (the
    /// kernel's `btf_find_spin_lock`), when the value type has one.
    pub spin_lock_offset: Option<u32>,
    /// Offset of the `struct bpf_timer` member in the value, when the value
    /// type has one.
    pub timer_offset: Option<u32>,
}

impl MapSpec {
    pub(crate) fn empty(name: String, origin: MapOrigin) -> MapSpec {
        MapSpec {
            name,
            origin,
            map_type: MapType::UNSPEC,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
            map_flags: 0,
            numa_node: 0,
            pinning: 0,
            map_extra: 0,
            key_type: None,
            value_type: None,
            inner: None,
            initial_slots: Vec::new(),
            initial_data: Vec::new(),
            data_relocations: Vec::new(),
            spin_lock_offset: None,
            timer_offset: None,
        }
    }
}

/// A map together with where its definition sits, for relocations.
#[derive(Debug)]
pub(crate) struct PlacedMap {
    pub(crate) spec: MapSpec,
    /// ELF section holding the definition or data.
    pub(crate) section: usize,
    /// Byte offset of the definition within the section (0 for data maps).
    pub(crate) offset: u64,
}

/// A map of maps must say what its inner maps look like: neither backend
/// can create one without an inner template. libbpf opens such a map and
/// leaves the template to the program's own loader
/// (`bpf_map__set_inner_map_fd`), failing at creation otherwise; Apiary has
/// no such loader, so the object is refused when opened, naming the map
/// and `how` its definition would have given the template.
pub(crate) fn require_inner_template(map: &PlacedMap, how: &str) -> Result<(), LoadError> {
    let is_map_of_maps =
        map.spec.map_type == MapType::ARRAY_OF_MAPS || map.spec.map_type == MapType::HASH_OF_MAPS;
    if !is_map_of_maps || map.spec.inner.is_some() {
        return Ok(());
    }
    Err(map_err(
        &map.spec.name,
        format!(
            "map of maps at offset {:#x} has no inner map definition, so no backend can create it (libbpf left it to the program's loader, bpf_map__set_inner_map_fd); {how}",
            map.offset
        ),
    ))
}

pub(crate) fn map_err(map: &str, reason: impl Into<String>) -> LoadError {
    LoadError::Map {
        map: map.to_owned(),
        reason: reason.into(),
    }
}

/// libbpf's internal map name: up to 8 characters of the object name
/// followed by the section name, sanitised for the kernel; sections with a
/// second dot keep their own name.
pub(crate) fn internal_map_name(object_name: &str, section: &str) -> String {
    const OBJ_NAME_LEN: usize = 16;
    let suffix_len = section.len().clamp(7, OBJ_NAME_LEN - 1);
    let custom = section.get(1..).is_some_and(|rest| rest.contains('.'));
    let prefix_len = if custom {
        0
    } else {
        (OBJ_NAME_LEN - suffix_len - 1).min(object_name.len())
    };
    let prefix = object_name.bytes().take(prefix_len);
    let suffix = section.bytes().take(suffix_len);
    prefix
        .chain(suffix)
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect()
}

/// The one-entry array maps of global data sections, in section order.
pub(crate) fn global_data_maps(
    elf: &ElfObject<'_>,
    object_name: &str,
) -> Result<Vec<PlacedMap>, LoadError> {
    let mut maps = Vec::new();
    for section in &elf.sections {
        let name = section.name;
        let is = |base: &str| {
            name == base || name.strip_prefix(base).is_some_and(|r| r.starts_with('.'))
        };
        let (flags, nobits) = if section.sh_type == object::elf::SHT_PROGBITS
            && !section.data.is_empty()
            && !section.is_code()
            && is(".data")
        {
            (BPF_F_MMAPABLE, false)
        } else if section.sh_type == object::elf::SHT_PROGBITS
            && !section.data.is_empty()
            && !section.is_code()
            && is(".rodata")
        {
            (BPF_F_MMAPABLE | BPF_F_RDONLY_PROG, false)
        } else if section.sh_type == object::elf::SHT_NOBITS && is(".bss") {
            (BPF_F_MMAPABLE, true)
        } else {
            continue;
        };
        let Ok(value_size) = u32::try_from(section.size) else {
            continue;
        };
        let mut spec = MapSpec::empty(
            internal_map_name(object_name, name),
            MapOrigin::GlobalData {
                section: name.to_owned(),
            },
        );
        spec.map_type = MapType::ARRAY;
        spec.key_size = 4;
        spec.value_size = value_size;
        spec.max_entries = 1;
        spec.map_flags = flags;
        spec.initial_data = if nobits {
            Vec::new()
        } else {
            section.data.to_vec()
        };
        spec.data_relocations = data_relocations(elf, section)?;
        maps.push(PlacedMap {
            spec,
            section: section.index,
            offset: 0,
        });
    }
    Ok(maps)
}

/// `R_BPF_64_ABS32`: 32-bit absolute address in data.
const R_BPF_64_ABS32: u32 = 3;
/// `R_BPF_64_NODYLD32`: 32-bit address that needs no dynamic relocation.
const R_BPF_64_NODYLD32: u32 = 4;

/// The pointers a global data section holds (see [`DataRelocation`]).
/// Relocations libbpf would skip are still checked: one that points
/// outside the section, or of a type that cannot occur in data, is an
/// error naming the symbol and section rather than silently ignored.
fn data_relocations(
    elf: &ElfObject<'_>,
    section: &crate::elf::Section<'_>,
) -> Result<Vec<DataRelocation>, LoadError> {
    let mut out = Vec::new();
    for reloc in elf.relocs_for(section.index) {
        let symbol = elf.symbol(reloc.symbol);
        let symbol_name = symbol.map_or("?", |s| {
            if s.kind == SymbolKind::Section {
                s.section
                    .and_then(|i| elf.section(i))
                    .map_or(s.name, |t| t.name)
            } else {
                s.name
            }
        });
        let bad = |reason: String| LoadError::Relocation {
            section: section.name.to_owned(),
            offset: reloc.offset,
            reason: format!("against {symbol_name}: {reason}"),
        };
        let width: u8 = match reloc.r_type {
            R_BPF_64_ABS64 => 8,
            R_BPF_64_ABS32 | R_BPF_64_NODYLD32 => 4,
            other => return Err(bad(format!("relocation type {other} cannot apply to data"))),
        };
        let Some(symbol) = symbol else {
            return Err(bad(format!("symbol {} out of range", reloc.symbol)));
        };
        let stored = usize::try_from(reloc.offset).ok().and_then(|start| {
            section
                .data
                .get(start..start.checked_add(usize::from(width))?)
        });
        let Some(stored) = stored else {
            return Err(bad(format!(
                "{width}-byte pointer runs past the {}-byte section",
                section.data.len()
            )));
        };
        let mut addend = [0u8; 8];
        addend
            .get_mut(..stored.len())
            .ok_or_else(|| bad("pointer wider than 8 bytes".to_owned()))?
            .copy_from_slice(stored);
        let offset = u32::try_from(reloc.offset).map_err(|_| bad("offset overflows".to_owned()))?;
        out.push(DataRelocation {
            offset,
            width,
            symbol: symbol_name.to_owned(),
            target_section: symbol
                .section
                .and_then(|i| elf.section(i))
                .map(|t| t.name.to_owned()),
            target_offset: symbol.value.wrapping_add(u64::from_le_bytes(addend)),
        });
    }
    out.sort_by_key(|r| r.offset);
    Ok(out)
}

/// The number encoded by a `__uint(name, N)` member: a pointer to an array
/// of N elements (or, for `__ulong`, an enum whose single value is N).
fn encoded_number(btf: &Btf, map: &str, field: &str, ty: TypeId) -> Result<u64, LoadError> {
    let bad = |why: &str| map_err(map, format!("field {field}: {why}"));
    let resolved = btf.skip_modifiers_and_typedefs(ty)?;
    match &btf.type_by_id(resolved)?.kind {
        Kind::Ptr(target) => match &btf.type_by_id(*target)?.kind {
            Kind::Array(array) => Ok(u64::from(array.nelems)),
            _ => Err(bad("pointer does not point to an array")),
        },
        Kind::Enum(e) | Kind::Enum64(e) => match e.values.as_slice() {
            [only] => Ok(only.raw),
            _ => Err(bad("enum must have exactly one value")),
        },
        _ => Err(bad("not a __uint()/__ulong() encoding")),
    }
}

fn number_u32(btf: &Btf, map: &str, field: &str, ty: TypeId) -> Result<u32, LoadError> {
    let value = encoded_number(btf, map, field, ty)?;
    u32::try_from(value)
        .map_err(|_| map_err(map, format!("field {field}: {value} does not fit 32 bits")))
}

/// The pointee of a `__type(name, T)` member.
fn pointee(btf: &Btf, map: &str, field: &str, ty: TypeId) -> Result<TypeId, LoadError> {
    match &btf.type_by_id(btf.skip_modifiers_and_typedefs(ty)?)?.kind {
        Kind::Ptr(target) => Ok(*target),
        _ => Err(map_err(
            map,
            format!("field {field}: not a __type() pointer"),
        )),
    }
}

/// Offset in bytes of the value's member of type `struct <special>` (such
/// as `bpf_spin_lock`), found as the kernel's `btf_find_field` does: among
/// the value struct's own members, by the member type's struct name. The
/// kernel refuses a value with two such members, and so does this.
fn special_field_offset(
    btf: &Btf,
    map: &str,
    value_type: TypeId,
    special: &str,
) -> Result<Option<u32>, LoadError> {
    let Kind::Struct(value) = &btf.type_by_id(value_type)?.kind else {
        return Ok(None);
    };
    let mut found = None;
    for member in &value.members {
        let ty = btf.type_by_id(member.ty)?;
        if !matches!(ty.kind, Kind::Struct(_)) || btf.str_at(ty.name_off)? != special {
            continue;
        }
        if found.is_some() {
            return Err(map_err(
                map,
                format!("value has more than one struct {special}"),
            ));
        }
        found = Some(member.bit_offset / 8);
    }
    Ok(found)
}

/// Nesting of `values[]` inner definitions libbpf accepts: one level.
const MAX_INNER_DEPTH: usize = 1;

/// Parses a BTF map definition struct (libbpf `parse_btf_map_def`).
/// Returns the spec and the byte offset of the `values` member, if any.
fn parse_btf_map_def(
    btf: &Btf,
    name: &str,
    def_type: TypeId,
    depth: usize,
) -> Result<(MapSpec, Option<u32>), LoadError> {
    let def_type = btf.skip_modifiers_and_typedefs(def_type)?;
    let Kind::Struct(def) = &btf.type_by_id(def_type)?.kind else {
        return Err(map_err(name, "definition is not a struct"));
    };
    let mut spec = MapSpec::empty(name.to_owned(), MapOrigin::BtfDefined);
    let mut values_offset = None;
    for member in &def.members {
        let field = btf.str_at(member.name_off)?;
        match field {
            "type" => spec.map_type = MapType(number_u32(btf, name, field, member.ty)?),
            "max_entries" => spec.max_entries = number_u32(btf, name, field, member.ty)?,
            "map_flags" => spec.map_flags = number_u32(btf, name, field, member.ty)?,
            "numa_node" => spec.numa_node = number_u32(btf, name, field, member.ty)?,
            "pinning" => spec.pinning = number_u32(btf, name, field, member.ty)?,
            "map_extra" => spec.map_extra = encoded_number(btf, name, field, member.ty)?,
            "key_size" => spec.key_size = number_u32(btf, name, field, member.ty)?,
            "value_size" => spec.value_size = number_u32(btf, name, field, member.ty)?,
            "key" => {
                let key = pointee(btf, name, field, member.ty)?;
                spec.key_size = btf.size_of(key)?;
                spec.key_type = Some(key);
            }
            "value" => {
                let value = pointee(btf, name, field, member.ty)?;
                spec.value_size = btf.size_of(value)?;
                spec.value_type = Some(value);
            }
            "values" => {
                let array_ty = btf.skip_modifiers_and_typedefs(member.ty)?;
                let Kind::Array(array) = &btf.type_by_id(array_ty)?.kind else {
                    return Err(map_err(name, "values must be an array"));
                };
                let element = pointee(btf, name, field, array.elem_type)?;
                let element = btf.skip_modifiers_and_typedefs(element)?;
                match &btf.type_by_id(element)?.kind {
                    Kind::FuncProto(_) => {}
                    Kind::Struct(_) => {
                        if depth >= MAX_INNER_DEPTH {
                            return Err(map_err(name, "inner map definitions nest too deep"));
                        }
                        let inner_name = format!("{name}.inner");
                        let (inner, _) = parse_btf_map_def(btf, &inner_name, element, depth + 1)?;
                        spec.inner = Some(Box::new(inner));
                    }
                    _ => {
                        return Err(map_err(
                            name,
                            "values[] must point to map definitions or functions",
                        ));
                    }
                }
                // libbpf stores the value size of outer maps as a 4-byte fd.
                spec.value_size = 4;
                values_offset = Some(member.bit_offset / 8);
            }
            other => return Err(map_err(name, format!("unknown field {other:?}"))),
        }
    }
    if spec.map_type == MapType::UNSPEC {
        return Err(map_err(name, "no map type"));
    }
    if let Some(value) = spec.value_type {
        let value = btf.skip_modifiers_and_typedefs(value)?;
        spec.spin_lock_offset = special_field_offset(btf, name, value, "bpf_spin_lock")?;
        spec.timer_offset = special_field_offset(btf, name, value, "bpf_timer")?;
    }
    Ok((spec, values_offset))
}

/// BTF-defined maps in the `.maps` section, with their `values[]` initial
/// slots filled from `.maps` relocations once every map is known.
pub(crate) fn btf_maps(
    elf: &ElfObject<'_>,
    btf: Option<&Btf>,
    first_index: usize,
) -> Result<Vec<PlacedMap>, LoadError> {
    let Some(section) = elf.section_by_name(".maps") else {
        return Ok(Vec::new());
    };
    let Some(btf) = btf else {
        return Err(LoadError::Section {
            section: ".maps".to_owned(),
            reason: "BTF-defined maps need a .BTF section".to_owned(),
        });
    };
    let Some(datasec_id) = btf.find_by_name_kind(".maps", apiary_btf::BtfKind::Datasec) else {
        return Err(LoadError::Section {
            section: ".maps".to_owned(),
            reason: "no DATASEC .maps in .BTF".to_owned(),
        });
    };
    let Kind::Datasec(datasec) = &btf.type_by_id(datasec_id)?.kind else {
        return Err(LoadError::Section {
            section: ".maps".to_owned(),
            reason: "DATASEC .maps has the wrong kind".to_owned(),
        });
    };
    let mut maps = Vec::with_capacity(datasec.vars.len());
    let mut values_offsets = Vec::with_capacity(datasec.vars.len());
    for var in &datasec.vars {
        let var_type = btf.type_by_id(var.ty)?;
        let Kind::Var { ty, .. } = var_type.kind else {
            return Err(LoadError::Section {
                section: ".maps".to_owned(),
                reason: format!("DATASEC entry {} is not a variable", var.ty.0),
            });
        };
        let name = btf.str_at(var_type.name_off)?;
        // As libbpf's BTF fix-up does, the ELF symbol gives the offset: DATASEC
        // offsets in clang's output are not final.
        let offset = elf
            .symbols
            .iter()
            .find(|s| s.section == Some(section.index) && s.name == name)
            .map(|s| s.value)
            .ok_or_else(|| map_err(name, "no ELF symbol for the map variable"))?;
        if offset.saturating_add(u64::from(var.size)) > section.size {
            return Err(map_err(
                name,
                format!("definition at {offset}+{} runs past the section", var.size),
            ));
        }
        let (mut spec, values_offset) = parse_btf_map_def(btf, name, ty, 0)?;
        default_fd_sizes(&mut spec);
        values_offsets.push(values_offset.map(|v| {
            (
                offset.saturating_add(u64::from(v)),
                offset + u64::from(var.size),
            )
        }));
        maps.push(PlacedMap {
            spec,
            section: section.index,
            offset,
        });
    }
    for map in &maps {
        require_inner_template(map, "declare the inner map with __array(values, ...)")?;
    }
    for reloc in elf.relocs_for(section.index) {
        let bad = |reason: String| LoadError::Relocation {
            section: ".maps".to_owned(),
            offset: reloc.offset,
            reason,
        };
        if reloc.r_type != R_BPF_64_ABS64 {
            return Err(bad(format!(
                "relocation type {} (expected R_BPF_64_ABS64)",
                reloc.r_type
            )));
        }
        let Some((map_pos, start)) = values_offsets.iter().enumerate().find_map(|(i, v)| {
            v.filter(|(start, end)| (*start..*end).contains(&reloc.offset))
                .map(|(start, _)| (i, start))
        }) else {
            return Err(bad("not inside a values[] array".to_owned()));
        };
        let slot = (reloc.offset - start) / 8;
        if (reloc.offset - start) % 8 != 0 {
            return Err(bad("not aligned to a values[] slot".to_owned()));
        }
        let Some(symbol) = elf.symbol(reloc.symbol) else {
            return Err(bad(format!("symbol {} out of range", reloc.symbol)));
        };
        let target = if symbol.kind == SymbolKind::Func {
            InitialSlotTarget::Program(symbol.name.to_owned())
        } else if symbol.section == Some(section.index) {
            let pos = maps
                .iter()
                .position(|m| m.offset == symbol.value)
                .ok_or_else(|| bad(format!("symbol {} is not a map", symbol.name)))?;
            InitialSlotTarget::Map(first_index + pos)
        } else {
            return Err(bad(format!(
                "symbol {} is neither a map nor a program",
                symbol.name
            )));
        };
        let index = u32::try_from(slot).map_err(|_| bad("slot index overflows".to_owned()))?;
        if let Some(map) = maps.get_mut(map_pos) {
            if index >= map.spec.max_entries {
                return Err(bad(format!(
                    "slot {index} is beyond max_entries {}",
                    map.spec.max_entries
                )));
            }
            map.spec.initial_slots.push(InitialSlot { index, target });
        }
    }
    Ok(maps)
}

/// Maps of file descriptors take 4-byte values (and arrays of them 4-byte
/// keys) whatever else is asked; definitions for cilium/ebpf leave both at
/// 0, in `maps` and in BTF `.maps` alike (clang-14+ Cilium datapath), and
/// let the loader fill them in, as cilium/ebpf does. libbpf 1.x does not
/// (its map creation fails with EINVAL), so this only opens more objects.
pub(crate) fn default_fd_sizes(spec: &mut MapSpec) {
    let arrays = [
        MapType::PERF_EVENT_ARRAY,
        MapType::PROG_ARRAY,
        MapType::CGROUP_ARRAY,
        MapType::ARRAY_OF_MAPS,
    ];
    let holds_fds = arrays.contains(&spec.map_type) || spec.map_type == MapType::HASH_OF_MAPS;
    if holds_fds && spec.value_size == 0 {
        spec.value_size = 4;
    }
    if arrays.contains(&spec.map_type) && spec.key_size == 0 {
        spec.key_size = 4;
    }
}

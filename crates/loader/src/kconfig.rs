//! `.kconfig` externs: the values libbpf would give them, laid out in one
//! read-only array map. `CONFIG_*` values come from a user-supplied table
//! (or a `/proc/config.gz`-style text); missing weak ones read as 0.

use std::collections::BTreeMap;

use apiary_btf::{Btf, Kind, TypeId};

use crate::error::LoadError;

/// A Kconfig value as written in a kernel `.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KconfigValue {
    /// `=y`.
    Yes,
    /// `=m`.
    Module,
    /// `=n` (or `# CONFIG_X is not set`).
    No,
    /// A decimal or hexadecimal number.
    Number(u64),
    /// A quoted string.
    Text(String),
}

/// Values for `.kconfig` externs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kconfig {
    /// `CONFIG_*` (and overriding `LINUX_*`) values by name.
    pub values: BTreeMap<String, KconfigValue>,
    /// `LINUX_KERNEL_VERSION`; `None` reads the running kernel's release.
    pub kernel_version: Option<u32>,
}

impl Kconfig {
    /// Parses `.config` text: `CONFIG_X=y|m|n|<number>|"<text>"` lines;
    /// other lines are ignored, as libbpf does.
    pub fn parse_config(text: &str) -> Kconfig {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let Some((name, raw)) = line.trim().split_once('=') else {
                continue;
            };
            if !name.starts_with("CONFIG_") {
                continue;
            }
            let value = match raw {
                "y" => KconfigValue::Yes,
                "m" => KconfigValue::Module,
                "n" => KconfigValue::No,
                quoted if quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"') => {
                    KconfigValue::Text(quoted[1..quoted.len() - 1].to_owned())
                }
                number => match parse_number(number) {
                    Some(n) => KconfigValue::Number(n),
                    None => continue,
                },
            };
            values.insert(name.to_owned(), value);
        }
        Kconfig {
            values,
            kernel_version: None,
        }
    }
}

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse::<i64>().ok().map(|v| v as u64),
    }
}

/// `KERNEL_VERSION(a, b, c)` of a release string such as `6.18.2-foo`,
/// with the patch level clamped to 255 as libbpf does.
pub fn kernel_version_code(release: &str) -> Option<u32> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    let patch: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major.min(255) << 16) + (minor.min(255) << 8) + patch.min(255))
}

fn running_kernel_version() -> Option<u32> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    kernel_version_code(release.trim())
}

/// One `.kconfig` extern placed in the map value.
#[derive(Debug, Clone)]
pub(crate) struct KconfigExtern {
    pub(crate) name: String,
    pub(crate) offset: u32,
}

/// The `.kconfig` map value and where each extern sits in it.
#[derive(Debug)]
pub(crate) struct KconfigLayout {
    pub(crate) externs: Vec<KconfigExtern>,
    pub(crate) data: Vec<u8>,
}

/// How an extern's BTF type stores its value.
enum Storage {
    Bool,
    Tristate,
    Int { signed: bool },
    Chars,
}

fn storage(btf: &Btf, ty: TypeId) -> Result<Storage, LoadError> {
    let id = btf.skip_modifiers_and_typedefs(ty)?;
    Ok(match &btf.type_by_id(id)?.kind {
        Kind::Int(int) if int.encoding == apiary_btf::IntEncoding::Bool => Storage::Bool,
        Kind::Int(int) => Storage::Int {
            signed: int.encoding == apiary_btf::IntEncoding::Signed,
        },
        Kind::Enum(_) if btf.name(id)? == "libbpf_tristate" => Storage::Tristate,
        Kind::Enum(e) => Storage::Int { signed: e.signed },
        Kind::Array(a) if btf.size_of(a.elem_type)? == 1 => Storage::Chars,
        _ => {
            return Err(LoadError::Kconfig {
                name: btf.name(id).unwrap_or("?").to_owned(),
                reason: "type is not bool, tristate, integer or char array".to_owned(),
            });
        }
    })
}

fn encode(
    name: &str,
    storage: &Storage,
    value: &KconfigValue,
    size: usize,
) -> Result<Vec<u8>, LoadError> {
    let bad = |why: &str| LoadError::Kconfig {
        name: name.to_owned(),
        reason: why.to_owned(),
    };
    let number = match (storage, value) {
        (Storage::Bool, KconfigValue::Yes) | (Storage::Tristate, KconfigValue::Yes) => 1,
        (Storage::Bool | Storage::Tristate, KconfigValue::No) => 0,
        (Storage::Tristate, KconfigValue::Module) => 2,
        (Storage::Bool, KconfigValue::Module) => return Err(bad("value m for a bool")),
        (Storage::Int { .. }, KconfigValue::Number(n)) => *n,
        (Storage::Chars, KconfigValue::Text(text)) => {
            let mut bytes = text.as_bytes().to_vec();
            bytes.resize(size, 0);
            if let Some(last) = bytes.last_mut() {
                *last = 0;
            }
            return Ok(bytes);
        }
        _ => return Err(bad("value does not match the extern's type")),
    };
    if let Storage::Int { signed } = storage
        && size < 8
    {
        let bits = size * 8;
        let fits = if *signed {
            let v = number as i64;
            v >= -(1i64 << (bits - 1)) && v < (1i64 << (bits - 1))
        } else {
            number < (1u64 << bits)
        };
        if !fits {
            return Err(bad("value does not fit the extern's size"));
        }
    }
    Ok(number.to_le_bytes().into_iter().take(size).collect())
}

/// The kernel refuses array maps whose value is larger than
/// `KMALLOC_MAX_SIZE` (4 MiB on x86-64 with 4 KiB pages, `array_map_alloc_check`
/// returns `-E2BIG`), so a `.kconfig` map cannot be bigger; checked before
/// allocating, since extern sizes come from the file's BTF.
const MAX_KCONFIG_DATA: usize = 4 << 20;

/// Lays out and fills the `.kconfig` externs named in `names` (each an
/// undefined symbol with a VAR in BTF's `.kconfig` DATASEC), in libbpf's
/// order: larger alignment first, then smaller size, then name.
pub(crate) fn layout(
    btf: &Btf,
    externs: &[(&str, TypeId, bool)],
    config: &Kconfig,
) -> Result<KconfigLayout, LoadError> {
    let mut sized = Vec::with_capacity(externs.len());
    for &(name, ty, weak) in externs {
        let size = btf.size_of(ty)?;
        let align = btf.align_of(ty)?.max(1);
        sized.push((name, ty, weak, size, align));
    }
    sized.sort_by(|a, b| b.4.cmp(&a.4).then(a.3.cmp(&b.3)).then(a.0.cmp(b.0)));
    let mut data = Vec::new();
    let mut placed = Vec::with_capacity(sized.len());
    for (name, ty, weak, size, align) in sized {
        let offset = data.len().next_multiple_of(align as usize);
        if offset.saturating_add(size as usize) > MAX_KCONFIG_DATA {
            return Err(LoadError::Kconfig {
                name: name.to_owned(),
                reason: format!(
                    "{size} bytes at offset {offset} would make .kconfig larger than the \
                     kernel's {MAX_KCONFIG_DATA}-byte limit for a map value"
                ),
            });
        }
        let value = match config.values.get(name) {
            Some(v) => Some(v.clone()),
            None => match name {
                "LINUX_KERNEL_VERSION" => Some(KconfigValue::Number(u64::from(
                    config
                        .kernel_version
                        .or_else(running_kernel_version)
                        .ok_or_else(|| LoadError::Kconfig {
                            name: name.to_owned(),
                            reason: "cannot read the running kernel's release".to_owned(),
                        })?,
                ))),
                // Every kernel with BPF links has both (5.15+ on all
                // architectures libbpf tests); libbpf probes them.
                "LINUX_HAS_BPF_COOKIE" | "LINUX_HAS_SYSCALL_WRAPPER" => {
                    Some(KconfigValue::Number(1))
                }
                _ if name.starts_with("CONFIG_") || (name.starts_with("LINUX_") && weak) => None,
                _ => {
                    return Err(LoadError::Kconfig {
                        name: name.to_owned(),
                        reason: "unrecognized virtual extern".to_owned(),
                    });
                }
            },
        };
        let size = size as usize;
        let bytes = match value {
            Some(value) => {
                let storage = storage(btf, ty)?;
                let value = match (&storage, value) {
                    (Storage::Bool | Storage::Tristate, KconfigValue::Number(n)) if n <= 1 => {
                        if n == 1 {
                            KconfigValue::Yes
                        } else {
                            KconfigValue::No
                        }
                    }
                    (_, v) => v,
                };
                encode(name, &storage, &value, size)?
            }
            None if weak => vec![0; size],
            None => {
                return Err(LoadError::Kconfig {
                    name: name.to_owned(),
                    reason: "no value given and the extern is not __weak".to_owned(),
                });
            }
        };
        data.resize(offset, 0);
        data.extend_from_slice(&bytes);
        placed.push(KconfigExtern {
            name: name.to_owned(),
            offset: offset as u32,
        });
    }
    Ok(KconfigLayout {
        externs: placed,
        data,
    })
}

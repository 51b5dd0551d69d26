//! Section names older loaders typed, and the program type a user chooses
//! for sections whose name says nothing.
//!
//! libbpf before 1.0 matched every `SEC()` name by prefix (`socket1`,
//! `xdp_drop`, `classifier_ingress`, `sockops_v4` all loaded), with its own
//! table and order: [`LIBBPF0_PREFIXES`]. iproute2's `tc`/`ip` never typed
//! programs by section: the command chooses the type (`tc filter ... bpf`
//! is `sched_cls`, `tc action` `sched_act`, `ip link ... xdp` XDP), the
//! user names the entry section (`sec from-container`), and sections named
//! `ID/KEY` are tail calls put into slot KEY of the program array whose
//! `struct bpf_elf_map` id is ID. [`ProgramTypeChoice`] is that choice, as
//! bpftool's `prog load ... type NAME` takes it.

use apiary_kernel::types::{AttachType, ProgType};

use crate::sections::{SecFlags, SectionDef, SectionKind, classify_section};

const fn prefix(
    pattern: &'static str,
    prog_type: ProgType,
    expected_attach_type: Option<AttachType>,
) -> SectionDef {
    SectionDef {
        pattern,
        prog_type,
        expected_attach_type,
        flags: SecFlags::NONE,
    }
}

/// libbpf 0.x's section table (0.0.x to 0.6, where every entry matched as
/// a prefix of the section name), in its matching order; consulted only
/// for names libbpf 1.x's table does not know.
pub const LIBBPF0_PREFIXES: &[SectionDef] = &[
    prefix("socket", ProgType::SOCKET_FILTER, None),
    prefix(
        "sk_reuseport/migrate",
        ProgType::SK_REUSEPORT,
        Some(AttachType::SK_REUSEPORT_SELECT_OR_MIGRATE),
    ),
    prefix(
        "sk_reuseport",
        ProgType::SK_REUSEPORT,
        Some(AttachType::SK_REUSEPORT_SELECT),
    ),
    prefix("kprobe/", ProgType::KPROBE, None),
    prefix("uprobe/", ProgType::KPROBE, None),
    prefix("kretprobe/", ProgType::KPROBE, None),
    prefix("uretprobe/", ProgType::KPROBE, None),
    prefix("classifier", ProgType::SCHED_CLS, None),
    prefix("action", ProgType::SCHED_ACT, None),
    prefix("tracepoint/", ProgType::TRACEPOINT, None),
    prefix("tp/", ProgType::TRACEPOINT, None),
    prefix("raw_tracepoint/", ProgType::RAW_TRACEPOINT, None),
    prefix("raw_tp/", ProgType::RAW_TRACEPOINT, None),
    prefix("xdp_devmap/", ProgType::XDP, Some(AttachType::XDP_DEVMAP)),
    prefix("xdp_cpumap/", ProgType::XDP, Some(AttachType::XDP_CPUMAP)),
    prefix("xdp", ProgType::XDP, Some(AttachType::XDP)),
    prefix("perf_event", ProgType::PERF_EVENT, None),
    prefix("lwt_in", ProgType::LWT_IN, None),
    prefix("lwt_out", ProgType::LWT_OUT, None),
    prefix("lwt_xmit", ProgType::LWT_XMIT, None),
    prefix("lwt_seg6local", ProgType::LWT_SEG6LOCAL, None),
    prefix(
        "cgroup_skb/ingress",
        ProgType::CGROUP_SKB,
        Some(AttachType::CGROUP_INET_INGRESS),
    ),
    prefix(
        "cgroup_skb/egress",
        ProgType::CGROUP_SKB,
        Some(AttachType::CGROUP_INET_EGRESS),
    ),
    prefix("cgroup/skb", ProgType::CGROUP_SKB, None),
    prefix(
        "cgroup/sock_create",
        ProgType::CGROUP_SOCK,
        Some(AttachType::CGROUP_INET_SOCK_CREATE),
    ),
    prefix(
        "cgroup/sock_release",
        ProgType::CGROUP_SOCK,
        Some(AttachType::CGROUP_INET_SOCK_RELEASE),
    ),
    prefix(
        "cgroup/sock",
        ProgType::CGROUP_SOCK,
        Some(AttachType::CGROUP_INET_SOCK_CREATE),
    ),
    prefix(
        "cgroup/post_bind4",
        ProgType::CGROUP_SOCK,
        Some(AttachType::CGROUP_INET4_POST_BIND),
    ),
    prefix(
        "cgroup/post_bind6",
        ProgType::CGROUP_SOCK,
        Some(AttachType::CGROUP_INET6_POST_BIND),
    ),
    prefix(
        "cgroup/dev",
        ProgType::CGROUP_DEVICE,
        Some(AttachType::CGROUP_DEVICE),
    ),
    prefix(
        "sockops",
        ProgType::SOCK_OPS,
        Some(AttachType::CGROUP_SOCK_OPS),
    ),
    prefix(
        "sk_skb/stream_parser",
        ProgType::SK_SKB,
        Some(AttachType::SK_SKB_STREAM_PARSER),
    ),
    prefix(
        "sk_skb/stream_verdict",
        ProgType::SK_SKB,
        Some(AttachType::SK_SKB_STREAM_VERDICT),
    ),
    prefix("sk_skb", ProgType::SK_SKB, None),
    prefix("sk_msg", ProgType::SK_MSG, Some(AttachType::SK_MSG_VERDICT)),
    prefix(
        "lirc_mode2",
        ProgType::LIRC_MODE2,
        Some(AttachType::LIRC_MODE2),
    ),
    prefix(
        "flow_dissector",
        ProgType::FLOW_DISSECTOR,
        Some(AttachType::FLOW_DISSECTOR),
    ),
    prefix(
        "cgroup/bind4",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET4_BIND),
    ),
    prefix(
        "cgroup/bind6",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET6_BIND),
    ),
    prefix(
        "cgroup/connect4",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET4_CONNECT),
    ),
    prefix(
        "cgroup/connect6",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET6_CONNECT),
    ),
    prefix(
        "cgroup/sendmsg4",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UDP4_SENDMSG),
    ),
    prefix(
        "cgroup/sendmsg6",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UDP6_SENDMSG),
    ),
    prefix(
        "cgroup/recvmsg4",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UDP4_RECVMSG),
    ),
    prefix(
        "cgroup/recvmsg6",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UDP6_RECVMSG),
    ),
    prefix(
        "cgroup/sysctl",
        ProgType::CGROUP_SYSCTL,
        Some(AttachType::CGROUP_SYSCTL),
    ),
    prefix(
        "cgroup/getsockopt",
        ProgType::CGROUP_SOCKOPT,
        Some(AttachType::CGROUP_GETSOCKOPT),
    ),
    prefix(
        "cgroup/setsockopt",
        ProgType::CGROUP_SOCKOPT,
        Some(AttachType::CGROUP_SETSOCKOPT),
    ),
    prefix(
        "sk_lookup/",
        ProgType::SK_LOOKUP,
        Some(AttachType::SK_LOOKUP),
    ),
];

/// How a program's type was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeSource {
    /// libbpf 1.x's `SEC()` table knows the section name.
    SectionName,
    /// libbpf 0.x's prefix match: the section name starts with `prefix`.
    Libbpf0Prefix {
        /// The matching entry of [`LIBBPF0_PREFIXES`].
        prefix: &'static str,
    },
    /// The user's type (`--type`) for a section whose name says nothing.
    UserType,
    /// The user's type for the section they named (`--section`),
    /// overriding what its name says, as `tc ... bpf obj X sec NAME` does.
    UserTypeForSection,
}

impl TypeSource {
    /// Short words for listings (`section name`, `libbpf 0.x prefix "xdp"`,
    /// `--type`, `--type for --section`).
    pub fn describe(&self) -> String {
        match self {
            TypeSource::SectionName => "section name".to_owned(),
            TypeSource::Libbpf0Prefix { prefix } => format!("libbpf 0.x prefix {prefix:?}"),
            TypeSource::UserType => "--type".to_owned(),
            TypeSource::UserTypeForSection => "--type for --section".to_owned(),
        }
    }

    /// A stable key for JSON (`section_name`, `libbpf0_prefix`, `user_type`,
    /// `user_type_for_section`).
    pub fn key(&self) -> &'static str {
        match self {
            TypeSource::SectionName => "section_name",
            TypeSource::Libbpf0Prefix { .. } => "libbpf0_prefix",
            TypeSource::UserType => "user_type",
            TypeSource::UserTypeForSection => "user_type_for_section",
        }
    }
}

/// What a section name says about its programs' type, trying libbpf
/// 1.x's table first and libbpf 0.x's prefixes after it.
pub fn classify_any(name: &str) -> Option<(SectionKind, TypeSource)> {
    if let Some(kind) = classify_section(name) {
        return Some((kind, TypeSource::SectionName));
    }
    LIBBPF0_PREFIXES.iter().find_map(|def| {
        let rest = name.strip_prefix(def.pattern)?;
        let attach_target =
            (def.pattern.ends_with('/') && !rest.is_empty()).then(|| rest.to_owned());
        Some((
            SectionKind { def, attach_target },
            TypeSource::Libbpf0Prefix {
                prefix: def.pattern,
            },
        ))
    })
}

/// A tc tail-call section `ID/KEY`: the program goes into slot `key` of
/// the program array whose `struct bpf_elf_map` id is `map_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailCallSection {
    /// The `id` field of the program array's `struct bpf_elf_map`.
    pub map_id: u32,
    /// The slot.
    pub key: u32,
}

/// Parses `ID/KEY` as iproute2's `sscanf(name, "%i/%i")` does for the
/// numbers clang users write: decimal, `0x` hex or leading-zero octal, and
/// nothing after KEY.
pub fn tail_call_section(name: &str) -> Option<TailCallSection> {
    let (map_id, key) = name.split_once('/')?;
    Some(TailCallSection {
        map_id: parse_c_number(map_id)?,
        key: parse_c_number(key)?,
    })
}

/// A number as C reads it with `%i` or `strtoul(s, &end, 0)` and nothing
/// left over: decimal, `0x` hex or leading-zero octal; `None` past `u32`.
pub fn parse_c_number(text: &str) -> Option<u32> {
    let (digits, radix) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (hex, 16)
        } else if let Some(octal) = text.strip_prefix('0').filter(|r| !r.is_empty()) {
            (octal, 8)
        } else {
            (text, 10)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// A program type the user chose, as bpftool's `prog load ... type NAME`
/// takes it: a `SEC()` name (`xdp`, `tc`, `classifier`, `socket`,
/// `kprobe`, `cgroup/skb`, ...), a libbpf 0.x prefix, or the kernel's
/// type name (`sched_cls`, `socket_filter`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramTypeChoice {
    /// The name as the user gave it.
    pub name: String,
    /// The section definition it stands for.
    pub kind: SectionKind,
}

/// `--type NAME` names no program type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown program type {0:?} (expected a SEC() name such as xdp, tc, classifier, socket, kprobe, tracepoint, cgroup/skb, or a kernel type name such as sched_cls)"
)]
pub struct UnknownProgramType(pub String);

impl ProgramTypeChoice {
    /// Looks `name` up as bpftool does (`libbpf_prog_type_by_name`), then
    /// among the kernel's type names.
    pub fn parse(name: &str) -> Result<ProgramTypeChoice, UnknownProgramType> {
        let by_section = classify_any(name).map(|(kind, _)| SectionKind {
            attach_target: None,
            ..kind
        });
        let by_kernel_name = || {
            let prog_type = ProgType::from_name(name)?;
            let all = crate::sections::SECTION_DEFS;
            let def = all
                .iter()
                .find(|d| d.prog_type == prog_type && d.expected_attach_type.is_none())
                .or_else(|| all.iter().find(|d| d.prog_type == prog_type))?;
            Some(SectionKind {
                def,
                attach_target: None,
            })
        };
        by_section
            .or_else(by_kernel_name)
            .map(|kind| ProgramTypeChoice {
                name: name.to_owned(),
                kind,
            })
            .ok_or_else(|| UnknownProgramType(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(name: &str) -> Option<(ProgType, &'static str)> {
        match classify_any(name)? {
            (kind, TypeSource::Libbpf0Prefix { prefix }) => Some((kind.def.prog_type, prefix)),
            _ => None,
        }
    }

    #[test]
    fn libbpf_0x_prefixes_type_the_names_1x_refuses() {
        assert_eq!(classify_section("socket1"), None);
        assert_eq!(legacy("socket1"), Some((ProgType::SOCKET_FILTER, "socket")));
        assert_eq!(
            legacy("socket/3"),
            Some((ProgType::SOCKET_FILTER, "socket"))
        );
        assert_eq!(legacy("xdp_drop"), Some((ProgType::XDP, "xdp")));
        assert_eq!(legacy("xdp_devmap/x"), Some((ProgType::XDP, "xdp_devmap/")));
        assert_eq!(
            legacy("classifier_in"),
            Some((ProgType::SCHED_CLS, "classifier"))
        );
        assert_eq!(
            legacy("cgroup/sock1"),
            Some((ProgType::CGROUP_SOCK, "cgroup/sock"))
        );
        assert_eq!(legacy("sockops_v4"), Some((ProgType::SOCK_OPS, "sockops")));
        assert_eq!(legacy("lwt_xmit_x"), Some((ProgType::LWT_XMIT, "lwt_xmit")));
        // 1.x names keep their 1.x meaning.
        assert_eq!(
            classify_any("kprobe/sys_open").map(|(_, s)| s),
            Some(TypeSource::SectionName)
        );
        // Names neither table knows, and iproute2's user-chosen sections.
        for name in ["from-container", "prog", "2/1", "tcfoo", "maps"] {
            assert_eq!(classify_any(name), None, "{name}");
        }
    }

    #[test]
    fn legacy_attach_targets_follow_the_slash() {
        let (kind, _) = classify_any("xdp_devmap/").expect("xdp_devmap/");
        assert_eq!(kind.attach_target, None);
        let (kind, _) = classify_any("sk_lookup/x").expect("sk_lookup/x");
        assert_eq!(kind.def.prog_type, ProgType::SK_LOOKUP);
        assert_eq!(kind.attach_target.as_deref(), Some("x"));
    }

    #[test]
    fn tail_call_sections_parse_as_sscanf_i() {
        assert_eq!(
            tail_call_section("2/1"),
            Some(TailCallSection { map_id: 2, key: 1 })
        );
        assert_eq!(
            tail_call_section("0x10/010"),
            Some(TailCallSection { map_id: 16, key: 8 })
        );
        for bad in [
            "2/",
            "/1",
            "a/1",
            "1/2/3",
            "1/2x",
            "classifier",
            "99999999999/1",
        ] {
            assert_eq!(tail_call_section(bad), None, "{bad}");
        }
    }

    #[test]
    fn program_types_parse_as_bpftool_names_them() {
        let types = [
            ("xdp", ProgType::XDP),
            ("tc", ProgType::SCHED_CLS),
            ("classifier", ProgType::SCHED_CLS),
            ("action", ProgType::SCHED_ACT),
            ("socket", ProgType::SOCKET_FILTER),
            ("kprobe", ProgType::KPROBE),
            ("tracepoint", ProgType::TRACEPOINT),
            ("cgroup/skb", ProgType::CGROUP_SKB),
            ("sched_cls", ProgType::SCHED_CLS),
            ("socket_filter", ProgType::SOCKET_FILTER),
            ("lwt_in", ProgType::LWT_IN),
        ];
        for (name, prog_type) in types {
            let choice = ProgramTypeChoice::parse(name).expect(name);
            assert_eq!(choice.kind.def.prog_type, prog_type, "{name}");
        }
        let sched_cls = ProgramTypeChoice::parse("sched_cls").expect("sched_cls");
        assert_eq!(sched_cls.kind.def.expected_attach_type, None);
        assert!(
            ProgramTypeChoice::parse("bogus")
                .unwrap_err()
                .to_string()
                .contains("\"bogus\"")
        );
    }
}

//! The BTF of the context types Apiary provides (`struct __sk_buff`,
//! `struct xdp_md`, `struct pt_regs`, ...): the default CO-RE target when
//! no kernel BTF is given, so that a CO-RE program reading its context
//! relocates against the layouts Apiary actually runs it with.
//!
//! The layouts are the kernel's UAPI ones (`include/uapi/linux/bpf.h`) and
//! x86-64's `struct pt_regs`; the BTF is encoded here rather than compiled
//! from C so that no compiler is needed at build time.

use apiary_btf::{Btf, BtfError};

/// Encodes BTF types one by one; ids are assigned in order from 1.
struct Encoder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const INT_SIGNED: u32 = 1;
const INT_CHAR: u32 = 2;

impl Encoder {
    fn new() -> Encoder {
        Encoder {
            types: Vec::new(),
            strings: vec![0],
            next_id: 1,
        }
    }

    fn string(&mut self, text: &str) -> u32 {
        if text.is_empty() {
            return 0;
        }
        let offset = self.strings.len() as u32;
        self.strings.extend_from_slice(text.as_bytes());
        self.strings.push(0);
        offset
    }

    fn words(&mut self, words: &[u32]) -> u32 {
        for word in words {
            self.types.extend_from_slice(&word.to_le_bytes());
        }
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn int(&mut self, name: &str, size: u32, encoding: u32) -> u32 {
        let name = self.string(name);
        self.words(&[name, KIND_INT << 24, size, (encoding << 24) | (size * 8)])
    }

    fn typedef(&mut self, name: &str, target: u32) -> u32 {
        let name = self.string(name);
        self.words(&[name, KIND_TYPEDEF << 24, target])
    }

    fn ptr(&mut self, target: u32) -> u32 {
        self.words(&[0, KIND_PTR << 24, target])
    }

    fn fwd_struct(&mut self, name: &str) -> u32 {
        let name = self.string(name);
        self.words(&[name, KIND_FWD << 24, 0])
    }

    fn array(&mut self, elem: u32, index: u32, len: u32) -> u32 {
        self.words(&[0, KIND_ARRAY << 24, 0, elem, index, len])
    }

    /// A struct or union; members are `(name, type, byte offset)`.
    fn aggregate(&mut self, kind: u32, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let mut words = vec![self.string(name), (kind << 24) | members.len() as u32, size];
        for &(member, ty, offset) in members {
            words.extend([self.string(member), ty, offset * 8]);
        }
        self.words(&words)
    }

    fn finish(self) -> Vec<u8> {
        let mut blob = Vec::with_capacity(24 + self.types.len() + self.strings.len());
        blob.extend_from_slice(&0xeb9f_u16.to_le_bytes());
        blob.extend_from_slice(&[1, 0]);
        let header_len = 24u32;
        let type_len = self.types.len() as u32;
        for word in [header_len, 0, type_len, type_len, self.strings.len() as u32] {
            blob.extend_from_slice(&word.to_le_bytes());
        }
        blob.extend_from_slice(&self.types);
        blob.extend_from_slice(&self.strings);
        blob
    }
}

/// The raw BTF blob (little-endian) describing Apiary's context types.
pub fn context_btf_bytes() -> Vec<u8> {
    let mut e = Encoder::new();
    let u8_int = e.int("unsigned char", 1, INT_CHAR);
    let u32_int = e.int("unsigned int", 4, 0);
    let u64_int = e.int("long long unsigned int", 8, 0);
    let ulong = e.int("long unsigned int", 8, 0);
    let int = e.int("int", 4, INT_SIGNED);
    let u8t = e.typedef("__u8", u8_int);
    let u32t = e.typedef("__u32", u32_int);
    let u64t = e.typedef("__u64", u64_int);
    let u32x4 = e.array(u32t, int, 4);
    let u32x5 = e.array(u32t, int, 5);
    let u64x0 = e.array(u64t, int, 0);
    let flow_keys_fwd = e.fwd_struct("bpf_flow_keys");
    let flow_keys_ptr = e.ptr(flow_keys_fwd);
    let sock_fwd = e.fwd_struct("bpf_sock");
    let sock_ptr = e.ptr(sock_fwd);
    // `__bpf_md_ptr(type, name)` is an 8-byte-aligned anonymous union.
    let flow_keys_union = e.aggregate(KIND_UNION, "", 8, &[("flow_keys", flow_keys_ptr, 0)]);
    let sk_union = e.aggregate(KIND_UNION, "", 8, &[("sk", sock_ptr, 0)]);
    let mut skb_members: Vec<(&str, u32, u32)> = [
        "len",
        "pkt_type",
        "mark",
        "queue_mapping",
        "protocol",
        "vlan_present",
        "vlan_tci",
        "vlan_proto",
        "priority",
        "ingress_ifindex",
        "ifindex",
        "tc_index",
    ]
    .iter()
    .zip((0..).step_by(4))
    .map(|(name, offset)| (*name, u32t, offset))
    .collect();
    skb_members.extend([
        ("cb", u32x5, 48),
        ("hash", u32t, 68),
        ("tc_classid", u32t, 72),
        ("data", u32t, 76),
        ("data_end", u32t, 80),
        ("napi_id", u32t, 84),
        ("family", u32t, 88),
        ("remote_ip4", u32t, 92),
        ("local_ip4", u32t, 96),
        ("remote_ip6", u32x4, 100),
        ("local_ip6", u32x4, 116),
        ("remote_port", u32t, 132),
        ("local_port", u32t, 136),
        ("data_meta", u32t, 140),
        ("", flow_keys_union, 144),
        ("tstamp", u64t, 152),
        ("wire_len", u32t, 160),
        ("gso_segs", u32t, 164),
        ("", sk_union, 168),
        ("gso_size", u32t, 176),
        ("tstamp_type", u8t, 180),
        ("hwtstamp", u64t, 184),
    ]);
    e.aggregate(KIND_STRUCT, "__sk_buff", 192, &skb_members);
    let xdp_members: Vec<(&str, u32, u32)> = [
        "data",
        "data_end",
        "data_meta",
        "ingress_ifindex",
        "rx_queue_index",
        "egress_ifindex",
    ]
    .iter()
    .zip((0..).step_by(4))
    .map(|(name, offset)| (*name, u32t, offset))
    .collect();
    e.aggregate(KIND_STRUCT, "xdp_md", 24, &xdp_members);
    let regs: Vec<(&str, u32, u32)> = [
        "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si",
        "di", "orig_ax", "ip", "cs", "flags", "sp", "ss",
    ]
    .iter()
    .zip((0..).step_by(8))
    .map(|(name, offset)| (*name, ulong, offset))
    .collect();
    let pt_regs = e.aggregate(KIND_STRUCT, "pt_regs", 168, &regs);
    let user_regs = e.typedef("bpf_user_pt_regs_t", pt_regs);
    e.aggregate(
        KIND_STRUCT,
        "bpf_perf_event_data",
        184,
        &[
            ("regs", user_regs, 0),
            ("sample_period", u64t, 168),
            ("addr", u64t, 176),
        ],
    );
    e.aggregate(
        KIND_STRUCT,
        "bpf_raw_tracepoint_args",
        0,
        &[("args", u64x0, 0)],
    );
    e.finish()
}

/// Apiary's context types as parsed BTF, ready to be a CO-RE target.
pub fn context_btf() -> Result<Btf, BtfError> {
    Btf::parse(&context_btf_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_types_have_the_uapi_sizes_and_offsets() {
        let btf = context_btf().expect("own BTF parses");
        for (name, size) in [
            ("__sk_buff", 192),
            ("xdp_md", 24),
            ("pt_regs", 168),
            ("bpf_perf_event_data", 184),
        ] {
            let id = btf
                .find_by_name(name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(btf.size_of(id).unwrap(), size, "{name}");
        }
        let skb = btf.find_by_name("__sk_buff").unwrap();
        let members = btf.flat_members(skb).unwrap();
        let offset_of = |field: &str| {
            members
                .iter()
                .find(|m| m.name == field)
                .map(|m| m.bit_offset / 8)
                .unwrap_or_else(|| panic!("{field} missing"))
        };
        assert_eq!(offset_of("data"), 76);
        assert_eq!(offset_of("sk"), 168);
        assert_eq!(offset_of("hwtstamp"), 184);
    }

    /// The kernel's own BTF is the independent expectation: every member
    /// Apiary describes must exist in vmlinux's type of the same name at the
    /// same offset.
    #[test]
    fn context_types_agree_with_vmlinux() {
        let bytes = match apiary_testskip::vmlinux_btf() {
            Ok(bytes) => bytes,
            Err(reason) => {
                return apiary_testskip::skip("context_types_agree_with_vmlinux", reason);
            }
        };
        let vmlinux = Btf::parse(&bytes).expect("vmlinux BTF parses");
        let ours = context_btf().unwrap();
        for name in ["__sk_buff", "xdp_md", "pt_regs", "bpf_perf_event_data"] {
            let mine = ours.flat_members(ours.find_by_name(name).unwrap()).unwrap();
            let kernel_id = vmlinux
                .find_by_name_kind(name, apiary_btf::BtfKind::Struct)
                .unwrap_or_else(|| panic!("vmlinux has no struct {name}"));
            let theirs = vmlinux.flat_members(kernel_id).unwrap();
            for member in &mine {
                let found = theirs.iter().find(|t| t.name == member.name);
                assert_eq!(
                    found.map(|t| t.bit_offset),
                    Some(member.bit_offset),
                    "{name}.{} differs from vmlinux",
                    member.name
                );
            }
            assert_eq!(
                ours.size_of(ours.find_by_name(name).unwrap()).unwrap(),
                vmlinux.size_of(kernel_id).unwrap(),
                "size of {name}"
            );
        }
    }
}

//! The per-program-type helper table (`apiary_verifier::helper_access`)
//! against the running kernel: for every program type of the table and
//! every helper Apiary knows, a program that calls it first thing is
//! loaded under a non-GPL license, and the kernel's log says whether the
//! type may call it (`program of this type cannot use helper`), whether
//! only GPL programs may (`cannot call GPL-restricted function`), or
//! neither (anything else: the call got past both checks).

use apiary_isa::RawInsn;
use apiary_kernel::{ProgFd, ProgLoadAttrs, types::ProgType, types::prog_flags};
use apiary_verifier::helper_access::{HelperAccess, TYPE_HELPERS, TypeHelpers, helper_access};
use apiary_verifier::helpers::helper_protos;

const TEST: &str = "every_helper_is_available_to_the_types_the_kernel_allows";

/// Helpers the upstream kernel offers to a type that some hosts' kernels
/// refuse it: such a refusal is the host's (a probed refusal, skipped by
/// name), not a difference.
const HOST_DEPENDENT: &[(ProgType, i32, &str)] = &[(
    ProgType::XDP,
    54,
    "bpf_xdp_adjust_meta, which upstream xdp_func_proto offers to XDP",
)];

/// `call id; r0 = 0; exit`.
fn calling(id: i32) -> Vec<u8> {
    [
        RawInsn {
            code: 0x85,
            dst: 0,
            src: 0,
            off: 0,
            imm: id,
        },
        RawInsn {
            code: 0xb7,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0,
        },
        RawInsn {
            code: 0x95,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0,
        },
    ]
    .iter()
    .flat_map(|i| i.to_le_bytes())
    .collect()
}

/// The kernel's answer for helper `id` in `row`'s program type, or the
/// errno of a load refused without a log (the host refuses the type).
fn kernel_access(row: &TypeHelpers, id: i32) -> Result<HelperAccess, apiary_kernel::Error> {
    let insns = calling(id);
    let attrs = ProgLoadAttrs {
        prog_type: row.prog_type,
        expected_attach_type: Some(row.attach_type),
        insns: &insns,
        license: "Proprietary",
        log_level: 1,
        prog_flags: if row.sleepable {
            prog_flags::SLEEPABLE
        } else {
            0
        },
        ..Default::default()
    };
    let error = match ProgFd::load(&attrs) {
        Ok(_) => return Ok(HelperAccess::Allowed),
        Err(error) => error,
    };
    match error.verifier_error() {
        Some(line) if line.starts_with("program of this type cannot use helper") => {
            Ok(HelperAccess::NotForThisType)
        }
        Some("cannot call GPL-restricted function from non-GPL compatible program") => {
            Ok(HelperAccess::GplOnly)
        }
        Some(_) => Ok(HelperAccess::Allowed),
        None => Err(error),
    }
}

#[test]
fn every_helper_is_available_to_the_types_the_kernel_allows() {
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(TEST, reason);
    }
    let mut differences = Vec::new();
    let mut compared = 0;
    for row in TYPE_HELPERS {
        let (mut allowed, mut gpl_only) = (Vec::new(), Vec::new());
        let mut row_differs = false;
        for proto in helper_protos() {
            let kernel = match kernel_access(row, proto.id) {
                Ok(access) => access,
                Err(error) => {
                    apiary_testskip::refused::<()>(
                        &format!("{TEST}: {}", row.prog_type),
                        format!("loading a {} program", row.prog_type),
                        error,
                    );
                    row_differs = false;
                    break;
                }
            };
            match kernel {
                HelperAccess::Allowed => allowed.push(proto.id),
                HelperAccess::GplOnly => gpl_only.push(proto.id),
                HelperAccess::NotForThisType => {}
            }
            compared += 1;
            let ours = helper_access(row.prog_type, row.attach_type, proto.id);
            let host_dependent = HOST_DEPENDENT
                .iter()
                .find(|(ty, id, _)| *ty == row.prog_type && *id == proto.id);
            if let (Some((_, _, what)), Some(HelperAccess::Allowed), HelperAccess::NotForThisType) =
                (host_dependent, ours, kernel)
            {
                apiary_testskip::refused::<()>(
                    &format!("{TEST}: {} helper {}", row.prog_type, proto.id),
                    format!("loading a {} program calling {what}", row.prog_type),
                    "program of this type cannot use helper",
                );
                continue;
            }
            if ours != Some(kernel) {
                row_differs = true;
                differences.push(format!(
                    "{} bpf_{}#{}: apiary {ours:?}, kernel {kernel:?}",
                    row.prog_type, proto.name, proto.id
                ));
            }
        }
        if row_differs {
            eprintln!(
                "{}: allowed {allowed:?} gpl_only {gpl_only:?}",
                row.prog_type
            );
        }
    }
    eprintln!(
        "{compared} (program type, helper) pairs compared, {} differ",
        differences.len()
    );
    assert!(
        differences.is_empty(),
        "the helper table differs from the kernel:\n{}",
        differences.join("\n")
    );
}

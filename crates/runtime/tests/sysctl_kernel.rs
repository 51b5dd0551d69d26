//! The sysctl helpers against the kernel: one `cgroup/sysctl` program
//! records what `bpf_sysctl_get_name`, `_get_current_value`,
//! `_get_new_value` and `_set_new_value` return and copy, once attached to
//! a fresh cgroup of this machine while a child process in that cgroup
//! reads and writes `net/ipv4/ip_forward`, and once in Apiary on a
//! [`SysctlContext`] describing the same two accesses. The records must be
//! identical byte for byte.
//!
//! The program refuses every access (returns 0), and the child writes back
//! the value the sysctl already holds, so the machine's setting cannot
//! change even if the attachment failed.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

use apiary_isa::{RawInsn, encode_program, slots_to_bytes};
use apiary_kernel::types::{MapType as KernelMapType, ProgType};
use apiary_kernel::{MapCreateAttrs, MapFd, ProgFd, ProgLoadAttrs};
use apiary_maps::{MapDef, MapType};
use apiary_runtime::{Runtime, SysctlContext, TaskInfo};
use apiary_testskip::Reason;
use apiary_vm::Runner;

mod records;

const SYSCTL: &str = "net/ipv4/ip_forward";
/// Each record: the helper's return value, then 56 bytes of its buffer.
const RECORD: u32 = 64;
/// Records per access; reads use keys 0..8, writes 8..16.
const CALLS: u32 = 8;
/// `BPF_PROG_ATTACH`.
const BPF_PROG_ATTACH: libc::c_long = 8;
/// `BPF_CGROUP_SYSCTL`.
const BPF_CGROUP_SYSCTL: u32 = 18;

fn code(text: &str) -> Vec<RawInsn> {
    encode_program(&apiary_asm::assemble(text).expect("test program assembles"))
}

/// The recording program; `load_map` is the instruction that puts the
/// record map's handle in r1 (an fd for the kernel, an index for Apiary).
fn program(load_map: &str) -> String {
    // (helper id, buffer length, flags)
    let calls: [(u32, u32, u64); CALLS as usize] = [
        (101, 56, 0),
        (101, 56, 1),
        (101, 8, 0),
        (102, 56, 0),
        (102, 1, 0),
        (103, 56, 0),
        (104, 3, 0),
        (103, 56, 0),
    ];
    let mut text = String::from("r6 = r1\n r9 = *(u32 *)(r6 + 0)\n r9 <<= 3\n");
    for (index, (id, len, flags)) in calls.iter().enumerate() {
        text.push_str(" r1 = 0\n");
        for off in (8..=56).step_by(8) {
            text.push_str(&format!(" *(u64 *)(r10 - {off}) = r1\n"));
        }
        if *id == 104 {
            // The replacement text "42\n".
            text.push_str(" r1 = 0x0a3234\n *(u32 *)(r10 - 56) = r1\n");
        }
        text.push_str(&format!(
            " r1 = r6\n r2 = r10\n r2 += -56\n r3 = {len}\n r4 = {flags}\n call {id}\n \
             *(u64 *)(r10 - 64) = r0\n r1 = r9\n r1 += {index}\n *(u32 *)(r10 - 72) = r1\n \
             {load_map}\n r2 = r10\n r2 += -72\n r3 = r10\n r3 += -64\n r4 = 0\n call 2\n"
        ));
    }
    text.push_str(" r0 = 0\n exit");
    text
}

fn bpf_prog_attach(prog: &ProgFd, cgroup: &std::fs::File) -> std::io::Result<()> {
    // target_fd, attach_bpf_fd, attach_type, attach_flags, then zeros.
    let mut attr = [0u32; 8];
    attr[0] = cgroup.as_raw_fd() as u32;
    attr[1] = prog.as_fd().as_raw_fd() as u32;
    attr[2] = BPF_CGROUP_SYSCTL;
    // SAFETY: attr is a valid, fully initialised `union bpf_attr` prefix.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The cgroup2 mount point, from /proc/self/mountinfo.
fn cgroup2_mount() -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|line| {
        let (fields, tail) = line.split_once(" - ")?;
        (tail.split(' ').next() == Some("cgroup2"))
            .then(|| fields.split(' ').nth(4).map(str::to_owned))?
    })
}

/// Removes the test cgroup (and with it the attachment) when dropped.
struct TempCgroup(std::path::PathBuf);

impl Drop for TempCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Runs the program in the kernel on a read then a write of the sysctl;
/// the records, or why the kernel could not be used.
fn kernel_records(current: &str) -> Result<Vec<Vec<u8>>, Reason> {
    apiary_kernel::probe().map_err(|e| Reason::missing(format!("bpf() is unavailable: {e}")))?;
    let mount = cgroup2_mount().ok_or_else(|| Reason::missing("a cgroup2 mount"))?;
    let records = MapFd::create(&MapCreateAttrs {
        map_type: KernelMapType::ARRAY,
        key_size: 4,
        value_size: RECORD,
        max_entries: 2 * CALLS,
        name: "records",
        ..MapCreateAttrs::default()
    })
    .expect("array map");
    let text = program(&format!("ld_pseudo r1, 1, {}", records.as_fd().as_raw_fd()));
    let insns = slots_to_bytes(&code(&text));
    let prog = records::load(&ProgLoadAttrs {
        prog_type: ProgType::CGROUP_SYSCTL,
        insns: &insns,
        license: "GPL",
        name: "sysctl_rec",
        ..ProgLoadAttrs::default()
    })?;
    let dir = std::path::Path::new(&mount).join(format!("apiary_sysctl_{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    let cgroup = TempCgroup(dir);
    let cgroup_dir = std::fs::File::open(&cgroup.0).expect("open the cgroup directory");
    bpf_prog_attach(&prog, &cgroup_dir).expect("BPF_PROG_ATTACH");
    let script = format!(
        "echo $$ > {procs} || exit 9; cat /proc/sys/{SYSCTL} >/dev/null 2>&1; \
         echo {current} > /proc/sys/{SYSCTL} 2>/dev/null; exit 0",
        procs = cgroup.0.join("cgroup.procs").display()
    );
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .status()
        .expect("sh runs");
    assert!(
        status.success(),
        "the child could not join the cgroup ({status})"
    );
    Ok(records::kernel(&records, 2 * CALLS))
}

fn apiary_records(current: &str) -> Vec<Vec<u8>> {
    let rt: Arc<Runtime> = Runtime::new(1);
    let records = rt
        .create_map(MapDef::new(MapType::Array, 4, RECORD, 2 * CALLS).with_name("records"))
        .unwrap();
    let prog = rt
        .load_program(
            "sysctl_rec",
            ProgType::CGROUP_SYSCTL,
            &code(&program("ld_pseudo r1, 5, 0")),
            &[records],
        )
        .expect("apiary loads the program");
    let text = format!("{current}\n").into_bytes();
    for write in [false, true] {
        let mut image = SysctlContext {
            write,
            file_pos: 0,
            name: SYSCTL.into(),
            current_value: Some(text.clone()),
            new_value: write.then(|| text.clone()),
        }
        .image()
        .unwrap();
        let r0 = rt
            .run(
                &mut Runner::new(),
                prog,
                &mut image,
                0,
                &TaskInfo::current(),
            )
            .expect("runs");
        assert_eq!(r0, 0);
    }
    records::apiary(&rt.map(records).unwrap(), 2 * CALLS)
}

#[test]
fn sysctl_helpers_match_the_kernel() {
    let current = std::fs::read_to_string(format!("/proc/sys/{SYSCTL}"))
        .expect("the sysctl is readable")
        .trim()
        .to_owned();
    let kernel = match kernel_records(&current) {
        Ok(records) => records,
        Err(reason) => return apiary_testskip::skip("sysctl_helpers_match_the_kernel", reason),
    };
    let ours = apiary_records(&current);
    for (key, (k, o)) in kernel.iter().zip(&ours).enumerate() {
        assert_eq!(o, k, "record {key}: apiary vs kernel");
    }
    // The records are not trivially equal: the full name came back, a read
    // has no new value, and a write's new value was replaced.
    let ret = |record: &Vec<u8>| i64::from_ne_bytes(record[..8].try_into().unwrap());
    assert_eq!(&kernel[0][8..28], b"net/ipv4/ip_forward\0");
    assert_eq!(ret(&kernel[5]), -22, "get_new_value on a read");
    assert_eq!(ret(&kernel[14]), 0, "set_new_value on a write");
    assert_eq!((ret(&kernel[15]), &kernel[15][8..12]), (3, &b"42\n\0"[..]));
    let after = std::fs::read_to_string(format!("/proc/sys/{SYSCTL}")).unwrap();
    assert_eq!(after.trim(), current, "the sysctl must be unchanged");
}

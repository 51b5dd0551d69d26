//! `bpf_seq_write` and `bpf_seq_printf` against the kernel: one
//! `iter/task` program writes a few lines for the first task, once through
//! a real task iterator (link, iterator fd, `read`) and once in Apiary on a
//! [`SeqFile`]; the text must be identical. Needs bpftool to find the
//! `bpf_iter_task` BTF id and skips loudly without it.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use apiary_isa::{RawInsn, encode_program, slots_to_bytes};
use apiary_kernel::ProgLoadAttrs;
use apiary_kernel::types::{AttachType, ProgType};
use apiary_runtime::{Runtime, SeqFile, TaskInfo};
use apiary_testskip::Reason;
use apiary_vm::Runner;

mod records;

const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_ITER_CREATE: libc::c_long = 33;

fn code(text: &str) -> Vec<RawInsn> {
    encode_program(&apiary_asm::assemble(text).expect("test program assembles"))
}

/// Instructions that store `bytes` (NUL-padded to 8-byte words) on the
/// stack from `r10 - off` upwards.
fn stack_bytes(off: i32, bytes: &[u8]) -> String {
    bytes
        .chunks(8)
        .enumerate()
        .map(|(i, chunk)| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let at = off - 8 * i as i32;
            format!(
                " r1 = {:#x} ll\n *(u64 *)(r10 - {at}) = r1\n",
                u64::from_le_bytes(word)
            )
        })
        .collect()
}

/// For the first task only (`seq_num` 0): "hi\n" by `bpf_seq_write`, a
/// formatted line by `bpf_seq_printf`, then both return values.
fn program() -> String {
    let format = b"%d-%s|%5u|%x|%%\n\0";
    let mut text = String::from(
        " r2 = *(u64 *)(r1 + 0)\n r7 = *(u64 *)(r1 + 8)\n if r7 == 0 goto out\n \
         r3 = *(u64 *)(r2 + 16)\n if r3 != 0 goto out\n r6 = *(u64 *)(r2 + 0)\n",
    );
    text.push_str(&stack_bytes(8, b"hi\n"));
    text.push_str(" r1 = r6\n r2 = r10\n r2 += -8\n r3 = 3\n call 127\n r8 = r0\n");
    // The format at r10-48 (24 bytes), "ab" at r10-56, the arguments
    // (-42, &"ab", 7, 0xbeef) at r10-88.
    text.push_str(&stack_bytes(48, format));
    text.push_str(&stack_bytes(56, b"ab"));
    text.push_str(
        " r1 = -42\n *(u64 *)(r10 - 88) = r1\n r1 = r10\n r1 += -56\n \
         *(u64 *)(r10 - 80) = r1\n r1 = 7\n *(u64 *)(r10 - 72) = r1\n r1 = 0xbeef\n \
         *(u64 *)(r10 - 64) = r1\n",
    );
    text.push_str(&format!(
        " r1 = r6\n r2 = r10\n r2 += -48\n r3 = {}\n r4 = r10\n r4 += -88\n r5 = 32\n \
         call 126\n *(u64 *)(r10 - 88) = r8\n *(u64 *)(r10 - 80) = r0\n",
        format.len()
    ));
    text.push_str(&stack_bytes(48, b"%ld %ld\n\0"));
    text.push_str(
        " r1 = r6\n r2 = r10\n r2 += -48\n r3 = 10\n r4 = r10\n r4 += -88\n r5 = 16\n \
         call 126\n out:\n r0 = 0\n exit",
    );
    text
}

/// The id of the `bpf_iter_task` function in the kernel's BTF, from
/// bpftool's raw dump.
fn bpf_iter_task_btf_id() -> Result<u32, Reason> {
    let out = std::process::Command::new("bpftool")
        .args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux"])
        .output()
        .map_err(|e| Reason::missing(format!("bpftool cannot run: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("FUNC 'bpf_iter_task' "))
        .and_then(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .ok_or_else(|| {
            Reason::refused(
                "the task iterator (bpf_iter_task in /sys/kernel/btf/vmlinux)",
                "not in this kernel's BTF",
            )
        })
}

fn bpf(cmd: libc::c_long, attr: &mut [u32]) -> Result<OwnedFd, String> {
    // SAFETY: attr is a zero-padded `union bpf_attr` prefix for `cmd`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr),
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    // SAFETY: a successful BPF_LINK_CREATE / BPF_ITER_CREATE returns a new fd.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

fn kernel_text() -> Result<Vec<u8>, Reason> {
    apiary_kernel::probe().map_err(|e| Reason::missing(format!("bpf() is unavailable: {e}")))?;
    let btf_id = bpf_iter_task_btf_id()?;
    let insns = slots_to_bytes(&code(&program()));
    let prog = records::load(&ProgLoadAttrs {
        prog_type: ProgType::TRACING,
        expected_attach_type: Some(AttachType::TRACE_ITER),
        attach_btf_id: btf_id,
        insns: &insns,
        license: "GPL",
        name: "seq_text",
        ..ProgLoadAttrs::default()
    })?;
    // prog_fd, target_fd, attach_type, flags, then a NULL iter_info.
    let mut link_attr = [0u32; 8];
    link_attr[0] = prog.as_fd().as_raw_fd() as u32;
    link_attr[2] = AttachType::TRACE_ITER.0;
    let link = bpf(BPF_LINK_CREATE, &mut link_attr).expect("BPF_LINK_CREATE of the iterator");
    let mut iter_attr = [0u32; 2];
    iter_attr[0] = link.as_raw_fd() as u32;
    let iter = bpf(BPF_ITER_CREATE, &mut iter_attr).expect("BPF_ITER_CREATE");
    let mut text = Vec::new();
    std::fs::File::from(iter)
        .read_to_end(&mut text)
        .expect("reading the iterator");
    Ok(text)
}

/// The iterator context in one buffer: `struct bpf_iter__task` (meta,
/// task), `struct bpf_iter_meta` (seq, session_id, seq_num 0), a stand-in
/// task, then the seq_file image.
fn apiary_text() -> Vec<u8> {
    let rt = Runtime::new(1);
    let prog = rt
        .load_program("seq_text", ProgType::TRACING, &code(&program()), &[])
        .expect("apiary loads the program");
    let mut seq = SeqFile::with_capacity(8 * 4096);
    let image_len = seq.image_mut().len();
    let mut ctx = vec![0u8; 64 + image_len];
    let base = ctx.as_ptr() as u64;
    ctx[0..8].copy_from_slice(&(base + 16).to_ne_bytes());
    ctx[8..16].copy_from_slice(&(base + 40).to_ne_bytes());
    ctx[16..24].copy_from_slice(&(base + 64).to_ne_bytes());
    ctx[64..].copy_from_slice(seq.image_mut());
    let r0 = rt
        .run(&mut Runner::new(), prog, &mut ctx, 0, &TaskInfo::current())
        .expect("apiary runs the program");
    assert_eq!(r0, 0);
    seq.image_mut().copy_from_slice(&ctx[64..]);
    seq.text().to_vec()
}

#[test]
fn seq_helpers_write_what_the_kernel_iterator_reads() {
    let kernel = match kernel_text() {
        Ok(text) => text,
        Err(reason) => {
            return apiary_testskip::skip(
                "seq_helpers_write_what_the_kernel_iterator_reads",
                reason,
            );
        }
    };
    assert_eq!(
        String::from_utf8_lossy(&apiary_text()),
        String::from_utf8_lossy(&kernel)
    );
    assert!(kernel.starts_with(b"hi\n-42-ab|"), "{kernel:?}");
}

//! `bpf_ringbuf_submit` and `bpf_ringbuf_discard` without the helper
//! table ([`apiary_vm::DirectCommits`]), in programs whose every
//! reservation is a direct one (`emit_reserve`, then unrecorded): the
//! verifier proved `r1` a live reservation, and the commit finds the ring
//! from the sample's header, so the sample and flags already in the first
//! two argument registers are all it is given. An address the commit
//! refuses (which a verified program cannot give) goes to the helper, for
//! the interpreter's error.

use apiary_vm::CommitFn;

use crate::compile::Emitter;
use crate::emit_call;
use crate::x64;

/// Emits the commit `commit` of the sample in `r1` with the flags in `r2`
/// into `r0`, or `helper`'s call when it refuses the address.
pub(crate) fn emit(e: &mut Emitter, commit: CommitFn, helper: impl FnOnce(&mut Emitter)) {
    let done = e.label();
    let f = commit as usize as i64;
    // The helper, if it comes to that, wants the arguments unchanged.
    emit_call::keeping_args(e, |e| x64!(e; mov rax, QWORD f; call rax));
    x64!(e
        ; test rax, rax
        ; jz =>done
    );
    helper(e);
    x64!(e; =>done);
}

//! The state of one path through the program: every frame's registers and
//! stack, the references it holds, and the id counter (the kernel's
//! `struct bpf_verifier_state` and `struct bpf_func_state`).

use crate::error::Rejection;
use crate::regs::{RegState, RegType};
use crate::stack::Stack;

/// The kernel's `MAX_CALL_FRAMES`.
pub const MAX_CALL_FRAMES: usize = 8;

/// One function's registers and stack.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Frame {
    /// `r0`..`r10`.
    pub regs: [RegState; 11],
    /// The frame's stack.
    pub stack: Stack,
    /// The call instruction that entered this frame (none for the first).
    pub callsite: Option<usize>,
    /// Index of the frame (0 for the program's own).
    pub frameno: u8,
    /// A callback a helper calls (`bpf_loop`, `for_each_map_elem`,
    /// `in_callback_fn`): its exit goes back to the helper call, which may
    /// call it again, and `r0` must be 0 or 1 (see [`crate::callbacks`]).
    pub callback: bool,
    /// An asynchronous callback (a timer's): the first frame of its own
    /// chain, whose exit must return 0.
    pub async_cb: bool,
    /// How many times in a row this frame's path came back to a helper
    /// call from the callback it calls (`callback_depth`): `bpf_loop`
    /// stops calling it again at its count's maximum.
    pub callback_depth: u64,
}

impl Frame {
    /// A fresh frame: every register uninitialised except `r10`.
    pub fn new(frameno: u8, callsite: Option<usize>) -> Frame {
        let mut regs = [RegState::NOT_INIT; 11];
        regs[10] = RegState {
            frameno,
            ..RegState::pointer(RegType::Stack)
        };
        Frame {
            regs,
            stack: Stack::default(),
            callsite,
            frameno,
            callback: false,
            async_cb: false,
            callback_depth: 0,
        }
    }
}

/// A reference the program must release before it exits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Reference {
    /// The `ref_obj_id` of the pointers to release it through.
    pub id: u32,
    /// The instruction that acquired it.
    pub insn: usize,
}

/// The `bpf_spin_lock` a path holds: the map value it is in, by the id
/// of the lookup that returned it, and the map.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Lock {
    /// The `id` of the map value pointer it was taken through.
    pub id: u32,
    /// The map (index into the program's maps).
    pub map: u32,
    /// The instruction that took it.
    pub insn: usize,
}

/// A whole path's state.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct State {
    /// Call frames, innermost last.
    pub frames: Vec<Frame>,
    /// References held.
    pub refs: Vec<Reference>,
    /// The spin lock held, if any (one at most).
    pub lock: Option<Lock>,
    /// The last id handed out.
    pub next_id: u32,
    /// How many `may_goto` fall-throughs the path went through
    /// (`may_goto_depth`): see [`crate::may_goto`].
    pub may_goto_depth: u32,
    /// How many callback bodies the path entered (`callback_unroll_depth`):
    /// the same state in two iterations of a callback is no infinite loop.
    pub callback_unroll_depth: u32,
}

impl State {
    /// The state at a program's first instruction: `r1` is the context.
    pub fn entry() -> State {
        let mut frame = Frame::new(0, None);
        frame.regs[1] = RegState::pointer(RegType::Ctx);
        State {
            frames: vec![frame],
            refs: Vec::new(),
            lock: None,
            next_id: 0,
            may_goto_depth: 0,
            callback_unroll_depth: 0,
        }
    }

    /// The innermost frame.
    pub fn frame(&self) -> &Frame {
        self.frames.last().expect("a state has a frame")
    }

    /// The innermost frame, to change.
    pub fn frame_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a state has a frame")
    }

    /// The innermost frame's registers and the id counter, together.
    pub fn regs_and_ids(&mut self) -> (&mut [RegState; 11], &mut u32) {
        let frame = self.frames.last_mut().expect("a state has a frame");
        (&mut frame.regs, &mut self.next_id)
    }

    /// Refuses a call at `insn` that would enter a frame beyond
    /// [`MAX_CALL_FRAMES`] (`setup_func_entry`).
    pub fn room_for_a_frame(&self, insn: usize) -> Result<(), Rejection> {
        if self.frames.len() < MAX_CALL_FRAMES {
            return Ok(());
        }
        Err(Rejection::new(
            insn,
            format!(
                "the call stack of {} frames is too deep",
                self.frames.len() + 1
            ),
        )
        .cause("more than 8 nested function calls"))
    }

    /// A fresh id.
    pub fn new_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// Every register and spilled register of every frame.
    pub fn all_regs_mut(&mut self) -> impl Iterator<Item = &mut RegState> {
        self.frames
            .iter_mut()
            .flat_map(|f| f.regs.iter_mut().chain(f.stack.spilled_mut()))
    }

    /// Drops a reference and invalidates every pointer through it
    /// (`release_reference`; a privileged loader's invalid registers are
    /// unknown numbers); false if it was not held.
    pub fn release(&mut self, ref_obj_id: u32) -> bool {
        let before = self.refs.len();
        self.refs.retain(|r| r.id != ref_obj_id);
        if self.refs.len() == before {
            return false;
        }
        for reg in self.all_regs_mut() {
            if reg.ref_obj_id == ref_obj_id {
                *reg = RegState::unknown();
            }
        }
        true
    }

    /// Refuses leaving the program at `insn` (by `what`: an exit, a tail
    /// call) while a reference is held (`check_resource_leak`): the
    /// kernel names the first unreleased reference, then the leak.
    pub fn check_leak(&self, insn: usize, what: &str) -> Result<(), Rejection> {
        let Some(r) = self.refs.first() else {
            return Ok(());
        };
        Err(Rejection::new(insn, format!("{what} would lead to reference leak"))
            .context(format!("Unreleased reference id={} alloc_insn={}", r.id, r.insn))
            .cause(format!(
                "the reference acquired at insn {} is still held when the program leaves by {what}",
                r.insn
            ))
            .help("release it (bpf_ringbuf_submit/discard, bpf_sk_release) on every path before leaving"))
    }
}

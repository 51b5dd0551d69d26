//! `bpf_skb_load_bytes` a compiling tier may do itself: the embedder
//! names the helper that copies packet bytes to program memory
//! ([`crate::Program::set_packet_load_helper`]), and native code copies
//! them where the helper surely would have, falling back to the call
//! everywhere else (an offset past the packet, a destination off the
//! stack, a run without a packet), whose checks and errors stay the
//! helper's own.
//!
//! The embedder promises that the helper, called with `r2 = offset`,
//! `r3 = to` and `r4 = len` (each read as a `u32` but `to`), when
//! `offset <= i32::MAX`, the run has a packet span (the `LD_ABS` span of
//! [`crate::RunInput::packet`], as [`crate::HelperContext::set_packet`]
//! moves it) of which `offset..offset + len` is part, and
//! `to..to + len` lies in one live frame's stack, copies those bytes of
//! the span to `to`, returns 0 and changes nothing else of the run (so
//! it keeps the input, [`crate::Helpers::register_keeping_input`]). This
//! is the kernel's `bpf_skb_load_bytes` on a linear skb, whose data is
//! that span.

//! An XDP program's verdict on a live frame, and what the data plane does
//! with the frame as the kernel's XDP would.

use apiary_maps::RedirectTarget;
use apiary_runtime::Event;

/// The five XDP actions; any other return value counts as aborted, as the
/// kernel's `bpf_warn_invalid_xdp_action` makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `XDP_ABORTED` (0), or a value that is no action.
    Aborted,
    /// `XDP_DROP` (1).
    Drop,
    /// `XDP_PASS` (2).
    Pass,
    /// `XDP_TX` (3).
    Tx,
    /// `XDP_REDIRECT` (4).
    Redirect,
}

impl Action {
    /// Every action, in the kernel's numbering.
    pub const ALL: [Action; 5] = [
        Action::Aborted,
        Action::Drop,
        Action::Pass,
        Action::Tx,
        Action::Redirect,
    ];

    /// The action a program's return value means.
    pub fn from_retval(retval: u32) -> Action {
        match retval {
            1 => Action::Drop,
            2 => Action::Pass,
            3 => Action::Tx,
            4 => Action::Redirect,
            _ => Action::Aborted,
        }
    }

    /// Its index in [`Action::ALL`] (the kernel's number).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kernel's name (`XDP_DROP`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Action::Aborted => "XDP_ABORTED",
            Action::Drop => "XDP_DROP",
            Action::Pass => "XDP_PASS",
            Action::Tx => "XDP_TX",
            Action::Redirect => "XDP_REDIRECT",
        }
    }
}

/// What happens to the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Freed (`XDP_DROP`, `XDP_ABORTED`).
    Free,
    /// Handed to the host's stack (`XDP_PASS`, or a redirect into a
    /// cpumap entry without a program, which the kernel hands to the stack
    /// on the entry's CPU).
    Pass,
    /// Sent out of the interface with this ifindex (`XDP_TX`: the ingress
    /// device; `XDP_REDIRECT`: the devmap entry or `bpf_redirect` target).
    Transmit(u32),
    /// A redirect the data plane cannot carry out yet; the frame is freed
    /// and counted with this reason.
    Unsupported(&'static str),
}

/// The action and fate of a frame that arrived on `ingress`, for which
/// the program returned `retval` after asking for `events`.
pub fn fate_of(retval: u32, events: &[Event], ingress: u32) -> (Action, Fate) {
    let action = Action::from_retval(retval);
    let fate = match action {
        Action::Aborted | Action::Drop => Fate::Free,
        Action::Pass => Fate::Pass,
        Action::Tx => Fate::Transmit(ingress),
        Action::Redirect => redirect_fate(events),
    };
    (action, fate)
}

/// The last redirect a run asked for decides, as the kernel keeps one
/// per-CPU redirect target that each call overwrites.
fn redirect_fate(events: &[Event]) -> Fate {
    let last = events.iter().rev().find_map(|event| match event {
        Event::Redirect { ifindex, .. } => Some(Fate::Transmit(*ifindex)),
        Event::RedirectMap { target, .. } => Some(match target {
            RedirectTarget::Device {
                ifindex,
                prog_id: 0,
            } => Fate::Transmit(*ifindex),
            RedirectTarget::Device { .. } => {
                Fate::Unsupported("devmap entries with a program are not run yet")
            }
            // The kernel builds an skb on the target CPU and hands it to
            // the stack: for a data plane in user space, a pass.
            RedirectTarget::Cpu { prog_id: 0, .. } => Fate::Pass,
            RedirectTarget::Cpu { .. } => {
                Fate::Unsupported("cpumap entries with a program are not run yet")
            }
            RedirectTarget::XskSocket { .. } => {
                Fate::Unsupported("xskmap redirects are not supported in packet mode")
            }
        }),
        _ => None,
    });
    last.unwrap_or(Fate::Unsupported(
        "XDP_REDIRECT without a redirect helper call",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiary_runtime::MapId;

    #[test]
    fn actions_follow_the_kernel_numbering() {
        for (n, action) in Action::ALL.iter().enumerate() {
            assert_eq!(Action::from_retval(n as u32), *action);
            assert_eq!(action.index(), n);
        }
        assert_eq!(Action::from_retval(5), Action::Aborted);
        assert_eq!(Action::from_retval(u32::MAX), Action::Aborted);
    }

    #[test]
    fn tx_goes_back_out_of_the_ingress_device() {
        assert_eq!(fate_of(3, &[], 7), (Action::Tx, Fate::Transmit(7)));
        assert_eq!(fate_of(1, &[], 7), (Action::Drop, Fate::Free));
        assert_eq!(fate_of(2, &[], 7), (Action::Pass, Fate::Pass));
        assert_eq!(fate_of(9, &[], 7), (Action::Aborted, Fate::Free));
    }

    #[test]
    fn the_last_redirect_wins() {
        let devmap = Event::RedirectMap {
            map: MapId(1),
            key: 0,
            target: RedirectTarget::Device {
                ifindex: 12,
                prog_id: 0,
            },
        };
        let direct = Event::Redirect {
            ifindex: 5,
            flags: 0,
        };
        let run = [direct.clone(), devmap.clone()];
        assert_eq!(fate_of(4, &run, 1).1, Fate::Transmit(12));
        let run = [devmap, direct];
        assert_eq!(fate_of(4, &run, 1).1, Fate::Transmit(5));
        assert!(matches!(fate_of(4, &[], 1).1, Fate::Unsupported(_)));
    }
}

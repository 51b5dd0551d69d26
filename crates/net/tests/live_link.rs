//! The data plane on a veth pair between two namespaces the test
//! creates, in both modes. `packet` mode: verdicts counted exactly,
//! `XDP_TX` frames back at the sender with the program's edits. `afxdp`
//! mode: the frames leave the kernel's stack, so verdicts are enforced:
//! `XDP_TX` frames come back through the TX ring, the firewall's dropped
//! frames never reach a socket while its passed frames do (through the
//! TAP).

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use apiary_net::netns::{Link, veth_pair};
use apiary_net::traffic::{Destination, udp_frame, udp_frame_to};
use apiary_net::{Action, Interface};
use apiary_runtime::Runtime;

use common::{Mode, Ran, SOURCES, Traffic, firewall, link, rule_packets, run, run_back_on};

#[test]
fn packet_mode_xdp_tx_returns_every_frame_to_the_sender() {
    common::reflector_returns_every_frame(
        "packet_mode_xdp_tx_returns_every_frame_to_the_sender",
        Mode::Packet,
    );
}

#[test]
fn packet_mode_counts_exactly_the_firewalls_listed_sources_as_dropped() {
    let Some(link) = link("packet_mode_counts_exactly_the_firewalls_listed_sources_as_dropped")
    else {
        return;
    };
    let runtime = Runtime::new(1);
    let Some(prog) = firewall(
        "packet_mode_counts_exactly_the_firewalls_listed_sources_as_dropped",
        &runtime,
    ) else {
        return;
    };
    let frames: Vec<Vec<u8>> = (0..60)
        .map(|i| udp_frame(SOURCES[i % SOURCES.len()].0, i as u32))
        .collect();
    let blocked = (0..60).filter(|i| SOURCES[i % SOURCES.len()].1).count() as u64;
    let Ran { stats, .. } = run(&link, Mode::Packet, &runtime, prog, &frames, 0);
    assert_eq!(stats.frames, 60);
    assert_eq!(stats.action(Action::Drop), blocked);
    assert_eq!(stats.action(Action::Pass), 60 - blocked);
    assert_eq!(rule_packets(&runtime, 1), 20, "192.0.2.10 and 192.0.2.255");
    assert_eq!(rule_packets(&runtime, 3), 10, "198.51.100.200");
}

#[test]
fn afxdp_mode_xdp_tx_returns_every_frame_through_the_tx_ring() {
    common::reflector_returns_every_frame(
        "afxdp_mode_xdp_tx_returns_every_frame_through_the_tx_ring",
        Mode::Afxdp,
    );
}

#[test]
fn afxdp_mode_dropped_frames_never_reach_a_socket_and_passed_ones_do() {
    let Some(link) = link("afxdp_mode_dropped_frames_never_reach_a_socket_and_passed_ones_do")
    else {
        return;
    };
    let runtime = Runtime::new(1);
    let Some(prog) = firewall(
        "afxdp_mode_dropped_frames_never_reach_a_socket_and_passed_ones_do",
        &runtime,
    ) else {
        return;
    };
    // ap0 gets an address of the test namespace and a UDP socket listens.
    link.apiary
        .ip(&["addr", "add", "10.77.0.1/24", "dev", Link::APIARY_IFACE])
        .expect("address");
    let (socket, mac) = link
        .apiary
        .run(|| {
            let socket = UdpSocket::bind("10.77.0.1:7777").expect("bind");
            socket
                .set_read_timeout(Some(Duration::from_secs(1)))
                .expect("timeout");
            let mac = Interface::by_name(Link::APIARY_IFACE)
                .expect("ap0")
                .mac()
                .expect("mac");
            (socket, mac)
        })
        .expect("enter the apiary namespace");
    let dst = Destination {
        mac,
        ip: [10, 77, 0, 1],
        port: 7777,
    };
    let frames: Vec<Vec<u8>> = (0..60)
        .map(|i| udp_frame_to(SOURCES[i % SOURCES.len()].0, dst, i as u32))
        .collect();
    let blocked = (0..60).filter(|i| SOURCES[i % SOURCES.len()].1).count();
    let Ran { stats, .. } = run(&link, Mode::Afxdp, &runtime, prog, &frames, 0);
    assert_eq!(stats.frames, 60);
    assert_eq!(stats.action(Action::Drop), blocked as u64);
    assert_eq!(stats.action(Action::Pass), (60 - blocked) as u64);
    assert_eq!(rule_packets(&runtime, 1), 20);
    let mut received = Vec::new();
    let mut buf = [0u8; 64];
    while let Ok((n, from)) = socket.recv_from(&mut buf) {
        assert_eq!(n, 22, "the UDP payload");
        received.push((
            from.ip(),
            u32::from_be_bytes(buf[..4].try_into().expect("seq")),
        ));
    }
    let expected: Vec<_> = (0..60u32)
        .filter(|i| !SOURCES[*i as usize % SOURCES.len()].1)
        .map(|i| {
            (
                std::net::IpAddr::from(SOURCES[i as usize % SOURCES.len()].0),
                i,
            )
        })
        .collect();
    received.sort();
    let mut expected = expected;
    expected.sort();
    assert_eq!(
        received, expected,
        "exactly the passed frames reached the socket"
    );
}

/// `xdp_redirect_dev` of the corpus sends each frame through a devmap
/// (`tx_ports`) or a devmap_hash (`tx_ports_by_ifindex`) entry chosen by
/// the last byte of its destination address: both lead out of a second
/// veth pair (`ap1` to `tx1`), where every frame arrives, in both modes.
#[test]
fn devmap_redirects_move_frames_to_a_second_veth_pair() {
    let Some(link) = link("devmap_redirects_move_frames_to_a_second_veth_pair") else {
        return;
    };
    let object = match apiary_corpus::object("xdp_redirect_maps").map(|o| o.read()) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => panic!("xdp_redirect_maps.o: {e}"),
        Err(e) => {
            return apiary_testskip::missing(
                "devmap_redirects_move_frames_to_a_second_veth_pair",
                format!("the corpus: {e}"),
            );
        }
    };
    veth_pair(&link.apiary, "ap1", &link.traffic, "tx1").expect("second pair");
    let ap1 = link
        .apiary
        .run(|| Interface::by_name("ap1"))
        .expect("enter")
        .expect("ap1");
    for mode in [Mode::Packet, Mode::Afxdp] {
        let object = apiary_loader::Object::parse(&object, "xdp_redirect_maps").expect("parses");
        let runtime = Runtime::new(1);
        let loaded = runtime.load_object(&object).expect("loads");
        let prog = loaded.program("xdp_redirect_dev").expect("program");
        // Kernel map names keep 15 bytes: find the maps by the object's names.
        let map = |name: &str| {
            let index = object.maps.iter().position(|m| m.name == name);
            runtime.map(loaded.maps[index.expect(name)]).expect(name)
        };
        // struct bpf_devmap_val: ifindex, then no program.
        let devmap_val = [ap1.ifindex.to_ne_bytes(), [0; 4]].concat();
        map("tx_ports")
            .sys_update(&4u32.to_ne_bytes(), &devmap_val, 0)
            .expect("tx_ports[4]");
        map("tx_ports_by_ifindex")
            .sys_update(&5u32.to_ne_bytes(), &ap1.ifindex.to_ne_bytes(), 0)
            .expect("tx_ports_by_ifindex[5]");
        let frames: Vec<Vec<u8>> = (0..40)
            .map(|i| {
                let mut frame = udp_frame([192, 0, 2, 1], i);
                frame[5] = if i % 2 == 0 { 4 } else { 5 };
                frame
            })
            .collect();
        let Ran {
            stats, mut back, ..
        } = run_back_on(
            &link,
            mode,
            &runtime,
            prog,
            Traffic {
                frames: &frames,
                back_on: "tx1",
                expect_back: frames.len(),
                frames_run: frames.len() as u64,
            },
        );
        assert_eq!(stats.action(Action::Redirect), 40, "{mode:?}");
        assert_eq!(stats.sent, 40, "{mode:?}");
        back.sort();
        let mut expected = frames.clone();
        expected.sort();
        assert_eq!(back.len(), 40, "{mode:?}: every frame came out of ap1");
        assert_eq!(back, expected, "{mode:?}: unchanged");
    }
}

/// A program that faults on a frame (a load from address 0, which the
/// kernel's verifier would refuse) counts the frame as aborted and a
/// fault; the worker goes on to the next frames.
#[test]
fn faulting_frames_are_aborted_and_the_worker_goes_on() {
    let Some(link) = link("faulting_frames_are_aborted_and_the_worker_goes_on") else {
        return;
    };
    let runtime = Runtime::new(1);
    // Faults when the frame's last source byte is odd, else XDP_PASS.
    let prog = common::asm_program(
        &runtime,
        "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 34\n\
         if r4 > r3 goto +7\nr5 = *(u8 *)(r2 + 29)\nr5 &= 1\nif r5 == 0 goto +2\n\
         r6 = 0\nr0 = *(u8 *)(r6 + 0)\nr0 = 2\nexit\nr0 = 2\nexit",
    );
    let frames: Vec<Vec<u8>> = (0..20u8).map(|i| udp_frame([10, 0, 0, i], 0)).collect();
    let Ran { stats, .. } = run(&link, Mode::Packet, &runtime, prog, &frames, 0);
    assert_eq!(stats.frames, 20);
    assert_eq!(stats.faults, 10);
    assert_eq!(stats.action(Action::Aborted), 10);
    assert_eq!(stats.action(Action::Pass), 10);
}

/// Frames of every size a 9000-byte MTU allows, from a bare Ethernet
/// header to a jumbo frame: in afxdp mode those longer than a UMEM frame
/// holds (1792 bytes after the kernel's headroom) arrive in several
/// descriptors and are joined; the program sees each frame whole (past
/// 3520 bytes in fragments, as the kernel's multi-buffer XDP) and
/// `XDP_TX` sends it back whole.
fn frames_of_every_size() -> Vec<Vec<u8>> {
    let max = apiary_net::umem::MAX_FRAME_LEN as usize;
    [14, 15, 60, 1514, max, max + 1, 3521, 4096, 9014]
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let mut frame = udp_frame([10, 0, 0, 1], i as u32);
            frame.resize(len, 0xe0 | i as u8);
            frame
        })
        .collect()
}

#[test]
fn afxdp_mode_runs_and_returns_frames_of_every_size_jumbo_included() {
    common::reflector_returns(
        "afxdp_mode_runs_and_returns_frames_of_every_size_jumbo_included",
        Mode::Afxdp,
        &frames_of_every_size(),
        Some(9000),
    );
}

#[test]
fn packet_mode_runs_and_returns_frames_of_every_size_jumbo_included() {
    common::reflector_returns(
        "packet_mode_runs_and_returns_frames_of_every_size_jumbo_included",
        Mode::Packet,
        &frames_of_every_size(),
        Some(9000),
    );
}

/// The program's `bpf_trace_printk` lines come out of the worker, one per
/// frame, as trace_pipe shows them.
#[test]
fn trace_printk_lines_come_out_of_the_worker() {
    let Some(link) = link("trace_printk_lines_come_out_of_the_worker") else {
        return;
    };
    let runtime = Runtime::new(1);
    // bpf_trace_printk("hi\n", 4), then XDP_PASS.
    let prog = common::asm_program(
        &runtime,
        "r1 = 0xa6968\n*(u32 *)(r10 - 4) = r1\nr1 = r10\nr1 += -4\nr2 = 4\ncall 6\nr0 = 2\nexit",
    );
    let frames: Vec<Vec<u8>> = (0..3).map(|i| udp_frame([10, 0, 0, 1], i)).collect();
    let Ran { stats, trace, .. } = run(&link, Mode::Packet, &runtime, prog, &frames, 0);
    assert_eq!(stats.frames, 3);
    assert_eq!(trace.len(), 3, "{trace:?}");
    assert!(
        trace.iter().all(|l| l.trim_end().ends_with(": hi")),
        "{trace:?}"
    );
}

/// An interface that disappears while a worker serves it ends the
/// worker with `InterfaceGone` (the CLI's clear line), never a hang or a
/// panic, in either mode.
#[test]
fn a_worker_whose_interface_disappears_ends_with_interface_gone() {
    for mode in [Mode::Packet, Mode::Afxdp] {
        let Some(link) = link("a_worker_whose_interface_disappears_ends_with_interface_gone")
        else {
            return;
        };
        let runtime = Runtime::new(1);
        let prog = common::asm_program(&runtime, "r0 = 1\nexit");
        let mut opened = common::open(&link, mode);
        let control = apiary_net::Control::new(None);
        let stats = apiary_net::QueueStats::default();
        let mut program =
            apiary_net::RuntimeProgram::new(&runtime, prog, apiary_vm::Runner::new(), 0)
                .expect("an XDP program");
        let outcome = std::thread::scope(|scope| {
            let port = opened.port.as_mut();
            let worker =
                scope.spawn(|| apiary_net::run_queue(port, &mut program, &stats, &control));
            let frames: Vec<Vec<u8>> = (0..5).map(|i| udp_frame([10, 0, 0, 1], i)).collect();
            apiary_net::traffic::exchange(&link, &frames, 0).expect("traffic");
            for _ in 0..500 {
                if stats.snapshot().frames == 5 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            link.apiary
                .ip(&["link", "del", Link::APIARY_IFACE])
                .expect("delete ap0");
            // The worker notices within a few polls; a hang fails the test
            // after ten seconds instead of blocking it.
            for _ in 0..1000 {
                if worker.is_finished() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            control.stop();
            let finished = worker.is_finished();
            (finished, worker.join().expect("the worker did not panic"))
        });
        assert!(outcome.0, "{mode:?}: the worker noticed by itself");
        assert!(
            matches!(outcome.1, Err(apiary_net::NetError::InterfaceGone { .. })),
            "{mode:?}: {:?}",
            outcome.1
        );
        assert_eq!(stats.snapshot().frames, 5, "{mode:?}");
    }
}

/// The test's link and the firewall example loaded into the kernel with
/// the tests' two rules, or `None` after skipping `test`.
fn kernel_firewall(test: &str) -> Option<(Link, apiary_backend::KernelObject)> {
    let link = link(test)?;
    let elf = match apiary_corpus::example("xdp_firewall").map(|e| e.read()) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => panic!("xdp_firewall.o: {e}"),
        Err(e) => return apiary_testskip::missing(test, format!("the firewall example: {e}")),
    };
    let object = apiary_loader::Object::parse(&elf, "xdp_firewall").expect("parses");
    let kernel = apiary_backend::load_object(
        &object,
        &apiary_backend::LoadOptions {
            elf: Some(&elf),
            log_level: 0,
            ..Default::default()
        },
    )
    .expect("the firewall in the kernel");
    let blocklist = kernel.map("blocklist").expect("blocklist");
    blocklist
        .update(&[24, 0, 0, 0, 192, 0, 2, 0], &1u32.to_ne_bytes(), 0)
        .expect("rule 1");
    blocklist
        .update(&[25, 0, 0, 0, 198, 51, 100, 128], &3u32.to_ne_bytes(), 0)
        .expect("rule 3");
    Some((link, kernel))
}

/// Attaches `prog` to `ap0`'s XDP hook, sends the 60 firewall frames and
/// waits until `ran()` says every one ran; the attachment lasts as long
/// as the link returned.
fn run_in_kernel(
    link: &Link,
    prog: &apiary_kernel::ProgFd,
    ran: impl Fn() -> u64,
) -> apiary_kernel::LinkFd {
    let attached = link
        .apiary
        .run(|| {
            let ap0 = Interface::by_name(Link::APIARY_IFACE).expect("ap0");
            apiary_kernel::LinkFd::xdp(std::os::fd::AsFd::as_fd(prog), ap0.ifindex, 0)
        })
        .expect("enter")
        .expect("attached in the kernel");
    apiary_net::traffic::exchange(link, &firewall_frames(), 0).expect("traffic");
    for _ in 0..500 {
        if ran() >= 60 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    attached
}

fn firewall_frames() -> Vec<Vec<u8>> {
    (0..60)
        .map(|i| udp_frame(SOURCES[i % SOURCES.len()].0, i as u32))
        .collect()
}

/// The firewall in the kernel's own XDP hook of `ap0`: the fexit counter
/// (`KernelVerdicts`) counts exactly the frames its block list names as
/// `XDP_DROP` and the rest as `XDP_PASS`, the counts Apiary's workers give
/// for the same frames. Hosts that refuse fexit programs skip it.
#[test]
fn kernel_verdict_counts_match_the_firewalls_block_list() {
    let test = "kernel_verdict_counts_match_the_firewalls_block_list";
    let Some((link, kernel)) = kernel_firewall(test) else {
        return;
    };
    let prog = kernel.program("xdp_firewall").expect("program");
    let verdicts = match apiary_net::KernelVerdicts::attach(prog, "xdp_firewall") {
        Ok(verdicts) => verdicts,
        Err(apiary_net::NetError::Refused { what, answer }) => {
            return apiary_testskip::refused(test, what, answer);
        }
        Err(e) => panic!("{e}"),
    };
    let counts = || verdicts.counts().expect("counts");
    let _attached = run_in_kernel(&link, prog, || counts().iter().sum());
    let blocked = (0..60).filter(|i| SOURCES[i % SOURCES.len()].1).count() as u64;
    assert_eq!(
        counts(),
        [0, blocked, 60 - blocked, 0, 0],
        "aborted, drop, pass, tx, redirect"
    );
}

/// The same in the veth driver's own XDP counters (`ethtool -S`), which
/// every host has: drops exactly the blocked frames, the rest passed.
#[test]
fn the_drivers_xdp_counters_match_the_firewalls_block_list() {
    let test = "the_drivers_xdp_counters_match_the_firewalls_block_list";
    let Some((link, kernel)) = kernel_firewall(test) else {
        return;
    };
    let prog = kernel.program("xdp_firewall").expect("program");
    let counts = || {
        link.apiary
            .run(|| {
                let ap0 = Interface::by_name(Link::APIARY_IFACE)?;
                apiary_net::driver_xdp_counts(&ap0)
            })
            .expect("enter")
            .expect("ethtool")
            .expect("veth keeps XDP counters")
    };
    let before = counts();
    let _attached = run_in_kernel(&link, prog, || counts().since(&before).runs.unwrap_or(0));
    let ran = counts().since(&before);
    let blocked = (0..60).filter(|i| SOURCES[i % SOURCES.len()].1).count() as u64;
    assert_eq!(ran.runs, Some(60), "{ran:?}");
    assert_eq!((ran.drop, ran.tx, ran.redirect), (blocked, 0, 0));
    assert_eq!(ran.pass(), Some(60 - blocked));
}

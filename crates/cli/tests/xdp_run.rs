//! `apiary xdp run` on a veth pair between two namespaces the test
//! creates: the firewall example drops exactly the sources its pinned
//! block list names, also the very next frames after `apiary map update`
//! adds one while it runs (applied live by the running process, whose
//! counters `apiary map dump` shows moving), its rule counters come back
//! in the pinned maps, a hostile client of the live socket gets an error
//! while the run goes on, and SIGINT ends a run with a summary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use apiary_net::netns::Link;
use apiary_net::traffic::{exchange, udp_frame};

const APIARY: &str = env!("CARGO_BIN_EXE_apiary");

/// The link and the firewall example, or `None` after skipping `test`
/// (namespaces and packet sockets need root; the examples must be built).
fn setup(test: &str) -> Option<(Link, &'static Path)> {
    example_on_link(test, "xdp_firewall", 1)
}

/// A link (with `queues` queues) and the example `name`, or `None` after
/// skipping `test`.
fn example_on_link(test: &str, name: &'static str, queues: u32) -> Option<(Link, &'static Path)> {
    if let Err(reason) = apiary_testskip::root() {
        return apiary_testskip::skip(test, reason);
    }
    let example = match apiary_corpus::example(name) {
        Ok(example) => example.path(),
        Err(e) => return apiary_testskip::missing(test, format!("the {name} example: {e}")),
    };
    let link = Link::with_queues(test, queues).expect("namespaces and veth pair");
    Some((link, example))
}

/// A scratch directory under the system's temporary directory, removed
/// when dropped, so that a failing test leaves nothing behind.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("apiary-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("utf-8 path").to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `apiary ARGS` inside the data plane's namespace, stdout piped.
fn spawn_in(link: &Link, args: &[&str]) -> Child {
    Command::new("ip")
        .args(["netns", "exec", link.apiary.name(), APIARY])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apiary starts")
}

/// The lines of `stdout`, as they come.
fn lines_of(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the child, killing it after 20 seconds (a bound, not a
/// timing check); returns its stderr and whether it exited successfully.
fn finish(mut child: Child) -> (bool, String) {
    for _ in 0..400 {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().expect("wait").is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn apiary(args: &[&str]) -> String {
    let out = Command::new(APIARY)
        .args(args)
        .output()
        .expect("apiary runs");
    assert!(
        out.status.success(),
        "apiary {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command line's words (the test's paths have no spaces).
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `apiary map lookup ARGS`: the output, or `None` when the element is
/// not there (yet).
fn lookup(args: &str) -> Option<String> {
    let out = Command::new(APIARY)
        .args(words(&format!("map lookup {args}")))
        .output()
        .expect("apiary runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Asks the running program's map, live, until rule `rule` has counted
/// `packets` (bounded: 2000 questions, each answered at once by the live
/// owner; a bound, not a timing check). The counts seen on the way are
/// returned: they move while the program runs.
fn wait_for_hits(pins: &str, rule: u32, packets: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    for _ in 0..2000 {
        let hits = lookup(&format!("-j pinned {pins}/rule_hits key {rule} 0 0 0"))
            .map(|out| {
                let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
                json["formatted"]["value"]["packets"]
                    .as_u64()
                    .expect("packets")
            })
            .unwrap_or(0);
        if seen.last() != Some(&hits) {
            seen.push(hits);
        }
        if hits >= packets {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("rule {rule} never reached {packets} packets: {seen:?}");
}

fn summary(lines: &[String]) -> serde_json::Value {
    let last = lines.last().expect("a summary line");
    let json: serde_json::Value = serde_json::from_str(last).expect("JSON summary");
    json["summary"].clone()
}

#[test]
fn the_firewall_drops_what_its_pinned_block_list_names_also_when_updated_mid_run() {
    let Some((link, example)) =
        setup("the_firewall_drops_what_its_pinned_block_list_names_also_when_updated_mid_run")
    else {
        return;
    };
    let scratch = Scratch::new("xdp-run");
    let object = example.to_str().expect("utf-8 path");
    let pins = scratch.path("pins");
    let pins = pins.as_str();
    // A first, empty run (in packet mode, which warns) saves the maps; the
    // block list is then filled as a user would, and the second run (in
    // the default mode, afxdp) uses it.
    let first_run =
        format!("xdp run {object} --iface ap0 --mode packet --pin-maps {pins} --duration 0");
    let (ok, stderr) = finish(spawn_in(&link, &words(&first_run)));
    assert!(ok, "first run: {stderr}");
    assert!(
        stderr.contains("observes a COPY"),
        "the packet-mode warning: {stderr}"
    );
    let blocklist = format!("{pins}/blocklist");
    let block = |words: &str| {
        let line = format!("map update pinned {blocklist} key {words}");
        apiary(&line.split_whitespace().collect::<Vec<_>>());
    };
    block("24 0 0 0 192 0 2 0 value 1 0 0 0");

    let second_run = format!("-j xdp run {object} --iface ap0 --pin-maps {pins} --count 80");
    let mut child = spawn_in(&link, &words(&second_run));
    let lines = lines_of(child.stdout.take().expect("stdout"));
    // The first JSON line comes after a second of running: the sockets are
    // bound, frames sent now are seen.
    let first = lines
        .recv_timeout(Duration::from_secs(20))
        .expect("a stats line");
    let interval: serde_json::Value = serde_json::from_str(&first).expect("JSON stats line");
    assert_eq!(interval["total"]["frames"], 0, "{first}");
    // The last frame of each batch comes from the blocked 192.0.2.7: one
    // queue runs frames in order, so once rule 1 counted it the whole
    // batch has been run.
    let sources = [
        [203, 0, 113, 7],
        [203, 0, 113, 8],
        [10, 0, 0, 1],
        [192, 0, 2, 7],
    ];
    let frames: Vec<Vec<u8>> = (0..40)
        .map(|i| udp_frame(sources[i % 4], i as u32))
        .collect();
    exchange(&link, &frames, 0).expect("traffic");
    wait_for_hits(pins, 1, 10);
    // A second process blocks 203.0.113.7 while the program runs, and the
    // next frames sent right away already meet the new rule.
    block("32 0 0 0 203 0 113 7 value 4 0 0 0");
    exchange(&link, &frames, 0).expect("traffic");
    let moving = wait_for_hits(pins, 1, 20);
    assert!(
        moving.iter().all(|&n| (10..=20).contains(&n)),
        "live counts between the batches' totals: {moving:?}"
    );
    let live_dump = apiary(&words(&format!("map dump pinned {pins}/rule_hits")));
    assert!(
        live_dump.contains("\"packets\": 10") && live_dump.contains("\"packets\": 20"),
        "the running program's counters: {live_dump}"
    );
    let (ok, stderr) = finish(child);
    assert!(ok, "second run: {stderr}");
    let all: Vec<String> = lines.try_iter().collect();
    let summary = summary(&all);
    assert_eq!(summary["mode"], "afxdp", "{summary}");
    assert_eq!(summary["total"]["frames"], 80, "{summary}");
    // Before the update: only 192.0.2.7 (10 of 40); after: 192.0.2.7 and
    // 203.0.113.7 (20 of 40), every one of the second batch.
    assert_eq!(summary["total"]["XDP_DROP"], 30, "{summary}");
    assert_eq!(summary["total"]["XDP_PASS"], 50, "{summary}");
    assert!(
        !Path::new(pins).join(".apiary-live.sock").exists(),
        "the live socket is removed at the end"
    );
    // After the run the pin files hold the final counters, printed as
    // the running program's map was: the same bytes from either source.
    let file_dump = apiary(&words(&format!("map dump pinned {pins}/rule_hits")));
    assert_eq!(live_dump, file_dump, "live and pin-file dumps alike");
    let packets = |rule: &str| {
        let line = format!("map lookup pinned {pins}/rule_hits key {rule} 0 0 0");
        apiary(&words(&line))
    };
    let rule_1 = packets("1");
    assert!(
        rule_1.contains("\"packets\": 20"),
        "192.0.2.7 twice 10: {rule_1}"
    );
    let rule_4 = packets("4");
    assert!(
        rule_4.contains("\"packets\": 10"),
        "after its update: {rule_4}"
    );
}

/// What the live owner answers to `frame` sent on a fresh connection:
/// its status byte and the rest of its body (the protocol's response
/// frame: `u32` length, version 1, status).
fn hostile_exchange(socket: &Path, frame: &[u8]) -> (u8, String) {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    stream.write_all(frame).expect("send");
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("an answer");
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    stream.read_exact(&mut body).expect("the answer's body");
    assert_eq!(body[0], 1, "protocol version: {body:?}");
    // The owner closes the connection after a bad request.
    assert_eq!(stream.read(&mut [0u8; 1]).expect("end of stream"), 0);
    (body[1], String::from_utf8_lossy(&body[2..]).into_owned())
}

/// Garbage, an oversized length, an unknown version or operation on the
/// live socket each get a `BadRequest` answer (status 3) naming the
/// problem, another user is kept out; the run goes on: the next `map` command is served live and
/// the frames that follow are all run.
#[test]
fn a_hostile_live_client_gets_an_error_and_the_run_goes_on() {
    let Some((link, example)) = setup("a_hostile_live_client_gets_an_error_and_the_run_goes_on")
    else {
        return;
    };
    if Command::new("setpriv").arg("--version").output().is_err() {
        return apiary_testskip::missing(
            "a_hostile_live_client_gets_an_error_and_the_run_goes_on",
            "setpriv (util-linux), to connect as another user",
        );
    }
    let scratch = Scratch::new("xdp-hostile");
    let object = example.to_str().expect("utf-8 path");
    let pins = scratch.path("pins");
    let pins = pins.as_str();
    let run = format!("-j xdp run {object} --iface ap0 --pin-maps {pins} --count 10");
    let mut child = spawn_in(&link, &words(&run));
    let lines = lines_of(child.stdout.take().expect("stdout"));
    lines
        .recv_timeout(Duration::from_secs(20))
        .expect("a stats line");
    let socket = Path::new(pins).join(".apiary-live.sock");
    let framed = |body: &[u8]| {
        let mut frame = (body.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(body);
        frame
    };
    let cases: [(Vec<u8>, &str); 4] = [
        (u32::MAX.to_le_bytes().to_vec(), "limit"),
        (framed(b"\x01\x02garbage"), "truncated"),
        (framed(&[7, 1]), "version 7"),
        (
            framed(&[1, 99, 0, 0, 0, 0, 0, 0, 0, 0]),
            "operation code 99",
        ),
    ];
    for (frame, problem) in cases {
        let (status, message) = hostile_exchange(&socket, &frame);
        assert_eq!(status, 3, "BadRequest for {frame:?}: {message}");
        assert!(message.contains(problem), "{problem}: {message}");
    }
    // Another user cannot reach the running maps (the socket is 0600),
    // and is told so in one line rather than shown the pin file.
    let stranger = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(APIARY)
        .args(words(&format!("map dump pinned {pins}/blocklist")))
        .output()
        .expect("setpriv, checked above");
    let refusal = String::from_utf8_lossy(&stranger.stderr);
    assert!(!stranger.status.success(), "{refusal}");
    assert!(
        refusal.contains(".apiary-live.sock: Permission denied"),
        "{refusal}"
    );
    // A client that connects and says nothing holds no one up.
    let _silent = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
    apiary(&words(&format!(
        "map update pinned {pins}/blocklist key 32 0 0 0 10 0 0 1 value 9 0 0 0"
    )));
    let frames: Vec<Vec<u8>> = (0..10).map(|i| udp_frame([10, 0, 0, 1], i)).collect();
    exchange(&link, &frames, 0).expect("traffic");
    let (ok, stderr) = finish(child);
    assert!(ok, "the run went on: {stderr}");
    let summary = summary(&lines.try_iter().collect::<Vec<_>>());
    assert_eq!(summary["total"]["XDP_DROP"], 10, "{summary}");
}

#[test]
fn sigint_ends_a_run_with_a_summary_and_a_clean_teardown() {
    let Some((link, example)) = setup("sigint_ends_a_run_with_a_summary_and_a_clean_teardown")
    else {
        return;
    };
    let object = example.to_str().expect("utf-8 path");
    let mut child = spawn_in(&link, &words(&format!("-j xdp run {object} --iface ap0")));
    let lines = lines_of(child.stdout.take().expect("stdout"));
    lines
        .recv_timeout(Duration::from_secs(20))
        .expect("a stats line");
    let frames: Vec<Vec<u8>> = (0..5).map(|i| udp_frame([10, 0, 0, 1], i)).collect();
    exchange(&link, &frames, 0).expect("traffic");
    // `ip netns exec` execs apiary in place: the child is apiary.
    // SAFETY: sending SIGINT to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let (ok, stderr) = finish(child);
    assert!(ok, "a run ended by SIGINT exits successfully: {stderr}");
    let all: Vec<String> = lines.try_iter().collect();
    let summary = summary(&all);
    assert_eq!(summary["total"]["XDP_PASS"], 5, "{summary}");
    // Torn down: no XDP program on ap0, no TAP left.
    let links = Command::new("ip")
        .args(["-n", link.apiary.name(), "-d", "link", "show"])
        .output()
        .expect("ip link show");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(links.contains("ap0"), "{links}");
    assert!(
        !links.contains("prog/xdp"),
        "the XDP program was detached: {links}"
    );
    let tap = links.lines().any(|l| {
        l.split(": ")
            .nth(1)
            .is_some_and(|name| name.starts_with("apiary"))
    });
    assert!(!tap, "the TAP was removed: {links}");
}

/// Runs `apiary ARGS` (which must end by itself, e.g. with `--count`) in
/// the data plane's namespace, sends `frames` once it reports, and
/// returns its JSON summary.
fn run_with_traffic(link: &Link, args: &str, frames: &[Vec<u8>]) -> serde_json::Value {
    let mut child = spawn_in(link, &words(args));
    let lines = lines_of(child.stdout.take().expect("stdout"));
    lines
        .recv_timeout(Duration::from_secs(20))
        .expect("a stats line");
    exchange(link, frames, 0).expect("traffic");
    let (ok, stderr) = finish(child);
    assert!(ok, "{args}: {stderr}");
    summary(&lines.try_iter().collect::<Vec<_>>())
}

/// The same object and traffic in Apiary and in the kernel's XDP hook
/// (`--backend kernel`) leave the same rule counters in the pinned maps,
/// and the summaries count the same verdicts (the kernel's from the fexit
/// counter, or on hosts refusing fexit from veth's XDP counters).
#[test]
fn the_kernel_backend_counts_the_same_rule_hits_as_apiary() {
    let Some((link, example)) = setup("the_kernel_backend_counts_the_same_rule_hits_as_apiary")
    else {
        return;
    };
    let scratch = Scratch::new("xdp-kernel");
    let object = example.to_str().expect("utf-8 path");
    let sources = [[192, 0, 2, 7], [203, 0, 113, 8], [192, 0, 2, 200]];
    let frames: Vec<Vec<u8>> = (0..30)
        .map(|i| udp_frame(sources[i % 3], i as u32))
        .collect();
    let mut dumps = Vec::new();
    for backend in ["vm", "kernel"] {
        let pins = scratch.path(backend);
        let pins = pins.as_str();
        let create = format!("xdp run {object} --iface ap0 --pin-maps {pins} --duration 0");
        let (ok, stderr) = finish(spawn_in(&link, &words(&create)));
        assert!(ok, "{stderr}");
        apiary(&words(&format!(
            "map update pinned {pins}/blocklist key 24 0 0 0 192 0 2 0 value 1 0 0 0"
        )));
        let args = format!(
            "-j xdp run {object} --iface ap0 --backend {backend} --pin-maps {pins} --count 30"
        );
        let summary = run_with_traffic(&link, &args, &frames);
        assert_eq!(summary["total"]["frames"], 30, "{backend}: {summary}");
        assert_eq!(summary["total"]["XDP_DROP"], 20, "{backend}: {summary}");
        assert_eq!(summary["total"]["XDP_PASS"], 10, "{backend}: {summary}");
        dumps.push(apiary(&words(&format!("map dump pinned {pins}/rule_hits"))));
    }
    assert!(dumps[0].contains("\"packets\": 20"), "{}", dumps[0]);
    assert_eq!(dumps[0], dumps[1], "Apiary and the kernel counted alike");
}

/// The interface disappearing mid-run ends the run with one line naming
/// it and a failure status, in both modes (no hung worker).
#[test]
fn an_interface_that_disappears_ends_the_run_with_a_clear_line() {
    let Some((link, example)) =
        setup("an_interface_that_disappears_ends_the_run_with_a_clear_line")
    else {
        return;
    };
    let object = example.to_str().expect("utf-8 path");
    for mode in ["packet", "afxdp"] {
        if mode == "afxdp" {
            apiary_net::netns::veth_pair(&link.apiary, "ap0", &link.traffic, "tx0")
                .expect("a new pair");
        }
        let args = format!("-j xdp run {object} --iface ap0 --mode {mode}");
        let mut child = spawn_in(&link, &words(&args));
        let lines = lines_of(child.stdout.take().expect("stdout"));
        lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a stats line");
        link.apiary
            .ip(&["link", "del", "ap0"])
            .expect("delete the interface");
        let (ok, stderr) = finish(child);
        assert!(!ok, "{mode}: a run whose interface vanished fails");
        assert!(
            stderr.contains("apiary: ap0 queue 0: interface") && stderr.contains("disappeared"),
            "{mode}: {stderr}"
        );
        assert_eq!(
            stderr.lines().filter(|l| l.contains("disappeared")).count(),
            1
        );
    }
}

/// Two queues, two workers: each worker is one CPU of the per-CPU maps,
/// so the protocol counter's per-CPU slots hold exactly what each queue
/// ran, and together every frame once.
#[test]
fn each_queue_worker_is_one_cpu_of_the_per_cpu_maps() {
    let test = "each_queue_worker_is_one_cpu_of_the_per_cpu_maps";
    let Some((link, example)) = example_on_link(test, "proto_counter", 2) else {
        return;
    };
    for mode in ["afxdp", "packet"] {
        let scratch = Scratch::new(&format!("xdp-{mode}"));
        let dir = scratch.path("pins");
        let (object, dir) = (example.to_str().expect("utf-8"), dir.as_str());
        // Sources vary so that the flow hash spreads the frames over the queues.
        let frames: Vec<Vec<u8>> = (0..40u8).map(|i| udp_frame([10, 0, 1, i], 0)).collect();
        let args = format!(
            "-j xdp run {object} --iface ap0 --mode {mode} --queues 2 --count 40 --pin-maps {dir}"
        );
        let summary = run_with_traffic(&link, &args, &frames);
        let per_queue: Vec<u64> = summary["queues"]
            .as_array()
            .expect("queues")
            .iter()
            .map(|q| q["frames"].as_u64().expect("frames"))
            .collect();
        assert_eq!(per_queue.len(), 2, "{mode}: {summary}");
        assert_eq!(per_queue.iter().sum::<u64>(), 40, "{mode}: {summary}");
        let udp = apiary(&words(&format!(
            "-j map lookup pinned {dir}/proto_stats key 17 0 0 0"
        )));
        let udp: serde_json::Value = serde_json::from_str(&udp).expect("JSON");
        let per_cpu: Vec<u64> = udp["formatted"]["values"]
            .as_array()
            .expect("per-CPU values")
            .iter()
            .map(|v| v["value"]["packets"].as_u64().expect("packets"))
            .collect();
        assert_eq!(
            per_cpu[..2],
            per_queue[..],
            "{mode}: CPU i counted what queue i ran"
        );
    }
}

/// Without privileges, `xdp run` says what is missing on one line and
/// fails (run as root, dropping to nobody with setpriv).
#[test]
fn a_missing_privilege_is_one_clear_line() {
    let Some((_link, example)) = setup("a_missing_privilege_is_one_clear_line") else {
        return;
    };
    let scratch = Scratch::new("xdp-perm");
    std::fs::create_dir_all(&scratch.0).expect("scratch directory");
    let object = scratch.path("fw.o");
    std::fs::copy(example, &object).expect("copy the object where nobody reads it");
    let run = Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(APIARY)
        .args(["xdp", "run"])
        .arg(&object)
        .args(["--iface", "lo", "--duration", "0"])
        .output();
    let Ok(output) = run else {
        return apiary_testskip::missing(
            "a_missing_privilege_is_one_clear_line",
            "setpriv (util-linux), to drop root",
        );
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("apiary: lo: ") && stderr.contains("permission denied"),
        "{stderr}"
    );
}

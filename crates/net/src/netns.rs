//! Network namespaces and veth pairs for tests and benchmarks: created
//! with `ip`, entered per thread with `setns`, deleted on drop (which
//! also removes their interfaces), so that a failing test leaves nothing
//! behind.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;

use crate::NetError;

/// A network namespace named `apiary-<tag>-<pid>`, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

fn ip(args: &[&str]) -> Result<(), NetError> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| NetError::os("running ip", e))?;
    if !output.status.success() {
        return Err(NetError::Config(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

impl Netns {
    /// Creates the namespace, with its loopback up.
    pub fn new(tag: &str) -> Result<Netns, NetError> {
        let name = format!("apiary-{tag}-{}", std::process::id());
        // A namespace left by a killed earlier run of the same pid is stale.
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        let netns = Netns { name };
        netns.ip(&["link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS...`.
    pub fn ip(&self, args: &[&str]) -> Result<(), NetError> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs `f` on a thread inside the namespace and returns its result:
    /// sockets it opens belong to the namespace and stay there.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetError> {
        let path = format!("/run/netns/{}", self.name);
        let file = std::fs::File::open(&path).map_err(|e| NetError::os(path.clone(), e))?;
        let fd = OwnedFd::from(file);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    // SAFETY: `fd` is a namespace file; setns changes only
                    // this thread's network namespace.
                    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(NetError::last_os(format!("setns into {}", self.name)));
                    }
                    Ok(f())
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Links namespace `a`'s interface `a_name` to namespace `b`'s `b_name`
/// with a veth pair, both up, IPv6 off (no neighbour discovery or router
/// solicitations: the only frames on the link are the test's own).
pub fn veth_pair(a: &Netns, a_name: &str, b: &Netns, b_name: &str) -> Result<(), NetError> {
    veth_pair_with_queues(a, a_name, b, b_name, 1)
}

/// [`veth_pair`] with `queues` receive and transmit queues on each end.
pub fn veth_pair_with_queues(
    a: &Netns,
    a_name: &str,
    b: &Netns,
    b_name: &str,
    queues: u32,
) -> Result<(), NetError> {
    let queues = queues.to_string();
    let q = queues.as_str();
    a.ip(&[
        "link",
        "add",
        a_name,
        "numtxqueues",
        q,
        "numrxqueues",
        q,
        "type",
        "veth",
        "peer",
        "name",
        b_name,
        "numtxqueues",
        q,
        "numrxqueues",
        q,
        "netns",
        &b.name,
    ])?;
    for (ns, name) in [(a, a_name), (b, b_name)] {
        let off = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
        ns.run(|| std::fs::write(&off, "1"))?
            .map_err(|e| NetError::os(format!("writing {off}"), e))?;
        ns.ip(&["link", "set", name, "up"])?;
    }
    Ok(())
}

/// Two namespaces joined by a veth pair: the data plane's side (`ap0` in
/// [`Link::apiary`]) and the traffic side (`tx0` in [`Link::traffic`]).
/// Dropping it deletes both namespaces and the pair.
#[derive(Debug)]
pub struct Link {
    /// Where the program runs, on `ap0`.
    pub apiary: Netns,
    /// Where traffic comes from, on `tx0`.
    pub traffic: Netns,
}

impl Link {
    /// The data plane's interface name.
    pub const APIARY_IFACE: &str = "ap0";
    /// The traffic side's interface name.
    pub const TRAFFIC_IFACE: &str = "tx0";

    /// Creates both namespaces (named after `tag`) and the pair.
    pub fn new(tag: &str) -> Result<Link, NetError> {
        Link::with_queues(tag, 1)
    }

    /// [`Link::new`] with `queues` queues on each end of the pair.
    pub fn with_queues(tag: &str, queues: u32) -> Result<Link, NetError> {
        let apiary = Netns::new(&format!("{tag}-a"))?;
        let traffic = Netns::new(&format!("{tag}-b"))?;
        veth_pair_with_queues(
            &apiary,
            Link::APIARY_IFACE,
            &traffic,
            Link::TRAFFIC_IFACE,
            queues,
        )?;
        Ok(Link { apiary, traffic })
    }
}

/// Whether this process runs as root (namespaces and packet sockets need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

//! The XDP counters a driver keeps for a device, as `ethtool -S` shows
//! them (`SIOCETHTOOL`: `ETHTOOL_GDRVINFO` for their number,
//! `ETHTOOL_GSTRINGS` for their names, `ETHTOOL_GSTATS` for the values):
//! the verdicts of whatever XDP program runs in the device's hook, where
//! the kernel cannot count them per program (see [`crate::kverdicts`]).
//! The names are the driver's own; those ending as veth's, virtio_net's
//! and most drivers' do (`xdp_packets`, `xdp_drops`, `xdp_tx`,
//! `xdp_redirect`, per queue) are summed over the queues.

use std::os::fd::AsRawFd;

use crate::NetError;
use crate::iface::{IfReq, Interface, control_socket, ioctl};

const ETHTOOL_GDRVINFO: u32 = 0x03;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSTATS: u32 = 0x1d;
const ETH_SS_STATS: u32 = 1;
const ETH_GSTRING_LEN: usize = 32;
/// `offsetof(struct ethtool_drvinfo, n_stats)`: after cmd, five 32-byte
/// strings, 12 reserved bytes and `n_priv_flags`.
const DRVINFO_N_STATS: usize = 4 + 5 * 32 + 12 + 4;
const DRVINFO_SIZE: usize = DRVINFO_N_STATS + 4 * 4;

/// The XDP verdicts a driver counted for a device, over all its queues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverXdpCounts {
    /// Frames its XDP program ran on (`xdp_packets`), when counted.
    pub runs: Option<u64>,
    /// `XDP_DROP` (drivers count `XDP_ABORTED` and invalid actions here too).
    pub drop: u64,
    /// `XDP_TX`.
    pub tx: u64,
    /// `XDP_REDIRECT`.
    pub redirect: u64,
}

impl DriverXdpCounts {
    /// `XDP_PASS`: the runs that were none of the others, when the driver
    /// counts runs.
    pub fn pass(&self) -> Option<u64> {
        self.runs
            .map(|runs| runs.saturating_sub(self.drop + self.tx + self.redirect))
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &DriverXdpCounts) -> DriverXdpCounts {
        DriverXdpCounts {
            runs: self
                .runs
                .zip(earlier.runs)
                .map(|(now, then)| now.saturating_sub(then)),
            drop: self.drop.saturating_sub(earlier.drop),
            tx: self.tx.saturating_sub(earlier.tx),
            redirect: self.redirect.saturating_sub(earlier.redirect),
        }
    }
}

/// Runs one `SIOCETHTOOL` command whose buffer is `buf` (starting with
/// the command word).
fn ethtool(iface: &Interface, buf: &mut [u8], what: &str) -> Result<(), NetError> {
    let sock = control_socket()?;
    let mut req = IfReq::named(&iface.name)?;
    let addr = buf.as_mut_ptr().expose_provenance() as u64;
    req.data[..8].copy_from_slice(&addr.to_ne_bytes());
    ioctl(
        sock.as_raw_fd(),
        libc::SIOCETHTOOL as libc::c_ulong,
        &mut req,
        what,
    )
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

/// Every statistic the driver keeps for `iface`, by name (in the calling
/// thread's network namespace).
pub fn driver_stats(iface: &Interface) -> Result<Vec<(String, u64)>, NetError> {
    let mut info = vec![0u8; DRVINFO_SIZE];
    info[..4].copy_from_slice(&ETHTOOL_GDRVINFO.to_ne_bytes());
    ethtool(iface, &mut info, "ETHTOOL_GDRVINFO")?;
    let n = u32_at(&info, DRVINFO_N_STATS) as usize;
    let mut names = vec![0u8; 12 + n * ETH_GSTRING_LEN];
    names[..4].copy_from_slice(&ETHTOOL_GSTRINGS.to_ne_bytes());
    names[4..8].copy_from_slice(&ETH_SS_STATS.to_ne_bytes());
    names[8..12].copy_from_slice(&(n as u32).to_ne_bytes());
    ethtool(iface, &mut names, "ETHTOOL_GSTRINGS")?;
    let mut values = vec![0u8; 8 + n * 8];
    values[..4].copy_from_slice(&ETHTOOL_GSTATS.to_ne_bytes());
    values[4..8].copy_from_slice(&(n as u32).to_ne_bytes());
    ethtool(iface, &mut values, "ETHTOOL_GSTATS")?;
    // The kernel says how many it filled; never more than asked.
    let filled = (u32_at(&values, 4) as usize).min(n);
    Ok((0..filled)
        .map(|i| {
            let raw = &names[12 + i * ETH_GSTRING_LEN..12 + (i + 1) * ETH_GSTRING_LEN];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            let name = String::from_utf8_lossy(&raw[..end]).into_owned();
            let at = 8 + i * 8;
            let value = u64::from_ne_bytes(values[at..at + 8].try_into().unwrap_or_default());
            (name, value)
        })
        .collect())
}

/// The driver's XDP verdict counters of `iface`, or `None` when it keeps
/// none under the usual names.
pub fn driver_xdp_counts(iface: &Interface) -> Result<Option<DriverXdpCounts>, NetError> {
    Ok(xdp_counts(&driver_stats(iface)?))
}

/// Sums the statistics whose names end as XDP verdict counters do.
fn xdp_counts(stats: &[(String, u64)]) -> Option<DriverXdpCounts> {
    let mut counts = DriverXdpCounts::default();
    let mut any = false;
    for (name, value) in stats {
        let slot = if name.ends_with("xdp_packets") {
            counts.runs = Some(counts.runs.unwrap_or(0) + value);
            any = true;
            continue;
        } else if name.ends_with("xdp_drops") || name.ends_with("xdp_drop") {
            &mut counts.drop
        } else if name.ends_with("xdp_tx") {
            &mut counts.tx
        } else if name.ends_with("xdp_redirect") {
            &mut counts.redirect
        } else {
            continue;
        };
        *slot += value;
        any = true;
    }
    any.then_some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_counter_names_sum_over_queues() {
        let stats: Vec<(String, u64)> = [
            ("peer_ifindex", 9),
            ("rx_queue_0_xdp_packets", 10),
            ("rx_queue_0_xdp_drops", 3),
            ("rx_queue_0_xdp_tx", 2),
            ("rx_queue_0_xdp_tx_errors", 7),
            ("rx_queue_0_xdp_redirect", 1),
            ("rx_queue_1_xdp_packets", 5),
            ("rx_queue_1_xdp_drops", 1),
            ("tx_queue_0_xdp_xmit", 4),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), *v))
        .collect();
        let counts = xdp_counts(&stats).expect("counters");
        assert_eq!(
            counts,
            DriverXdpCounts {
                runs: Some(15),
                drop: 4,
                tx: 2,
                redirect: 1
            }
        );
        assert_eq!(counts.pass(), Some(8));
        assert_eq!(xdp_counts(&[("rx_bytes".into(), 1)]), None);
    }
}

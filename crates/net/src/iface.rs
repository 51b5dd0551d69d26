//! Network interfaces by name: ifindex and receive queue count.

use std::ffi::CString;

use crate::NetError;

/// A network interface of the current network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name (`eth0`, `veth1`).
    pub name: String,
    /// Its ifindex.
    pub ifindex: u32,
}

impl Interface {
    /// The interface named `name`.
    pub fn by_name(name: &str) -> Result<Interface, NetError> {
        let missing = || NetError::NoSuchInterface {
            name: name.to_owned(),
        };
        let c_name = CString::new(name).map_err(|_| missing())?;
        // SAFETY: `c_name` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
        if ifindex == 0 {
            return Err(missing());
        }
        Ok(Interface {
            name: name.to_owned(),
            ifindex,
        })
    }

    /// Its receive queues, as `/sys/class/net/NAME/queues` lists them
    /// (1 when sysfs does not say: every device has at least one).
    pub fn rx_queues(&self) -> u32 {
        let dir = format!("/sys/class/net/{}/queues", self.name);
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 1;
        };
        let count = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
            .count();
        u32::try_from(count).unwrap_or(u32::MAX).max(1)
    }

    /// Whether it still exists under the same ifindex.
    pub fn exists(&self) -> bool {
        Interface::by_name(&self.name).is_ok_and(|i| i.ifindex == self.ifindex)
    }
}

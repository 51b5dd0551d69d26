//! [`TaskInfo`]: the task a run pretends to happen in, by default the
//! calling process as the kernel would see it, and the pointer by which
//! programs name it (`bpf_get_current_task`, `bpf_get_current_task_btf`).

use apiary_vm::HelperError;

/// The high bits of the task pointer a run hands out: an opaque
/// kernel-half value, with the thread id below them.
const CURRENT_TASK_TAG: u64 = 0xffff_b000_0000_0000;

/// The pointer `bpf_get_current_task` and `bpf_get_current_task_btf`
/// return for `task` (the kernel's two helpers return the same `current`).
pub(crate) fn current_task_pointer(task: &TaskInfo) -> u64 {
    CURRENT_TASK_TAG | u64::from(task.pid)
}

/// The thread id a task pointer given to helper `bpf_{name}` names: only
/// the run's own task is known, so any other pointer (one read from a
/// tracing context, say) stops the run rather than guess.
pub(crate) fn task_of(name: &str, ptr: u64) -> Result<u64, HelperError> {
    if ptr & !u64::from(u32::MAX) == CURRENT_TASK_TAG {
        return Ok(ptr & u64::from(u32::MAX));
    }
    Err(HelperError::Other(format!(
        "bpf_{name}: {ptr:#x} is not the current task, the only task a run has"
    )))
}

/// The task and attachment a run pretends to happen in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskInfo {
    /// Thread id (`pid` in kernel terms).
    pub pid: u32,
    /// Process id (`tgid`).
    pub tgid: u32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Command name (at most 15 bytes are used).
    pub comm: String,
    /// `bpf_get_attach_cookie`'s value.
    pub attach_cookie: u64,
    /// `bpf_get_func_ip`'s value.
    pub func_ip: u64,
    /// cgroup v2 ids from the root (level 0) down to the task's own cgroup
    /// (last); empty when unknown, which makes the cgroup id helpers answer 0.
    pub cgroup_ancestry: Vec<u64>,
}

impl TaskInfo {
    /// The calling process, as the kernel would see it in a syscall program.
    pub fn current() -> TaskInfo {
        use std::os::unix::fs::MetadataExt;
        let pid = std::process::id();
        let meta = std::fs::metadata("/proc/self").ok();
        let comm = std::fs::read_to_string("/proc/thread-self/comm")
            .or_else(|_| std::fs::read_to_string("/proc/self/comm"))
            .map(|s| s.trim_end_matches('\n').to_owned())
            .unwrap_or_default();
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        TaskInfo {
            pid: u32::try_from(tid).unwrap_or(pid),
            tgid: pid,
            uid: meta.as_ref().map_or(0, |m| m.uid()),
            gid: meta.as_ref().map_or(0, |m| m.gid()),
            comm,
            attach_cookie: 0,
            func_ip: 0,
            cgroup_ancestry: cgroup_ancestry().unwrap_or_default(),
        }
    }
}

/// The calling process's cgroup v2 ids, root first: the inode numbers of
/// its cgroup directory and each parent on the cgroup2 mount (the kernel's
/// `cgroup_id` is the kernfs node id, which the inode number shows).
fn cgroup_ancestry() -> Option<Vec<u64>> {
    use std::os::unix::fs::MetadataExt;
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // mountinfo: id parent major:minor root mount-point options ... - fstype source ...
    let mount_point = mounts.lines().find_map(|line| {
        let (fields, tail) = line.split_once(" - ")?;
        (tail.split(' ').next() == Some("cgroup2")).then(|| fields.split(' ').nth(4))?
    })?;
    let mut dir = std::path::PathBuf::from(mount_point);
    let mut ids = vec![std::fs::metadata(&dir).ok()?.ino()];
    for part in path.split('/').filter(|p| !p.is_empty()) {
        dir.push(part);
        ids.push(std::fs::metadata(&dir).ok()?.ino());
    }
    Some(ids)
}

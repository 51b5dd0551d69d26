//! The clock user-space engines are timed with: this thread's CPU time.
//!
//! The kernel's `BPF_PROG_TEST_RUN` stops its timer while the test run is
//! rescheduled (`bpf_test_timer_continue`), so its duration counts only
//! the time the program's loop ran. Wall-clock time on a loaded machine
//! also counts the time other processes had the core; this thread's CPU
//! time, like the kernel's figure, does not.

use std::time::Duration;

/// This thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write; the clock id is a constant the kernel knows.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    // Linux has had this clock since 2.6.12; a failure leaves zero, which
    // shows as an impossible zero time rather than a wrong one.
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Nanoseconds per run of `runs` runs of `f`, in this thread's CPU time.
pub fn cpu_ns_per_run<T>(runs: u32, f: impl FnOnce() -> T) -> (T, f64) {
    let start = thread_cpu_time();
    let value = f();
    let spent = thread_cpu_time().saturating_sub(start);
    (value, spent.as_nanos() as f64 / f64::from(runs.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_advances_with_work() {
        let start = thread_cpu_time();
        let mut x = 1u64;
        for i in 0..10_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(i | 1));
        }
        assert!(thread_cpu_time() > start);
    }
}

//! Replay: frames held in memory run through a program by one worker per
//! CPU, each pinned to its CPU and that CPU for per-CPU maps, with no I/O:
//! the ceiling of the data plane on these frames, and how it scales with
//! cores. Each worker runs its own [`FrameProgram`] (its own runner and
//! frame buffers); shared maps are shared as on a live interface.

use std::sync::Barrier;
use std::time::Instant;

use apiary_runtime::{RxQueue, TestRunError};

use crate::NetError;
use crate::program::FrameProgram;
use crate::verdict::Action;
use crate::worker::pin_to_cpu;

/// What one worker of a replay did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkerReplay {
    /// The host CPU it ran on.
    pub cpu: usize,
    /// Frames it ran.
    pub frames: u64,
    /// Seconds from its first frame to its last (all workers start
    /// together, once every one is ready).
    pub seconds: f64,
    /// CPU time it used, in nanoseconds (on a machine shared with other
    /// work, less than its wall time).
    pub cpu_ns: u64,
}

impl WorkerReplay {
    /// Frames per second of CPU time: what one core does when it has
    /// the core to itself.
    pub fn frames_per_cpu_second(&self) -> f64 {
        if self.cpu_ns == 0 {
            return 0.0;
        }
        self.frames as f64 * 1e9 / self.cpu_ns as f64
    }
}

/// What a replay did, in all and per worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// Each worker, in CPU order.
    pub workers: Vec<WorkerReplay>,
    /// Seconds of the slowest worker.
    pub seconds: f64,
    /// Frames per action, in the kernel's numbering ([`Action::ALL`]);
    /// faulting runs count as aborted.
    pub actions: [u64; 5],
    /// Runs that faulted.
    pub faults: u64,
}

impl Replayed {
    /// Frames run by all workers.
    pub fn frames(&self) -> u64 {
        self.workers.iter().map(|w| w.frames).sum()
    }

    /// Frames per second of wall time, all workers together.
    pub fn frames_per_second(&self) -> f64 {
        if self.seconds <= 0.0 {
            return 0.0;
        }
        self.frames() as f64 / self.seconds
    }

    /// Mean CPU nanoseconds per frame over all workers.
    pub fn cpu_ns_per_frame(&self) -> f64 {
        let cpu: u64 = self.workers.iter().map(|w| w.cpu_ns).sum();
        cpu as f64 / self.frames().max(1) as f64
    }
}

/// What one worker hands back: itself, its frames per action, its faults.
type WorkerOutcome = (WorkerReplay, [u64; 5], u64);

/// Runs `frames` over and over, `per_worker` frames on each CPU of `cpus`
/// (as arriving on queue *i* of interface `ifindex` for the *i*-th), on
/// the program `program(cpu)` readies for that CPU. A frame the program
/// refuses (shorter than an Ethernet header) ends the replay with that
/// error; frames must not be empty.
pub fn replay<P, F>(
    frames: &[Vec<u8>],
    per_worker: u64,
    cpus: &[usize],
    ifindex: u32,
    program: F,
) -> Result<Replayed, NetError>
where
    P: FrameProgram,
    F: Fn(u32) -> Result<P, TestRunError> + Sync,
{
    if frames.is_empty() {
        return Err(NetError::Config("a replay needs at least one frame".into()));
    }
    let barrier = Barrier::new(cpus.len());
    let results: Vec<Result<WorkerOutcome, NetError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = cpus
            .iter()
            .enumerate()
            .map(|(queue, &cpu)| {
                let (barrier, program) = (&barrier, &program);
                scope.spawn(move || {
                    let prepared = pin_to_cpu(cpu).and_then(|()| {
                        let cpu_slot = u32::try_from(cpu)
                            .map_err(|_| NetError::Config(format!("CPU {cpu}")))?;
                        program(cpu_slot).map_err(|e| NetError::Config(e.to_string()))
                    });
                    // Every worker passes the barrier, ready or not, so
                    // that none waits for one that failed.
                    barrier.wait();
                    let mut program = prepared?;
                    let rx = RxQueue {
                        ifindex,
                        queue: queue as u32,
                    };
                    run_worker(&mut program, frames, per_worker, rx, cpu)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(NetError::Config("a replay worker panicked".into())))
            })
            .collect()
    });
    let mut replayed = Replayed {
        workers: Vec::new(),
        seconds: 0.0,
        actions: [0; 5],
        faults: 0,
    };
    for result in results {
        let (worker, actions, faults) = result?;
        replayed.seconds = replayed.seconds.max(worker.seconds);
        for (total, n) in replayed.actions.iter_mut().zip(actions) {
            *total += n;
        }
        replayed.faults += faults;
        replayed.workers.push(worker);
    }
    Ok(replayed)
}

/// One worker's loop: the frames in turn, verdicts counted.
fn run_worker<P: FrameProgram>(
    program: &mut P,
    frames: &[Vec<u8>],
    per_worker: u64,
    rx: RxQueue,
    cpu: usize,
) -> Result<WorkerOutcome, NetError> {
    let start = Instant::now();
    let cpu_before = thread_cpu_ns();
    let mut actions = [0u64; 5];
    let mut faults = 0;
    // An index into the frames: the loop around a small program's run
    // stays a counter and a compare.
    let mut next = 0;
    for _ in 0..per_worker {
        let frame = &frames[next];
        next = if next + 1 == frames.len() {
            0
        } else {
            next + 1
        };
        let action = match program.run(frame, rx) {
            Ok(retval) => Action::from_retval(retval),
            Err(TestRunError::Run(_)) => {
                faults += 1;
                Action::Aborted
            }
            Err(refused) => return Err(NetError::Config(format!("a replayed frame: {refused}"))),
        };
        actions[action.index()] += 1;
    }
    let worker = WorkerReplay {
        cpu,
        frames: per_worker,
        seconds: start.elapsed().as_secs_f64(),
        cpu_ns: thread_cpu_ns() - cpu_before,
    };
    Ok((worker, actions, faults))
}

/// CPU time the calling thread has used, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

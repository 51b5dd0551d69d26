//! Runners: one per thread, each playing one CPU.

use std::sync::Arc;

use apiary_runtime::{Env, TaskInfo, TestRunError, TestRunInput, TestRunOutput};
use apiary_vm::RunError;

use crate::error::{Error, Result};
use crate::program::{Program, ProgramKind};

/// Runs programs as one CPU. Runners are cheap to keep and reuse (their
/// stacks are allocated once); give each thread its own.
///
/// ```no_run
/// # let object = apiary::OpenObject::open("xdp.o")?.load()?;
/// let program = object.program::<apiary::Xdp>("xdp_count")?;
/// std::thread::scope(|scope| {
///     for cpu in 0..2 {
///         let program = &program;
///         let mut runner = object.runner(cpu);
///         scope.spawn(move || runner.test_run(program, &apiary::XdpRun::new(&[0; 64])));
///     }
/// });
/// # Ok::<(), apiary::Error>(())
/// ```
pub struct Runner {
    cpu: u32,
    task: Arc<TaskInfo>,
    vm: apiary_vm::Runner<Env>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("cpu", &self.cpu)
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

impl Runner {
    pub(crate) fn new(cpu: u32) -> Runner {
        Runner {
            cpu,
            task: Arc::new(TaskInfo::current()),
            vm: apiary_vm::Runner::new(),
        }
    }

    /// The CPU this runner plays (its slot in per-CPU maps).
    pub fn cpu(&self) -> u32 {
        self.cpu
    }

    /// The task helpers such as `bpf_get_current_pid_tgid` report (default:
    /// the calling process).
    pub fn set_task(&mut self, task: TaskInfo) -> &mut Self {
        self.task = Arc::new(task);
        self
    }

    /// Limits each run to `budget` executed instructions; `None` removes
    /// the limit. Runners start with [`apiary_vm::DEFAULT_BUDGET`] (2^30),
    /// and a run that spends it ends with [`Error::BudgetExhausted`].
    pub fn set_budget(&mut self, budget: Option<u64>) -> &mut Self {
        self.vm.set_budget(budget);
        self
    }

    /// The instruction budget of each run (`None`: no limit).
    pub fn budget(&self) -> Option<u64> {
        self.vm.budget()
    }

    /// Test-runs `program` with `options`, as `BPF_PROG_TEST_RUN`.
    pub fn test_run<K: ProgramKind>(
        &mut self,
        program: &Program<'_, K>,
        options: &K::Options<'_>,
    ) -> Result<TestRunOutput> {
        let parts = K::parts(options);
        let input = TestRunInput {
            data_in: parts.data_in,
            ctx_in: parts.ctx_in.as_deref(),
            data_size_out: parts.data_size_out,
            skip_data_out: false,
            repeat: parts.repeat,
            cpu: self.cpu,
            flags: 0,
            task: Arc::clone(&self.task),
        };
        let runtime = program.object().runtime();
        runtime
            .test_run(&mut self.vm, program.id(), &input)
            .map_err(|source| match source {
                TestRunError::Run(RunError::BudgetExhausted { pc, limit }) => {
                    Error::BudgetExhausted {
                        program: program.name().to_owned(),
                        budget: limit,
                        insn: pc,
                        line: program.source_line(pc),
                    }
                }
                TestRunError::Run(run) => {
                    let insn = faulting_insn(&run);
                    Error::Run {
                        program: program.name().to_owned(),
                        insn: insn.unwrap_or(0),
                        line: insn.and_then(|i| program.source_line(i)),
                        source: Box::new(run),
                    }
                }
                source => Error::TestRun {
                    program: program.name().to_owned(),
                    source: Box::new(source),
                },
            })
    }
}

/// The instruction a run error names, if it names one.
fn faulting_insn(error: &RunError) -> Option<usize> {
    match error {
        RunError::MemoryFault { pc, .. }
        | RunError::MisalignedAtomic { pc, .. }
        | RunError::BudgetExhausted { pc, .. }
        | RunError::CallDepthExceeded { pc, .. }
        | RunError::UnknownHelper { pc, .. }
        | RunError::Helper { pc, .. }
        | RunError::FellOffEnd { pc, .. } => Some(*pc),
        _ => None,
    }
}

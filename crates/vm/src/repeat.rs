//! Many runs of one program on one input, set up once: what a test run
//! with `repeat` does, and what a benchmark measures.
//!
//! Each run is exactly a [`Runner::run`] (same registers, budget, `may_goto`
//! counters, regions, pending state and errors); only the set-up that
//! would come out the same is skipped. A run's set-up can differ from the
//! previous one's only when a helper ran in between: helpers are the only
//! way a run reaches the embedder's environment (a packet moved by
//! `bpf_xdp_adjust_head`) or adds regions (which last one run). So a
//! compiling tier runs the program again and again without leaving its
//! code ([`crate::CompiledCode::run_repeated`]); after a run that called a
//! helper it has the runner bring the input up to date and set the next
//! run up in full ([`crate::TierRun::next_run`]), unless every helper it
//! called keeps the input ([`crate::Helpers::register_keeping_input`]:
//! then only the runner's per-run state is reset,
//! [`crate::TierRun::next_run_same_input`]), and after one that ended
//! through Rust (a stop, a tail call) it returns and the runner does.

use crate::error::RunError;
use crate::program::Program;
use crate::runner::{Engine, RunInput, Runner};
use crate::tier::{NextInput, TierRun};

impl<E> Runner<E> {
    /// Runs `program` `times` times (at least once) on `input`, as that
    /// many [`Runner::run`] calls would, each preceded by `next` when an
    /// earlier run may have changed `env`; stops at the first error.
    /// Returns the last run's `r0`.
    ///
    /// `next` brings `input` up to date with `env` (the packet `LD_ABS`
    /// reads after a helper moved it, ...). It is called before every run
    /// that follows one that called a helper other than those registered
    /// as keeping the input, and may be called before others: it must give
    /// the input the runs would have been given.
    pub fn run_repeat<'a>(
        &mut self,
        program: &Program<E>,
        env: &mut E,
        input: &mut RunInput<'a>,
        times: u64,
        mut next: impl FnMut(&mut E, &mut RunInput<'a>),
    ) -> Result<u64, RunError> {
        let mut left = times.max(1);
        loop {
            self.start(input);
            let (done, r0) = match program.compiled() {
                Some(code) if self.engine() == Engine::Compiled => {
                    let args = input.args;
                    let mut next_run = |runner: &mut Runner<E>, env: &mut E| {
                        let given = |input: &RunInput<'a>| {
                            let regions = (input.regions.as_ptr(), input.regions.len());
                            (regions, input.packet, input.headers)
                        };
                        let before = given(input);
                        next(env, input);
                        // The same borrowed slice holds the same regions:
                        // comparing them one by one cost more than a short
                        // program's run.
                        let same_input = given(input) == before;
                        if same_input {
                            runner.restart();
                        } else {
                            runner.start(input);
                        }
                        NextInput {
                            args: input.args,
                            same_input,
                        }
                    };
                    let mut run = TierRun::repeating(self, env, program, &mut next_run);
                    code.run_repeated(&mut run, args, left)?
                }
                // The interpreter, one run at a time.
                _ => (1, self.exec(program, env, 0, input.args, 0)?),
            };
            // A tier finishes at least one run and at most those asked.
            left -= done.clamp(1, left);
            if left == 0 {
                return Ok(r0);
            }
            next(env, input);
        }
    }
}

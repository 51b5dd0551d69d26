//! The vm backend's test run: [`apiary_runtime::Runtime::test_run`] with
//! bpftool's request, its results in the shape both backends share.

use apiary_runtime::{Event, TestRunInput};

use super::{BackendError, Redirect, RunRequest, RunResult, VmBackend};

/// Runs the backend's program as `BPF_PROG_TEST_RUN` would, including the
/// kernel's `ENOSPC` when an output does not fit the room asked for.
pub fn test_run(vm: &mut VmBackend, request: &RunRequest) -> Result<RunResult, BackendError> {
    let (runtime, runner, task, prog) = vm.parts();
    let runtime = std::sync::Arc::clone(runtime);
    let input = TestRunInput {
        data_in: request.data_in.as_deref(),
        ctx_in: request.ctx_in.as_deref(),
        // The whole packet comes back so that a too-small room is noticed
        // here and answered as the kernel does (ENOSPC), not silently cut.
        data_size_out: request.data_size_out.map(|_| 0),
        // Without room for it, the packet is not given back (below).
        skip_data_out: request.data_size_out.is_none(),
        repeat: request.repeat,
        cpu: 0,
        flags: 0,
        task: std::sync::Arc::clone(task),
    };
    let output = runtime
        .test_run(runner, prog, &input)
        .map_err(|e| BackendError {
            backend: super::BackendKind::Vm,
            problem: format!("failed to run program: {e}"),
            run_error: match e {
                apiary_runtime::TestRunError::Run(run) => Some(Box::new(run)),
                _ => None,
            },
        })?;
    let fits = |out: &Option<Vec<u8>>, room: Option<u32>| {
        out.as_ref()
            .is_none_or(|bytes| bytes.len() <= room.map_or(usize::MAX, |n| n as usize))
    };
    if !fits(&output.data_out, request.data_size_out)
        || !fits(&output.ctx_out, request.ctx_size_out)
    {
        return Err(BackendError::vm(
            "failed to run program: No space left on device (data_size_out or ctx_size_out is too small)",
        ));
    }
    let redirects = output
        .events
        .iter()
        .filter_map(|event| describe_redirect(&runtime, event))
        .collect();
    Ok(RunResult {
        retval: output.retval,
        duration_ns: output.duration_ns,
        data_out: output.data_out,
        ctx_out: output.ctx_out.filter(|_| request.ctx_size_out.is_some()),
        trace: output.trace.iter().map(ToString::to_string).collect(),
        redirects,
    })
}

fn describe_redirect(runtime: &apiary_runtime::Runtime, event: &Event) -> Option<Redirect> {
    match event {
        Event::Redirect { ifindex, flags } => Some(Redirect {
            via: "bpf_redirect",
            target: format!("ifindex {ifindex} (flags {flags:#x})"),
        }),
        Event::RedirectMap { map, key, target } => {
            let name = runtime
                .map(*map)
                .map_or_else(|| format!("#{}", map.0), |m| m.def().name.clone());
            let target = match target {
                apiary_maps::RedirectTarget::Device { ifindex, .. } => format!("ifindex {ifindex}"),
                apiary_maps::RedirectTarget::Cpu { cpu, .. } => format!("cpu {cpu}"),
                apiary_maps::RedirectTarget::XskSocket { socket_id } => {
                    format!("AF_XDP socket {socket_id}")
                }
            };
            Some(Redirect {
                via: "bpf_redirect_map",
                target: format!("map {name} key {key}: {target}"),
            })
        }
        Event::CloneRedirect {
            ifindex,
            flags,
            packet,
        } => Some(Redirect {
            via: "bpf_clone_redirect",
            target: format!(
                "ifindex {ifindex} (flags {flags:#x}, a {}-byte copy)",
                packet.len()
            ),
        }),
        Event::XdpTx { ifindex } => Some(Redirect {
            via: "XDP_TX",
            target: format!("ifindex {ifindex} (back out of the receiving device)"),
        }),
        Event::Signal { .. } => None,
    }
}

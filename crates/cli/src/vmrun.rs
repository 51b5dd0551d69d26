//! The vm backend's test run (waiting for `apiary_runtime::Runtime::test_run`).

use crate::backends::{BackendError, RunRequest, RunResult, VmBackend};

/// Not available until the runtime provides test runs.
pub fn test_run(vm: &mut VmBackend, request: &RunRequest) -> Result<RunResult, BackendError> {
    let _ = (vm.parts(), request);
    Err(BackendError {
        backend: crate::backends::BackendKind::Vm,
        problem: "apiary-runtime does not provide test runs yet".to_owned(),
    })
}

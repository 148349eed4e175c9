//! Ground truth of a finished mission: acceptance, coverage, mutation score and line counts, as events.

use super::*;

/// Acceptance, coverage and line counts of a mission's final workspace, as events; whether every
/// acceptance test passed.
pub(super) async fn measure_ground_truth(
    run: &MissionRun,
    runtime: &MissionRuntime,
    emitter: &Emitter,
    workspace_dir: &Path,
    mission_dir: &Path,
) -> Result<bool, HarnessError> {
    let mut notices = Vec::new();
    let mut skipped = Vec::new();
    // Agents' commands may write the mission folder: nothing they left here is kept.
    let ground_truth = mission_dir.join("ground-truth");
    match std::fs::remove_dir_all(&ground_truth) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(HarnessError::io("clear", &ground_truth, e));
        }
        _ => {}
    }
    let acceptance = run_acceptance(
        &run.mission,
        workspace_dir,
        &ground_truth.join("acceptance"),
        &runtime.command_env,
        &mut notices,
        &mut skipped,
    )
    .await;
    emitter.emit_notices(None, None, "acceptance", std::mem::take(&mut notices));
    emit_skipped(emitter, "acceptance", std::mem::take(&mut skipped));
    // A verdict the agents' machinery tampered with never passes.
    let accepted = !acceptance.tampered
        && matches!(&acceptance.finished, Event::AcceptanceFinished { tests, error: None, .. }
            if !tests.is_empty() && tests.iter().all(|t| t.status == TestStatus::Passed));
    emitter.emit(acceptance.sealed);
    emitter.emit(acceptance.finished);
    if let Some(coverage) = run_coverage(
        &run.mission,
        workspace_dir,
        &ground_truth.join("coverage"),
        &runtime.command_env,
        &mut notices,
        &mut skipped,
    )
    .await
    {
        emitter.emit(coverage);
    }
    emitter.emit_notices(None, None, "coverage", std::mem::take(&mut notices));
    emit_skipped(emitter, "coverage", skipped);
    if let Some(mutation) = run_mutation(
        &run.mission,
        workspace_dir,
        &ground_truth.join("mutation"),
        &runtime.command_env,
        runtime.run_seed,
        &run.key,
        &mut notices,
    )
    .await
    {
        emitter.emit(mutation);
    }
    emitter.emit_notices(None, None, "mutation", notices);
    emitter.emit(count_lines(&run.mission, workspace_dir));
    Ok(accepted)
}

/// The paths a copy or the record left out, as one event (none when nothing was).
pub(super) fn emit_skipped(emitter: &Emitter, during: &str, skipped: Vec<crate::fsutil::Skipped>) {
    if skipped.is_empty() {
        return;
    }
    emitter.emit(Event::PathsSkipped {
        during: during.to_string(),
        paths: skipped
            .into_iter()
            .map(|s| SkippedPath {
                path: s.path,
                reason: s.reason,
            })
            .collect(),
    });
}

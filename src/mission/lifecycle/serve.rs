//! Counterfactual replay in the lifecycle: a top-level agent run of a role bound to a `replay`
//! model is served from the recorded run (`mission::counterfactual`) when the mission is where
//! the record was; the first time it is not, the replay diverges (recorded as
//! `ReplayDiverged`), and the mission halts or goes on live.

use super::*;
use crate::mission::counterfactual::{
    first_messages, renumbered, Counterfactual, Divergence, Place, RecordedRun, Step,
};
use crate::spec::config::DivergenceMode;

/// A mission's counterfactual replay, if a role of its pairing is replayed, and those roles.
pub(super) type Replayed = (Option<Counterfactual>, std::collections::BTreeSet<Role>);

/// The replay of `run`'s pairing: the record it serves from, or why it cannot be served.
pub(super) fn counterfactual_of(
    run: &MissionRun,
    context: &RunContext,
) -> Result<Replayed, String> {
    // `suite_run` has checked that a pairing's replayed roles share one replay model.
    let mut roles = std::collections::BTreeSet::new();
    let mut source = None;
    for role in Role::ALL {
        let model = run.pairing.model(role);
        if let Some(found) = context.replays.get(model) {
            roles.insert(role);
            source = Some((model, found));
        }
    }
    let Some((name, source)) = source else {
        return Ok((None, roles));
    };
    let pairing = source.recorded_pairing(&run.key.pairing)?;
    let Some(mission) =
        source
            .recording
            .mission(run.key.mission.as_str(), &pairing, run.key.repeat)
    else {
        return Err(format!(
            "`{name}` has no recorded run of mission {} under pairing `{pairing}`, repeat {} in {}",
            run.key.mission, run.key.repeat, source.recording.run_id
        ));
    };
    if mission.mission_hash != run.mission.hash {
        return Err(format!(
            "mission {} changed since {} recorded it (its content hash differs); the record is of another mission",
            run.key.mission, source.recording.run_id
        ));
    }
    Ok((
        Some(Counterfactual::new(
            source.recording.clone(),
            mission,
            source.mode,
        )),
        roles,
    ))
}

impl MissionRuntime {
    fn counterfactual(&self) -> Option<std::sync::MutexGuard<'_, Counterfactual>> {
        self.counterfactual
            .as_ref()
            .map(|c| c.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The model that runs `role` live: the pairing's, except for a replayed role once its
    /// replay went on live, which runs on the recorded pairing's model for it.
    pub(super) fn live_model(&self, role: Role) -> String {
        if self.replayed_roles.contains(&role) {
            if let Some(replay) = self.counterfactual() {
                if let Some(model) = replay.mission.models.get(&role) {
                    return model.name.clone();
                }
            }
        }
        self.pairing.model(role).to_string()
    }

    /// A top-level agent run at `place`, served from the record; `None` when it runs live.
    pub(super) async fn serve_from_record(
        &self,
        place: Place,
        system_prompt: &str,
        user_prompt: &str,
    ) -> Result<Option<(u32, AgentResult, Outputs)>, Halt> {
        let replayed = self.replayed_roles.contains(&place.role);
        let step = match self.counterfactual() {
            Some(mut replay) => replay.step(&place, replayed),
            None => return Ok(None),
        };
        let recorded = match step {
            Step::Live => return Ok(None),
            Step::Diverge(divergence) => return self.diverge(divergence).map(|()| None),
            Step::Serve(recorded) => recorded,
        };
        if let Some(divergence) = self
            .inputs_differ(&recorded, system_prompt, user_prompt)
            .await
        {
            return self.diverge(divergence).map(|()| None);
        }
        if let Some(divergence) = self.evidence_would_collide(&recorded) {
            return self.diverge(divergence).map(|()| None);
        }
        self.serve(*recorded).await.map(Some)
    }

    /// Records that the replay left its record at the next agent run; the mission's halt when
    /// it is told to halt there.
    pub(super) fn diverge(&self, divergence: Divergence) -> Result<(), Halt> {
        let Some(mut replay) = self.counterfactual() else {
            return Ok(());
        };
        replay.diverge();
        let run = self.next_run.load(Ordering::SeqCst);
        let recording = replay.recording.run_id.clone();
        let mode = replay.mode;
        drop(replay);
        let detail = divergence.detail.clone();
        self.emit_divergence(recording.clone(), divergence, mode.as_str());
        match mode {
            DivergenceMode::Halt => Err(Halt::new(
                HaltReason::ReplayDiverged,
                format!("the replay of {recording} left its record at run {run}: {detail}"),
            )),
            DivergenceMode::Live => Ok(()),
        }
    }

    /// At the mission's end: a replay whose record goes on past where the mission ended has
    /// diverged too (recorded, nothing halts: the mission is over).
    pub(super) fn end_counterfactual(&self) {
        let Some(mut replay) = self.counterfactual() else {
            return;
        };
        let Some(divergence) = replay.unreached() else {
            return;
        };
        replay.diverge();
        let recording = replay.recording.run_id.clone();
        drop(replay);
        self.emit_divergence(recording, divergence, "ended");
    }

    fn emit_divergence(&self, recording: String, divergence: Divergence, then: &str) {
        self.emitter.emit(Event::ReplayDiverged {
            run: self.next_run.load(Ordering::SeqCst),
            recording,
            recorded_run: divergence.recorded_run,
            turn: divergence.turn,
            detail: divergence.detail,
            then: then.to_string(),
        });
    }

    /// After a live top-level run that stood in for a recorded one: notes whether the workspace
    /// it left (outside `.mission/`, where the roles' reports differ by design) differs from
    /// the one its recorded counterpart left. The next run served from the record diverges on
    /// it: the recorded work would not have started from this workspace.
    pub(super) async fn compare_with_record(&self) {
        let counterpart = self.counterfactual().and_then(|mut r| r.passed_over.take());
        let Some(counterpart) = counterpart else {
            return;
        };
        let run = counterpart.checkpoint.run;
        let drift = match self
            .git(&[
                "diff",
                "--name-only",
                &counterpart.checkpoint.commit,
                "HEAD",
                "--",
                ".",
                ":(exclude).mission",
            ])
            .await
        {
            Ok(changed) if changed.trim().is_empty() => None,
            Ok(changed) => {
                let names: Vec<&str> = changed.lines().take(5).collect();
                Some(format!(
                    "the workspace after the live run differs from the record's after its run {run} ({})",
                    names.join(", ")
                ))
            }
            Err(e) => Some(format!(
                "cannot compare the workspace with the record's after its run {run}: {e}"
            )),
        };
        if let Some(mut replay) = self.counterfactual() {
            replay.drift = drift;
        }
    }

    /// Why the recorded run cannot be served here: its first messages differ from the
    /// mission's, or the workspace drifted from the record's after a live run.
    async fn inputs_differ(
        &self,
        recorded: &RecordedRun,
        system_prompt: &str,
        user_prompt: &str,
    ) -> Option<Divergence> {
        let mission = self.counterfactual()?.mission.clone();
        let run = recorded.checkpoint.run;
        let differs = |detail: String| {
            Some(Divergence {
                recorded_run: Some(run),
                turn: Some(1),
                detail,
            })
        };
        let Some((system, user)) = mission.transcript(run).and_then(|t| first_messages(&t)) else {
            return differs(format!(
                "the record has no readable transcript of its run {run}"
            ));
        };
        if system != self.redactor.redact(system_prompt) {
            return differs(format!(
                "the system prompt of the record's run {run} differs from the mission's"
            ));
        }
        let ours = self.redactor.redact(user_prompt);
        if user != ours {
            let line = user
                .lines()
                .zip(ours.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| user.lines().count().min(ours.lines().count()))
                + 1;
            return differs(format!(
                "the first message of the record's run {run} differs from the mission's at line {line}"
            ));
        }
        let drift = self.counterfactual()?.drift.clone();
        drift.and_then(differs)
    }

    /// Why a recorded run that saved evidence cannot be served under another number: evidence
    /// ids and files carry the agent run's number (`r<N>-`), which a live run of this mission may
    /// already have used.
    fn evidence_would_collide(&self, recorded: &RecordedRun) -> Option<Divergence> {
        let run = self.next_run.load(Ordering::SeqCst);
        if run == recorded.checkpoint.run {
            return None;
        }
        let mission = self.counterfactual()?.mission.clone();
        let saves_evidence = mission.records[recorded.span.clone()]
            .iter()
            .any(|r| matches!(r.event, Event::EvidenceSaved { .. }));
        saves_evidence.then(|| Divergence {
            recorded_run: Some(recorded.checkpoint.run),
            turn: None,
            detail: format!(
                "the record's run {} saved evidence under its own number, and this mission's run {run} is another",
                recorded.checkpoint.run
            ),
        })
    }

    /// Serves a recorded run: its workspace, transcripts and events (renumbered to this run's
    /// numbers), its spend, and its checkpoint as this run's.
    async fn serve(&self, recorded: RecordedRun) -> Result<(u32, AgentResult, Outputs), Halt> {
        let (mission, recording) = match self.counterfactual() {
            Some(replay) => (replay.mission.clone(), replay.recording.clone()),
            None => return Err(HarnessError::Replay("no record to serve from".into()).into()),
        };
        let checkpoint = &recorded.checkpoint;
        let run = self.next_run.load(Ordering::SeqCst);
        let offset = i64::from(run) - i64::from(checkpoint.run);
        self.restore(&checkpoint.commit).await?;
        // The workspace is the record's again.
        if let Some(mut replay) = self.counterfactual() {
            replay.drift = None;
        }
        self.state.reload().map_err(|source| {
            HarnessError::step(
                format!("read .mission/ of the record's run {}", checkpoint.run),
                source,
            )
        })?;
        for number in checkpoint.run..checkpoint.next_run {
            if let Some(transcript) = mission.transcript(number) {
                self.copy_transcript(&transcript, offset)?;
            }
        }
        let records = &mission.records[recorded.span.clone()];
        let Some((last, before)) = records.split_last() else {
            return Err(HarnessError::Replay(format!(
                "the record's run {} has no events",
                checkpoint.run
            ))
            .into());
        };
        let unreadable = |seq: u64| {
            Halt::from(HarnessError::Replay(format!(
                "event {seq} of the record cannot be renumbered"
            )))
        };
        for record in before {
            let mut event =
                renumbered(&record.event, offset).ok_or_else(|| unreadable(record.seq))?;
            if let Event::EvidenceSaved { path, .. } = &mut event {
                *path = self.copy_evidence(&recording.dir, &mission.key.slug(), path)?;
            }
            // The run and each of its subagents' runs say where they were served from.
            let started = match &event {
                Event::AgentStarted { run, .. } => Some(*run),
                _ => None,
            };
            self.emitter.emit(event);
            if let Some(started) = started {
                self.emitter.emit(Event::AgentReplayed {
                    run: started,
                    recording: recording.run_id.clone(),
                    recorded_run: u32::try_from(i64::from(started) - offset).unwrap_or(started),
                });
            }
        }
        let (tokens, cost_usd, elapsed) = self.meter.totals();
        self.meter.restore(
            tokens + recorded.tokens,
            cost_usd + recorded.cost_usd,
            elapsed + std::time::Duration::from_secs_f64(recorded.elapsed_ms / 1000.0),
        );
        let next = i64::from(checkpoint.next_run) + offset;
        self.next_run
            .store(u32::try_from(next).unwrap_or(run + 1), Ordering::SeqCst);
        let finished = renumbered(&last.event, offset).ok_or_else(|| unreadable(last.seq))?;
        self.checkpoint(run, checkpoint.outcome, &checkpoint.outputs, finished)
            .await?;
        let result = AgentResult {
            outcome: checkpoint.outcome,
            turns: recorded.turns,
            error: None,
            harness_error: None,
            last_text: String::new(),
        };
        Ok((run, result, checkpoint.outputs.clone()))
    }

    /// Copies a recorded transcript into this mission's, renumbered by `offset`.
    fn copy_transcript(&self, from: &Path, offset: i64) -> Result<(), HarnessError> {
        let name = from
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let (number, rest) = name.split_once('-').unwrap_or(("0", &name));
        let number = number.parse::<i64>().unwrap_or(0) + offset;
        let text = std::fs::read_to_string(from)
            .map_err(|source| HarnessError::io("read", from, source))?;
        let text = if offset == 0 {
            text
        } else {
            text.lines()
                .map(|line| {
                    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(line) else {
                        return line.to_string();
                    };
                    if let Some(run) = value.get("run").and_then(serde_json::Value::as_i64) {
                        value["run"] = serde_json::json!(run + offset);
                    }
                    value.to_string()
                })
                .map(|line| line + "\n")
                .collect()
        };
        std::fs::create_dir_all(&self.transcript_dir)
            .map_err(|source| HarnessError::io("create", &self.transcript_dir, source))?;
        let to = self.transcript_dir.join(format!("{number:03}-{rest}"));
        std::fs::write(&to, text).map_err(|source| HarnessError::io("write", &to, source))
    }

    /// Copies a recorded evidence file into this report; its path here.
    fn copy_evidence(
        &self,
        recording: &Path,
        recorded_slug: &str,
        path: &str,
    ) -> Result<String, HarnessError> {
        let ours = path.replacen(recorded_slug, &self.key.slug(), 1);
        let from = recording.join(path);
        let to = self.report_dir.join(&ours);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| HarnessError::io("create", parent, source))?;
        }
        if to.exists() {
            return Err(HarnessError::Replay(format!(
                "the record's evidence `{path}` would replace `{ours}` of this run"
            )));
        }
        std::fs::copy(&from, &to).map_err(|source| HarnessError::io("copy", &from, source))?;
        Ok(ours)
    }
}

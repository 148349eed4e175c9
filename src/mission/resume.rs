//! Resuming an interrupted mission from its last checkpoint. The journal holds, for every
//! finished top-level agent run, an [`Event::AgentCheckpoint`]: the workspace commit after it,
//! what it handed back, and the spend so far. A resumed mission runs its lifecycle again with
//! events muted; each agent run up to the last checkpoint is answered from its record instead of
//! a model (and the workspace is reset to its commit), and the harness's own checks and findings
//! of that stretch come from the journal too. After the last checkpoint the mission goes on live.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::events::{AgentOutcome, Event, EventRecord, MissionKey};
use crate::spec::{FeatureId, Finding, MilestoneId, Role};

use super::role_tools::Outputs;

/// Where a mission's workspace after each finished agent run is kept: a bare repository in the
/// report folder, a ref `refs/runs/NNNN` per run.
pub fn checkpoint_repository(report_dir: &Path, key: &MissionKey) -> PathBuf {
    report_dir
        .join("checkpoints")
        .join(format!("{}.git", key.slug()))
}

/// A finished agent run as the journal recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub run: u32,
    pub role: Role,
    pub milestone: Option<MilestoneId>,
    pub feature: Option<FeatureId>,
    pub round: Option<u32>,
    pub outcome: AgentOutcome,
    /// The workspace after the run, in the mission's checkpoint repository.
    pub commit: String,
    pub outputs: Outputs,
    pub next_run: u32,
    pub tokens: u64,
    pub cost_usd: f64,
    pub elapsed_ms: f64,
}

/// A mechanical check as the journal recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCheck {
    pub milestone: MilestoneId,
    pub round: u32,
    pub assertion: String,
    pub passed: bool,
}

/// What a resumed mission replays: its checkpoints, and the checks and findings recorded before
/// the last of them. Empty for a mission that starts fresh.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replay {
    pub checkpoints: Vec<Checkpoint>,
    pub checks: Vec<RecordedCheck>,
    pub findings: Vec<Finding>,
}

impl Replay {
    /// The replay of one mission from its records in journal order, and how many of them (a
    /// prefix, through the last checkpoint) the resumed journal keeps. `None` when the mission
    /// has no checkpoint it can use: it starts over. A checkpoint whose outputs cannot be read,
    /// or whose run has no start or end before it, ends the usable prefix at the checkpoint
    /// before it.
    pub fn from_records(records: &[&EventRecord]) -> Option<(Replay, usize)> {
        let mut replay = Replay::default();
        // Each checkpoint with the checks and findings recorded before it.
        let mut kept = 0;
        let mut kept_checks = 0;
        let mut kept_findings = 0;
        let mut started = std::collections::BTreeMap::new();
        let mut ended = std::collections::BTreeSet::new();
        for (index, record) in records.iter().enumerate() {
            match &record.event {
                Event::AgentFinished { run, .. } => {
                    ended.insert(*run);
                }
                Event::AgentStarted {
                    run,
                    role,
                    milestone,
                    feature,
                    round,
                    ..
                } => {
                    started.insert(*run, (*role, milestone.clone(), feature.clone(), *round));
                }
                Event::MechanicalCheck {
                    milestone,
                    round,
                    assertion,
                    passed,
                    ..
                } => replay.checks.push(RecordedCheck {
                    milestone: milestone.clone(),
                    round: *round,
                    assertion: assertion.clone(),
                    passed: *passed,
                }),
                Event::FindingRaised { finding, .. } => replay.findings.push(finding.clone()),
                Event::AgentCheckpoint {
                    run,
                    outcome,
                    commit,
                    outputs,
                    next_run,
                    tokens,
                    cost_usd,
                    elapsed_ms,
                } => {
                    let Some((role, milestone, feature, round)) = started.get(run).cloned() else {
                        break;
                    };
                    if !ended.contains(run) {
                        break;
                    }
                    let Ok(outputs) = serde_json::from_value::<Outputs>(outputs.clone()) else {
                        break;
                    };
                    replay.checkpoints.push(Checkpoint {
                        run: *run,
                        role,
                        milestone,
                        feature,
                        round,
                        outcome: *outcome,
                        commit: commit.clone(),
                        outputs,
                        next_run: *next_run,
                        tokens: *tokens,
                        cost_usd: *cost_usd,
                        elapsed_ms: *elapsed_ms,
                    });
                    kept = index + 1;
                    kept_checks = replay.checks.len();
                    kept_findings = replay.findings.len();
                }
                _ => {}
            }
        }
        replay.checks.truncate(kept_checks);
        replay.findings.truncate(kept_findings);
        (kept > 0).then_some((replay, kept))
    }

    /// The last checkpoint's workspace commit.
    pub fn last_commit(&self) -> Option<&str> {
        self.checkpoints.last().map(|c| c.commit.as_str())
    }

    /// The first run number after the last checkpoint.
    pub fn next_run(&self) -> u32 {
        self.checkpoints.last().map_or(1, |c| c.next_run)
    }
}

/// A replay in progress: what is left of it, and the switch that mutes the mission's events
/// until its last checkpoint is reached.
pub struct ReplayCursor {
    checkpoints: VecDeque<Checkpoint>,
    checks: VecDeque<RecordedCheck>,
    findings: VecDeque<Finding>,
    muted: Arc<AtomicBool>,
    /// Why the replay stopped matching the lifecycle; events stay muted until the mission ends.
    diverged: Option<Divergence>,
}

/// How a replay stopped matching the mission's lifecycle.
pub type Divergence = String;

impl ReplayCursor {
    /// A cursor over `replay`; events stay muted while it has checkpoints left.
    pub fn new(replay: &Replay) -> ReplayCursor {
        ReplayCursor {
            checkpoints: replay.checkpoints.iter().cloned().collect(),
            checks: replay.checks.iter().cloned().collect(),
            findings: replay.findings.iter().cloned().collect(),
            muted: Arc::new(AtomicBool::new(!replay.checkpoints.is_empty())),
            diverged: None,
        }
    }

    /// The switch to mute the mission's emitter with.
    pub fn mute_switch(&self) -> Arc<AtomicBool> {
        self.muted.clone()
    }

    /// Whether checkpoints are left to replay.
    pub fn active(&self) -> bool {
        !self.checkpoints.is_empty()
    }

    /// Why the replay stopped matching, if it did.
    pub fn diverged(&self) -> Option<&str> {
        self.diverged.as_deref()
    }

    /// Records that the replay stopped matching: nothing more is replayed, and events stay
    /// muted until [`ReplayCursor::finish`].
    pub fn fail(&mut self, divergence: Divergence) {
        self.checkpoints.clear();
        self.checks.clear();
        self.findings.clear();
        self.diverged.get_or_insert(divergence);
    }

    /// Ends the replay when the lifecycle ends: events flow again. Returns why the mission cannot
    /// be trusted as resumed: a divergence, or checkpoints the lifecycle never reached (unless
    /// it was `interrupted`: a stop during the replay leaves the mission to resume again).
    pub fn finish(&mut self, interrupted: bool) -> Option<Divergence> {
        if let Some(left) = self.checkpoints.front().filter(|_| !interrupted) {
            let run = left.run;
            self.fail(format!("the mission ended before run {run} of the journal"));
        }
        self.muted.store(false, Ordering::SeqCst);
        self.diverged.clone()
    }

    /// The recorded run for an agent run the lifecycle is about to start, checked against it.
    /// After the last checkpoint events flow again. A mismatch is recorded (see
    /// [`ReplayCursor::fail`]) and returned.
    pub fn next_run(
        &mut self,
        role: Role,
        milestone: Option<&MilestoneId>,
        feature: Option<&FeatureId>,
        round: Option<u32>,
    ) -> Result<Option<Checkpoint>, Divergence> {
        let next = self.match_run(role, milestone, feature, round);
        self.recorded(next)
    }

    /// Records a divergence the result carries.
    fn recorded<T>(&mut self, result: Result<T, Divergence>) -> Result<T, Divergence> {
        if let Err(divergence) = &result {
            self.fail(divergence.clone());
        }
        result
    }

    fn match_run(
        &mut self,
        role: Role,
        milestone: Option<&MilestoneId>,
        feature: Option<&FeatureId>,
        round: Option<u32>,
    ) -> Result<Option<Checkpoint>, Divergence> {
        let Some(checkpoint) = self.checkpoints.pop_front() else {
            return Ok(None);
        };
        if (
            checkpoint.role,
            checkpoint.milestone.as_ref(),
            checkpoint.feature.as_ref(),
            checkpoint.round,
        ) != (role, milestone, feature, round)
        {
            let what = |role: Role,
                        milestone: Option<&MilestoneId>,
                        feature: Option<&FeatureId>,
                        round: Option<u32>| {
                let mut text = role.to_string();
                if let Some(milestone) = milestone {
                    text.push_str(&format!(" milestone {milestone}"));
                }
                if let Some(feature) = feature {
                    text.push_str(&format!(" feature {feature}"));
                }
                if let Some(round) = round {
                    text.push_str(&format!(" round {round}"));
                }
                text
            };
            return Err(format!(
                "run {} of the journal is {}, but the mission now starts {}",
                checkpoint.run,
                what(
                    checkpoint.role,
                    checkpoint.milestone.as_ref(),
                    checkpoint.feature.as_ref(),
                    checkpoint.round
                ),
                what(role, milestone, feature, round)
            ));
        }
        if self.checkpoints.is_empty() {
            if let Some(check) = self.checks.front() {
                return Err(format!(
                    "the journal has a check of assertion `{}` (milestone {} round {}) the mission did not make",
                    check.assertion, check.milestone, check.round
                ));
            }
            if let Some(finding) = self.findings.front() {
                return Err(format!(
                    "the journal has finding `{}` the mission did not raise",
                    finding.id
                ));
            }
            self.muted.store(false, Ordering::SeqCst);
        }
        Ok(Some(checkpoint))
    }

    /// Whether a mechanical check passed, as recorded; `None` when not replaying. A mismatch is
    /// recorded and returned.
    pub fn check(
        &mut self,
        milestone: &MilestoneId,
        round: u32,
        assertion: &str,
    ) -> Result<Option<bool>, Divergence> {
        if !self.active() {
            return Ok(None);
        }
        let recorded = match self.checks.pop_front() {
            Some(check)
                if &check.milestone == milestone
                    && check.round == round
                    && check.assertion == assertion =>
            {
                Ok(Some(check.passed))
            }
            _ => Err(format!(
                "the journal has no check of assertion `{assertion}` in milestone {milestone} round {round} where the mission makes one"
            )),
        };
        self.recorded(recorded)
    }

    /// The recorded finding in place of `finding` (numbered `id`); `None` when not replaying. A
    /// mismatch is recorded and returned.
    pub fn finding(&mut self, id: &str, finding: &Finding) -> Result<Option<Finding>, Divergence> {
        if !self.active() {
            return Ok(None);
        }
        let recorded = match self.findings.pop_front() {
            Some(recorded)
                if recorded.id == id
                    && recorded.milestone == finding.milestone
                    && recorded.round == finding.round
                    && recorded.source == finding.source
                    && recorded.title == finding.title =>
            {
                Ok(Some(recorded))
            }
            Some(recorded) => Err(format!(
                "the journal's finding `{}` ({}) differs from the mission's `{id}` ({})",
                recorded.id, recorded.title, finding.title
            )),
            None => Err(format!(
                "the mission raises finding `{id}` ({}) that the journal does not have",
                finding.title
            )),
        };
        self.recorded(recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EVENTS_VERSION;
    use crate::spec::{FindingSource, Severity};

    fn record(seq: u64, event: Event) -> EventRecord {
        EventRecord {
            v: EVENTS_VERSION,
            seq,
            time_ms: 0,
            mission: None,
            event,
        }
    }

    /// A journal of `events`, numbered in order.
    fn journal(events: Vec<Event>) -> Vec<EventRecord> {
        (0..).zip(events).map(|(seq, e)| record(seq, e)).collect()
    }

    /// A finished top-level run: its start, its end and its checkpoint with `outputs`.
    fn run(
        run: u32,
        role: Role,
        milestone: Option<&str>,
        outputs: serde_json::Value,
    ) -> [Event; 3] {
        [
            started(run, role, milestone),
            finished(run),
            checkpoint(run, outputs),
        ]
    }

    fn raised(id: &str) -> Event {
        Event::FindingRaised {
            run: None,
            finding: finding(id),
        }
    }

    fn started(run: u32, role: Role, milestone: Option<&str>) -> Event {
        Event::AgentStarted {
            run,
            parent: None,
            role,
            model: "m".into(),
            provider: "oracle".into(),
            task: "t".into(),
            milestone: milestone.map(MilestoneId::new),
            feature: None,
            round: milestone.map(|_| 1),
            seed: None,
            temperature: None,
        }
    }

    fn finished(run: u32) -> Event {
        Event::AgentFinished {
            run,
            outcome: AgentOutcome::Finished,
            turns: 1,
            duration_ms: 1.0,
            summary: String::new(),
        }
    }

    fn checkpoint(run: u32, outputs: serde_json::Value) -> Event {
        Event::AgentCheckpoint {
            run,
            outcome: AgentOutcome::Finished,
            commit: format!("c{run}"),
            outputs,
            next_run: run + 1,
            tokens: 100 * u64::from(run),
            cost_usd: 0.0,
            elapsed_ms: 10.0 * f64::from(run),
        }
    }

    fn finding(id: &str) -> Finding {
        Finding {
            id: id.into(),
            milestone: MilestoneId::new("m1"),
            round: 1,
            feature: None,
            assertion: Some("A1".into()),
            source: FindingSource::Mechanical,
            severity: Severity::Blocking,
            title: "assertion `A1` fails its command check".into(),
            detail: "exit 1".into(),
        }
    }

    fn check(passed: bool) -> Event {
        Event::MechanicalCheck {
            milestone: MilestoneId::new("m1"),
            round: 1,
            assertion: "A1".into(),
            passed,
            exit_code: Some(1),
            timed_out: false,
            duration_ms: 1.0,
            evidence_ids: Vec::new(),
        }
    }

    #[test]
    fn a_replay_keeps_the_records_through_the_last_readable_checkpoint() {
        let mut events = Vec::new();
        events.extend(run(
            1,
            Role::Orchestrator,
            None,
            serde_json::json!({"summary": "planned"}),
        ));
        events.extend(run(2, Role::UserTesting, Some("m1"), serde_json::json!({})));
        events.extend([check(false), raised("F1-m1-r1")]);
        // Outputs of another shape: the prefix ends at the checkpoint before.
        events.extend(run(
            3,
            Role::Worker,
            Some("m1"),
            serde_json::json!({"summary": 7}),
        ));
        let records = journal(events);
        let refs: Vec<&EventRecord> = records.iter().collect();
        let (replay, kept) = Replay::from_records(&refs).unwrap();
        assert_eq!(kept, 6);
        assert_eq!(replay.checkpoints.len(), 2);
        assert_eq!(
            replay.checkpoints[0].outputs.summary.as_deref(),
            Some("planned")
        );
        assert_eq!(replay.checkpoints[1].role, Role::UserTesting);
        assert_eq!(replay.last_commit(), Some("c2"));
        assert_eq!(replay.next_run(), 3);
        // The check and the finding came after the last usable checkpoint: they happen again.
        assert!(replay.checks.is_empty() && replay.findings.is_empty());

        let none = journal(vec![started(1, Role::Orchestrator, None)]);
        assert!(Replay::from_records(&none.iter().collect::<Vec<_>>()).is_none());
        // A checkpoint of a run whose end is not in the journal is not used.
        let unended = journal(vec![
            started(1, Role::Orchestrator, None),
            checkpoint(1, serde_json::json!({})),
        ]);
        assert!(Replay::from_records(&unended.iter().collect::<Vec<_>>()).is_none());
    }

    #[test]
    fn a_cursor_answers_from_the_journal_and_names_where_it_diverges() {
        let mut events = Vec::new();
        events.extend(run(1, Role::UserTesting, Some("m1"), serde_json::json!({})));
        events.extend([check(false), raised("F1-m1-r1")]);
        events.extend(run(
            2,
            Role::Orchestrator,
            Some("m1"),
            serde_json::json!({"halt": "stop"}),
        ));
        let records = journal(events);
        let refs: Vec<&EventRecord> = records.iter().collect();
        let (replay, kept) = Replay::from_records(&refs).unwrap();
        assert_eq!(kept, 8);

        let m1 = MilestoneId::new("m1");
        let mut cursor = ReplayCursor::new(&replay);
        let muted = cursor.mute_switch();
        assert!(muted.load(Ordering::SeqCst));
        let first = cursor
            .next_run(Role::UserTesting, Some(&m1), None, Some(1))
            .unwrap()
            .unwrap();
        assert_eq!((first.run, first.tokens), (1, 100));
        assert_eq!(cursor.check(&m1, 1, "A1"), Ok(Some(false)));
        let mut computed = finding("F1-m1-r1");
        computed.detail.clear();
        let recorded = cursor.finding("F1-m1-r1", &computed).unwrap().unwrap();
        assert_eq!(recorded.detail, "exit 1", "the recorded output stands");
        let last = cursor
            .next_run(Role::Orchestrator, Some(&m1), None, Some(1))
            .unwrap()
            .unwrap();
        assert_eq!(last.outputs.halt.as_deref(), Some("stop"));
        assert!(
            !muted.load(Ordering::SeqCst),
            "live after the last checkpoint"
        );
        assert_eq!(cursor.check(&m1, 2, "A1"), Ok(None));
        assert_eq!(cursor.finish(false), None);

        // Another lifecycle: the run it starts is not the journal's.
        let mut cursor = ReplayCursor::new(&replay);
        let error = cursor
            .next_run(Role::Worker, Some(&m1), None, Some(1))
            .unwrap_err();
        assert!(
            error.contains("run 1 of the journal is user_testing milestone m1 round 1"),
            "{error}"
        );
        assert_eq!(cursor.diverged(), Some(error.as_str()));
        assert!(muted_after(&mut cursor));

        // A lifecycle that skips the check, or ends early.
        let mut cursor = ReplayCursor::new(&replay);
        cursor
            .next_run(Role::UserTesting, Some(&m1), None, Some(1))
            .unwrap();
        let error = cursor
            .next_run(Role::Orchestrator, Some(&m1), None, Some(1))
            .unwrap_err();
        assert!(error.contains("check of assertion `A1`"), "{error}");
        let mut cursor = ReplayCursor::new(&replay);
        assert_eq!(cursor.finish(true), None, "a stop is not a divergence");
        let mut cursor = ReplayCursor::new(&replay);
        let ended = cursor.finish(false).unwrap();
        assert!(ended.contains("ended before run 1"), "{ended}");
    }

    /// Whether events were muted until `finish`, which lets them flow.
    fn muted_after(cursor: &mut ReplayCursor) -> bool {
        let muted = cursor.mute_switch();
        let was = muted.load(Ordering::SeqCst);
        cursor.finish(false);
        was && !muted.load(Ordering::SeqCst)
    }
}

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

use super::toolbox::Outputs;

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
/// the last of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub checkpoints: Vec<Checkpoint>,
    pub checks: Vec<RecordedCheck>,
    pub findings: Vec<Finding>,
}

impl Replay {
    /// The replay of one mission from its records in journal order, and how many of them (a
    /// prefix, through the last checkpoint) the resumed journal keeps. `None` when the mission
    /// has no checkpoint it can use: it starts over. A checkpoint whose outputs cannot be read
    /// ends the usable prefix at the checkpoint before it.
    pub fn from_records(records: &[&EventRecord]) -> Option<(Replay, usize)> {
        let mut replay = Replay {
            checkpoints: Vec::new(),
            checks: Vec::new(),
            findings: Vec::new(),
        };
        // Each checkpoint with the checks and findings recorded before it.
        let mut kept = 0;
        let mut kept_checks = 0;
        let mut kept_findings = 0;
        let mut started = std::collections::BTreeMap::new();
        for (index, record) in records.iter().enumerate() {
            match &record.event {
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

    /// A cursor with nothing to replay.
    pub fn none() -> ReplayCursor {
        ReplayCursor {
            checkpoints: VecDeque::new(),
            checks: VecDeque::new(),
            findings: VecDeque::new(),
            muted: Arc::new(AtomicBool::new(false)),
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
    /// be trusted as resumed: a divergence, or checkpoints the lifecycle never reached.
    pub fn finish(&mut self) -> Option<Divergence> {
        if let Some(left) = self.checkpoints.front() {
            let run = left.run;
            self.fail(format!("the mission ended before run {run} of the journal"));
        }
        self.muted.store(false, Ordering::SeqCst);
        self.diverged.clone()
    }

    /// The recorded run for an agent run the lifecycle is about to start, checked against it.
    /// After the last checkpoint events flow again.
    pub fn next_run(
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

    /// Whether a mechanical check passed, as recorded; `None` when not replaying.
    pub fn check(
        &mut self,
        milestone: &MilestoneId,
        round: u32,
        assertion: &str,
    ) -> Result<Option<bool>, Divergence> {
        if !self.active() {
            return Ok(None);
        }
        match self.checks.pop_front() {
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
        }
    }

    /// The recorded finding in place of `finding` (numbered `id`); `None` when not replaying.
    pub fn finding(&mut self, id: &str, finding: &Finding) -> Result<Option<Finding>, Divergence> {
        if !self.active() {
            return Ok(None);
        }
        match self.findings.pop_front() {
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
        }
    }
}

//! Counterfactual replay: a recorded run read back so that a new run can serve some roles from
//! it and run the others live ("all but one role held fixed").
//!
//! A role bound to a `replay` model is served from the record agent run by agent run: the
//! recorded run's events, transcript and workspace after it (its checkpoint), and what it
//! handed back. A recorded run is served only while the new mission is where the record was: the
//! same place in the lifecycle (role, milestone, feature, round), the same first messages, and
//! the same workspace it started from. The first time any of these differs the replay has
//! diverged: nothing more is served, and the mission halts or goes on live (`on_divergence`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::events::{read_events, Event, EventRecord, MissionKey, ModelRef};
use crate::spec::config::DivergenceMode;
use crate::spec::{FeatureId, MilestoneId, Role};

use super::resume::{checkpoint_repository, Checkpoint, Replay};

/// Why a recording cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("`{path}` is not a report folder (it has no events.jsonl)")]
    NotAReport { path: String },
    #[error(transparent)]
    Journal(#[from] crate::events::ReadEventsError),
    #[error(
        "`{path}`: mission run {mission} has no checkpoint repository (`{repository}`); only runs that kept their checkpoints can be replayed"
    )]
    NoCheckpoints {
        path: String,
        mission: String,
        repository: String,
    },
}

/// A recorded run, read once and shared by the missions that replay it.
#[derive(Debug)]
pub struct Recording {
    pub dir: PathBuf,
    /// The report folder's name: the recorded run's id.
    pub run_id: String,
    missions: BTreeMap<(String, String, u32), Arc<RecordedMission>>,
}

/// One recorded mission run: its records and its finished top-level agent runs.
#[derive(Debug)]
pub struct RecordedMission {
    pub key: MissionKey,
    pub mission_hash: String,
    /// The model of each role, as the mission started.
    pub models: BTreeMap<Role, ModelRef>,
    pub records: Vec<EventRecord>,
    pub runs: Vec<RecordedRun>,
    /// The bare repository that holds the workspace after each run.
    pub checkpoints: PathBuf,
    pub transcripts: PathBuf,
    /// How the recorded mission ended: status and detail.
    pub ended: String,
}

/// A finished top-level agent run of a recording.
#[derive(Debug, Clone)]
pub struct RecordedRun {
    pub checkpoint: Checkpoint,
    /// Its records: from its `AgentStarted` through its `AgentFinished` (its subagents' among
    /// them), as indexes into [`RecordedMission::records`].
    pub span: std::ops::Range<usize>,
    pub turns: u32,
    /// What it spent: tokens, cost and time since the checkpoint before it.
    pub tokens: u64,
    pub cost_usd: f64,
    pub elapsed_ms: f64,
}

impl RecordedRun {
    /// Its place in the lifecycle, as the journal's resume reads it.
    pub fn place(&self) -> Place {
        Place {
            role: self.checkpoint.role,
            milestone: self.checkpoint.milestone.clone(),
            feature: self.checkpoint.feature.clone(),
            round: self.checkpoint.round,
        }
    }
}

/// Where an agent run stands in a mission's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub role: Role,
    pub milestone: Option<MilestoneId>,
    pub feature: Option<FeatureId>,
    pub round: Option<u32>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.role)?;
        if let Some(milestone) = &self.milestone {
            write!(f, " of milestone {milestone}")?;
        }
        if let Some(feature) = &self.feature {
            write!(f, " feature {feature}")?;
        }
        if let Some(round) = self.round {
            write!(f, " round {round}")?;
        }
        Ok(())
    }
}

impl Recording {
    /// Reads the report folder `dir`: its journal, and checks that every finished mission run
    /// kept its checkpoints.
    pub fn load(dir: &Path) -> Result<Recording, RecordingError> {
        let given = dir.display().to_string();
        // Git runs in each workspace: the recording's repositories need absolute paths.
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let dir = absolute.as_path();
        let events = dir.join("events.jsonl");
        // Something else than a file in the journal's place is named by `read_events`.
        if !events.exists() {
            return Err(RecordingError::NotAReport { path: given });
        }
        let records = read_events(&events)?;
        let mut by_mission: BTreeMap<MissionKey, Vec<EventRecord>> = BTreeMap::new();
        for record in records {
            if let Some(key) = record.mission.clone() {
                by_mission.entry(key).or_default().push(record);
            }
        }
        let mut missions = BTreeMap::new();
        for (key, records) in by_mission {
            let mission = RecordedMission::of(dir, key.clone(), records);
            if !mission.runs.is_empty() && !mission.checkpoints.is_dir() {
                return Err(RecordingError::NoCheckpoints {
                    path: given,
                    mission: key.slug(),
                    repository: mission.checkpoints.display().to_string(),
                });
            }
            missions.insert(
                (key.mission.to_string(), key.pairing.clone(), key.repeat),
                Arc::new(mission),
            );
        }
        Ok(Recording {
            dir: dir.to_path_buf(),
            run_id: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string()),
            missions,
        })
    }

    /// The recorded run of `mission` under `pairing`, repeat `repeat`.
    pub fn mission(
        &self,
        mission: &str,
        pairing: &str,
        repeat: u32,
    ) -> Option<Arc<RecordedMission>> {
        self.missions
            .get(&(mission.to_string(), pairing.to_string(), repeat))
            .cloned()
    }

    /// The pairings the recording ran, each with its models by role.
    pub fn pairings(&self) -> BTreeMap<String, BTreeMap<Role, ModelRef>> {
        self.missions
            .values()
            .map(|m| (m.key.pairing.clone(), m.models.clone()))
            .collect()
    }

    /// The mission runs it holds: mission id, pairing and repeat.
    pub fn mission_runs(&self) -> impl Iterator<Item = &(String, String, u32)> {
        self.missions.keys()
    }
}

impl RecordedMission {
    fn of(dir: &Path, key: MissionKey, records: Vec<EventRecord>) -> RecordedMission {
        let mut mission_hash = String::new();
        let mut models = BTreeMap::new();
        let mut ended = "the record has no end".to_string();
        let mut starts = BTreeMap::new();
        let mut finishes = BTreeMap::new();
        for (index, record) in records.iter().enumerate() {
            match &record.event {
                Event::MissionStarted {
                    mission_hash: hash,
                    models: roles,
                    ..
                } => {
                    mission_hash = hash.clone();
                    models = roles.clone();
                }
                // The last start counts: a resumed run starts again under its number.
                Event::AgentStarted { run, .. } => {
                    starts.insert(*run, index);
                }
                Event::AgentFinished { run, turns, .. } => {
                    finishes.insert(*run, (index, *turns));
                }
                Event::MissionFinished { status, detail, .. } => {
                    ended = if detail.is_empty() {
                        format!("it ended {}", status.as_str())
                    } else {
                        format!("it ended {}: {detail}", status.as_str())
                    };
                }
                _ => {}
            }
        }
        let refs: Vec<&EventRecord> = records.iter().collect();
        let checkpoints = Replay::from_records(&refs)
            .map(|(replay, _)| replay.checkpoints)
            .unwrap_or_default();
        let mut runs = Vec::with_capacity(checkpoints.len());
        let mut previous: Option<&Checkpoint> = None;
        for checkpoint in &checkpoints {
            let (Some(&start), Some(&(end, turns))) =
                (starts.get(&checkpoint.run), finishes.get(&checkpoint.run))
            else {
                break;
            };
            let (tokens, cost_usd, elapsed_ms) = match previous {
                Some(p) => (
                    checkpoint.tokens.saturating_sub(p.tokens),
                    checkpoint.cost_usd - p.cost_usd,
                    checkpoint.elapsed_ms - p.elapsed_ms,
                ),
                None => (
                    checkpoint.tokens,
                    checkpoint.cost_usd,
                    checkpoint.elapsed_ms,
                ),
            };
            runs.push(RecordedRun {
                checkpoint: checkpoint.clone(),
                span: start..end + 1,
                turns,
                tokens,
                cost_usd,
                elapsed_ms: elapsed_ms.max(0.0),
            });
            previous = Some(checkpoint);
        }
        RecordedMission {
            checkpoints: checkpoint_repository(dir, &key),
            transcripts: dir.join("transcripts").join(key.slug()),
            key,
            mission_hash,
            models,
            records,
            runs,
            ended,
        }
    }

    /// The transcript of recorded agent run `run`, if it was kept.
    pub fn transcript(&self, run: u32) -> Option<PathBuf> {
        let prefix = format!("{run:03}-");
        std::fs::read_dir(&self.transcripts)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".jsonl"))
            })
    }
}

/// The first messages of a recorded agent run: its system prompt and first user message.
pub fn first_messages(transcript: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(transcript).ok()?;
    let mut system = None;
    for line in text.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if value.get("type").and_then(|t| t.as_str()) != Some("message") {
            continue;
        }
        let content = value
            .get("content")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string();
        match value.get("role").and_then(|r| r.as_str()) {
            Some("system") if system.is_none() => system = Some(content),
            Some("user") => return Some((system.unwrap_or_default(), content)),
            _ => {}
        }
    }
    None
}

/// An event of a recorded agent run, renumbered by `offset` (its `run` and `parent`).
pub fn renumbered(event: &Event, offset: i64) -> Option<Event> {
    if offset == 0 {
        return Some(event.clone());
    }
    let mut value = serde_json::to_value(event).ok()?;
    if let Some(object) = value.as_object_mut() {
        for key in ["run", "parent"] {
            if let Some(number) = object.get(key).and_then(serde_json::Value::as_i64) {
                object.insert(key.to_string(), serde_json::json!(number + offset));
            }
        }
    }
    serde_json::from_value(value).ok()
}

/// A `replay` model of the run's config: the recording it serves and how.
#[derive(Debug, Clone)]
pub struct ReplaySource {
    pub recording: Arc<Recording>,
    /// The recorded pairing it serves; `None`: the record's only pairing, else the one named
    /// like the mission's own.
    pub pairing: Option<String>,
    pub mode: DivergenceMode,
}

impl ReplaySource {
    /// The recorded pairing that stands for `pairing` of the new run.
    pub fn recorded_pairing(&self, pairing: &str) -> Result<String, String> {
        if let Some(named) = &self.pairing {
            return Ok(named.clone());
        }
        let pairings = self.recording.pairings();
        if pairings.len() == 1 {
            return Ok(pairings.into_keys().next().unwrap_or_default());
        }
        if pairings.contains_key(pairing) {
            return Ok(pairing.to_string());
        }
        Err(format!(
            "the recording {} ran pairings {}; say which one to replay with the replay model's `pairing`",
            self.recording.run_id,
            pairings.into_keys().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// Where a counterfactual mission stands against its record.
pub struct Counterfactual {
    pub recording: Arc<Recording>,
    pub mission: Arc<RecordedMission>,
    pub mode: DivergenceMode,
    /// The recorded runs not reached yet start here.
    next: usize,
    diverged: bool,
    /// The recorded run a live run stands in for, until its checkpoint is compared.
    pub passed_over: Option<RecordedRun>,
    /// How the workspace after a live run differs from the record's after its counterpart;
    /// the next run served from the record diverges on it.
    pub drift: Option<String>,
}

/// What the lifecycle does with the agent run it is about to start.
#[derive(Debug)]
pub enum Step {
    /// Serve this recorded run, after checking its inputs.
    Serve(Box<RecordedRun>),
    /// Run it live: the role is live (its recorded counterpart is passed over), or the replay
    /// has diverged and the mission goes on live.
    Live,
    /// The replay diverges here.
    Diverge(Divergence),
}

/// Where and why a replay left its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    pub recorded_run: Option<u32>,
    /// The turn of the recorded run from which the record no longer applies.
    pub turn: Option<u32>,
    pub detail: String,
}

impl Counterfactual {
    pub fn new(
        recording: Arc<Recording>,
        mission: Arc<RecordedMission>,
        mode: DivergenceMode,
    ) -> Counterfactual {
        Counterfactual {
            recording,
            mission,
            mode,
            next: 0,
            diverged: false,
            passed_over: None,
            drift: None,
        }
    }

    pub fn diverged(&self) -> bool {
        self.diverged
    }

    /// Records that the replay left its record: nothing more is served.
    pub fn diverge(&mut self) {
        self.diverged = true;
    }

    /// What to do with the top-level agent run at `place`; `replayed` says whether its role is
    /// served from the record.
    pub fn step(&mut self, place: &Place, replayed: bool) -> Step {
        if self.diverged {
            return Step::Live;
        }
        let Some(recorded) = self.mission.runs.get(self.next).cloned() else {
            return Step::Diverge(Divergence {
                recorded_run: None,
                turn: None,
                detail: format!(
                    "the mission starts {place}, after the last finished run of the record ({})",
                    self.mission.ended
                ),
            });
        };
        if recorded.place() != *place {
            return Step::Diverge(Divergence {
                recorded_run: Some(recorded.checkpoint.run),
                turn: None,
                detail: format!(
                    "the record's run {} is {}, but the mission now starts {place}",
                    recorded.checkpoint.run,
                    recorded.place()
                ),
            });
        }
        self.next += 1;
        if replayed {
            Step::Serve(Box::new(recorded))
        } else {
            self.passed_over = Some(recorded);
            Step::Live
        }
    }

    /// At the mission's end: the recorded runs it never reached, as a divergence.
    pub fn unreached(&self) -> Option<Divergence> {
        if self.diverged {
            return None;
        }
        let left = self.mission.runs.get(self.next)?;
        Some(Divergence {
            recorded_run: Some(left.checkpoint.run),
            turn: None,
            detail: format!(
                "the mission ended before the record's run {} ({})",
                left.checkpoint.run,
                left.place()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{AgentOutcome, EVENTS_VERSION};

    fn key() -> MissionKey {
        MissionKey {
            suite: "tiny".into(),
            mission: crate::spec::MissionId::new("greet"),
            pairing: "oracle".into(),
            repeat: 0,
        }
    }

    fn records(events: Vec<Event>) -> Vec<EventRecord> {
        (0..)
            .zip(events)
            .map(|(seq, event)| EventRecord {
                v: EVENTS_VERSION,
                seq,
                time_ms: 0,
                mission: Some(key()),
                event,
            })
            .collect()
    }

    fn run(run: u32, role: Role, milestone: Option<&str>, tokens: u64) -> Vec<Event> {
        vec![
            Event::AgentStarted {
                run,
                parent: None,
                role,
                model: "oracle".into(),
                provider: "oracle".into(),
                task: "t".into(),
                milestone: milestone.map(MilestoneId::new),
                feature: None,
                round: milestone.map(|_| 1),
                seed: None,
                temperature: None,
            },
            Event::AgentFinished {
                run,
                outcome: AgentOutcome::Finished,
                turns: 2,
                duration_ms: 1.0,
                summary: String::new(),
            },
            Event::AgentCheckpoint {
                run,
                outcome: AgentOutcome::Finished,
                commit: format!("c{run}"),
                outputs: serde_json::json!({}),
                next_run: run + 1,
                tokens,
                cost_usd: 0.0,
                elapsed_ms: 10.0 * f64::from(run),
            },
        ]
    }

    fn place(role: Role, milestone: Option<&str>) -> Place {
        Place {
            role,
            milestone: milestone.map(MilestoneId::new),
            feature: None,
            round: milestone.map(|_| 1),
        }
    }

    #[test]
    fn a_recorded_mission_knows_each_runs_span_start_and_spend() {
        let mut events = run(1, Role::Orchestrator, None, 100);
        events.extend(run(2, Role::Worker, Some("m1"), 250));
        let mission = RecordedMission::of(Path::new("/r"), key(), records(events));
        assert_eq!(mission.runs.len(), 2);
        let second = &mission.runs[1];
        assert_eq!(second.span, 3..5);
        assert_eq!((second.tokens, second.turns), (150, 2));
        assert_eq!(second.elapsed_ms, 10.0);
        assert_eq!(mission.runs[0].tokens, 100);
    }

    #[test]
    fn a_replay_serves_until_the_mission_leaves_the_record() {
        let mut events = run(1, Role::Orchestrator, None, 100);
        events.extend(run(2, Role::Worker, Some("m1"), 250));
        events.extend(run(3, Role::Scrutiny, Some("m1"), 300));
        let mission = Arc::new(RecordedMission::of(Path::new("/r"), key(), records(events)));
        let recording = Arc::new(Recording {
            dir: PathBuf::from("/r"),
            run_id: "r".into(),
            missions: BTreeMap::new(),
        });
        let mut replay = Counterfactual::new(recording, mission, DivergenceMode::Halt);
        assert!(matches!(
            replay.step(&place(Role::Orchestrator, None), true),
            Step::Serve(r) if r.checkpoint.run == 1
        ));
        // A live role passes its recorded counterpart over.
        assert!(matches!(
            replay.step(&place(Role::Worker, Some("m1")), false),
            Step::Live
        ));
        // The lifecycle now goes elsewhere: the replay diverges, naming the record's run.
        let Step::Diverge(divergence) = replay.step(&place(Role::Orchestrator, Some("m1")), true)
        else {
            panic!("expected a divergence");
        };
        assert_eq!(divergence.recorded_run, Some(3));
        assert_eq!(
            divergence.detail,
            "the record's run 3 is scrutiny of milestone m1 round 1, but the mission now starts orchestrator of milestone m1 round 1"
        );
        replay.diverge();
        assert!(matches!(
            replay.step(&place(Role::Orchestrator, Some("m1")), true),
            Step::Live
        ));
        assert_eq!(replay.unreached(), None, "a divergence is recorded once");
    }

    #[test]
    fn a_mission_that_ends_early_has_left_the_record() {
        let mut events = run(1, Role::Orchestrator, None, 100);
        events.extend(run(2, Role::Worker, Some("m1"), 250));
        let mission = Arc::new(RecordedMission::of(Path::new("/r"), key(), records(events)));
        let recording = Arc::new(Recording {
            dir: PathBuf::from("/r"),
            run_id: "r".into(),
            missions: BTreeMap::new(),
        });
        let mut replay = Counterfactual::new(recording, mission, DivergenceMode::Live);
        replay.step(&place(Role::Orchestrator, None), true);
        let left = replay.unreached().unwrap();
        assert_eq!(left.recorded_run, Some(2));
        assert!(left.detail.contains("ended before the record's run 2"));
    }

    #[test]
    fn renumbering_moves_runs_and_parents_only() {
        let event = Event::AgentStarted {
            run: 4,
            parent: Some(3),
            role: Role::Subagent,
            model: "oracle".into(),
            provider: "oracle".into(),
            task: "investigate".into(),
            milestone: None,
            feature: None,
            round: Some(2),
            seed: Some(9),
            temperature: None,
        };
        let Some(Event::AgentStarted {
            run,
            parent,
            round,
            seed,
            ..
        }) = renumbered(&event, 2)
        else {
            panic!("renumbered into another event");
        };
        assert_eq!((run, parent, round, seed), (6, Some(5), Some(2), Some(9)));
    }
}

//! The metrics fold: events in, table rows out. Pure and synchronous: the same events always
//! give the same tables, so reports can be rebuilt from `events.jsonl` alone.
//!
//! Each mission's events fold into one [`MissionAcc`], which keeps a named accumulator per
//! table: its agent runs (`runs.rs`), turns (`turns.rs`), milestone rounds (`milestones.rs`),
//! verdicts (`assertions.rs`) and mission-wide facts (`missions.rs`). [`apply`] hands each event
//! to the accumulators it concerns; then each table's module emits its rows.

mod assertions;
mod judgement;
mod milestones;
mod missions;
pub mod records;
mod runs;
pub mod table;
mod turns;

use std::collections::{BTreeMap, BTreeSet};

use crate::events::{Event, EventRecord, MissionKey};
use crate::model::{ModelStats, Usage, UsageSource};
pub use records::*;

use assertions::{assertion_rows, AssertionsAcc, CheckKey, Verdict};
use judgement::Judgement;
use milestones::{milestone_rows, MilestonesAcc};
use missions::{mission_row, LineCounts, MissionFacts, MutationFold};
use runs::{runs_rows, CommandExit, RunAcc, RunIdentity, ToolCallFacts};
use turns::{turn_row, turns_rows, TurnCall};

/// Sums values that may be unknown: unknown if any part is unknown.
fn strict_sum<T: std::ops::Add<Output = T> + Default>(
    values: impl IntoIterator<Item = Option<T>>,
) -> Option<T> {
    let mut total = T::default();
    for value in values {
        total = total + value?;
    }
    Some(total)
}

fn source_label(sources: &BTreeSet<UsageSource>) -> String {
    match sources.len() {
        0 => "none".to_string(),
        1 => sources
            .iter()
            .next()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        _ => "mixed".to_string(),
    }
}

/// Token sums of several calls; each unknown when any call did not report it.
struct UsageTotals {
    input: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
    output: Option<u64>,
    reasoning: Option<u64>,
}

fn usage_sums(usages: &[Usage]) -> UsageTotals {
    UsageTotals {
        input: strict_sum(usages.iter().map(|u| u.input_tokens)),
        cache_read: strict_sum(usages.iter().map(|u| u.cache_read_tokens)),
        cache_write: strict_sum(usages.iter().map(|u| u.cache_write_tokens)),
        output: strict_sum(usages.iter().map(|u| u.output_tokens)),
        reasoning: strict_sum(usages.iter().map(|u| u.reasoning_tokens)),
    }
}

/// The columns every row of a mission starts with.
struct RowKey {
    run_id: String,
    suite: String,
    mission: String,
    pairing: String,
    repeat: u32,
}

impl RowKey {
    fn new(run_id: &str, key: &MissionKey) -> RowKey {
        RowKey {
            run_id: run_id.to_string(),
            suite: key.suite.clone(),
            mission: key.mission.to_string(),
            pairing: key.pairing.clone(),
            repeat: key.repeat,
        }
    }
}

/// Everything the fold keeps of one mission: one accumulator per table.
struct MissionAcc {
    key: RowKey,
    mission: MissionFacts,
    /// By agent run number.
    runs: BTreeMap<u32, RunAcc>,
    /// The turns table's rows, made as the turns are folded.
    turns: Vec<TurnRow>,
    milestones: MilestonesAcc,
    assertions: AssertionsAcc,
}

impl MissionAcc {
    fn new(key: RowKey) -> MissionAcc {
        MissionAcc {
            key,
            mission: MissionFacts::default(),
            runs: BTreeMap::new(),
            turns: Vec::new(),
            milestones: MilestonesAcc::default(),
            assertions: AssertionsAcc::default(),
        }
    }

    /// The agent run `run`, made empty by its first event.
    fn run(&mut self, run: u32) -> &mut RunAcc {
        self.runs.entry(run).or_default()
    }
}

/// Folds the records of a run into its tables. Records of each mission may interleave with
/// other missions'; they are grouped by mission key and taken in sequence order.
pub fn fold(run_id: &str, records: &[EventRecord]) -> Tables {
    let mut missions: BTreeMap<MissionKey, MissionAcc> = BTreeMap::new();
    let mut models: BTreeMap<String, ModelStats> = BTreeMap::new();
    let mut ordered: Vec<&EventRecord> = records.iter().collect();
    ordered.sort_by_key(|r| r.seq);
    for record in ordered {
        if let Event::ModelLoaded { name, stats, .. } = &record.event {
            models.insert(name.clone(), stats.clone());
        }
        let Some(key) = &record.mission else { continue };
        let acc = missions
            .entry(key.clone())
            .or_insert_with(|| MissionAcc::new(RowKey::new(run_id, key)));
        apply(acc, record);
    }
    let mut tables = Tables::default();
    for acc in missions.values() {
        emit(&mut tables, acc, &models);
    }
    tables
}

/// Appends one mission's rows to each table.
fn emit(tables: &mut Tables, acc: &MissionAcc, models: &BTreeMap<String, ModelStats>) {
    let rounds = acc.milestones.round_passes();
    let tests = acc.mission.ground_truth.acceptance().map(|a| &a.tests[..]);
    let judgement = Judgement::of(&rounds, tests);
    tables.milestones.extend(milestone_rows(
        &acc.key,
        &acc.milestones,
        &acc.assertions,
        &judgement,
    ));
    tables
        .assertions
        .extend(assertion_rows(&acc.key, &acc.assertions, &judgement));
    tables.runs.extend(runs_rows(&acc.key, &acc.runs, models));
    tables.turns.extend(turns_rows(&acc.turns));
    tables.missions.push(mission_row(acc, &judgement));
}

/// Folds one event into its mission. The events of agent runs are folded here; the others go
/// on to [`apply_mission_event`].
fn apply(acc: &mut MissionAcc, record: &EventRecord) {
    match &record.event {
        Event::AgentStarted {
            run,
            parent,
            role,
            model,
            provider,
            task,
            milestone,
            feature,
            round,
            seed,
            temperature,
        } => {
            acc.run(*run).identity = RunIdentity {
                parent: *parent,
                role: Some(*role),
                model: model.clone(),
                provider: provider.clone(),
                task: task.clone(),
                milestone: milestone.as_ref().map(ToString::to_string),
                feature: feature.as_ref().map(ToString::to_string),
                round: *round,
                seed: *seed,
                temperature: *temperature,
                started_at_ms: record.time_ms,
                replayed_from: None,
            };
        }
        Event::Turn {
            run,
            turn,
            context_messages,
            usage,
            cost_usd,
            timing,
            tool_calls,
            stop,
            retries,
        } => {
            let call = TurnCall {
                agent_run: *run,
                turn: *turn,
                context_messages: *context_messages,
                usage,
                cost_usd: *cost_usd,
                timing,
                tool_calls: *tool_calls,
                stop,
                retries: *retries,
                time_ms: record.time_ms,
            };
            let agent = acc.runs.entry(*run).or_default();
            agent.add_turn(usage, *cost_usd, timing);
            acc.turns.push(turn_row(&acc.key, agent, &call));
        }
        Event::ToolCalled {
            run,
            status,
            duration_ms,
            file_class,
            command,
            exit_code,
            timed_out,
            dropped_bytes,
            recovered,
            ..
        } => {
            let call = ToolCallFacts {
                status: *status,
                duration_ms: *duration_ms,
                file_class: *file_class,
                command: command.as_ref().map(|_| CommandExit {
                    exit_code: *exit_code,
                    timed_out: *timed_out,
                    dropped_bytes: *dropped_bytes,
                }),
                recovered: *recovered,
            };
            acc.run(*run).tool_called(record.seq, &call);
        }
        Event::NoToolCall { run, .. } => acc.run(*run).no_tool_call += 1,
        Event::ModelRetried { run, .. } => acc.run(*run).model_retries += 1,
        Event::Sandbox {
            run: Some(run),
            kind,
            ..
        } => acc.run(*run).sandbox_notice(*kind),
        Event::Sandbox {
            run: None, kind, ..
        } => acc.mission.harness_notice(*kind),
        Event::AgentFinished {
            run,
            outcome,
            turns,
            duration_ms,
            ..
        } => acc.run(*run).finish(*outcome, *turns, *duration_ms),
        Event::PlanViolation { run, .. } => {
            acc.mission.plan_violations += 1;
            acc.run(*run).plan_violations += 1;
        }
        Event::AgentReplayed {
            run,
            recording,
            recorded_run,
        } => {
            acc.run(*run).identity.replayed_from = Some(crate::events::replay_place(
                recording,
                Some(*recorded_run),
                None,
            ))
        }
        Event::ReplayDiverged {
            run,
            recording,
            recorded_run,
            turn,
            detail,
            ..
        } => {
            let place = crate::events::replay_place(recording, *recorded_run, *turn);
            acc.mission.replay_diverged = Some(format!("run {run} ({place}): {detail}"));
        }
        other => apply_mission_event(acc, other, record.time_ms),
    }
}

/// Folds an event of the mission as a whole: its start and end, the contract, the rounds and
/// what was found in them. Ground-truth events go on to [`apply_ground_truth_event`].
fn apply_mission_event(acc: &mut MissionAcc, event: &Event, time_ms: i64) {
    match event {
        Event::MissionStarted {
            mission_hash,
            models,
            difficulty,
            language,
            tags,
            ..
        } => {
            acc.mission.started(time_ms, mission_hash, models);
            acc.mission.describe(difficulty, language, tags);
        }
        Event::UserAsked { .. } => acc.mission.user_questions += 1,
        Event::ContractWritten {
            milestones,
            assertions,
            ..
        } => {
            acc.milestones.contract_written(milestones);
            acc.assertions.contract_written(assertions);
        }
        Event::FeaturesPlanned {
            after_round,
            features,
            ..
        } => acc.milestones.features_planned(*after_round, features),
        Event::FindingRaised { finding, .. } => acc.milestones.findings.push(finding.clone()),
        Event::VerdictReported {
            milestone,
            round,
            assertion,
            status,
            evidence_ids,
            ..
        } => acc.assertions.verdict(Verdict {
            check: CheckKey::new(milestone, *round, assertion),
            status: *status,
            evidence_ids: evidence_ids.clone(),
        }),
        Event::MechanicalCheck {
            milestone,
            round,
            assertion,
            passed,
            evidence_ids,
            ..
        } => acc.assertions.mechanical_check(
            CheckKey::new(milestone, *round, assertion),
            *passed,
            evidence_ids,
        ),
        Event::EvidenceSaved { id, path, .. } => acc.assertions.evidence_saved(id, path),
        Event::MilestoneRound {
            milestone,
            round,
            passed,
            open_blocking,
        } => acc
            .milestones
            .round_ended(milestone, *round, *passed, *open_blocking),
        Event::MissionFinished {
            status,
            halt_reason,
            detail,
            duration_ms,
        } => acc.mission.finished(
            status.as_str(),
            halt_reason.map(|h| h.as_str()),
            detail,
            *duration_ms,
        ),
        other => apply_ground_truth_event(acc, other),
    }
}

/// Folds what the harness measured after the mission. Its match names every other event too,
/// so a new event does not compile until it is decided what the tables make of it.
fn apply_ground_truth_event(acc: &mut MissionAcc, event: &Event) {
    let ground_truth = &mut acc.mission.ground_truth;
    match event {
        Event::AcceptanceSealed {
            left_out, tampered, ..
        } => ground_truth.sealed(left_out.len(), tampered.as_ref()),
        Event::AcceptanceFinished { tests, error, .. } => {
            ground_truth.acceptance_finished(tests, error.as_ref())
        }
        Event::CoverageMeasured { percent, error, .. } => {
            ground_truth.coverage_measured(*percent, error.as_ref())
        }
        Event::PathsSkipped { during, paths } => ground_truth.paths_skipped(during, paths),
        Event::MutationMeasured {
            score,
            mutants_total,
            killed,
            survived,
            timed_out,
            error,
            ..
        } => {
            ground_truth.mutation = Some(MutationFold {
                score: *score,
                total: *mutants_total,
                killed: *killed,
                survived: *survived,
                timed_out: *timed_out,
                error: error.clone(),
            });
        }
        Event::LinesCounted {
            source_files,
            source_lines,
            test_files,
            test_lines,
        } => {
            ground_truth.lines = LineCounts {
                source_files: *source_files,
                source_lines: *source_lines,
                test_files: *test_files,
                test_lines: *test_lines,
            };
        }
        // Folded by `apply` and `apply_mission_event`.
        Event::AgentStarted { .. }
        | Event::Turn { .. }
        | Event::ToolCalled { .. }
        | Event::NoToolCall { .. }
        | Event::ModelRetried { .. }
        | Event::Sandbox { .. }
        | Event::AgentFinished { .. }
        | Event::PlanViolation { .. }
        | Event::AgentReplayed { .. }
        | Event::ReplayDiverged { .. }
        | Event::MissionStarted { .. }
        | Event::UserAsked { .. }
        | Event::ContractWritten { .. }
        | Event::FeaturesPlanned { .. }
        | Event::FindingRaised { .. }
        | Event::VerdictReported { .. }
        | Event::MechanicalCheck { .. }
        | Event::EvidenceSaved { .. }
        | Event::MilestoneRound { .. }
        | Event::MissionFinished { .. } => {}
        // No table counts these.
        Event::RunPlanned { .. }
        | Event::EnvironmentReady { .. }
        | Event::EnvironmentFailed { .. }
        | Event::ModelLoaded { .. }
        | Event::LibraryWritten { .. }
        | Event::FindingsClosed { .. }
        | Event::MissionHalted { .. }
        | Event::AgentCheckpoint { .. }
        | Event::CleanupFailed { .. } => {}
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::events::{TestResult, TestStatus};

    /// A mission's records: started, `events` in order, finished.
    pub(crate) fn mission_records(events: Vec<Event>) -> Vec<EventRecord> {
        let key = MissionKey {
            suite: "tiny".into(),
            mission: crate::spec::MissionId::new("greet"),
            pairing: "oracle".into(),
            repeat: 0,
        };
        let started = Event::MissionStarted {
            mission_hash: "h".into(),
            models: BTreeMap::new(),
            workspace: "w".into(),
            difficulty: Some("micro".into()),
            language: Some("python".into()),
            tags: vec!["cli".into(), "text".into()],
        };
        let finished = Event::MissionFinished {
            status: crate::events::MissionStatus::Passed,
            halt_reason: None,
            detail: String::new(),
            duration_ms: 1.0,
        };
        std::iter::once(started)
            .chain(events)
            .chain(std::iter::once(finished))
            .enumerate()
            .map(|(seq, event)| EventRecord {
                v: 1,
                seq: seq as u64,
                time_ms: 0,
                mission: Some(key.clone()),
                event,
            })
            .collect()
    }

    #[test]
    fn skipped_paths_are_counted_once_each() {
        let skipped = |during: &str, paths: &[&str]| Event::PathsSkipped {
            during: during.into(),
            paths: paths
                .iter()
                .map(|p| crate::events::SkippedPath {
                    path: p.to_string(),
                    reason: "a socket".into(),
                })
                .collect(),
        };
        let records = mission_records(vec![
            skipped("acceptance", &["pipe", "sock"]),
            skipped("coverage", &["pipe", "sock"]),
            skipped("record", &["pipe", "sock", "deep/x"]),
        ]);
        let tables = fold("run", &records);
        let row = &tables.missions[0];
        assert_eq!(row.paths_skipped, 3);
        assert_eq!(
            row.paths_skipped_detail,
            "deep/x (record): a socket\npipe (acceptance): a socket\nsock (acceptance): a socket\n"
        );
        let none = fold("run", &mission_records(Vec::new()));
        assert_eq!(none.missions[0].paths_skipped, 0);
        assert!(none.missions[0].paths_skipped_detail.is_empty());
    }

    #[test]
    fn the_missions_description_reaches_its_row() {
        let tables = fold("run", &mission_records(Vec::new()));
        let row = &tables.missions[0];
        assert_eq!(
            (
                row.difficulty.as_deref(),
                row.language.as_deref(),
                row.tags.as_str()
            ),
            (Some("micro"), Some("python"), "cli,text")
        );
        // A journal from before missions carried it: unknown, not made up.
        let mut records = mission_records(Vec::new());
        let json = serde_json::to_string(&records[0]).unwrap();
        let old: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut old = old;
        let event = old.get_mut("event").unwrap().as_object_mut().unwrap();
        for key in ["difficulty", "language", "tags"] {
            assert!(event.remove(key).is_some(), "{key}");
        }
        records[0] = serde_json::from_value(old).unwrap();
        let row = &fold("run", &records).missions[0];
        assert_eq!(
            (
                row.difficulty.as_deref(),
                row.language.as_deref(),
                row.tags.as_str()
            ),
            (None, None, "")
        );
    }

    #[test]
    fn cited_evidence_reaches_the_assertions_row_as_report_paths() {
        use crate::events::VerdictStatus;
        use crate::spec::MilestoneId;
        use crate::tools::browser::tools::EvidenceKind;
        let saved = |run: Option<u32>, id: &str, kind: EvidenceKind| Event::EvidenceSaved {
            run,
            milestone: None,
            round: None,
            assertion: None,
            id: id.into(),
            kind,
            path: format!(
                "evidence/greet/{id}.{}",
                match kind {
                    EvidenceKind::Screenshot => "png",
                    EvidenceKind::Network => "json",
                }
            ),
            url: "http://127.0.0.1:8801/".into(),
            bytes: 10,
        };
        let verdict = |round: u32, assertion: &str, ids: &[&str]| Event::VerdictReported {
            run: 3,
            milestone: MilestoneId::new("m1"),
            round,
            assertion: assertion.into(),
            status: VerdictStatus::Pass,
            evidence: "seen".into(),
            evidence_ids: ids.iter().map(|id| id.to_string()).collect(),
        };
        let records = mission_records(vec![
            saved(Some(3), "r3-s1", EvidenceKind::Screenshot),
            saved(Some(3), "r3-n1", EvidenceKind::Network),
            Event::MechanicalCheck {
                milestone: MilestoneId::new("m1"),
                round: 1,
                assertion: "TC-7".into(),
                passed: true,
                exit_code: None,
                timed_out: false,
                duration_ms: 1.0,
                evidence_ids: vec!["m1-r1-TC-7-s1".into()],
            },
            // Cited ids: a screenshot, a network summary, one no file answers to, a repeat.
            verdict(1, "TC-7", &["r3-s1", "r3-n1", "r3-s9", "r3-s1"]),
            verdict(1, "TC-8", &[]),
            // Another round's verdict does not cite the first round's check.
            verdict(2, "TC-7", &[]),
            // The harness's screenshot is mapped whenever it is saved.
            saved(None, "m1-r1-TC-7-s1", EvidenceKind::Screenshot),
        ]);
        let tables = fold("run", &records);
        let evidence: Vec<(&str, u32, &str)> = tables
            .assertions
            .iter()
            .map(|a| (a.assertion.as_str(), a.round, a.evidence.as_str()))
            .collect();
        assert_eq!(
            evidence,
            vec![
                (
                    "TC-7",
                    1,
                    "evidence/greet/r3-s1.png, evidence/greet/r3-n1.json, r3-s9, evidence/greet/m1-r1-TC-7-s1.png"
                ),
                ("TC-8", 1, ""),
                ("TC-7", 2, ""),
            ]
        );
    }

    #[test]
    fn a_milestone_row_counts_its_own_verdicts_apart_from_its_regression_checks() {
        use crate::events::VerdictStatus;
        use crate::spec::{Assertion, AssertionId, Milestone, MilestoneId, Verify};
        let milestone = |id: &str| Milestone {
            id: MilestoneId::new(id),
            title: id.into(),
            description: String::new(),
        };
        let assertion = |id: &str, milestone: &str, verify: Verify| Assertion {
            id: AssertionId::new(id),
            milestone: MilestoneId::new(milestone),
            description: id.into(),
            verify,
            command: Some("true".into()),
            expect_exit: 0,
            expect_stdout: None,
            evidence: String::new(),
            serve: None,
            steps: Vec::new(),
        };
        let verdict = |milestone: &str, assertion: &str, pass: bool| Event::VerdictReported {
            run: 4,
            milestone: MilestoneId::new(milestone),
            round: 1,
            assertion: assertion.into(),
            status: if pass {
                VerdictStatus::Pass
            } else {
                VerdictStatus::Fail
            },
            evidence: String::new(),
            evidence_ids: Vec::new(),
        };
        let check = |milestone: &str, assertion: &str, passed: bool| Event::MechanicalCheck {
            milestone: MilestoneId::new(milestone),
            round: 1,
            assertion: assertion.into(),
            passed,
            exit_code: Some(0),
            timed_out: false,
            duration_ms: 1.0,
            evidence_ids: Vec::new(),
        };
        let round = |milestone: &str| Event::MilestoneRound {
            milestone: MilestoneId::new(milestone),
            round: 1,
            passed: true,
            open_blocking: 0,
        };
        let records = mission_records(vec![
            Event::ContractWritten {
                run: 1,
                milestones: vec![milestone("m1"), milestone("m2"), milestone("m3")],
                assertions: vec![
                    assertion("A1", "m1", Verify::Command),
                    assertion("A2", "m2", Verify::Agent),
                    assertion("A3", "m2", Verify::Command),
                    assertion("A4", "m3", Verify::Command),
                    assertion("A5", "m3", Verify::Agent),
                ],
            },
            verdict("m1", "A1", true),
            check("m1", "A1", true),
            round("m1"),
            verdict("m2", "A1", true),
            verdict("m2", "A2", false),
            verdict("m2", "A3", true),
            check("m2", "A3", true),
            round("m2"),
            verdict("m3", "A1", false),
            verdict("m3", "A2", true),
            verdict("m3", "A3", true),
            verdict("m3", "A4", true),
            verdict("m3", "A5", true),
            check("m3", "A4", false),
            round("m3"),
        ]);
        let tables = fold("run", &records);
        let counts: Vec<_> = tables
            .milestones
            .iter()
            .map(|m| {
                (
                    m.milestone.as_str(),
                    (m.verdicts_pass, m.verdicts_fail, m.assertions_total),
                    (m.regression_pass, m.regression_fail),
                    (m.mechanical_pass, m.mechanical_fail),
                )
            })
            .collect();
        assert_eq!(
            counts,
            vec![
                ("m1", (1, 0, 1), (Some(0), Some(0)), (1, 0)),
                ("m2", (1, 1, 2), (Some(1), Some(0)), (1, 0)),
                ("m3", (2, 0, 2), (Some(2), Some(1)), (0, 1)),
            ]
        );
    }

    #[test]
    fn strict_sums_are_unknown_when_a_part_is() {
        assert_eq!(strict_sum([Some(1u64), Some(2)]), Some(3));
        assert_eq!(strict_sum([Some(1u64), None]), None);
        assert_eq!(strict_sum(Vec::<Option<u64>>::new()), Some(0));
    }

    #[test]
    fn tampered_ground_truth_and_left_out_paths_reach_the_missions_row() {
        use crate::events::{LeftOut, OutcomeChange, TamperEvidence};
        use crate::spec::MissionId;
        let key = MissionKey {
            suite: "core".into(),
            mission: MissionId::new("wordfreq"),
            pairing: "p".into(),
            repeat: 0,
        };
        let record = |seq: u64, event: Event| EventRecord {
            v: crate::events::EVENTS_VERSION,
            seq,
            time_ms: 0,
            mission: Some(key.clone()),
            event,
        };
        let left_out = |path: &str| LeftOut {
            path: path.into(),
            why: "a pytest plugin (conftest.py)".into(),
            machinery: true,
        };
        let events = vec![
            record(
                1,
                Event::MissionStarted {
                    mission_hash: "h".into(),
                    models: BTreeMap::new(),
                    workspace: "w".into(),
                    difficulty: None,
                    language: None,
                    tags: Vec::new(),
                },
            ),
            record(
                2,
                Event::AcceptanceSealed {
                    runner: "pytest".into(),
                    left_out: vec![left_out("conftest.py"), left_out("pytest.ini")],
                    ran_as_is: true,
                    tampered: Some(TamperEvidence {
                        files: vec!["conftest.py".into()],
                        tests: vec![OutcomeChange {
                            id: "acceptance.test_a::t".into(),
                            sealed: Some(TestStatus::Failed),
                            as_is: Some(TestStatus::Passed),
                        }],
                        runner: Vec::new(),
                        attempts: Vec::new(),
                    }),
                },
            ),
            record(
                3,
                Event::AcceptanceFinished {
                    tests: vec![TestResult {
                        id: "acceptance.test_a::t".into(),
                        milestone: None,
                        status: TestStatus::Failed,
                    }],
                    exit_code: Some(1),
                    timed_out: false,
                    duration_ms: 1.0,
                    error: None,
                },
            ),
        ];
        let tables = fold("r", &events);
        let row = &tables.missions[0];
        assert!(row.ground_truth_tampered);
        assert_eq!(row.acceptance_left_out, 2);
        assert_eq!(
            row.tamper_evidence.as_deref(),
            Some("1 test changed outcome with the workspace's own test machinery (acceptance.test_a::t); files: conftest.py")
        );
        let honest = fold("r", &events[..1]);
        assert!(!honest.missions[0].ground_truth_tampered);
        assert_eq!(honest.missions[0].tamper_evidence, None);
    }

    fn record(seq: u64, mission: &str, event: Event) -> EventRecord {
        EventRecord {
            v: 1,
            seq,
            time_ms: 0,
            mission: Some(MissionKey {
                suite: "core".to_string(),
                mission: crate::spec::MissionId::new(mission),
                pairing: "oracle".to_string(),
                repeat: 0,
            }),
            event,
        }
    }

    fn mutation(score: Option<f64>, killed: u64, survived: u64, error: Option<&str>) -> Event {
        Event::MutationMeasured {
            tool: "builtin".to_string(),
            score,
            candidates: 40,
            sampled: 10,
            mutants_total: killed + survived + 1,
            killed,
            survived,
            timed_out: 2,
            not_viable: 1,
            baseline_ms: 500.0,
            duration_ms: 5000.0,
            error: error.map(str::to_string),
            survivors: Vec::new(),
        }
    }

    #[test]
    fn mutation_scores_fold_into_the_missions_row() {
        let records = [
            record(1, "scored", mutation(Some(0.75), 6, 2, None)),
            record(
                2,
                "unjudged",
                mutation(None, 0, 0, Some("the mission's own tests fail")),
            ),
            record(
                3,
                "unmeasured",
                Event::LinesCounted {
                    source_files: 1,
                    source_lines: 10,
                    test_files: 1,
                    test_lines: 5,
                },
            ),
        ];
        let tables = fold("run", &records);
        let row = |mission: &str| {
            tables
                .missions
                .iter()
                .find(|m| m.mission == mission)
                .cloned()
                .unwrap()
        };
        let scored = row("scored");
        assert_eq!(scored.mutation_score, Some(0.75));
        assert_eq!(
            (
                scored.mutants_total,
                scored.mutants_killed,
                scored.mutants_survived,
                scored.mutants_timed_out
            ),
            (Some(9), Some(6), Some(2), Some(2))
        );
        assert_eq!(scored.mutation_error, None);
        let unjudged = row("unjudged");
        assert_eq!(unjudged.mutation_score, None);
        assert_eq!(unjudged.mutants_total, Some(1));
        assert_eq!(
            unjudged.mutation_error.as_deref(),
            Some("the mission's own tests fail")
        );
        // A mission without `[mutation]` has unknown counts, never zeros.
        let unmeasured = row("unmeasured");
        assert_eq!(
            (
                unmeasured.mutation_score,
                unmeasured.mutants_total,
                unmeasured.mutants_killed,
                unmeasured.mutation_error
            ),
            (None, None, None, None)
        );
        assert_eq!(scored.schema_version, 10);
    }
}

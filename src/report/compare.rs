//! Summaries from the tables: the per-mission table printed after a run, and the per-pairing
//! comparison of one or more runs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::stats::{
    cluster_bootstrap, mcnemar_exact, paired_bootstrap, pass_at_k, pass_hat_k, Interval,
};
use super::text::{optional, percent, render, seconds, tokens};
use crate::metrics::{MilestoneRow, MissionRow, RunRow, Tables, TurnRow};

/// Bootstrap resamples and the seed they are drawn with: fixed, so a comparison is reproducible.
const RESAMPLES: usize = 2000;
const SEED: u64 = 0x6d69_7373_696f_6e73;
const LEVEL: f64 = 0.95;

/// The paths the copies or the record left out, one line per path and mission run, printed
/// after the mission table; empty when none were.
pub fn skipped_paths(missions: &[MissionRow]) -> String {
    missions
        .iter()
        .flat_map(|m| {
            m.paths_skipped_detail.lines().map(move |line| {
                format!(
                    "left out of {} ({}, repeat {}): {line}\n",
                    m.mission, m.pairing, m.repeat
                )
            })
        })
        .collect()
}

/// The table printed at the end of a run: one line per mission run.
pub fn mission_table(missions: &[MissionRow]) -> String {
    let rows: Vec<Vec<String>> = missions
        .iter()
        .map(|m| {
            vec![
                m.mission.clone(),
                m.pairing.clone(),
                m.repeat.to_string(),
                m.status.clone(),
                m.halt_reason.clone().unwrap_or_else(|| "-".to_string()),
                format!(
                    "{}/{}{}",
                    m.acceptance_passed,
                    m.acceptance_total,
                    if m.ground_truth_tampered {
                        " tampered"
                    } else {
                        ""
                    }
                ),
                format!("{}/{}", m.milestones_passed, m.milestones_total),
                optional(m.rounds_to_pass_max),
                m.fix_features.to_string(),
                m.agent_runs.to_string(),
                tokens(m.input_tokens.unwrap_or(0) + m.output_tokens.unwrap_or(0)),
                optional(m.coverage_pct.map(|c| format!("{c:.0}%"))),
                mutation_label(m),
                seconds(m.wall_ms),
            ]
        })
        .collect();
    render(
        &[
            "mission",
            "pairing",
            "rep",
            "status",
            "halt",
            "accept",
            "milestones",
            "rounds",
            "fixes",
            "runs",
            "tokens",
            "cover",
            "mutation",
            "wall",
        ],
        &rows,
    )
}

/// A mission's mutation score with its counts (`85% (34/40)`: killed over viable), or `-`.
pub fn mutation_label(m: &MissionRow) -> String {
    match (m.mutation_score, m.mutants_killed, m.mutants_survived) {
        (Some(score), Some(killed), Some(survived)) => {
            format!("{:.0}% ({killed}/{})", score * 100.0, killed + survived)
        }
        _ => "-".to_string(),
    }
}

/// One pairing's numbers over every mission run it has in the compared reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairingSummary {
    pub pairing: String,
    pub suites: Vec<String>,
    pub missions: u64,
    pub passed: u64,
    /// Passed missions over all missions, errors and halts included.
    pub pass_rate: f64,
    /// 95% percentile bootstrap interval of the pass rate, resampling missions (a mission's
    /// repeats stay together).
    pub pass_rate_ci: Option<Interval>,
    /// Distinct missions, and the fewest runs any of them has (the largest k for pass@k).
    pub distinct_missions: u64,
    pub min_repeats: u64,
    /// Mean over missions of the unbiased pass@k, for k = 1..=min_repeats.
    pub pass_at_k: BTreeMap<u64, f64>,
    /// Mean over missions of pass^k: every one of k runs passes.
    pub pass_hat_k: BTreeMap<u64, f64>,
    pub infra_errors: u64,
    /// Missions whose ground truth the agents tampered with (none of them counts as passed).
    pub tampered: u64,
    pub acceptance_share: Option<f64>,
    pub milestones_passed_share: Option<f64>,
    /// Mean round in which milestones first passed.
    pub mean_rounds_to_pass: Option<f64>,
    /// Milestones by the round in which they first passed.
    pub rounds_to_pass: BTreeMap<u32, u64>,
    /// Fix features over all features planned.
    pub fix_feature_share: Option<f64>,
    pub fix_features_per_mission: f64,
    /// Mean input + output tokens per mission, by role.
    pub tokens_by_role: BTreeMap<String, f64>,
    pub usage_sources: Vec<String>,
    pub mean_cost_usd: Option<f64>,
    pub mean_wall_s: f64,
    pub mean_coverage_pct: Option<f64>,
    /// Mean mutation score (killed over viable mutants) over missions that have one.
    pub mean_mutation_score: Option<f64>,
    pub false_green: u64,
    pub false_red: u64,
    /// Milestones that passed validation but failed their acceptance tests, over milestones
    /// that passed validation.
    pub false_green_rate: Option<f64>,
    /// Milestones whose validators failed them in their last round though acceptance passes
    /// them, over milestones acceptance passes.
    pub false_red_rate: Option<f64>,
    /// Agent runs served from a recorded run (counterfactual replay), and the mission runs
    /// whose replay left its record.
    pub replayed_runs: u64,
    pub replay_diverged: u64,
    /// Findings per mission, by severity.
    pub findings_per_mission: BTreeMap<String, f64>,
    /// Cached input over all input, by role, over turns whose numbers are known.
    pub cache_read_share_by_role: BTreeMap<String, f64>,
    /// How the tool calls of each role were written, for roles that made any.
    pub tool_calls_by_role: BTreeMap<String, CallShares>,
    /// Mean model calls (turns) per agent run, by role.
    pub turns_per_run_by_role: BTreeMap<String, f64>,
    /// What a reader must know before trusting these numbers (greedy repeats).
    pub warnings: Vec<String>,
}

/// The tool calls of one role: valid as the model wrote them, recovered by the harness from
/// outside the model's own format, or malformed (unreadable arguments or an unknown tool). The
/// three partition `calls`; shares are over `calls`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CallShares {
    pub calls: u64,
    pub valid: u64,
    pub recovered: u64,
    pub malformed: u64,
    pub valid_share: f64,
    pub recovered_share: f64,
    pub malformed_share: f64,
}

impl CallShares {
    /// The shares of a set of agent runs; `None` when they made no call.
    pub fn of<'a>(runs: impl IntoIterator<Item = &'a RunRow>) -> Option<CallShares> {
        let (mut calls, mut recovered, mut malformed) = (0u64, 0u64, 0u64);
        for run in runs {
            calls += run.tool_calls;
            recovered += run.recovered_calls;
            malformed += run.malformed_calls + run.unknown_tool_calls;
        }
        let valid = calls.saturating_sub(recovered + malformed);
        let of_calls = |part: u64| share(part, calls);
        Some(CallShares {
            calls,
            valid,
            recovered,
            malformed,
            valid_share: of_calls(valid)?,
            recovered_share: of_calls(recovered)?,
            malformed_share: of_calls(malformed)?,
        })
    }

    /// `(calls, valid, recovered, malformed)`.
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        (self.calls, self.valid, self.recovered, self.malformed)
    }

    /// `85% (17)`: a share with its count.
    fn cell(share: f64, count: u64) -> String {
        format!("{} ({count})", percent(share))
    }
}

impl PairingSummary {
    /// Mean input + output tokens per mission, all roles.
    pub fn mean_tokens(&self) -> f64 {
        self.tokens_by_role.values().sum()
    }

    /// Findings of a severity per mission.
    pub fn findings(&self, severity: &str) -> f64 {
        self.findings_per_mission
            .get(severity)
            .copied()
            .unwrap_or(0.0)
    }
}

/// `1:100% 2:83%`: a value per k.
fn by_k(map: &BTreeMap<u64, f64>, between: &str, separator: &str) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}{between}{}", percent(*v)))
        .collect::<Vec<_>>()
        .join(separator)
}

fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let values: Vec<f64> = values.into_iter().collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The round in which each milestone of each mission run first passed, once per milestone (rows
/// repeat it on every round).
pub fn rounds_to_pass<'a>(
    rows: impl IntoIterator<Item = &'a MilestoneRow>,
) -> BTreeMap<(&'a str, &'a str, &'a str, u32, &'a str), u32> {
    rows.into_iter()
        .filter_map(|row| {
            let key = (
                row.run_id.as_str(),
                row.suite.as_str(),
                row.mission.as_str(),
                row.repeat,
                row.milestone.as_str(),
            );
            row.rounds_to_pass.map(|r| (key, r))
        })
        .collect()
}

/// Per-pairing summaries, in pairing-name order.
pub fn compare(tables: &[Tables]) -> Vec<PairingSummary> {
    let rows = RowsByPairing::of(tables);
    rows.missions
        .iter()
        .map(|(pairing, missions)| {
            summarize(&PairingRows {
                pairing,
                missions,
                milestones: rows.milestones.get(pairing).map_or(&[], Vec::as_slice),
                turns: rows.turns.get(pairing).map_or(&[], Vec::as_slice),
                runs: rows.runs.get(pairing).map_or(&[], Vec::as_slice),
            })
        })
        .collect()
}

/// The rows of the compared tables, by pairing.
#[derive(Default)]
struct RowsByPairing<'a> {
    missions: BTreeMap<&'a str, Vec<&'a MissionRow>>,
    milestones: BTreeMap<&'a str, Vec<&'a MilestoneRow>>,
    turns: BTreeMap<&'a str, Vec<&'a TurnRow>>,
    runs: BTreeMap<&'a str, Vec<&'a RunRow>>,
}

impl<'a> RowsByPairing<'a> {
    fn of(tables: &'a [Tables]) -> RowsByPairing<'a> {
        let mut rows = RowsByPairing::default();
        for table in tables {
            for row in &table.runs {
                rows.runs.entry(row.pairing.as_str()).or_default().push(row);
            }
            for row in &table.turns {
                rows.turns
                    .entry(row.pairing.as_str())
                    .or_default()
                    .push(row);
            }
            for row in &table.missions {
                rows.missions
                    .entry(row.pairing.as_str())
                    .or_default()
                    .push(row);
            }
            for row in &table.milestones {
                rows.milestones
                    .entry(row.pairing.as_str())
                    .or_default()
                    .push(row);
            }
        }
        rows
    }
}

/// The rows of one pairing.
struct PairingRows<'a> {
    pairing: &'a str,
    missions: &'a [&'a MissionRow],
    milestones: &'a [&'a MilestoneRow],
    turns: &'a [&'a TurnRow],
    runs: &'a [&'a RunRow],
}

/// One pairing's summary.
fn summarize(rows: &PairingRows) -> PairingSummary {
    let PairingRows {
        pairing,
        missions,
        milestones,
        turns,
        runs,
    } = *rows;
    let n = missions.len() as u64;
    let passed = missions.iter().filter(|m| m.status == "passed").count() as u64;
    let first_pass = rounds_to_pass(milestones.iter().copied());
    let repeats = MissionRepeats::of(missions);
    let passed_milestones: Vec<&MilestoneRow> =
        milestones.iter().copied().filter(|m| m.passed).collect();
    let runs_by_role = runs_by_role(runs);
    let tampered = missions.iter().filter(|m| m.ground_truth_tampered).count() as u64;
    let costs: Vec<f64> = missions.iter().filter_map(|m| m.cost_usd).collect();
    PairingSummary {
        warnings: pairing_warnings(pairing, repeats.most_runs(), runs, missions, tampered),
        turns_per_run_by_role: runs_by_role
            .iter()
            .map(|(role, runs)| {
                let turns: u64 = runs.iter().map(|r| u64::from(r.turns)).sum();
                (role.clone(), turns as f64 / runs.len().max(1) as f64)
            })
            .collect(),
        tool_calls_by_role: runs_by_role
            .into_iter()
            .filter_map(|(role, runs)| CallShares::of(runs).map(|shares| (role, shares)))
            .collect(),
        pairing: pairing.to_string(),
        suites: distinct(missions.iter().map(|m| m.suite.clone())),
        missions: n,
        passed,
        pass_rate: share(passed, n).unwrap_or(0.0),
        pass_rate_ci: cluster_bootstrap(&repeats.clusters(), RESAMPLES, LEVEL, SEED),
        distinct_missions: repeats.by_mission.len() as u64,
        min_repeats: repeats.fewest_runs(),
        pass_at_k: repeats.mean_per_k(pass_at_k),
        pass_hat_k: repeats.mean_per_k(pass_hat_k),
        infra_errors: missions.iter().filter(|m| m.status == "error").count() as u64,
        tampered,
        acceptance_share: share(
            missions.iter().map(|m| m.acceptance_passed).sum(),
            missions.iter().map(|m| m.acceptance_total).sum(),
        ),
        milestones_passed_share: share(
            missions.iter().map(|m| m.milestones_passed).sum(),
            missions.iter().map(|m| m.milestones_total).sum(),
        ),
        mean_rounds_to_pass: mean(first_pass.values().map(|r| f64::from(*r))),
        rounds_to_pass: first_pass.values().fold(BTreeMap::new(), |mut acc, r| {
            *acc.entry(*r).or_insert(0) += 1;
            acc
        }),
        fix_feature_share: share(
            missions.iter().map(|m| m.fix_features).sum(),
            missions.iter().map(|m| m.features + m.fix_features).sum(),
        ),
        fix_features_per_mission: mean(missions.iter().map(|m| m.fix_features as f64))
            .unwrap_or(0.0),
        tokens_by_role: tokens_by_role(missions),
        usage_sources: distinct(missions.iter().map(|m| m.usage_source.clone())),
        mean_cost_usd: (costs.len() == missions.len())
            .then(|| mean(costs))
            .flatten(),
        mean_wall_s: mean(missions.iter().map(|m| m.wall_ms / 1000.0)).unwrap_or(0.0),
        mean_coverage_pct: mean(missions.iter().filter_map(|m| m.coverage_pct)),
        mean_mutation_score: mean(missions.iter().filter_map(|m| m.mutation_score)),
        false_green: missions.iter().map(|m| m.false_green).sum(),
        false_red: missions.iter().map(|m| m.false_red).sum(),
        false_green_rate: share(
            passed_milestones.iter().filter(|m| m.false_green).count() as u64,
            passed_milestones.len() as u64,
        ),
        false_red_rate: {
            let good = last_rounds(milestones)
                .into_iter()
                .filter(|m| m.acceptance_ok == Some(true))
                .collect::<Vec<_>>();
            share(
                good.iter().filter(|m| m.false_red).count() as u64,
                good.len() as u64,
            )
        },
        replayed_runs: runs.iter().filter(|r| r.replayed_from.is_some()).count() as u64,
        replay_diverged: missions
            .iter()
            .filter(|m| m.replay_diverged.is_some())
            .count() as u64,
        findings_per_mission: findings_per_mission(missions),
        cache_read_share_by_role: cache_read_shares(turns),
    }
}

/// The distinct values, sorted.
fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    values.collect::<BTreeSet<_>>().into_iter().collect()
}

/// How many runs of each mission (suite and mission id) a pairing has, and how many of them
/// passed: the clusters of the pass-rate interval and the samples of pass@k.
struct MissionRepeats<'a> {
    by_mission: BTreeMap<(&'a str, &'a str), MissionPasses>,
}

#[derive(Debug, Clone, Copy, Default)]
struct MissionPasses {
    passed: u64,
    runs: u64,
}

impl<'a> MissionRepeats<'a> {
    fn of(missions: &[&'a MissionRow]) -> MissionRepeats<'a> {
        let mut by_mission: BTreeMap<(&str, &str), MissionPasses> = BTreeMap::new();
        for row in missions {
            let entry = by_mission
                .entry((row.suite.as_str(), row.mission.as_str()))
                .or_default();
            entry.passed += u64::from(row.status == "passed");
            entry.runs += 1;
        }
        MissionRepeats { by_mission }
    }

    /// `(passed, runs)` per mission, as [`cluster_bootstrap`] takes them.
    fn clusters(&self) -> Vec<(f64, f64)> {
        self.by_mission
            .values()
            .map(|m| (m.passed as f64, m.runs as f64))
            .collect()
    }

    /// The fewest runs any mission has: the largest k for pass@k.
    fn fewest_runs(&self) -> u64 {
        self.by_mission.values().map(|m| m.runs).min().unwrap_or(0)
    }

    fn most_runs(&self) -> u64 {
        self.by_mission.values().map(|m| m.runs).max().unwrap_or(0)
    }

    /// The mean over missions of `estimate(runs, passed, k)`, for k = 1..=fewest runs.
    fn mean_per_k(&self, estimate: fn(u64, u64, u64) -> Option<f64>) -> BTreeMap<u64, f64> {
        (1..=self.fewest_runs())
            .filter_map(|k| {
                mean(
                    self.by_mission
                        .values()
                        .filter_map(|m| estimate(m.runs, m.passed, k)),
                )
                .map(|v| (k, v))
            })
            .collect()
    }
}

/// Agent runs by role.
fn runs_by_role<'a>(runs: &[&'a RunRow]) -> BTreeMap<String, Vec<&'a RunRow>> {
    let mut by_role: BTreeMap<String, Vec<&RunRow>> = BTreeMap::new();
    for run in runs {
        by_role.entry(run.role.clone()).or_default().push(run);
    }
    by_role
}

/// A count of the missions table under the name a summary gives it.
struct MissionCount {
    name: &'static str,
    of: fn(&MissionRow) -> u64,
}

/// The mean of each count over the missions, by name.
fn mean_per_mission(missions: &[&MissionRow], counts: &[MissionCount]) -> BTreeMap<String, f64> {
    counts
        .iter()
        .map(|count| {
            let mean = mean(missions.iter().map(|m| (count.of)(m) as f64)).unwrap_or(0.0);
            (count.name.to_string(), mean)
        })
        .collect()
}

/// Mean input + output tokens per mission, by role.
fn tokens_by_role(missions: &[&MissionRow]) -> BTreeMap<String, f64> {
    let count = |name, of| MissionCount { name, of };
    mean_per_mission(
        missions,
        &[
            count("orchestrator", |m| m.tokens_orchestrator),
            count("worker", |m| m.tokens_worker),
            count("scrutiny", |m| m.tokens_scrutiny),
            count("user_testing", |m| m.tokens_user_testing),
            count("subagent", |m| m.tokens_subagent),
        ],
    )
}

/// Findings per mission, by severity.
fn findings_per_mission(missions: &[&MissionRow]) -> BTreeMap<String, f64> {
    let count = |name, of| MissionCount { name, of };
    mean_per_mission(
        missions,
        &[
            count("blocking", |m| m.findings_blocking),
            count("non_blocking", |m| m.findings_non_blocking),
            count("suggestion", |m| m.findings_suggestion),
        ],
    )
}

/// Cached input tokens and all input tokens of one role.
#[derive(Debug, Clone, Copy, Default)]
struct CachedInput {
    read: u64,
    input: u64,
}

/// Cached input over all input, by role, over turns whose numbers are known.
fn cache_read_shares(turns: &[&TurnRow]) -> BTreeMap<String, f64> {
    let mut cache: BTreeMap<String, CachedInput> = BTreeMap::new();
    for turn in turns {
        if let (Some(read), Some(input)) = (turn.cache_read_tokens, turn.input_tokens) {
            let entry = cache.entry(turn.role.clone()).or_default();
            entry.read += read;
            entry.input += input;
        }
    }
    cache
        .into_iter()
        .filter(|(_, cached)| cached.input > 0)
        .map(|(role, cached)| (role, cached.read as f64 / cached.input as f64))
        .collect()
}

/// What a reader of a pairing's numbers must know: greedy repeats (`repeats`: the most runs
/// of one mission), and mission runs that tampered with the ground truth.
fn pairing_warnings(
    pairing: &str,
    repeats: u64,
    runs: &[&RunRow],
    missions: &[&MissionRow],
    tampered: u64,
) -> Vec<String> {
    greedy_repeats(pairing, repeats, runs)
        .into_iter()
        .chain(replay_warning(pairing, runs, missions))
        .chain((tampered > 0).then(|| {
            format!(
                "{pairing}: {tampered} mission run{} tampered with the acceptance verdict and count{} as not passed (missions.parquet `tamper_evidence` says how)",
                if tampered == 1 { "" } else { "s" },
                if tampered == 1 { "s" } else { "" }
            )
        }))
        .collect()
}

/// Each milestone's last round (the one its `false_red` speaks of).
fn last_rounds<'a>(milestones: &[&'a MilestoneRow]) -> Vec<&'a MilestoneRow> {
    let mut last: BTreeMap<(&str, &str, &str, u32, &str), &MilestoneRow> = BTreeMap::new();
    for row in milestones {
        let key = (
            row.run_id.as_str(),
            row.suite.as_str(),
            row.mission.as_str(),
            row.repeat,
            row.milestone.as_str(),
        );
        match last.get(&key) {
            Some(kept) if kept.round >= row.round => {}
            _ => {
                last.insert(key, row);
            }
        }
    }
    last.into_values().collect()
}

/// A note that some of a pairing's agent runs were served from a recorded run rather than made
/// by its models (a counterfactual replay), and how many of its missions left their record.
fn replay_warning(pairing: &str, runs: &[&RunRow], missions: &[&MissionRow]) -> Option<String> {
    let replayed = runs.iter().filter(|r| r.replayed_from.is_some()).count();
    if replayed == 0 {
        return None;
    }
    let recordings: BTreeSet<&str> = runs
        .iter()
        .filter_map(|r| r.replayed_from.as_deref())
        .filter_map(|r| r.split(' ').next())
        .collect();
    let diverged = missions
        .iter()
        .filter(|m| m.replay_diverged.is_some())
        .count();
    Some(format!(
        "pairing `{pairing}` is a replay: {replayed} of {} agent runs were served from recorded run{} {} rather than made by its models; {diverged} of {} mission runs left their record (missions.parquet `replay_diverged`)",
        runs.len(),
        if recordings.len() == 1 { "" } else { "s" },
        recordings.into_iter().collect::<Vec<_>>().join(", "),
        missions.len()
    ))
}

/// Two pairings' validators on identical work: milestone rounds where both served the same
/// recorded worker runs, each verdict right or wrong against acceptance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidatorDifference {
    pub baseline: String,
    pub candidate: String,
    /// Aligned milestone rounds whose work (the worker runs of the round) was served from the
    /// same recorded runs on both sides, and whose acceptance is known.
    pub rounds: u64,
    pub both_right: u64,
    pub only_baseline_right: u64,
    pub only_candidate_right: u64,
    pub neither_right: u64,
    /// Validators passed work acceptance fails (false green) / failed work acceptance passes
    /// (false red), on these rounds.
    pub baseline_false_green: u64,
    pub baseline_false_red: u64,
    pub candidate_false_green: u64,
    pub candidate_false_red: u64,
    /// McNemar's exact two-sided p-value on the rounds only one side judged right.
    pub mcnemar_p: f64,
}

/// The validators of every other pairing against `baseline`'s on identical work; only pairs
/// that share such rounds (replays of one recording that held the workers fixed).
pub fn validator_differences(
    tables: &[Tables],
    summaries: &[PairingSummary],
    baseline: Option<&str>,
) -> Vec<ValidatorDifference> {
    against_baseline(summaries, baseline, |base, candidate| {
        validator_difference(tables, base, candidate)
    })
}

/// `compare(baseline, candidate)` for every other pairing, where it gives a result; the
/// baseline is the one named, else the first pairing by name.
fn against_baseline<T>(
    summaries: &[PairingSummary],
    baseline: Option<&str>,
    compare: impl Fn(&str, &str) -> Option<T>,
) -> Vec<T> {
    let Some(baseline) = baseline.or(summaries.first().map(|s| s.pairing.as_str())) else {
        return Vec::new();
    };
    summaries
        .iter()
        .filter(|s| s.pairing != baseline)
        .filter_map(|s| compare(baseline, &s.pairing))
        .collect()
}

type RoundKey<'a> = (&'a str, &'a str, u32, &'a str, u32);

/// One pairing's milestone rounds with the recorded worker runs they judged: the round's
/// verdict and the milestone's acceptance.
fn judged_rounds<'a>(
    tables: &'a [Tables],
    pairing: &str,
) -> BTreeMap<RoundKey<'a>, (Vec<&'a str>, bool, bool)> {
    // Within one report folder: the same pairing in two folders is two sets of rounds.
    let mut work: BTreeMap<(&str, RoundKey), Vec<&str>> = BTreeMap::new();
    for run in tables.iter().flat_map(|t| &t.runs) {
        if run.pairing != pairing || run.role != "worker" {
            continue;
        }
        let (Some(milestone), Some(round)) = (run.milestone.as_deref(), run.round) else {
            continue;
        };
        work.entry((
            run.run_id.as_str(),
            (
                run.suite.as_str(),
                run.mission.as_str(),
                run.repeat,
                milestone,
                round,
            ),
        ))
        .or_default()
        .push(run.replayed_from.as_deref().unwrap_or(""));
    }
    let mut judged = BTreeMap::new();
    for row in tables.iter().flat_map(|t| &t.milestones) {
        if row.pairing != pairing {
            continue;
        }
        let key = (
            row.suite.as_str(),
            row.mission.as_str(),
            row.repeat,
            row.milestone.as_str(),
            row.round,
        );
        let (Some(accepted), Some(runs)) =
            (row.acceptance_ok, work.get(&(row.run_id.as_str(), key)))
        else {
            continue;
        };
        // Only work served from a record is known to be the same on both sides.
        if runs.iter().any(|r| r.is_empty()) {
            continue;
        }
        let mut runs = runs.clone();
        runs.sort_unstable();
        // A round the pairing has in two folders is judged once, by the first.
        judged.entry(key).or_insert((runs, row.passed, accepted));
    }
    judged
}

/// `candidate`'s validators against `baseline`'s on the rounds of identical work they share.
pub fn validator_difference(
    tables: &[Tables],
    baseline: &str,
    candidate: &str,
) -> Option<ValidatorDifference> {
    let base = judged_rounds(tables, baseline);
    let cand = judged_rounds(tables, candidate);
    let mut d = ValidatorDifference {
        baseline: baseline.to_string(),
        candidate: candidate.to_string(),
        rounds: 0,
        both_right: 0,
        only_baseline_right: 0,
        only_candidate_right: 0,
        neither_right: 0,
        baseline_false_green: 0,
        baseline_false_red: 0,
        candidate_false_green: 0,
        candidate_false_red: 0,
        mcnemar_p: 1.0,
    };
    for (key, (work, passed_b, accepted)) in &base {
        let Some((other, passed_c, _)) = cand.get(key) else {
            continue;
        };
        if work != other {
            continue;
        }
        d.rounds += 1;
        let (right_b, right_c) = (passed_b == accepted, passed_c == accepted);
        match (right_b, right_c) {
            (true, true) => d.both_right += 1,
            (true, false) => d.only_baseline_right += 1,
            (false, true) => d.only_candidate_right += 1,
            (false, false) => d.neither_right += 1,
        }
        d.baseline_false_green += u64::from(*passed_b && !accepted);
        d.baseline_false_red += u64::from(!passed_b && *accepted);
        d.candidate_false_green += u64::from(*passed_c && !accepted);
        d.candidate_false_red += u64::from(!passed_c && *accepted);
    }
    if d.rounds == 0 {
        return None;
    }
    d.mcnemar_p = mcnemar_exact(d.only_baseline_right, d.only_candidate_right);
    Some(d)
}

/// The validators-on-identical-work table.
pub fn render_validator_differences(differences: &[ValidatorDifference]) -> String {
    let rows: Vec<Vec<String>> = differences
        .iter()
        .map(|d| {
            vec![
                format!("{} vs {}", d.candidate, d.baseline),
                d.rounds.to_string(),
                format!(
                    "{}/{}/{}/{}",
                    d.both_right, d.only_baseline_right, d.only_candidate_right, d.neither_right
                ),
                format!("{}/{}", d.baseline_false_green, d.baseline_false_red),
                format!("{}/{}", d.candidate_false_green, d.candidate_false_red),
                format!("{:.3}", d.mcnemar_p),
            ]
        })
        .collect();
    render(
        &[
            "validators: candidate vs baseline",
            "rounds",
            "right both/base/cand/neither",
            "base false green/red",
            "cand false green/red",
            "McNemar p",
        ],
        &rows,
    )
}

/// A warning when a pairing's repeats of a mission cannot differ: every agent run is a local
/// model at temperature 0 (greedy) or a deterministic provider (oracle, nop), with at least one
/// local model. Remote models may sample on the server whatever their temperature, so a pairing
/// with any is never called greedy.
fn greedy_repeats(pairing: &str, repeats: u64, runs: &[&RunRow]) -> Option<String> {
    let local = runs.iter().any(|r| r.provider == "candle");
    let sampled = runs.iter().any(|r| match r.provider.as_str() {
        "candle" => r.temperature.is_some_and(|t| t > 0.0),
        "oracle" | "nop" => false,
        _ => true,
    });
    (repeats > 1 && local && !sampled).then(|| {
        format!(
            "pairing `{pairing}`: its repeats are greedy (every local model at temperature 0), so \
             they are identical and pass@k means nothing; give the models a temperature above 0"
        )
    })
}

/// Each pairing's warnings, one line each (empty when there are none).
pub fn render_warnings(summaries: &[PairingSummary]) -> String {
    summaries
        .iter()
        .flat_map(|s| &s.warnings)
        .map(|w| format!("warning: {w}\n"))
        .collect()
}

pub fn render_compare(summaries: &[PairingSummary]) -> String {
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|s| {
            let role =
                |r: &str| tokens(s.tokens_by_role.get(r).copied().unwrap_or(0.0).round() as u64);
            vec![
                s.pairing.clone(),
                s.missions.to_string(),
                percent(s.pass_rate),
                optional(s.acceptance_share.map(percent)),
                optional(s.milestones_passed_share.map(percent)),
                optional(s.mean_rounds_to_pass.map(|r| format!("{r:.2}"))),
                format!("{:.1}", s.fix_features_per_mission),
                role("orchestrator"),
                role("worker"),
                role("scrutiny"),
                role("user_testing"),
                s.usage_sources.join(","),
                format!("{:.1}s", s.mean_wall_s),
                optional(s.mean_coverage_pct.map(|c| format!("{c:.0}%"))),
                optional(s.mean_mutation_score.map(percent)),
                s.infra_errors.to_string(),
                s.tampered.to_string(),
            ]
        })
        .collect();
    render(
        &[
            "pairing",
            "missions",
            "pass",
            "accept",
            "milestones",
            "rounds",
            "fixes",
            "tok:orch",
            "tok:work",
            "tok:scrut",
            "tok:user",
            "usage",
            "wall",
            "cover",
            "mutation",
            "errors",
            "tampered",
        ],
        &rows,
    )
}

/// Two pairings on the mission runs they share, aligned by (suite, mission, repeat).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedDifference {
    pub baseline: String,
    pub candidate: String,
    /// Aligned pairs of runs.
    pub pairs: u64,
    pub both_passed: u64,
    pub only_baseline_passed: u64,
    pub only_candidate_passed: u64,
    pub neither_passed: u64,
    /// Candidate pass rate minus the baseline's, over the aligned pairs.
    pub pass_rate_difference: f64,
    /// McNemar's exact two-sided p-value on the discordant pairs.
    pub mcnemar_p: f64,
    /// Mean candidate-minus-baseline total tokens per mission, with a 95% paired bootstrap
    /// interval (pairs of one mission resampled together).
    pub tokens_difference: Option<f64>,
    pub tokens_difference_ci: Option<Interval>,
    pub wall_s_difference: f64,
    pub wall_s_difference_ci: Option<Interval>,
}

/// The paired comparison of `candidate` against `baseline`; `None` when they share no runs.
pub fn paired_difference(
    tables: &[Tables],
    baseline: &str,
    candidate: &str,
) -> Option<PairedDifference> {
    let of = |pairing: &str| -> Vec<&MissionRow> {
        tables
            .iter()
            .flat_map(|t| &t.missions)
            .filter(|m| m.pairing == pairing)
            .collect()
    };
    paired_rows(baseline, candidate, &of(baseline), &of(candidate))
}

/// The paired comparison of two sets of mission runs, named `baseline` and `candidate`.
pub fn paired_rows(
    baseline: &str,
    candidate: &str,
    baseline_rows: &[&MissionRow],
    candidate_rows: &[&MissionRow],
) -> Option<PairedDifference> {
    fn index<'a>(rows: &[&'a MissionRow]) -> BTreeMap<(&'a str, &'a str, u32), &'a MissionRow> {
        rows.iter()
            .map(|m| ((m.suite.as_str(), m.mission.as_str(), m.repeat), *m))
            .collect()
    }
    let (base, cand) = (index(baseline_rows), index(candidate_rows));
    let pairs: Vec<(&MissionRow, &MissionRow)> = base
        .iter()
        .filter_map(|(key, b)| cand.get(key).map(|c| (*b, *c)))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let passed = |m: &MissionRow| m.status == "passed";
    let count = |f: &dyn Fn(bool, bool) -> bool| {
        pairs
            .iter()
            .filter(|(b, c)| f(passed(b), passed(c)))
            .count() as u64
    };
    let both = count(&|b, c| b && c);
    let only_b = count(&|b, c| b && !c);
    let only_c = count(&|b, c| !b && c);
    let neither = count(&|b, c| !b && !c);
    let total = |m: &MissionRow| match (m.input_tokens, m.output_tokens) {
        (Some(i), Some(o)) => Some((i + o) as f64),
        _ => None,
    };
    // Differences grouped by mission, so a mission's repeats are resampled together.
    let mut token_clusters: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    let mut wall_clusters: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for (b, c) in &pairs {
        let key = (b.suite.as_str(), b.mission.as_str());
        if let (Some(tb), Some(tc)) = (total(b), total(c)) {
            token_clusters.entry(key).or_default().push(tc - tb);
        }
        wall_clusters
            .entry(key)
            .or_default()
            .push((c.wall_ms - b.wall_ms) / 1000.0);
    }
    let token_diffs: Vec<Vec<f64>> = token_clusters.into_values().collect();
    let wall_diffs: Vec<Vec<f64>> = wall_clusters.into_values().collect();
    let flat_mean = |clusters: &[Vec<f64>]| mean(clusters.iter().flatten().copied());
    let n = pairs.len() as u64;
    Some(PairedDifference {
        baseline: baseline.to_string(),
        candidate: candidate.to_string(),
        pairs: n,
        both_passed: both,
        only_baseline_passed: only_b,
        only_candidate_passed: only_c,
        neither_passed: neither,
        pass_rate_difference: (only_c as f64 - only_b as f64) / n as f64,
        mcnemar_p: mcnemar_exact(only_b, only_c),
        tokens_difference: flat_mean(&token_diffs),
        tokens_difference_ci: paired_bootstrap(&token_diffs, RESAMPLES, LEVEL, SEED),
        wall_s_difference: flat_mean(&wall_diffs).unwrap_or(0.0),
        wall_s_difference_ci: paired_bootstrap(&wall_diffs, RESAMPLES, LEVEL, SEED),
    })
}

/// Every other pairing against `baseline` (default: the first pairing by name).
pub fn paired_differences(
    tables: &[Tables],
    summaries: &[PairingSummary],
    baseline: Option<&str>,
) -> Vec<PairedDifference> {
    against_baseline(summaries, baseline, |base, candidate| {
        paired_difference(tables, base, candidate)
    })
}

fn interval(ci: Option<Interval>, scale: f64, digits: usize) -> String {
    optional(ci.map(|i| format!("[{:.digits$}, {:.digits$}]", i.low * scale, i.high * scale)))
}

/// The statistics table: interval, pass@k and pass^k, findings, cache reads, false greens.
pub fn render_statistics(summaries: &[PairingSummary]) -> String {
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|s| {
            vec![
                s.pairing.clone(),
                percent(s.pass_rate),
                interval(s.pass_rate_ci, 100.0, 0),
                by_k(&s.pass_at_k, ":", " "),
                by_k(&s.pass_hat_k, ":", " "),
                format!(
                    "{:.1}/{:.1}/{:.1}",
                    s.findings("blocking"),
                    s.findings("non_blocking"),
                    s.findings("suggestion")
                ),
                optional(
                    s.cache_read_share_by_role
                        .get("worker")
                        .copied()
                        .map(percent),
                ),
                optional(s.false_green_rate.map(percent)),
                optional(s.false_red_rate.map(percent)),
            ]
        })
        .collect();
    render(
        &[
            "pairing",
            "pass",
            "95% CI",
            "pass@k",
            "pass^k",
            "findings b/nb/s",
            "cache:work",
            "false green",
            "false red",
        ],
        &rows,
    )
}

/// Tool calls by role: valid as written, recovered, malformed, each a share of the role's calls
/// with its count.
pub fn render_tool_calls(summaries: &[PairingSummary]) -> String {
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .flat_map(|s| {
            s.tool_calls_by_role.iter().map(|(role, c)| {
                vec![
                    s.pairing.clone(),
                    role.clone(),
                    c.calls.to_string(),
                    CallShares::cell(c.valid_share, c.valid),
                    CallShares::cell(c.recovered_share, c.recovered),
                    CallShares::cell(c.malformed_share, c.malformed),
                ]
            })
        })
        .collect();
    render(
        &[
            "pairing",
            "role",
            "calls",
            "valid",
            "recovered",
            "malformed",
        ],
        &rows,
    )
}

pub fn render_differences(differences: &[PairedDifference]) -> String {
    let rows: Vec<Vec<String>> = differences
        .iter()
        .map(|d| {
            vec![
                format!("{} vs {}", d.candidate, d.baseline),
                d.pairs.to_string(),
                format!(
                    "{}/{}/{}/{}",
                    d.both_passed,
                    d.only_baseline_passed,
                    d.only_candidate_passed,
                    d.neither_passed
                ),
                format!("{:+.0} pp", d.pass_rate_difference * 100.0),
                format!("{:.3}", d.mcnemar_p),
                optional(d.tokens_difference.map(|t| format!("{t:+.0}"))),
                interval(d.tokens_difference_ci, 1.0, 0),
                format!("{:+.1}s", d.wall_s_difference),
                interval(d.wall_s_difference_ci, 1.0, 1),
            ]
        })
        .collect();
    render(
        &[
            "candidate vs baseline",
            "pairs",
            "both/base/cand/neither",
            "pass diff",
            "McNemar p",
            "tokens diff",
            "95% CI",
            "wall diff",
            "95% CI",
        ],
        &rows,
    )
}

/// The comparison as Markdown, for a CI comment.
pub fn render_markdown(summaries: &[PairingSummary], differences: &[PairedDifference]) -> String {
    let mut out = String::from("| pairing | missions | pass | 95% CI | pass@k | pass^k | accept | rounds | tokens/mission | cost/mission | wall | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for s in summaries {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {} |\n",
            s.pairing,
            s.missions,
            percent(s.pass_rate),
            interval(s.pass_rate_ci, 100.0, 0),
            by_k(&s.pass_at_k, ": ", ", "),
            by_k(&s.pass_hat_k, ": ", ", "),
            optional(s.acceptance_share.map(percent)),
            optional(s.mean_rounds_to_pass.map(|r| format!("{r:.2}"))),
            tokens(s.mean_tokens().round() as u64),
            optional(s.mean_cost_usd.map(|c| format!("${c:.3}"))),
            s.mean_wall_s,
            s.infra_errors,
        ));
    }
    if summaries
        .iter()
        .any(|s| !s.turns_per_run_by_role.is_empty())
    {
        out.push_str("\n| pairing | role | tokens/mission | cache read | turns/run | tool calls | valid | recovered | malformed |\n|---|---|---|---|---|---|---|---|---|\n");
        for s in summaries {
            for (role, turns) in &s.turns_per_run_by_role {
                let calls = s.tool_calls_by_role.get(role);
                let cell = |pick: fn(&CallShares) -> (f64, u64)| {
                    calls.map_or("-".to_string(), |c| {
                        let (share, count) = pick(c);
                        CallShares::cell(share, count)
                    })
                };
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {turns:.1} | {} | {} | {} | {} |\n",
                    s.pairing,
                    role,
                    optional(s.tokens_by_role.get(role).map(|t| tokens(t.round() as u64))),
                    optional(s.cache_read_share_by_role.get(role).copied().map(percent)),
                    calls.map_or(0, |c| c.calls),
                    cell(|c| (c.valid_share, c.valid)),
                    cell(|c| (c.recovered_share, c.recovered)),
                    cell(|c| (c.malformed_share, c.malformed)),
                ));
            }
        }
    }
    if !differences.is_empty() {
        out.push_str("\n| candidate vs baseline | pairs | only base / only cand passed | pass diff | McNemar p | tokens diff [95% CI] | wall diff [95% CI] |\n|---|---|---|---|---|---|---|\n");
        for d in differences {
            out.push_str(&format!(
                "| {} vs {} | {} | {} / {} | {:+.0} pp | {:.3} | {} {} | {:+.1} s {} |\n",
                d.candidate,
                d.baseline,
                d.pairs,
                d.only_baseline_passed,
                d.only_candidate_passed,
                d.pass_rate_difference * 100.0,
                d.mcnemar_p,
                optional(d.tokens_difference.map(|t| format!("{t:+.0}"))),
                interval(d.tokens_difference_ci, 1.0, 0),
                d.wall_s_difference,
                interval(d.wall_s_difference_ci, 1.0, 1),
            ));
        }
    }
    for warning in summaries.iter().flat_map(|s| &s.warnings) {
        out.push_str(&format!("\n> **Warning:** {warning}\n"));
    }
    out
}

/// What missions can be grouped by: their `difficulty` or their `language` (mission.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Difficulty,
    Language,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Difficulty => "difficulty",
            Dimension::Language => "language",
        }
    }

    /// The value of a mission run, `unknown` for runs recorded before missions carried it.
    pub fn of(self, mission: &MissionRow) -> &str {
        match self {
            Dimension::Difficulty => mission.difficulty.as_deref(),
            Dimension::Language => mission.language.as_deref(),
        }
        .unwrap_or("unknown")
    }

    /// Where a value sorts: difficulties up the ladder, languages by name.
    fn rank(self, value: &str) -> (usize, String) {
        let ladder = ["micro", "small", "medium", "large"];
        match self {
            Dimension::Difficulty => (
                ladder
                    .iter()
                    .position(|d| *d == value)
                    .unwrap_or(ladder.len()),
                value.to_string(),
            ),
            Dimension::Language => (usize::from(value == "unknown"), value.to_string()),
        }
    }
}

/// Every pairing summarized on the missions of one value of a dimension alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub value: String,
    /// Distinct missions of the group.
    pub missions: Vec<String>,
    pub pairings: Vec<PairingSummary>,
}

/// The comparison broken down by `dimension`: one group per value, every measure of
/// `compare` computed on the group's mission runs (their milestones, agent runs and turns).
pub fn breakdown(tables: &[Tables], dimension: Dimension) -> Vec<Group> {
    type Key<'a> = (&'a str, &'a str, &'a str, &'a str, u32);
    let mut value_of: BTreeMap<Key, &str> = BTreeMap::new();
    for table in tables {
        for m in &table.missions {
            let key = (
                m.run_id.as_str(),
                m.suite.as_str(),
                m.mission.as_str(),
                m.pairing.as_str(),
                m.repeat,
            );
            value_of.insert(key, dimension.of(m));
        }
    }
    let mut values: Vec<&str> = value_of
        .values()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    values.sort_by_key(|v| dimension.rank(v));
    macro_rules! rows_of {
        ($rows:expr, $value:expr) => {
            $rows
                .iter()
                .filter(|r| {
                    value_of.get(&(
                        r.run_id.as_str(),
                        r.suite.as_str(),
                        r.mission.as_str(),
                        r.pairing.as_str(),
                        r.repeat,
                    )) == Some(&$value)
                })
                .cloned()
                .collect()
        };
    }
    values
        .into_iter()
        .map(|value| {
            let subset: Vec<Tables> = tables
                .iter()
                .map(|t| Tables {
                    missions: rows_of!(t.missions, value),
                    milestones: rows_of!(t.milestones, value),
                    runs: rows_of!(t.runs, value),
                    turns: rows_of!(t.turns, value),
                    assertions: rows_of!(t.assertions, value),
                })
                .collect();
            Group {
                value: value.to_string(),
                missions: distinct(
                    subset
                        .iter()
                        .flat_map(|t| &t.missions)
                        .map(|m| m.mission.clone()),
                ),
                pairings: compare(&subset),
            }
        })
        .collect()
}

/// One line per group and pairing with the headline measures.
pub fn render_breakdown(dimension: Dimension, groups: &[Group]) -> String {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .flat_map(|g| {
            g.pairings.iter().map(move |s| {
                vec![
                    g.value.clone(),
                    g.missions.len().to_string(),
                    s.pairing.clone(),
                    s.missions.to_string(),
                    percent(s.pass_rate),
                    interval(s.pass_rate_ci, 100.0, 0),
                    optional(s.acceptance_share.map(percent)),
                    optional(s.milestones_passed_share.map(percent)),
                    optional(s.mean_rounds_to_pass.map(|r| format!("{r:.2}"))),
                    tokens(s.mean_tokens().round() as u64),
                    format!("{:.1}s", s.mean_wall_s),
                    optional(s.mean_coverage_pct.map(|c| format!("{c:.0}%"))),
                    s.false_green.to_string(),
                    s.false_red.to_string(),
                    s.infra_errors.to_string(),
                ]
            })
        })
        .collect();
    render(
        &[
            dimension.as_str(),
            "distinct",
            "pairing",
            "runs",
            "pass",
            "95% CI",
            "accept",
            "milestones",
            "rounds",
            "tokens",
            "wall",
            "cover",
            "false green",
            "false red",
            "errors",
        ],
        &rows,
    )
}

/// The breakdown as a Markdown table, for a CI comment.
pub fn render_breakdown_markdown(dimension: Dimension, groups: &[Group]) -> String {
    let mut out = format!(
        "| {} | pairing | missions | pass | 95% CI | accept | rounds | tokens/mission | wall |\n|---|---|---|---|---|---|---|---|---|\n",
        dimension.as_str()
    );
    for g in groups {
        for s in &g.pairings {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s |\n",
                g.value,
                s.pairing,
                s.missions,
                percent(s.pass_rate),
                interval(s.pass_rate_ci, 100.0, 0),
                optional(s.acceptance_share.map(percent)),
                optional(s.mean_rounds_to_pass.map(|r| format!("{r:.2}"))),
                tokens(s.mean_tokens().round() as u64),
                s.mean_wall_s,
            ));
        }
    }
    out
}

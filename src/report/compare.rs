//! Summaries from the tables: the per-mission table printed after a run, and the per-pairing
//! comparison of one or more runs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::text::{optional, render, seconds, tokens};
use crate::metrics::{MilestoneRow, MissionRow, Tables};

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
                format!("{}/{}", m.acceptance_passed, m.acceptance_total),
                format!("{}/{}", m.milestones_passed, m.milestones_total),
                optional(m.rounds_to_pass_max),
                m.fix_features.to_string(),
                m.agent_runs.to_string(),
                tokens(m.input_tokens.unwrap_or(0) + m.output_tokens.unwrap_or(0)),
                optional(m.coverage_pct.map(|c| format!("{c:.0}%"))),
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
            "wall",
        ],
        &rows,
    )
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
    pub infra_errors: u64,
    pub acceptance_share: Option<f64>,
    pub milestones_passed_share: Option<f64>,
    /// Mean round in which milestones first passed.
    pub mean_rounds_to_pass: Option<f64>,
    pub fix_features_per_mission: f64,
    /// Mean input + output tokens per mission, by role.
    pub tokens_by_role: BTreeMap<String, f64>,
    pub usage_sources: Vec<String>,
    pub mean_cost_usd: Option<f64>,
    pub mean_wall_s: f64,
    pub mean_coverage_pct: Option<f64>,
    pub false_green: u64,
    pub false_red: u64,
}

fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let values: Vec<f64> = values.into_iter().collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Per-pairing summaries, in pairing-name order.
pub fn compare(tables: &[Tables]) -> Vec<PairingSummary> {
    let mut missions: BTreeMap<&str, Vec<&MissionRow>> = BTreeMap::new();
    let mut milestones: BTreeMap<&str, Vec<&MilestoneRow>> = BTreeMap::new();
    for table in tables {
        for row in &table.missions {
            missions.entry(row.pairing.as_str()).or_default().push(row);
        }
        for row in &table.milestones {
            milestones
                .entry(row.pairing.as_str())
                .or_default()
                .push(row);
        }
    }
    missions
        .into_iter()
        .map(|(pairing, rows)| {
            let n = rows.len() as u64;
            let passed = rows.iter().filter(|m| m.status == "passed").count() as u64;
            // Rounds to pass, once per milestone (rows repeat it on every round).
            let mut first_pass: BTreeMap<(&str, &str, u32, &str, &str), u32> = BTreeMap::new();
            for row in milestones.get(pairing).into_iter().flatten() {
                if let Some(r) = row.rounds_to_pass {
                    first_pass.insert(
                        (
                            row.run_id.as_str(),
                            row.mission.as_str(),
                            row.repeat,
                            row.milestone.as_str(),
                            row.suite.as_str(),
                        ),
                        r,
                    );
                }
            }
            let role_means: BTreeMap<String, f64> = [
                (
                    "orchestrator",
                    rows.iter()
                        .map(|m| m.tokens_orchestrator as f64)
                        .collect::<Vec<_>>(),
                ),
                (
                    "worker",
                    rows.iter().map(|m| m.tokens_worker as f64).collect(),
                ),
                (
                    "scrutiny",
                    rows.iter().map(|m| m.tokens_scrutiny as f64).collect(),
                ),
                (
                    "user_testing",
                    rows.iter().map(|m| m.tokens_user_testing as f64).collect(),
                ),
                (
                    "subagent",
                    rows.iter().map(|m| m.tokens_subagent as f64).collect(),
                ),
            ]
            .into_iter()
            .map(|(role, values)| (role.to_string(), mean(values).unwrap_or(0.0)))
            .collect();
            let costs: Vec<f64> = rows.iter().filter_map(|m| m.cost_usd).collect();
            PairingSummary {
                pairing: pairing.to_string(),
                suites: rows
                    .iter()
                    .map(|m| m.suite.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                missions: n,
                passed,
                pass_rate: share(passed, n).unwrap_or(0.0),
                infra_errors: rows.iter().filter(|m| m.status == "error").count() as u64,
                acceptance_share: share(
                    rows.iter().map(|m| m.acceptance_passed).sum(),
                    rows.iter().map(|m| m.acceptance_total).sum(),
                ),
                milestones_passed_share: share(
                    rows.iter().map(|m| m.milestones_passed).sum(),
                    rows.iter().map(|m| m.milestones_total).sum(),
                ),
                mean_rounds_to_pass: mean(first_pass.values().map(|r| f64::from(*r))),
                fix_features_per_mission: mean(rows.iter().map(|m| m.fix_features as f64))
                    .unwrap_or(0.0),
                tokens_by_role: role_means,
                usage_sources: rows
                    .iter()
                    .map(|m| m.usage_source.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                mean_cost_usd: (costs.len() == rows.len()).then(|| mean(costs)).flatten(),
                mean_wall_s: mean(rows.iter().map(|m| m.wall_ms / 1000.0)).unwrap_or(0.0),
                mean_coverage_pct: mean(rows.iter().filter_map(|m| m.coverage_pct)),
                false_green: rows.iter().map(|m| m.false_green).sum(),
                false_red: rows.iter().map(|m| m.false_red).sum(),
            }
        })
        .collect()
}

pub fn render_compare(summaries: &[PairingSummary]) -> String {
    let percent = |v: Option<f64>| optional(v.map(|v| format!("{:.0}%", v * 100.0)));
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|s| {
            let role =
                |r: &str| tokens(s.tokens_by_role.get(r).copied().unwrap_or(0.0).round() as u64);
            vec![
                s.pairing.clone(),
                s.missions.to_string(),
                format!("{:.0}%", s.pass_rate * 100.0),
                percent(s.acceptance_share),
                percent(s.milestones_passed_share),
                optional(s.mean_rounds_to_pass.map(|r| format!("{r:.2}"))),
                format!("{:.1}", s.fix_features_per_mission),
                role("orchestrator"),
                role("worker"),
                role("scrutiny"),
                role("user_testing"),
                s.usage_sources.join(","),
                format!("{:.1}s", s.mean_wall_s),
                optional(s.mean_coverage_pct.map(|c| format!("{c:.0}%"))),
                s.infra_errors.to_string(),
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
            "errors",
        ],
        &rows,
    )
}

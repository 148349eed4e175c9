//! The CI gate: a run against a baseline run, per pairing, on the mission runs whose
//! fingerprints match (suite, mission hash, prompt hashes), with a threshold per measure.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::compare::{compare, paired_rows, PairingSummary};
use super::text::escape;
use super::RunInfo;
use crate::metrics::{MissionRow, Tables};
use crate::spec::hash::short;

/// A measure `check` can gate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Share of missions passed.
    PassRate,
    /// Share of acceptance tests passed.
    Acceptance,
    /// Mean input + output tokens per mission.
    Tokens,
    /// Mean cost per mission.
    Cost,
    /// Mean wall time per mission.
    Wall,
    /// Mean rounds for a milestone to pass.
    Rounds,
}

impl Measure {
    pub const ALL: [Measure; 6] = [
        Measure::PassRate,
        Measure::Acceptance,
        Measure::Tokens,
        Measure::Cost,
        Measure::Wall,
        Measure::Rounds,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Measure::PassRate => "pass_rate",
            Measure::Acceptance => "acceptance",
            Measure::Tokens => "tokens",
            Measure::Cost => "cost",
            Measure::Wall => "wall",
            Measure::Rounds => "rounds",
        }
    }

    pub fn parse(name: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.as_str() == name)
    }

    fn of(self, summary: &PairingSummary) -> Option<f64> {
        match self {
            Measure::PassRate => Some(summary.pass_rate),
            Measure::Acceptance => summary.acceptance_share,
            Measure::Tokens => Some(summary.mean_tokens()),
            Measure::Cost => summary.mean_cost_usd,
            Measure::Wall => Some(summary.mean_wall_s),
            Measure::Rounds => summary.mean_rounds_to_pass,
        }
    }
}

/// How much a measure may move: an absolute amount or a share of the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Allowance {
    Absolute(f64),
    Relative(f64),
}

impl Allowance {
    /// `0.05` (absolute) or `10%` (relative to the baseline).
    pub fn parse(text: &str) -> Result<Allowance, String> {
        let text = text.trim();
        let (number, relative) = match text.strip_suffix('%') {
            Some(n) => (n, true),
            None => (text, false),
        };
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a number or a percentage"))?;
        if !value.is_finite() || value < 0.0 {
            return Err(format!("`{text}` must be 0 or more"));
        }
        Ok(if relative {
            Allowance::Relative(value / 100.0)
        } else {
            Allowance::Absolute(value)
        })
    }

    fn limit(self, baseline: f64) -> f64 {
        match self {
            Allowance::Absolute(v) => v,
            Allowance::Relative(share) => share * baseline.abs(),
        }
    }
}

/// One threshold: the measure may not drop (or rise) by more than the allowance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    pub measure: Measure,
    /// `true` for `--max-drop`, `false` for `--max-rise`.
    pub drop: bool,
    pub allowance: Allowance,
}

impl Threshold {
    /// `pass_rate=0.05` or `tokens=10%`.
    pub fn parse(text: &str, drop: bool) -> Result<Threshold, String> {
        let (name, value) = text.split_once('=').ok_or_else(|| {
            format!("`{text}`: expected MEASURE=AMOUNT, e.g. pass_rate=0.05 or tokens=10%")
        })?;
        let measure = Measure::parse(name.trim()).ok_or_else(|| {
            let names: Vec<&str> = Measure::ALL.iter().map(|m| m.as_str()).collect();
            format!("unknown measure `{name}`; measures: {}", names.join(", "))
        })?;
        Ok(Threshold {
            measure,
            drop,
            allowance: Allowance::parse(value)?,
        })
    }
}

/// A measure of one pairing, baseline against current.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub pairing: String,
    pub measure: Measure,
    pub baseline: f64,
    pub current: f64,
    /// Current minus baseline.
    pub change: f64,
    pub allowed: f64,
    /// Whether the allowance is for a drop (`--max-drop`) rather than a rise.
    pub drop: bool,
    pub regressed: bool,
    /// The statistics behind it: McNemar on the aligned runs for pass rate, a paired bootstrap
    /// interval for tokens and wall time, the missions that stopped passing.
    pub evidence: String,
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// Mission runs compared (fingerprints matched), and those left out, with why.
    pub compared: u64,
    pub excluded: Vec<String>,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    pub fn regressed(&self) -> bool {
        self.findings.iter().any(|f| f.regressed)
    }
}

type Key = (String, String, String, u32);

fn key(row: &MissionRow) -> Key {
    (
        row.pairing.clone(),
        row.suite.clone(),
        row.mission.clone(),
        row.repeat,
    )
}

/// Keeps the mission runs of both sides whose fingerprints match, and the tables' other rows of
/// those runs.
fn matched(
    current: &Tables,
    current_info: &RunInfo,
    baseline: &Tables,
    baseline_info: &RunInfo,
) -> (Tables, Tables, Vec<String>) {
    let mut excluded = Vec::new();
    let prompts = super::differing_keys(&current_info.prompts, &baseline_info.prompts);
    if !prompts.is_empty() {
        excluded.push(format!(
            "every mission: the prompts differ ({})",
            prompts.join(", ")
        ));
    }
    let base: BTreeMap<Key, &MissionRow> = baseline.missions.iter().map(|m| (key(m), m)).collect();
    let mut keep: BTreeSet<Key> = BTreeSet::new();
    for row in &current.missions {
        let k = key(row);
        match base.get(&k) {
            None => excluded.push(format!(
                "{} {} r{} ({}): not in the baseline",
                row.mission, row.pairing, row.repeat, row.suite
            )),
            Some(b) if b.mission_hash != row.mission_hash => excluded.push(format!(
                "{} {} r{} ({}): the mission changed (hash {} vs {})",
                row.mission,
                row.pairing,
                row.repeat,
                row.suite,
                short(&row.mission_hash),
                short(&b.mission_hash)
            )),
            Some(_) if prompts.is_empty() => {
                keep.insert(k);
            }
            Some(_) => {}
        }
    }
    // The rows of the kept mission runs, in every table.
    macro_rules! kept {
        ($tables:expr, $table:ident) => {
            $tables
                .$table
                .iter()
                .filter(|r| {
                    keep.contains(&(
                        r.pairing.clone(),
                        r.suite.clone(),
                        r.mission.clone(),
                        r.repeat,
                    ))
                })
                .cloned()
                .collect()
        };
    }
    let filter = |tables: &Tables| Tables {
        missions: kept!(tables, missions),
        milestones: kept!(tables, milestones),
        runs: kept!(tables, runs),
        turns: kept!(tables, turns),
        assertions: kept!(tables, assertions),
    };
    (filter(current), filter(baseline), excluded)
}

/// Why two runs cannot be gated against each other as they are: one served roles from a
/// recorded run (a counterfactual replay) and the other did not. `None` when both are live or
/// both are replays.
pub fn replay_mix(current: &RunInfo, baseline: &RunInfo) -> Option<String> {
    let describe = |info: &RunInfo| {
        let recordings: Vec<&str> = info.replays.iter().map(|r| r.recording.as_str()).collect();
        format!("{} replays {}", info.run_id, recordings.join(", "))
    };
    match (current.is_replay(), baseline.is_replay()) {
        (true, false) => Some(format!(
            "the checked run {}, the baseline {} ran live: a replay serves recorded work instead of its models, so it is not a regression check of them (--allow-replay checks it anyway)",
            describe(current),
            baseline.run_id
        )),
        (false, true) => Some(format!(
            "the baseline {}, the checked run {} ran live: a replay serves recorded work instead of its models (--allow-replay checks it anyway)",
            describe(baseline),
            current.run_id
        )),
        _ => None,
    }
}

/// Checks `current` against `baseline` under `thresholds`.
pub fn check(
    current: &Tables,
    current_info: &RunInfo,
    baseline: &Tables,
    baseline_info: &RunInfo,
    thresholds: &[Threshold],
) -> CheckReport {
    let (current, baseline, excluded) = matched(current, current_info, baseline, baseline_info);
    let now = compare(std::slice::from_ref(&current));
    let before: BTreeMap<String, PairingSummary> = compare(std::slice::from_ref(&baseline))
        .into_iter()
        .map(|s| (s.pairing.clone(), s))
        .collect();
    let mut findings = Vec::new();
    for summary in &now {
        let Some(old) = before.get(&summary.pairing) else {
            continue;
        };
        let paired = paired_rows(
            "baseline",
            &summary.pairing,
            &of_pairing(&baseline.missions, &summary.pairing),
            &of_pairing(&current.missions, &summary.pairing),
        );
        for threshold in thresholds {
            let (Some(was), Some(is)) = (threshold.measure.of(old), threshold.measure.of(summary))
            else {
                continue;
            };
            let change = is - was;
            let allowed = threshold.allowance.limit(was);
            let regressed = if threshold.drop {
                -change > allowed + 1e-12
            } else {
                change > allowed + 1e-12
            };
            let evidence = match (threshold.measure, &paired) {
                (Measure::PassRate, Some(p)) => {
                    let stopped: Vec<String> = flips(&baseline, &current, &summary.pairing);
                    format!(
                        "{} aligned runs: {} passed only in the baseline, {} only now (McNemar p = {:.3}){}",
                        p.pairs,
                        p.only_baseline_passed,
                        p.only_candidate_passed,
                        p.mcnemar_p,
                        if stopped.is_empty() {
                            String::new()
                        } else {
                            format!("; stopped passing: {}", stopped.join(", "))
                        }
                    )
                }
                (Measure::Tokens, Some(p)) => match p.tokens_difference_ci {
                    Some(ci) => format!(
                        "paired difference per mission {:+.0} tokens, 95% CI [{:.0}, {:.0}]",
                        p.tokens_difference.unwrap_or(0.0),
                        ci.low,
                        ci.high
                    ),
                    None => "token counts unknown for some runs".to_string(),
                },
                (Measure::Wall, Some(p)) => match p.wall_s_difference_ci {
                    Some(ci) => format!(
                        "paired difference per mission {:+.1} s, 95% CI [{:.1}, {:.1}]",
                        p.wall_s_difference, ci.low, ci.high
                    ),
                    None => String::new(),
                },
                _ => format!("{} mission runs on each side", summary.missions),
            };
            findings.push(Finding {
                pairing: summary.pairing.clone(),
                measure: threshold.measure,
                baseline: was,
                current: is,
                change,
                allowed,
                drop: threshold.drop,
                regressed,
                evidence,
            });
        }
    }
    CheckReport {
        compared: current.missions.len() as u64,
        excluded,
        findings,
    }
}

fn of_pairing<'a>(rows: &'a [MissionRow], pairing: &str) -> Vec<&'a MissionRow> {
    rows.iter().filter(|m| m.pairing == pairing).collect()
}

/// Missions of `pairing` that passed in the baseline and not now.
fn flips(baseline: &Tables, current: &Tables, pairing: &str) -> Vec<String> {
    let passed: BTreeMap<Key, bool> = baseline
        .missions
        .iter()
        .filter(|m| m.pairing == pairing)
        .map(|m| (key(m), m.status == "passed"))
        .collect();
    current
        .missions
        .iter()
        .filter(|m| m.pairing == pairing && m.status != "passed")
        .filter(|m| passed.get(&key(m)) == Some(&true))
        .map(|m| format!("{} r{} ({})", m.mission, m.repeat, m.status))
        .collect()
}

/// JUnit XML with one test case per mission run of the current report: a failure when it did not
/// pass, saying so when it passed in the baseline.
pub fn junit(current: &Tables, baseline: &Tables) -> String {
    let before: BTreeMap<Key, &MissionRow> =
        baseline.missions.iter().map(|m| (key(m), m)).collect();
    let failures = current
        .missions
        .iter()
        .filter(|m| m.status != "passed")
        .count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"missions-bench\" tests=\"{}\" failures=\"{failures}\">\n",
        current.missions.len()
    );
    for m in &current.missions {
        out.push_str(&format!(
            "  <testcase classname=\"{}.{}\" name=\"{} r{}\" time=\"{:.3}\"",
            escape(&m.suite),
            escape(&m.pairing),
            escape(&m.mission),
            m.repeat,
            m.wall_ms / 1000.0
        ));
        if m.status == "passed" {
            out.push_str("/>\n");
            continue;
        }
        let was = before.get(&key(m)).map(|b| b.status.as_str());
        let message = format!(
            "{}{}: acceptance {}/{}{}{}",
            m.status,
            m.halt_reason
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default(),
            m.acceptance_passed,
            m.acceptance_total,
            match (&m.tamper_evidence, m.ground_truth_tampered) {
                (Some(evidence), true) => format!("; ground truth tampered with: {evidence}"),
                (None, true) => "; ground truth tampered with".to_string(),
                _ => String::new(),
            },
            match was {
                Some("passed") => "; regressed: passed in the baseline".to_string(),
                Some(other) => format!("; baseline: {other}"),
                None => String::new(),
            }
        );
        out.push_str(&format!(
            ">\n    <failure message=\"{}\">{}</failure>\n  </testcase>\n",
            escape(&message),
            escape(&m.halt_detail)
        ));
    }
    out.push_str("</testsuite>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_with_units_and_names() {
        assert_eq!(
            Threshold::parse("pass_rate=0.05", true).unwrap(),
            Threshold {
                measure: Measure::PassRate,
                drop: true,
                allowance: Allowance::Absolute(0.05)
            }
        );
        assert_eq!(
            Threshold::parse("tokens=10%", false).unwrap().allowance,
            Allowance::Relative(0.10)
        );
        assert!(Threshold::parse("speed=1", true)
            .unwrap_err()
            .contains("speed"));
        assert!(Threshold::parse("tokens", true).is_err());
        assert!(Threshold::parse("tokens=-1", true).is_err());
        assert_eq!(Allowance::Relative(0.1).limit(2000.0), 200.0);
    }
}

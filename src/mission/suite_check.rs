//! `suite check`: proves every mission valid. With the oracle in every role each milestone
//! passes in round 1 and every acceptance test passes; with nop in every role acceptance fails.
//! A mission with `[mutation]` reports the oracle's mutation score, and must get one.

use std::sync::Arc;

use super::suite_run::{run_suite, RunError, RunSettings};
use crate::events::EventSink;
use crate::metrics::{AssertionRow, MissionRow, Tables};
use crate::report::compare::mutation_label;
use crate::spec::config::Config;
use crate::spec::contract::locate;
use crate::spec::lint::linted_suite;
use crate::spec::skeleton::{still_empty, FILL_IN};

/// What is wrong with one mission; empty `problems` means valid.
#[derive(Debug, Clone, PartialEq)]
pub struct MissionCheck {
    pub mission: String,
    pub problems: Vec<String>,
    /// The oracle's mutation score with its counts (`93% (27/29)`); `None` when the mission
    /// has no `[mutation]` or the oracle run left no record.
    pub mutation: Option<String>,
}

pub struct SuiteCheck {
    pub missions: Vec<MissionCheck>,
    /// The run's report; none when no mission was ready to run.
    pub report_dir: Option<std::path::PathBuf>,
}

impl SuiteCheck {
    pub fn is_valid(&self) -> bool {
        self.missions.iter().all(|m| m.problems.is_empty())
    }
}

/// Runs the suite with the `oracle` and `nop` pairings of the embedded config. `settings`
/// supplies folders and the environment; its config and pairings are replaced.
pub async fn check_suite(
    settings: &RunSettings,
    sinks: Vec<Arc<dyn EventSink>>,
) -> Result<SuiteCheck, RunError> {
    let suite = linted_suite(&settings.suite_dir)?;
    // A mission still holding the skeleton's placeholders is refused without a run.
    let mut unfinished = Vec::new();
    let mut ready = Vec::new();
    for mission in &suite.missions {
        let places = still_empty(&mission.dir);
        if places.is_empty() {
            ready.push(mission.id().to_string());
        } else {
            unfinished.push(MissionCheck {
                mission: mission.id().to_string(),
                problems: vec![still_empty_problem(mission, &places)],
                mutation: None,
            });
        }
    }
    let wanted: Vec<String> = if settings.missions.is_empty() {
        ready
    } else {
        ready
            .into_iter()
            .filter(|id| settings.missions.contains(id))
            .collect()
    };
    unfinished.retain(|m| settings.missions.is_empty() || settings.missions.contains(&m.mission));
    if wanted.is_empty() {
        return Ok(SuiteCheck {
            missions: unfinished,
            report_dir: None,
        });
    }
    let config = Config::default_config()?;
    let pairings = ["oracle", "nop"]
        .iter()
        .map(|name| config.pairing(name).map_err(RunError::Settings))
        .collect::<Result<Vec<_>, _>>()?;
    let run_settings = RunSettings {
        budget: Default::default(),
        config,
        pairings,
        repeats: Some(1),
        missions: wanted.clone(),
        ..settings.clone()
    };
    let report = run_suite(&run_settings, sinks).await?;
    let mut missions = unfinished;
    for mission in suite
        .missions
        .iter()
        .filter(|m| wanted.iter().any(|id| id == m.id().as_str()))
    {
        let id = mission.id().as_str();
        let mut problems = Vec::new();
        let mut mutation = None;
        let row = |pairing: &str| {
            report
                .tables
                .missions
                .iter()
                .find(|m| m.mission == id && m.pairing == pairing)
                .cloned()
        };
        match row("oracle") {
            None => problems.push("the oracle run left no record".to_string()),
            Some(oracle) => {
                problems.extend(oracle_problems(
                    &oracle,
                    &report.tables,
                    mission.contract_path().as_path(),
                    mission.dir.join("mission.toml").as_path(),
                ));
                if mission.file.mutation.is_some() {
                    match (&oracle.mutation_score, &oracle.mutation_error) {
                        (Some(_), _) => mutation = Some(mutation_label(&oracle)),
                        (None, error) => problems.push(format!(
                            "the reference solution gets no mutation score: {} — {}: table `[mutation]`",
                            error.as_deref().unwrap_or("no mutant was viable"),
                            mission.dir.join("mission.toml").display()
                        )),
                    }
                }
            }
        }
        match row("nop") {
            None => problems.push("the nop run left no record".to_string()),
            Some(nop) if nop.acceptance_total > 0 && nop.acceptance_passed == nop.acceptance_total => problems.push(format!(
                "with nop in every role all {} acceptance tests pass ({}): they do not test the mission's work",
                nop.acceptance_total,
                mission.acceptance_dir().display()
            )),
            Some(_) => {}
        }
        missions.push(MissionCheck {
            mission: id.to_string(),
            problems,
            mutation,
        });
    }
    missions.sort_by(|a, b| a.mission.cmp(&b.mission));
    Ok(SuiteCheck {
        missions,
        report_dir: Some(report.dir),
    })
}

/// What a mission still holding placeholders has left to write.
fn still_empty_problem(
    mission: &crate::spec::mission::MissionSpec,
    places: &[(std::path::PathBuf, usize)],
) -> String {
    let list: Vec<String> = places
        .iter()
        .map(|(path, line)| format!("{}:{line}", path.display()))
        .collect();
    format!(
        "still empty: {} hold `{FILL_IN}` placeholders of the skeleton ({}); write them, and the mission is checked by running it",
        list.join(", "),
        mission.dir.display()
    )
}

fn oracle_problems(
    row: &MissionRow,
    tables: &Tables,
    contract_path: &std::path::Path,
    mission_path: &std::path::Path,
) -> Vec<String> {
    let mut problems = Vec::new();
    let contract_source = std::fs::read_to_string(contract_path).unwrap_or_default();
    if row.status != "passed" {
        problems.push(format!(
            "with oracle in every role the mission ended `{}`{}",
            row.status,
            row.halt_reason
                .as_ref()
                .map(|h| format!(" ({h}: {})", row.halt_detail))
                .unwrap_or_default()
        ));
    }
    for milestone in tables.milestones.iter().filter(|m| {
        m.mission == row.mission && m.pairing == row.pairing && m.round == 1 && !m.passed
    }) {
        problems.push(format!(
            "with oracle in every role milestone `{}` did not pass in round 1",
            milestone.milestone
        ));
    }
    let failed_assertions: Vec<&AssertionRow> = tables
        .assertions
        .iter()
        .filter(|a| a.mission == row.mission && a.pairing == row.pairing && !a.passed)
        .collect();
    for assertion in failed_assertions {
        let reference = toml::from_str::<crate::spec::ReferenceContract>(&contract_source).ok();
        let index = reference.as_ref().and_then(|r| {
            r.assertions
                .iter()
                .position(|a| a.id.as_str() == assertion.assertion)
        });
        let line = locate(&contract_source, "assertion", index, "command")
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        problems.push(format!(
            "assertion `{}` fails against the reference solution (validator: {}, command check: {}) — {}{line}: field `assertion.command`",
            assertion.assertion,
            assertion.validator_status.as_deref().unwrap_or("-"),
            assertion.mechanical_status,
            contract_path.display()
        ));
    }
    if row.acceptance_total == 0 {
        problems.push(format!(
            "the acceptance tests did not run: {}",
            row.acceptance_error
                .clone()
                .unwrap_or_else(|| "no tests were reported".to_string())
        ));
    } else if row.acceptance_passed != row.acceptance_total {
        problems.push(format!(
            "{} of {} acceptance tests fail against the reference solution (see the oracle run's transcripts)",
            row.acceptance_total - row.acceptance_passed,
            row.acceptance_total
        ));
    }
    if row.acceptance_unmapped > 0 {
        let source = std::fs::read_to_string(mission_path).unwrap_or_default();
        let line = crate::spec::error::find_key(&source, "milestones")
            .map(|s| format!(":{}", crate::spec::error::line_of(&source, s.start)))
            .unwrap_or_default();
        problems.push(format!(
            "{} acceptance tests match no milestone — {}{line}: field `acceptance.milestones`",
            row.acceptance_unmapped,
            mission_path.display()
        ));
    }
    problems
}

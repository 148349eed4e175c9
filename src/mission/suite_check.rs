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
    let journal = report.dir.join("events.jsonl");
    let (records, journal_problem) = match crate::events::read_events(&journal) {
        Ok(records) => (records, None),
        Err(error) => (
            Vec::new(),
            Some(format!("cannot read the runs' journal: {error}")),
        ),
    };
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
                problems.extend(journal_problem.clone());
                problems.extend(oracle_problems(
                    &oracle,
                    &report.tables,
                    &records,
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
        listed(&list),
        mission.dir.display()
    )
}

/// `items` as a sentence lists them: `1`, `1 and 2`, `1, 2 and 3`.
fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The rounds a problem was seen in, said once: `in round 2`, `in rounds 1, 2 and 3`.
fn in_rounds(rounds: &[u32]) -> String {
    let names: Vec<String> = rounds.iter().map(u32::to_string).collect();
    match rounds {
        [_] => format!("in round {}", names[0]),
        _ => format!("in rounds {}", listed(&names)),
    }
}

/// Each problem once, with the rounds it was seen in, in the order first seen.
fn by_rounds<K: PartialEq>(seen: impl IntoIterator<Item = (K, u32)>) -> Vec<(K, Vec<u32>)> {
    let mut grouped: Vec<(K, Vec<u32>)> = Vec::new();
    for (key, round) in seen {
        match grouped.iter_mut().find(|(k, _)| *k == key) {
            Some((_, rounds)) if rounds.contains(&round) => {}
            Some((_, rounds)) => rounds.push(round),
            None => grouped.push((key, vec![round])),
        }
    }
    for (_, rounds) in &mut grouped {
        rounds.sort_unstable();
    }
    grouped
}

/// The features whose own test command failed against the reference solution: the oracle's
/// reviewer raises a finding naming the command when it fails, with its status first.
fn failed_test_commands(
    row: &MissionRow,
    records: &[crate::events::EventRecord],
    reference: Option<&crate::spec::ReferenceContract>,
    contract_source: &str,
    contract_path: &std::path::Path,
) -> Vec<String> {
    let seen = records.iter().filter_map(|record| {
        let key = record.mission.as_ref()?;
        if key.mission.as_str() != row.mission
            || key.pairing != row.pairing
            || key.repeat != row.repeat
        {
            return None;
        }
        let crate::events::Event::FindingRaised { finding, .. } = &record.event else {
            return None;
        };
        if finding.source != crate::spec::FindingSource::Scrutiny {
            return None;
        }
        let feature = finding.feature.as_ref()?;
        let (index, planned) = reference?
            .features
            .iter()
            .enumerate()
            .find(|(_, f)| &f.id == feature)?;
        let command = planned.test_command.as_deref()?;
        if !finding.title.contains(&format!("`{command}`")) {
            return None;
        }
        let status = finding
            .detail
            .lines()
            .next()
            .filter(|line| line.starts_with("exit_code: ") || line.starts_with("killed: "))
            .map(str::to_string);
        Some((
            (feature.to_string(), index, command.to_string(), status),
            finding.round,
        ))
    });
    by_rounds(seen)
        .into_iter()
        .map(|((feature, index, command, status), rounds)| {
            let line = locate(contract_source, "feature", Some(index), "test_command")
                .map(|l| format!(":{l}"))
                .unwrap_or_default();
            format!(
                "feature `{feature}`'s test command `{command}` fails against the reference solution {}{} — {}{line}: field `feature.test_command`",
                in_rounds(&rounds),
                status.map(|s| format!(" ({s})")).unwrap_or_default(),
                contract_path.display()
            )
        })
        .collect()
}

fn oracle_problems(
    row: &MissionRow,
    tables: &Tables,
    records: &[crate::events::EventRecord],
    contract_path: &std::path::Path,
    mission_path: &std::path::Path,
) -> Vec<String> {
    let mut problems = Vec::new();
    let contract_source = std::fs::read_to_string(contract_path).unwrap_or_default();
    let reference = toml::from_str::<crate::spec::ReferenceContract>(&contract_source).ok();
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
    problems.extend(failed_test_commands(
        row,
        records,
        reference.as_ref(),
        &contract_source,
        contract_path,
    ));
    // An assertion failing the same way in several rounds is one problem, with its rounds.
    let failed_assertions = by_rounds(
        tables
            .assertions
            .iter()
            .filter(|a| {
                a.mission == row.mission
                    && a.pairing == row.pairing
                    && a.repeat == row.repeat
                    && !a.passed
            })
            .map(|a: &AssertionRow| {
                let statuses = (
                    a.assertion.clone(),
                    a.validator_status.clone(),
                    a.mechanical_status.clone(),
                );
                (statuses, a.round)
            }),
    );
    for ((assertion, validator, mechanical), rounds) in failed_assertions {
        let index = reference
            .as_ref()
            .and_then(|r| r.assertions.iter().position(|a| a.id.as_str() == assertion));
        let line = locate(&contract_source, "assertion", index, "command")
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        problems.push(format!(
            "assertion `{assertion}` fails against the reference solution {} (validator: {}, command check: {mechanical}) — {}{line}: field `assertion.command`",
            in_rounds(&rounds),
            validator.as_deref().unwrap_or("-"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_seen_in_several_rounds_is_said_once_with_its_rounds() {
        let seen = [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("a", 2), ("b", 3)];
        assert_eq!(
            by_rounds(seen),
            vec![("a", vec![1, 2, 3]), ("b", vec![1, 3])]
        );
        assert_eq!(in_rounds(&[2]), "in round 2");
        assert_eq!(in_rounds(&[1, 2]), "in rounds 1 and 2");
        assert_eq!(in_rounds(&[1, 2, 3]), "in rounds 1, 2 and 3");
    }
}

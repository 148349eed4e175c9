//! The report tables' invariants ([`violations`]): every part at most its total, every share in
//! [0, 1], and the sums across tables equal (a mission's tokens are its runs' are its turns',
//! unknown when any part is). Checked on journals generated from many seeds
//! (`generated_journal.rs`), on the committed `docs/results` journals, and by `lifecycle.rs` on
//! a real three-milestone mission; and schema-9 tables read with the columns schema 10 added
//! null.

use std::collections::{BTreeMap, BTreeSet};

use missions_bench::metrics::{
    fold, AssertionRow, MilestoneRow, MissionRow, RunRow, Tables, TurnRow, SCHEMA_VERSION,
};
use missions_bench::report::compare::compare;

use crate::common::repo;
use crate::generated_journal::{journal, Seen};

/// Journals the property test generates, one per seed.
const GENERATED_JOURNALS: u64 = 1000;

// ---------------------------------------------------------------------------------------------
// The invariants.

/// Every invariant the tables break, one line each naming the mission run and the row; empty
/// when they all hold.
pub fn violations(tables: &Tables) -> Vec<String> {
    let mut check = Check::default();
    let by_mission = MissionTables::group(tables);
    for (key, rows) in &by_mission {
        let name = format!("{} {} r{} ({})", key.2, key.3, key.4, key.1);
        match rows.mission {
            Some(mission) => mission_invariants(&mut check, &name, mission, rows),
            None => check.fail(format!(
                "{name}: rows of a mission run without its missions row"
            )),
        }
        milestone_invariants(&mut check, &name, rows);
        run_invariants(&mut check, &name, rows);
        turn_invariants(&mut check, &name, rows);
        assertion_invariants(&mut check, &name, rows);
    }
    share_invariants(&mut check, tables);
    check.problems
}

#[derive(Default)]
struct Check {
    problems: Vec<String>,
}

impl Check {
    fn fail(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// Records `problem` unless `holds`; the text is made only when it does not.
    fn holds(&mut self, holds: bool, problem: impl FnOnce() -> String) {
        if !holds {
            self.problems.push(problem());
        }
    }

    fn within(&mut self, value: Option<f64>, low: f64, high: f64, what: impl FnOnce() -> String) {
        if let Some(value) = value {
            self.holds((low..=high).contains(&value), || {
                format!("{}: {value} is outside [{low}, {high}]", what())
            });
        }
    }
}

/// run id, suite, mission, pairing, repeat.
type RunKey = (String, String, String, String, u32);

/// One mission run's rows in each table.
#[derive(Default)]
struct MissionTables<'a> {
    mission: Option<&'a MissionRow>,
    milestones: Vec<&'a MilestoneRow>,
    runs: Vec<&'a RunRow>,
    turns: Vec<&'a TurnRow>,
    assertions: Vec<&'a AssertionRow>,
}

macro_rules! key_of {
    ($row:expr) => {
        (
            $row.run_id.clone(),
            $row.suite.clone(),
            $row.mission.clone(),
            $row.pairing.clone(),
            $row.repeat,
        )
    };
}

impl<'a> MissionTables<'a> {
    fn group(tables: &'a Tables) -> BTreeMap<RunKey, MissionTables<'a>> {
        let mut by_mission: BTreeMap<RunKey, MissionTables<'a>> = BTreeMap::new();
        for row in &tables.missions {
            by_mission.entry(key_of!(row)).or_default().mission = Some(row);
        }
        for row in &tables.milestones {
            by_mission
                .entry(key_of!(row))
                .or_default()
                .milestones
                .push(row);
        }
        for row in &tables.runs {
            by_mission.entry(key_of!(row)).or_default().runs.push(row);
        }
        for row in &tables.turns {
            by_mission.entry(key_of!(row)).or_default().turns.push(row);
        }
        for row in &tables.assertions {
            by_mission
                .entry(key_of!(row))
                .or_default()
                .assertions
                .push(row);
        }
        by_mission
    }

    fn turns_of(&self, agent_run: u32) -> Vec<&'a TurnRow> {
        self.turns
            .iter()
            .copied()
            .filter(|t| t.agent_run == agent_run)
            .collect()
    }

    fn role_of(&self, agent_run: u32) -> Option<&'a str> {
        self.runs
            .iter()
            .find(|r| r.agent_run == agent_run)
            .map(|r| r.role.as_str())
    }

    /// Each milestone's rows, in round order.
    fn rounds_by_milestone(&self) -> BTreeMap<&'a str, Vec<&'a MilestoneRow>> {
        let mut by_milestone: BTreeMap<&str, Vec<&MilestoneRow>> = BTreeMap::new();
        for row in &self.milestones {
            by_milestone
                .entry(row.milestone.as_str())
                .or_default()
                .push(row);
        }
        for rows in by_milestone.values_mut() {
            rows.sort_by_key(|r| r.round);
        }
        by_milestone
    }
}

/// Sums values that may be unknown: unknown if any is (the tables' own rule).
fn strict_sum(values: impl IntoIterator<Item = Option<u64>>) -> Option<u64> {
    values.into_iter().sum()
}

fn strict_sum_f64(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    values.into_iter().sum()
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        (None, None) => true,
        _ => false,
    }
}

fn shown<T: ToString>(value: Option<T>) -> String {
    value.map_or("null".to_string(), |v| v.to_string())
}

/// The tables' label of a set of usage sources.
fn source_label<'a>(sources: impl IntoIterator<Item = &'a str>) -> String {
    let distinct: BTreeSet<&str> = sources.into_iter().collect();
    match distinct.len() {
        0 => "none".to_string(),
        1 => distinct.into_iter().next().unwrap_or_default().to_string(),
        _ => "mixed".to_string(),
    }
}

const ROLES: [&str; 5] = [
    "orchestrator",
    "worker",
    "scrutiny",
    "user_testing",
    "subagent",
];

fn mission_invariants(check: &mut Check, name: &str, m: &MissionRow, rows: &MissionTables<'_>) {
    let at = |what: &str| format!("{name} missions: {what}");
    // Parts of a total.
    check.holds(
        m.acceptance_passed + m.acceptance_failed + m.acceptance_skipped == m.acceptance_total,
        || at("acceptance passed + failed + skipped is not acceptance_total"),
    );
    check.holds(m.acceptance_unmapped <= m.acceptance_total, || {
        at("acceptance_unmapped exceeds acceptance_total")
    });
    check.holds(m.milestones_passed <= m.milestones_total, || {
        at("milestones_passed exceeds milestones_total")
    });
    check.holds(m.false_green + m.false_red <= m.milestones_total, || {
        at("false_green + false_red exceeds milestones_total")
    });
    if let (Some(total), Some(killed), Some(survived)) =
        (m.mutants_total, m.mutants_killed, m.mutants_survived)
    {
        check.holds(killed + survived <= total, || {
            at("mutants killed + survived exceed mutants_total")
        });
        check.holds(m.mutants_timed_out.is_some_and(|t| t <= killed), || {
            at("mutants_timed_out is not among mutants_killed")
        });
    }
    check.within(m.mutation_score, 0.0, 1.0, || at("mutation_score"));
    check.within(m.coverage_pct, 0.0, 100.0, || at("coverage_pct"));
    check.within(m.tdd_share, 0.0, 1.0, || at("tdd_share"));
    if let (Some(read), Some(input)) = (m.cache_read_tokens, m.input_tokens) {
        check.holds(read <= input, || {
            at("cache_read_tokens exceed input_tokens")
        });
    }
    check.holds(
        m.paths_skipped == m.paths_skipped_detail.lines().count() as u64,
        || at("paths_skipped is not the number of lines of paths_skipped_detail"),
    );
    // What `passed` means.
    if m.status == "passed" {
        check.holds(
            !m.ground_truth_tampered
                && m.acceptance_error.is_none()
                && m.acceptance_total > 0
                && m.acceptance_passed == m.acceptance_total
                && m.milestones_passed == m.milestones_total,
            || at("passed, though tampered, or an acceptance test or milestone did not pass"),
        );
    }

    // The milestones table: one row per round.
    check.holds(m.rounds == rows.milestones.len() as u64, || {
        at(&format!(
            "rounds is {}, the milestones table has {} rows",
            m.rounds,
            rows.milestones.len()
        ))
    });
    let rounds = rows.rounds_by_milestone();
    let passed: Vec<u32> = rounds
        .values()
        .filter_map(|r| r.first().and_then(|row| row.rounds_to_pass))
        .collect();
    check.holds(m.milestones_passed == passed.len() as u64, || {
        at("milestones_passed is not the milestones with a round to pass")
    });
    check.holds(m.rounds_to_pass_max == passed.iter().copied().max(), || {
        at("rounds_to_pass_max is not the milestones' largest")
    });
    let count_milestones = |flag: fn(&MilestoneRow) -> bool| {
        rounds
            .values()
            .filter(|r| r.first().is_some_and(|row| flag(row)))
            .count() as u64
    };
    check.holds(m.false_green == count_milestones(|r| r.false_green), || {
        at("false_green is not the milestones the milestones table calls false green")
    });
    check.holds(m.false_red == count_milestones(|r| r.false_red), || {
        at("false_red is not the milestones the milestones table calls false red")
    });
    let round_sum =
        |field: fn(&MilestoneRow) -> u64| rows.milestones.iter().map(|r| field(r)).sum();
    check.holds(
        m.findings_blocking >= round_sum(|r| r.findings_blocking),
        || at("fewer blocking findings than its rounds raised"),
    );
    check.holds(
        m.findings_non_blocking >= round_sum(|r| r.findings_non_blocking),
        || at("fewer non-blocking findings than its rounds raised"),
    );
    check.holds(
        m.findings_suggestion >= round_sum(|r| r.findings_suggestion),
        || at("fewer suggestions than its rounds raised"),
    );
    // Fixes are planned after a round ends, so each has its round's row.
    check.holds(
        m.fix_features == round_sum(|r| r.fix_features_planned),
        || at("fix_features is not the sum of the rounds' fix_features_planned"),
    );
    let (mut mapped_total, mut mapped_passed) = (0, 0);
    for row in rounds.values().filter_map(|r| r.first()) {
        mapped_total += row.acceptance_total;
        mapped_passed += row.acceptance_passed;
    }
    check.holds(
        mapped_total <= m.acceptance_total - m.acceptance_unmapped.min(m.acceptance_total)
            && mapped_passed <= m.acceptance_passed,
        || at("the milestones' acceptance tests exceed the mission's mapped ones"),
    );

    // The runs table: one row per agent run, summed.
    check.holds(m.agent_runs == rows.runs.len() as u64, || {
        at("agent_runs is not the rows of the runs table")
    });
    let by_role = [
        m.runs_orchestrator,
        m.runs_worker,
        m.runs_scrutiny,
        m.runs_user_testing,
        m.runs_subagent,
    ];
    for (role, count) in ROLES.iter().zip(by_role) {
        let rows_of_role = rows.runs.iter().filter(|r| r.role == *role).count() as u64;
        check.holds(count == rows_of_role, || {
            at(&format!(
                "runs_{role} is {count}, the runs table has {rows_of_role}"
            ))
        });
    }
    check.holds(by_role.iter().sum::<u64>() == m.agent_runs, || {
        at("the runs by role do not add up to agent_runs")
    });
    let run_sum = |field: fn(&RunRow) -> u64| rows.runs.iter().map(|r| field(r)).sum::<u64>();
    let sums = [
        ("turns", m.turns, run_sum(|r| u64::from(r.turns))),
        ("tool_calls", m.tool_calls, run_sum(|r| r.tool_calls)),
        (
            "malformed_calls",
            m.malformed_calls,
            run_sum(|r| r.malformed_calls + r.unknown_tool_calls),
        ),
        (
            "recovered_calls",
            m.recovered_calls,
            run_sum(|r| r.recovered_calls),
        ),
        (
            "model_retries",
            m.model_retries,
            run_sum(|r| r.model_retries),
        ),
        (
            "plan_violations",
            m.plan_violations,
            run_sum(|r| r.plan_violations),
        ),
    ];
    for (column, mission, runs) in sums {
        check.holds(mission == runs, || {
            at(&format!("{column} is {mission}, its runs' sum {runs}"))
        });
    }
    // The harness's own commands add to the agents'.
    check.holds(m.sandbox_denials >= run_sum(|r| r.sandbox_denials), || {
        at("fewer sandbox_denials than its runs'")
    });
    check.holds(m.limits_hit >= run_sum(|r| r.limits_hit), || {
        at("fewer limits_hit than its runs'")
    });

    // Tokens: the mission's are its runs' are its turns', unknown when any part is.
    let tokens = [
        (
            "input_tokens",
            m.input_tokens,
            strict_sum(rows.runs.iter().map(|r| r.input_tokens)),
            strict_sum(rows.turns.iter().map(|t| t.input_tokens)),
        ),
        (
            "cache_read_tokens",
            m.cache_read_tokens,
            strict_sum(rows.runs.iter().map(|r| r.cache_read_tokens)),
            strict_sum(rows.turns.iter().map(|t| t.cache_read_tokens)),
        ),
        (
            "cache_write_tokens",
            m.cache_write_tokens,
            strict_sum(rows.runs.iter().map(|r| r.cache_write_tokens)),
            strict_sum(rows.turns.iter().map(|t| t.cache_write_tokens)),
        ),
        (
            "output_tokens",
            m.output_tokens,
            strict_sum(rows.runs.iter().map(|r| r.output_tokens)),
            strict_sum(rows.turns.iter().map(|t| t.output_tokens)),
        ),
    ];
    for (column, mission, runs, turns) in tokens {
        check.holds(mission == runs && runs == turns, || {
            at(&format!(
                "{column}: missions {}, runs {}, turns {}",
                shown(mission),
                shown(runs),
                shown(turns)
            ))
        });
    }
    let run_costs = strict_sum_f64(rows.runs.iter().map(|r| r.cost_usd));
    let turn_costs = strict_sum_f64(rows.turns.iter().map(|t| t.cost_usd));
    check.holds(
        close(m.cost_usd, run_costs) && close(run_costs, turn_costs),
        || at("cost_usd differs from its runs' or its turns'"),
    );
    // Tokens by role: input + output of the role's turns, an unknown part counted as 0.
    let by_role_tokens = [
        m.tokens_orchestrator,
        m.tokens_worker,
        m.tokens_scrutiny,
        m.tokens_user_testing,
        m.tokens_subagent,
    ];
    let turn_total = |t: &TurnRow| t.input_tokens.unwrap_or(0) + t.output_tokens.unwrap_or(0);
    for (role, tokens) in ROLES.iter().zip(by_role_tokens) {
        let of_turns: u64 = rows
            .turns
            .iter()
            .filter(|t| rows.role_of(t.agent_run) == Some(*role))
            .map(|t| turn_total(t))
            .sum();
        check.holds(tokens == of_turns, || {
            at(&format!("tokens_{role} is {tokens}, its turns' {of_turns}"))
        });
    }
    if let (Some(input), Some(output)) = (m.input_tokens, m.output_tokens) {
        check.holds(by_role_tokens.iter().sum::<u64>() == input + output, || {
            at("the tokens by role are not input_tokens + output_tokens")
        });
    }
    let label = source_label(rows.turns.iter().map(|t| t.usage_source.as_str()));
    check.holds(m.usage_source == label, || {
        at(&format!(
            "usage_source is `{}`, its turns say `{label}`",
            m.usage_source
        ))
    });
}

fn milestone_invariants(check: &mut Check, name: &str, rows: &MissionTables<'_>) {
    let rounds = rows.rounds_by_milestone();
    let milestones_total = rows.mission.map(|m| m.milestones_total);
    let own_total: BTreeMap<u32, u64> = rounds
        .values()
        .filter_map(|r| r.first())
        .map(|row| (row.milestone_index, row.assertions_total))
        .collect();
    for (milestone, milestone_rows) in &rounds {
        let at =
            |round: u32, what: &str| format!("{name} milestones {milestone} round {round}: {what}");
        let numbers: Vec<u32> = milestone_rows.iter().map(|r| r.round).collect();
        let expected: Vec<u32> = (1..=milestone_rows.len() as u32).collect();
        check.holds(numbers == expected, || {
            at(0, "its rounds are not numbered 1, 2, ... in order")
        });
        let first_passed = milestone_rows.iter().find(|r| r.passed).map(|r| r.round);
        let first = milestone_rows[0];
        for row in milestone_rows {
            let at = |what: &str| at(row.round, what);
            check.holds(row.rounds_to_pass == first_passed, || {
                at("rounds_to_pass is not the first round that passed")
            });
            check.holds(
                row.milestone_index == first.milestone_index
                    && row.assertions_total == first.assertions_total
                    && row.acceptance_passed == first.acceptance_passed
                    && row.acceptance_total == first.acceptance_total
                    && row.acceptance_ok == first.acceptance_ok
                    && row.false_green == first.false_green
                    && row.false_red == first.false_red,
                || at("a column of the whole milestone differs between its rows"),
            );
            check.holds(
                row.milestone_index >= 1
                    && milestones_total.is_none_or(|total| u64::from(row.milestone_index) <= total),
                || at("milestone_index is not a place in the contract"),
            );
            // Every round that ends judged every assertion of its milestone and of the
            // milestones before it: its own in verdicts_*, the earlier ones in regression_*.
            check.holds(
                row.verdicts_pass + row.verdicts_fail == row.assertions_total,
                || {
                    at(&format!(
                        "verdicts_pass {} + verdicts_fail {} is not assertions_total {}",
                        row.verdicts_pass, row.verdicts_fail, row.assertions_total
                    ))
                },
            );
            let (Some(regression_pass), Some(regression_fail)) =
                (row.regression_pass, row.regression_fail)
            else {
                check.fail(at(
                    "regression_pass or regression_fail is null in schema 10",
                ));
                continue;
            };
            let earlier: u64 = own_total
                .iter()
                .filter(|(index, _)| **index < row.milestone_index)
                .map(|(_, total)| total)
                .sum();
            check.holds(regression_pass + regression_fail == earlier, || {
                at(&format!(
                    "regression_pass {regression_pass} + regression_fail {regression_fail} is not the {earlier} assertions of earlier milestones"
                ))
            });
            check.holds(
                row.mechanical_pass + row.mechanical_fail <= row.assertions_total,
                || at("mechanical checks exceed assertions_total"),
            );
            // Each failed verdict or check raises a blocking finding, open at the round's end.
            let failed = row.verdicts_fail + regression_fail + row.mechanical_fail;
            check.holds(
                row.findings_blocking >= failed && row.open_blocking >= failed,
                || {
                    at(&format!(
                        "{failed} failed verdicts and checks, but {} blocking findings raised and {} open",
                        row.findings_blocking, row.open_blocking
                    ))
                },
            );
            check.holds(row.passed == (row.open_blocking == 0), || {
                at("passed while blocking findings are open, or failed with none")
            });
            check.holds(row.acceptance_passed <= row.acceptance_total, || {
                at("acceptance_passed exceeds acceptance_total")
            });
            check.holds(
                match row.acceptance_ok {
                    Some(ok) => {
                        row.acceptance_total > 0
                            && ok == (row.acceptance_passed == row.acceptance_total)
                    }
                    None => row.acceptance_passed == 0,
                },
                || at("acceptance_ok does not follow from acceptance_passed and _total"),
            );
            // A false green needs acceptance failing, a false red acceptance passing: never both.
            check.holds(
                (!row.false_green || row.acceptance_ok == Some(false))
                    && (!row.false_red || row.acceptance_ok == Some(true)),
                || at("false_green or false_red contradicts acceptance_ok"),
            );
            // The assertions table holds the same verdicts.
            let verdicts = |own: bool, status: &str| {
                rows.assertions
                    .iter()
                    .filter(|a| {
                        a.checked_in == row.milestone
                            && a.round == row.round
                            && (a.milestone == row.milestone) == own
                            && a.validator_status.as_deref() == Some(status)
                    })
                    .count() as u64
            };
            check.holds(
                (
                    row.verdicts_pass,
                    row.verdicts_fail,
                    regression_pass,
                    regression_fail,
                ) == (
                    verdicts(true, "pass"),
                    verdicts(true, "fail"),
                    verdicts(false, "pass"),
                    verdicts(false, "fail"),
                ),
                || at("its verdicts differ from the assertions table's"),
            );
        }
    }
}

fn run_invariants(check: &mut Check, name: &str, rows: &MissionTables<'_>) {
    let numbers: BTreeSet<u32> = rows.runs.iter().map(|r| r.agent_run).collect();
    check.holds(numbers.len() == rows.runs.len(), || {
        format!("{name} runs: an agent run number repeats")
    });
    for run in &rows.runs {
        let at = |what: &str| format!("{name} runs {}: {what}", run.agent_run);
        check.holds(ROLES.contains(&run.role.as_str()), || {
            at(&format!("`{}` is no role", run.role))
        });
        check.holds(
            run.malformed_calls + run.unknown_tool_calls + run.recovered_calls <= run.tool_calls
                && run.tool_errors + run.malformed_calls + run.unknown_tool_calls <= run.tool_calls,
            || at("its kinds of tool calls exceed tool_calls"),
        );
        check.holds(
            run.test_files_written + run.source_files_written <= run.files_written,
            || at("test and source files exceed files_written"),
        );
        check.holds(
            run.commands_timed_out <= run.commands_failed
                && run.commands_failed <= run.commands_run,
            || at("commands timed out > failed > run"),
        );
        check.holds(
            run.tests_before_source.is_some()
                == (run.test_files_written > 0 && run.source_files_written > 0),
            || at("tests_before_source is known without both kinds of file, or unknown with both"),
        );
        if let (Some(read), Some(input)) = (run.cache_read_tokens, run.input_tokens) {
            check.holds(read <= input, || {
                at("cache_read_tokens exceed input_tokens")
            });
        }
        if let Some(parent) = run.parent_agent_run {
            check.holds(parent != run.agent_run && numbers.contains(&parent), || {
                at("its parent_agent_run is no other run of the mission")
            });
        }
        let turns = rows.turns_of(run.agent_run);
        let count = turns.len() as u32;
        let numbered: Vec<u32> = turns.iter().map(|t| t.turn).collect();
        check.holds(numbered == (1..=count).collect::<Vec<_>>(), || {
            at("its turns are not numbered 1, 2, ... in order")
        });
        // A run counts a turn whose model call failed, which has no row.
        if run.outcome != "unfinished" {
            check.holds(count <= run.turns && run.turns <= count + 1, || {
                at(&format!(
                    "turns is {}, the turns table has {count} rows",
                    run.turns
                ))
            });
        }
        check.holds(
            run.no_tool_call_turns == turns.iter().filter(|t| t.tool_calls == 0).count() as u64,
            || at("no_tool_call_turns is not its turns without a tool call"),
        );
        check.holds(
            run.tool_calls <= turns.iter().map(|t| u64::from(t.tool_calls)).sum::<u64>(),
            || at("more tool calls ran than its turns asked for"),
        );
        let sums = [
            (
                "input_tokens",
                run.input_tokens,
                strict_sum(turns.iter().map(|t| t.input_tokens)),
            ),
            (
                "cache_read_tokens",
                run.cache_read_tokens,
                strict_sum(turns.iter().map(|t| t.cache_read_tokens)),
            ),
            (
                "cache_write_tokens",
                run.cache_write_tokens,
                strict_sum(turns.iter().map(|t| t.cache_write_tokens)),
            ),
            (
                "output_tokens",
                run.output_tokens,
                strict_sum(turns.iter().map(|t| t.output_tokens)),
            ),
            (
                "reasoning_tokens",
                run.reasoning_tokens,
                strict_sum(turns.iter().map(|t| t.reasoning_tokens)),
            ),
        ];
        for (column, of_run, of_turns) in sums {
            check.holds(of_run == of_turns, || {
                at(&format!(
                    "{column} is {}, its turns' {}",
                    shown(of_run),
                    shown(of_turns)
                ))
            });
        }
        check.holds(
            close(
                run.cost_usd,
                strict_sum_f64(turns.iter().map(|t| t.cost_usd)),
            ),
            || at("cost_usd is not its turns'"),
        );
        let label = source_label(turns.iter().map(|t| t.usage_source.as_str()));
        check.holds(run.usage_source == label, || {
            at(&format!(
                "usage_source is `{}`, its turns say `{label}`",
                run.usage_source
            ))
        });
    }
}

fn turn_invariants(check: &mut Check, name: &str, rows: &MissionTables<'_>) {
    for turn in &rows.turns {
        let at = |what: &str| format!("{name} turns {}.{}: {what}", turn.agent_run, turn.turn);
        if let Some(input) = turn.input_tokens {
            check.holds(
                turn.cache_read_tokens.is_none_or(|read| read <= input),
                || at("cache_read_tokens exceed input_tokens"),
            );
            check.holds(turn.new_tokens.is_none_or(|new| new <= input), || {
                at("new_tokens exceed input_tokens")
            });
        }
        check.holds(
            turn.role.is_empty() || rows.role_of(turn.agent_run) == Some(turn.role.as_str()),
            || at("its role is not its run's"),
        );
    }
}

fn assertion_invariants(check: &mut Check, name: &str, rows: &MissionTables<'_>) {
    let rounds = rows.rounds_by_milestone();
    for row in &rows.assertions {
        let at = |what: &str| {
            format!(
                "{name} assertions {} in {} round {}: {what}",
                row.assertion, row.checked_in, row.round
            )
        };
        let validator_passed = row.validator_status.as_deref() == Some("pass");
        check.holds(
            row.passed == (validator_passed && row.mechanical_status != "fail"),
            || at("passed contradicts validator_status and mechanical_status"),
        );
        if let Some(milestone) = rounds.get(row.milestone.as_str()).and_then(|r| r.first()) {
            let expected = milestone
                .acceptance_ok
                .map(|ok| if ok { "pass" } else { "fail" });
            check.holds(row.acceptance_status.as_deref() == expected, || {
                at("acceptance_status is not its milestone's acceptance_ok")
            });
        }
    }
}

/// Every share `compare` reports lies in [0, 1].
fn share_invariants(check: &mut Check, tables: &Tables) {
    for summary in compare(std::slice::from_ref(tables)) {
        let mut shares: Vec<(String, Option<f64>)> = vec![
            ("pass_rate".into(), Some(summary.pass_rate)),
            ("acceptance_share".into(), summary.acceptance_share),
            (
                "milestones_passed_share".into(),
                summary.milestones_passed_share,
            ),
            ("fix_feature_share".into(), summary.fix_feature_share),
            ("mean_mutation_score".into(), summary.mean_mutation_score),
            ("false_green_rate".into(), summary.false_green_rate),
            ("false_red_rate".into(), summary.false_red_rate),
        ];
        if let Some(interval) = &summary.pass_rate_ci {
            shares.push(("pass_rate_ci low".into(), Some(interval.low)));
            shares.push(("pass_rate_ci high".into(), Some(interval.high)));
        }
        for (k, value) in &summary.pass_at_k {
            shares.push((format!("pass@{k}"), Some(*value)));
        }
        for (k, value) in &summary.pass_hat_k {
            shares.push((format!("pass^{k}"), Some(*value)));
        }
        for (role, value) in &summary.cache_read_share_by_role {
            shares.push((format!("cache read share of {role}"), Some(*value)));
        }
        for (role, calls) in &summary.tool_calls_by_role {
            shares.push((format!("valid calls of {role}"), Some(calls.valid_share)));
            shares.push((
                format!("recovered calls of {role}"),
                Some(calls.recovered_share),
            ));
            shares.push((
                format!("malformed calls of {role}"),
                Some(calls.malformed_share),
            ));
            let (total, valid, recovered, malformed) = calls.counts();
            check.holds(valid + recovered + malformed == total, || {
                format!(
                    "compare {}: the tool calls of {role} do not add up",
                    summary.pairing
                )
            });
        }
        for (what, value) in shares {
            check.within(value, 0.0, 1.0, || {
                format!("compare {}: {what}", summary.pairing)
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The checks.

#[test]
fn generated_journals_fold_into_tables_whose_counts_add_up() {
    let mut seen = Seen::default();
    for seed in 0..GENERATED_JOURNALS {
        let records = journal(seed, &mut seen);
        let tables = fold(&format!("seed-{seed}"), &records);
        let problems = violations(&tables);
        assert!(
            problems.is_empty(),
            "journal of seed {seed}:\n{}",
            problems.join("\n")
        );
        assert!(tables
            .milestones
            .iter()
            .all(|m| m.schema_version == SCHEMA_VERSION));
    }
    // The generator made what the invariants are about, many times over.
    let variety = [
        ("regression failures", seen.regression_failures),
        ("failed rounds", seen.failed_rounds),
        ("passed missions", seen.passed_missions),
        ("halted missions", seen.halted_missions),
        ("killed missions", seen.killed_missions),
        ("subagent runs", seen.subagents),
        ("turns of unknown usage", seen.unknown_usage),
        (
            "missions of three or four milestones",
            seen.milestones_beyond_two,
        ),
    ];
    for (what, count) in variety {
        assert!(
            count >= 10,
            "only {count} {what} in {GENERATED_JOURNALS} journals"
        );
    }
}

#[test]
fn broken_tables_are_caught() {
    let mut seen = Seen::default();
    let seed = (0..)
        .find(|seed| {
            let tables = fold("r", &journal(*seed, &mut seen));
            tables
                .milestones
                .iter()
                .any(|m| m.regression_pass.unwrap_or(0) > 0)
                && tables.runs.iter().any(|r| r.input_tokens.unwrap_or(0) > 0)
        })
        .unwrap_or(0);
    let tables = fold("r", &journal(seed, &mut seen));
    assert!(violations(&tables).is_empty());
    // Schema 9's count: a later milestone's verdicts on every assertion it checked.
    let mut broken = tables.clone();
    let later = broken
        .milestones
        .iter_mut()
        .find(|m| m.regression_pass.unwrap_or(0) > 0)
        .unwrap();
    later.verdicts_pass += later.regression_pass.unwrap_or(0);
    assert!(violations(&broken)
        .iter()
        .any(|p| p.contains("is not assertions_total")));
    let mut broken = tables.clone();
    let run = broken
        .runs
        .iter_mut()
        .find(|r| r.input_tokens.unwrap_or(0) > 0)
        .unwrap();
    run.input_tokens = run.input_tokens.map(|n| n - 1);
    assert!(violations(&broken)
        .iter()
        .any(|p| p.contains("input_tokens")));
}

/// The committed report folders under `docs/results`.
fn committed_reports() -> Vec<std::path::PathBuf> {
    let mut folders = Vec::new();
    for suite in std::fs::read_dir(repo().join("docs/results")).unwrap() {
        let suite = suite.unwrap().path();
        if !suite.is_dir() {
            continue;
        }
        for run in std::fs::read_dir(&suite).unwrap() {
            let run = run.unwrap().path();
            if run.join("events.jsonl").is_file() {
                folders.push(run);
            }
        }
    }
    folders.sort();
    assert!(!folders.is_empty());
    folders
}

#[test]
fn committed_journals_fold_into_tables_whose_counts_add_up() {
    for folder in committed_reports() {
        let records = missions_bench::events::read_events(&folder.join("events.jsonl")).unwrap();
        let tables = fold("r", &records);
        let problems = violations(&tables);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            folder.display(),
            problems.join("\n")
        );
    }
}

#[test]
fn tables_of_schema_9_read_with_the_regression_counts_unknown() {
    let mut read = 0;
    for folder in committed_reports() {
        let info = missions_bench::report::read_run_info(&folder).unwrap();
        if info.schema_version != 9 {
            continue;
        }
        read += 1;
        let tables = missions_bench::report::read_tables(&folder).unwrap();
        assert!(!tables.milestones.is_empty());
        assert!(tables
            .milestones
            .iter()
            .all(|m| m.regression_pass.is_none() && m.regression_fail.is_none()));
        // Compared beside the same journal folded into schema 10.
        let records = missions_bench::events::read_events(&folder.join("events.jsonl")).unwrap();
        let current = fold("current", &records);
        assert_eq!(compare(&[tables, current]).len(), 1, "{}", folder.display());
    }
    assert!(read > 0, "no committed report of schema 9");
}

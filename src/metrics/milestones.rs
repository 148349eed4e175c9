//! The milestones table: one row per milestone and validation round, from the contract, the
//! rounds, the findings and the verdicts. Also [`Judgement`]: what the rounds and the acceptance
//! tests say of each milestone, which the assertions and missions rows use too.

use std::collections::BTreeMap;

use crate::spec::{Feature, Finding, Milestone, MilestoneId, Severity};

use super::assertions::AssertionsAcc;
use super::judgement::{Judgement, RoundPass};
use super::{MilestoneRow, RowKey, SCHEMA_VERSION};

/// How one validation round of a milestone ended.
pub(super) struct RoundResult {
    pub(super) milestone: String,
    pub(super) round: u32,
    pub(super) passed: bool,
    pub(super) open_blocking: u32,
}

/// One validation round of one milestone. Ordered by milestone, then round.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct RoundKey {
    milestone: String,
    round: u32,
}

/// The contract's milestones, their rounds, the features planned for them and the findings.
#[derive(Default)]
pub(super) struct MilestonesAcc {
    /// Milestone ids in contract order, from the last contract written.
    pub(super) order: Vec<String>,
    /// In the order the rounds ended.
    pub(super) rounds: Vec<RoundResult>,
    /// Features of the first plan.
    pub(super) planned_features: u64,
    /// Fix features planned after a round, by the milestone and round they fix.
    fix_features: BTreeMap<RoundKey, u64>,
    pub(super) findings: Vec<Finding>,
}

impl MilestonesAcc {
    pub(super) fn contract_written(&mut self, milestones: &[Milestone]) {
        self.order = milestones.iter().map(|m| m.id.to_string()).collect();
    }

    /// The first plan (`after_round` is `None`) or the fix features planned after a round,
    /// which are all of the first feature's milestone.
    pub(super) fn features_planned(&mut self, after_round: Option<u32>, features: &[Feature]) {
        let Some(round) = after_round else {
            self.planned_features = features.len() as u64;
            return;
        };
        if let Some(first) = features.first() {
            let key = RoundKey {
                milestone: first.milestone.to_string(),
                round,
            };
            *self.fix_features.entry(key).or_default() += features.len() as u64;
        }
    }

    pub(super) fn round_ended(
        &mut self,
        milestone: &MilestoneId,
        round: u32,
        passed: bool,
        open_blocking: u32,
    ) {
        self.rounds.push(RoundResult {
            milestone: milestone.to_string(),
            round,
            passed,
            open_blocking,
        });
    }

    /// Fix features planned over all rounds.
    pub(super) fn fix_features_total(&self) -> u64 {
        self.fix_features.values().sum()
    }

    /// Findings of any milestone and round with this severity.
    pub(super) fn findings_of(&self, severity: Severity) -> u64 {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count() as u64
    }

    fn findings_in(&self, milestone: &str, round: u32, severity: Severity) -> u64 {
        self.findings
            .iter()
            .filter(|f| {
                f.milestone.as_str() == milestone && f.round == round && f.severity == severity
            })
            .count() as u64
    }

    /// The 1-based place of `milestone` in the contract; 0 when the contract does not list it.
    fn index_of(&self, milestone: &str) -> u32 {
        self.order
            .iter()
            .position(|m| m == milestone)
            .map_or(0, |i| i as u32 + 1)
    }
}

impl MilestonesAcc {
    /// Each round's milestone and whether it passed, in the order the rounds ended.
    pub(super) fn round_passes(&self) -> Vec<RoundPass<'_>> {
        self.rounds
            .iter()
            .map(|r| RoundPass {
                milestone: r.milestone.as_str(),
                round: r.round,
                passed: r.passed,
            })
            .collect()
    }
}

/// The milestones table's rows of one mission, one per round in the order the rounds ended.
pub(super) fn milestone_rows(
    key: &RowKey,
    milestones: &MilestonesAcc,
    assertions: &AssertionsAcc,
    judgement: &Judgement<'_>,
) -> Vec<MilestoneRow> {
    milestones
        .rounds
        .iter()
        .map(|round| milestone_row(key, milestones, assertions, judgement, round))
        .collect()
}

fn milestone_row(
    key: &RowKey,
    milestones: &MilestonesAcc,
    assertions: &AssertionsAcc,
    judgement: &Judgement<'_>,
    result: &RoundResult,
) -> MilestoneRow {
    let milestone = result.milestone.as_str();
    let round = result.round;
    let verdicts = assertions.verdicts_in(milestone, round);
    let mechanical = assertions.mechanical_in(milestone, round);
    let acceptance = judgement.acceptance_of(milestone);
    let fix_key = RoundKey {
        milestone: milestone.to_string(),
        round,
    };
    MilestoneRow {
        schema_version: SCHEMA_VERSION,
        run_id: key.run_id.clone(),
        suite: key.suite.clone(),
        mission: key.mission.clone(),
        pairing: key.pairing.clone(),
        repeat: key.repeat,
        milestone: milestone.to_string(),
        milestone_index: milestones.index_of(milestone),
        round,
        passed: result.passed,
        open_blocking: u64::from(result.open_blocking),
        findings_blocking: milestones.findings_in(milestone, round, Severity::Blocking),
        findings_non_blocking: milestones.findings_in(milestone, round, Severity::NonBlocking),
        findings_suggestion: milestones.findings_in(milestone, round, Severity::Suggestion),
        verdicts_pass: verdicts.own.pass,
        verdicts_fail: verdicts.own.fail,
        regression_pass: Some(verdicts.regression.pass),
        regression_fail: Some(verdicts.regression.fail),
        mechanical_pass: mechanical.pass,
        mechanical_fail: mechanical.fail,
        assertions_total: assertions.assertions_of(milestone),
        fix_features_planned: milestones.fix_features.get(&fix_key).copied().unwrap_or(0),
        rounds_to_pass: judgement.rounds_to_pass(milestone),
        acceptance_passed: acceptance.passed,
        acceptance_total: acceptance.total,
        acceptance_ok: judgement.acceptance_ok(milestone),
        false_green: judgement.false_green(milestone),
        false_red: judgement.false_red(milestone),
    }
}

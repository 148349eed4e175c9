//! The assertions table: one row per validator verdict (an assertion in one validation round),
//! with the harness's own check of the assertion's command, the acceptance result of its
//! milestone and the evidence files the verdict and the check cite.

use std::collections::BTreeMap;

use crate::events::VerdictStatus;
use crate::spec::{Assertion, MilestoneId, Verify};

use super::judgement::Judgement;
use super::{AssertionRow, RowKey, SCHEMA_VERSION};

/// One assertion checked in one milestone's validation round. Ordered by milestone, round,
/// then assertion.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct CheckKey {
    /// The milestone whose round checked the assertion.
    pub(super) milestone: String,
    pub(super) round: u32,
    pub(super) assertion: String,
}

impl CheckKey {
    pub(super) fn new(milestone: &MilestoneId, round: u32, assertion: &str) -> CheckKey {
        CheckKey {
            milestone: milestone.to_string(),
            round,
            assertion: assertion.to_string(),
        }
    }

    fn is_in(&self, milestone: &str, round: u32) -> bool {
        self.milestone == milestone && self.round == round
    }
}

/// A validator's verdict on an assertion.
pub(super) struct Verdict {
    pub(super) check: CheckKey,
    pub(super) status: VerdictStatus,
    /// The evidence ids it cites, in its order.
    pub(super) evidence_ids: Vec<String>,
}

/// The harness's own check of an assertion in one round.
struct MechanicalCheck {
    passed: bool,
    /// A browser check's screenshots.
    evidence_ids: Vec<String>,
}

/// What the contract says of an assertion.
#[derive(Clone)]
pub(super) struct AssertionInfo {
    /// The milestone the assertion belongs to.
    milestone: String,
    verify: Verify,
}

/// Pass and fail counts.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) pass: u64,
    pub(super) fail: u64,
}

impl Tally {
    fn add(&mut self, passed: bool) {
        if passed {
            self.pass += 1;
        } else {
            self.fail += 1;
        }
    }
}

/// The verdicts of one milestone round: on the milestone's own assertions, and on earlier
/// milestones' assertions checked again (regression checks).
#[derive(Default)]
pub(super) struct Verdicts {
    pub(super) own: Tally,
    pub(super) regression: Tally,
}

/// The contract's assertions, the validators' verdicts and the harness's mechanical checks.
#[derive(Default)]
pub(super) struct AssertionsAcc {
    /// By assertion id, from the last contract written.
    info: BTreeMap<String, AssertionInfo>,
    /// In the order they were reported.
    verdicts: Vec<Verdict>,
    /// The harness's own checks: whether each passed and what it saved.
    mechanical: BTreeMap<CheckKey, MechanicalCheck>,
    /// Saved evidence files by id (ids are unique within a mission run), relative to the report
    /// folder.
    evidence_paths: BTreeMap<String, String>,
}

impl AssertionsAcc {
    pub(super) fn contract_written(&mut self, assertions: &[Assertion]) {
        self.info = assertions
            .iter()
            .map(|a| {
                let info = AssertionInfo {
                    milestone: a.milestone.to_string(),
                    verify: a.verify,
                };
                (a.id.to_string(), info)
            })
            .collect();
    }

    pub(super) fn verdict(&mut self, verdict: Verdict) {
        self.verdicts.push(verdict);
    }

    pub(super) fn mechanical_check(
        &mut self,
        check: CheckKey,
        passed: bool,
        evidence_ids: &[String],
    ) {
        let check_result = MechanicalCheck {
            passed,
            evidence_ids: evidence_ids.to_vec(),
        };
        self.mechanical.insert(check, check_result);
    }

    pub(super) fn evidence_saved(&mut self, id: &str, path: &str) {
        self.evidence_paths.insert(id.to_string(), path.to_string());
    }

    /// What one verdict's row cites: the verdict's evidence, then the mechanical check's of the
    /// same assertion and round, each once, as report-relative paths joined by ", ". An id no
    /// saved file answers to stays as the bare id, so a citation is never lost.
    fn evidence_of(&self, verdict: &Verdict) -> String {
        let mechanical = self
            .mechanical
            .get(&verdict.check)
            .map(|check| &check.evidence_ids[..])
            .unwrap_or_default();
        let mut cited: Vec<&str> = Vec::new();
        for id in verdict.evidence_ids.iter().chain(mechanical) {
            let entry = self.evidence_paths.get(id).unwrap_or(id).as_str();
            if !cited.contains(&entry) {
                cited.push(entry);
            }
        }
        cited.join(", ")
    }

    /// The contract's assertions of `milestone`.
    pub(super) fn assertions_of(&self, milestone: &str) -> u64 {
        self.info
            .values()
            .filter(|info| info.milestone == milestone)
            .count() as u64
    }

    /// The milestone an assertion belongs to: the contract's, else the milestone whose round
    /// checked it (an assertion the contract does not list is taken as that milestone's own).
    fn milestone_of<'a>(&'a self, check: &'a CheckKey) -> &'a str {
        self.info
            .get(&check.assertion)
            .map_or(check.milestone.as_str(), |info| info.milestone.as_str())
    }

    /// The validators' verdicts in one round of `milestone`, on its own assertions and on
    /// earlier milestones' assertions checked again.
    pub(super) fn verdicts_in(&self, milestone: &str, round: u32) -> Verdicts {
        let mut verdicts = Verdicts::default();
        for verdict in self
            .verdicts
            .iter()
            .filter(|v| v.check.is_in(milestone, round))
        {
            let tally = if self.milestone_of(&verdict.check) == milestone {
                &mut verdicts.own
            } else {
                &mut verdicts.regression
            };
            tally.add(verdict.status == VerdictStatus::Pass);
        }
        verdicts
    }

    /// The harness's mechanical checks in one round of `milestone` of its own assertions (the
    /// lifecycle checks no other milestone's).
    pub(super) fn mechanical_in(&self, milestone: &str, round: u32) -> Tally {
        let mut tally = Tally::default();
        for (_, check) in self
            .mechanical
            .iter()
            .filter(|(c, _)| c.is_in(milestone, round) && self.milestone_of(c) == milestone)
        {
            tally.add(check.passed);
        }
        tally
    }
}

/// The assertions table's rows of one mission, one per verdict in the order reported.
pub(super) fn assertion_rows(
    key: &RowKey,
    assertions: &AssertionsAcc,
    judgement: &Judgement<'_>,
) -> Vec<AssertionRow> {
    assertions
        .verdicts
        .iter()
        .map(|verdict| assertion_row(key, assertions, judgement, verdict))
        .collect()
}

fn assertion_row(
    key: &RowKey,
    assertions: &AssertionsAcc,
    judgement: &Judgement<'_>,
    verdict: &Verdict,
) -> AssertionRow {
    let check = &verdict.check;
    // An assertion the contract does not list is taken as the checking milestone's own.
    let info = assertions
        .info
        .get(&check.assertion)
        .cloned()
        .unwrap_or(AssertionInfo {
            milestone: check.milestone.clone(),
            verify: Verify::Agent,
        });
    let mechanical = assertions.mechanical.get(check).map(|c| c.passed);
    AssertionRow {
        schema_version: SCHEMA_VERSION,
        run_id: key.run_id.clone(),
        suite: key.suite.clone(),
        mission: key.mission.clone(),
        pairing: key.pairing.clone(),
        repeat: key.repeat,
        assertion: check.assertion.clone(),
        acceptance_status: judgement
            .acceptance_ok(&info.milestone)
            .map(|ok| pass_or_fail(ok).to_string()),
        milestone: info.milestone,
        checked_in: check.milestone.clone(),
        round: check.round,
        verify: info.verify.as_str().to_string(),
        validator_status: Some(pass_or_fail(verdict.status == VerdictStatus::Pass).to_string()),
        mechanical_status: mechanical
            .map_or("not_applicable", pass_or_fail)
            .to_string(),
        passed: verdict.status == VerdictStatus::Pass && mechanical != Some(false),
        evidence: assertions.evidence_of(verdict),
    }
}

fn pass_or_fail(passed: bool) -> &'static str {
    if passed {
        "pass"
    } else {
        "fail"
    }
}

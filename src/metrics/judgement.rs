//! What the rounds and the acceptance tests say of each milestone ([`Judgement`]): acceptance
//! per milestone, the round each first passed in, its last round's result, false greens and
//! false reds. The milestones, assertions and missions rows all read it.

use std::collections::BTreeMap;

use crate::events::{TestResult, TestStatus};

/// One round of one milestone and whether it passed.
pub(super) struct RoundPass<'a> {
    pub(super) milestone: &'a str,
    pub(super) round: u32,
    pub(super) passed: bool,
}

/// Acceptance tests of one milestone.
#[derive(Clone, Copy, Default)]
pub(super) struct AcceptanceCount {
    pub(super) passed: u64,
    pub(super) total: u64,
}

/// What the rounds and the acceptance tests say of each milestone.
pub(super) struct Judgement<'a> {
    /// Whether acceptance reported at all.
    acceptance_ran: bool,
    acceptance: BTreeMap<String, AcceptanceCount>,
    /// The round each milestone first passed in.
    rounds_to_pass: BTreeMap<&'a str, u32>,
    /// Whether each milestone passed its last round.
    passed_last_round: BTreeMap<&'a str, bool>,
}

impl<'a> Judgement<'a> {
    /// `tests` is `None` when acceptance did not report.
    pub(super) fn of(rounds: &[RoundPass<'a>], tests: Option<&[TestResult]>) -> Self {
        let mut by_milestone: BTreeMap<String, AcceptanceCount> = BTreeMap::new();
        for test in tests.unwrap_or_default() {
            if let Some(milestone) = &test.milestone {
                let count = by_milestone.entry(milestone.to_string()).or_default();
                count.total += 1;
                if test.status == TestStatus::Passed {
                    count.passed += 1;
                }
            }
        }
        let mut rounds_to_pass = BTreeMap::new();
        let mut passed_last_round = BTreeMap::new();
        for round in rounds {
            if round.passed {
                rounds_to_pass.entry(round.milestone).or_insert(round.round);
            }
            passed_last_round.insert(round.milestone, round.passed);
        }
        Judgement {
            acceptance_ran: tests.is_some(),
            acceptance: by_milestone,
            rounds_to_pass,
            passed_last_round,
        }
    }

    pub(super) fn acceptance_of(&self, milestone: &str) -> AcceptanceCount {
        self.acceptance.get(milestone).copied().unwrap_or_default()
    }

    /// Whether every acceptance test of `milestone` passed; unknown when acceptance did not
    /// run or has no test of it.
    pub(super) fn acceptance_ok(&self, milestone: &str) -> Option<bool> {
        if !self.acceptance_ran {
            return None;
        }
        self.acceptance
            .get(milestone)
            .filter(|count| count.total > 0)
            .map(|count| count.passed == count.total)
    }

    pub(super) fn rounds_to_pass(&self, milestone: &str) -> Option<u32> {
        self.rounds_to_pass.get(milestone).copied()
    }

    /// Milestones that passed a round.
    pub(super) fn milestones_passed(&self) -> u64 {
        self.rounds_to_pass.len() as u64
    }

    pub(super) fn rounds_to_pass_max(&self) -> Option<u32> {
        self.rounds_to_pass.values().copied().max()
    }

    /// The validators passed `milestone` in its last round and acceptance fails it.
    pub(super) fn false_green(&self, milestone: &str) -> bool {
        self.passed_last_round.get(milestone) == Some(&true)
            && self.acceptance_ok(milestone) == Some(false)
    }

    /// The validators failed `milestone` in its last round and acceptance passes it.
    pub(super) fn false_red(&self, milestone: &str) -> bool {
        self.passed_last_round.get(milestone) == Some(&false)
            && self.acceptance_ok(milestone) == Some(true)
    }
}

//! The lifecycle's decisions as pure functions: a finished mission's status, what a round's
//! open findings mean for its milestone, and the fix budget. Each is decided here alone.

use crate::events::{HaltReason, MissionStatus};
use crate::spec::MilestoneId;

use super::Halt;

/// The status of a finished mission: how it stopped, if it did, and else whether every
/// acceptance test passed.
pub fn mission_status(halt: Option<&Halt>, accepted: bool) -> MissionStatus {
    match halt {
        Some(halt) if halt.is_interrupted() => MissionStatus::Interrupted,
        Some(halt) if halt.reason.is_infrastructure() => MissionStatus::Error,
        Some(_) => MissionStatus::Halted,
        None if accepted => MissionStatus::Passed,
        None => MissionStatus::Failed,
    }
}

/// What a milestone's round comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum RoundOutcome {
    /// No blocking finding is open: the milestone passed.
    Passed,
    /// Findings are open and rounds remain: fixes are planned for the next round.
    Fix,
    /// Findings are open in the last allowed round: the mission halts.
    OutOfRounds(Halt),
}

/// A round passes when no blocking finding is open; the last allowed round that does not pass
/// halts the mission.
pub fn round_outcome(
    milestone: &MilestoneId,
    round: u32,
    max_rounds: u32,
    open_blocking: usize,
) -> RoundOutcome {
    if open_blocking == 0 {
        RoundOutcome::Passed
    } else if round >= max_rounds {
        RoundOutcome::OutOfRounds(Halt::new(
            HaltReason::MaxRounds,
            format!(
                "milestone `{milestone}` failed validation in round {round} of {max_rounds} \
                 ({open_blocking} blocking findings open)"
            ),
        ))
    } else {
        RoundOutcome::Fix
    }
}

/// Whether planning `needed` more fix features for `milestone` after `round`, on top of the
/// `planned_before` it already has, would exceed the budget's `max_fix_features`; the halt if so.
pub fn fix_budget_exceeded(
    milestone: &MilestoneId,
    round: u32,
    planned_before: u32,
    needed: u32,
    max_fix_features: u32,
) -> Option<Halt> {
    let total = planned_before + needed;
    (total > max_fix_features).then(|| {
        Halt::new(
            HaltReason::MaxFixFeatures,
            format!(
                "milestone `{milestone}` would need {total} fix features after round {round} \
                 ({planned_before} planned before, {needed} more for its open findings); \
                 the budget is {max_fix_features} per milestone"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_missions_status_comes_from_its_halt_then_its_acceptance() {
        let halt = |reason| Halt::new(reason, "why");
        assert_eq!(mission_status(None, true), MissionStatus::Passed);
        assert_eq!(mission_status(None, false), MissionStatus::Failed);
        let interrupted = halt(HaltReason::Interrupted);
        // An interrupted mission is unfinished, whatever acceptance said.
        assert_eq!(
            mission_status(Some(&interrupted), true),
            MissionStatus::Interrupted
        );
        for reason in [
            HaltReason::HarnessError,
            HaltReason::BackendUnavailable,
            HaltReason::EnvironmentSetupFailed,
        ] {
            assert_eq!(
                mission_status(Some(&halt(reason)), true),
                MissionStatus::Error,
                "{}",
                reason.as_str()
            );
        }
        for reason in [
            HaltReason::MaxRounds,
            HaltReason::NoPlan,
            HaltReason::OrchestratorHalt,
            HaltReason::MaxTokens,
        ] {
            // A halted mission never passes, even when its product passes acceptance.
            assert_eq!(
                mission_status(Some(&halt(reason)), true),
                MissionStatus::Halted,
                "{}",
                reason.as_str()
            );
        }
    }

    #[test]
    fn a_round_passes_with_no_blocking_finding_open() {
        let m1 = MilestoneId::new("m1");
        assert_eq!(round_outcome(&m1, 1, 3, 0), RoundOutcome::Passed);
        assert_eq!(round_outcome(&m1, 3, 3, 0), RoundOutcome::Passed);
        assert_eq!(round_outcome(&m1, 1, 3, 2), RoundOutcome::Fix);
        assert_eq!(
            round_outcome(&m1, 3, 3, 2),
            RoundOutcome::OutOfRounds(Halt::new(
                HaltReason::MaxRounds,
                "milestone `m1` failed validation in round 3 of 3 (2 blocking findings open)"
            ))
        );
    }
}

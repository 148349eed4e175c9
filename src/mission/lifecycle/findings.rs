//! The findings book: findings raised by validators and checks, which are open, and which
//! close.

use super::*;

/// A finding and whether it is still open.
pub(super) struct TrackedFinding {
    pub(super) finding: Finding,
    pub(super) open: bool,
}

impl MissionRuntime {
    /// Records a finding (its `id` is assigned here) as open, in `.mission/` and the journal.
    pub(super) fn raise(&self, run: Option<u32>, mut finding: Finding) -> Result<(), HarnessError> {
        let number = self.next_finding.fetch_add(1, Ordering::SeqCst);
        finding.id = format!("F{number}-{}-r{}", finding.milestone, finding.round);
        // A resumed mission takes the findings it raised before from its journal (a check's
        // output is not reproduced).
        // A divergence is recorded by the cursor and ends the mission at its next step.
        let recorded = self.cursor().finding(&finding.id, &finding);
        if let Ok(Some(recorded)) = recorded {
            finding = recorded;
        }
        self.state
            .write_finding(&finding)
            .map_err(|source| HarnessError::step(format!("save finding {}", finding.id), source))?;
        self.emitter.emit(Event::FindingRaised {
            run,
            finding: finding.clone(),
        });
        let new_id = finding.id.clone();
        let mut findings = self.findings.lock().unwrap_or_else(|p| p.into_inner());
        findings.push(TrackedFinding {
            finding: finding.clone(),
            open: true,
        });
        // A worker that did not finish a feature again replaces the earlier such finding, so a
        // feature never finished is one open finding (and one fix), not one per round.
        let raised: Vec<Finding> = findings.iter().map(|t| t.finding.clone()).collect();
        let open: Vec<Finding> = findings
            .iter()
            .filter(|t| t.open)
            .map(|t| t.finding.clone())
            .collect();
        let replaced: Vec<String> = superseded(&finding, &open, &self.state.features(), &raised)
            .into_iter()
            .map(|f| f.id.clone())
            .collect();
        for tracked in findings.iter_mut() {
            if replaced.contains(&tracked.finding.id) {
                tracked.open = false;
            }
        }
        drop(findings);
        if !replaced.is_empty() {
            self.emitter.emit(Event::FindingsClosed {
                ids: replaced,
                superseded_by: Some(new_id),
            });
        }
        Ok(())
    }

    /// Every finding raised so far, open or closed, in order.
    pub(super) fn raised_findings(&self) -> Vec<Finding> {
        self.findings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|t| t.finding.clone())
            .collect()
    }

    /// Closes the open findings of `milestone` that `close` selects.
    pub(super) fn close_findings(&self, milestone: &MilestoneId, close: impl Fn(&Finding) -> bool) {
        let mut closed = Vec::new();
        for tracked in self
            .findings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
        {
            if tracked.open && &tracked.finding.milestone == milestone && close(&tracked.finding) {
                tracked.open = false;
                closed.push(tracked.finding.id.clone());
            }
        }
        if !closed.is_empty() {
            self.emitter.emit(Event::FindingsClosed {
                ids: closed,
                superseded_by: None,
            });
        }
    }

    pub(super) fn open_blocking(&self, milestone: &MilestoneId) -> Vec<Finding> {
        self.findings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|t| {
                t.open
                    && &t.finding.milestone == milestone
                    && t.finding.severity == Severity::Blocking
            })
            .map(|t| t.finding.clone())
            .collect()
    }
}

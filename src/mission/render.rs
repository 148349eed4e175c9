//! The first user message of each agent run: what the task is, in Markdown.

use std::fmt::Write;

use crate::spec::{Assertion, Contract, Feature, FindingGroup, Milestone, StepAction, Verify};

use super::state::Handoff;

/// Longest diff shown to a scrutiny validator; the rest is cut with a marker.
const MAX_DIFF_BYTES: usize = 24 * 1024;

pub fn assertion(out: &mut String, assertion: &Assertion) {
    let _ = writeln!(
        out,
        "- **{}** (milestone {}, verify: {}): {}",
        assertion.id,
        assertion.milestone,
        assertion.verify.as_str(),
        assertion.description
    );
    if let Some(command) = &assertion.command {
        let label = if assertion.verify == Verify::Command {
            "command"
        } else {
            "suggested probe"
        };
        let _ = write!(
            out,
            "  - {label}: `{command}` -> exit {}",
            assertion.expect_exit
        );
        if let Some(stdout) = &assertion.expect_stdout {
            let _ = write!(out, ", stdout contains `{stdout}`");
        }
        out.push('\n');
    }
    if let Some(serve) = &assertion.serve {
        let _ = writeln!(out, "  - server: `{serve}`");
    }
    for (n, step) in assertion.steps.iter().enumerate() {
        let text = match step.action() {
            Ok(StepAction::Open(url)) => format!("open {url}"),
            Ok(StepAction::Click(target)) => format!("click `{target}`"),
            Ok(StepAction::Type { text, into }) => format!("type `{text}` into `{into}`"),
            Ok(StepAction::ExpectText(text)) => format!("expect the page to show `{text}`"),
            Ok(StepAction::ExpectUrl(part)) => format!("expect the address to contain `{part}`"),
            Err(why) => format!("(a step that cannot be played: {why})"),
        };
        let _ = writeln!(out, "  - step {}: {text}", n + 1);
    }
    if !assertion.evidence.is_empty() {
        let _ = writeln!(out, "  - evidence: {}", assertion.evidence);
    }
}

fn feature_section(
    out: &mut String,
    feature: &Feature,
    milestone: Option<&Milestone>,
    contract: &Contract,
) {
    let _ = writeln!(out, "# Feature {}: {}\n", feature.id, feature.title);
    if let Some(milestone) = milestone {
        let _ = writeln!(out, "Milestone {}: {}\n", milestone.id, milestone.title);
    }
    let _ = writeln!(out, "{}\n", feature.description.trim());
    let claimed: Vec<&Assertion> = feature
        .fulfils
        .iter()
        .filter_map(|id| contract.assertion(id))
        .collect();
    if !claimed.is_empty() {
        out.push_str("## Assertions this feature makes true\n\n");
        for a in claimed {
            assertion(out, a);
        }
        out.push('\n');
    }
    if !feature.addresses.is_empty() {
        let _ = writeln!(
            out,
            "This is a fix feature. It resolves the findings {} (see `.mission/findings/`).\n",
            feature.addresses.join(", ")
        );
    }
    if let Some(command) = &feature.test_command {
        let _ = writeln!(out, "## Test command\n\n`{command}`\n");
    }
}

pub fn plan(goal: &str, listing: &str) -> String {
    format!(
        "# The user's request\n\n{}\n\n# The workspace\n\n```\n{}\n```\n",
        goal.trim(),
        listing.trim()
    )
}

pub fn implement(feature: &Feature, contract: &Contract, library: &str) -> String {
    let mut out = String::new();
    feature_section(
        &mut out,
        feature,
        contract.milestone(&feature.milestone),
        contract,
    );
    let _ = writeln!(
        out,
        "# Library\n\n{}\n",
        if library.trim().is_empty() {
            "(empty)"
        } else {
            library.trim()
        }
    );
    out.push_str("The whole contract and plan are in `.mission/`.\n");
    out
}

pub fn review(
    feature: &Feature,
    contract: &Contract,
    outcome: &str,
    handoff: Option<&Handoff>,
    diff: &str,
) -> String {
    let mut out = String::new();
    feature_section(
        &mut out,
        feature,
        contract.milestone(&feature.milestone),
        contract,
    );
    let _ = writeln!(out, "# The worker's handoff\n\nOutcome: {outcome}\n");
    if let Some(handoff) = handoff {
        let _ = writeln!(out, "Summary: {}\n", handoff.summary.trim());
        if !handoff.tests_run.is_empty() {
            let _ = writeln!(
                out,
                "Tests run: {}\n",
                handoff
                    .tests_run
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if !handoff.notes.trim().is_empty() {
            let _ = writeln!(out, "Notes: {}\n", handoff.notes.trim());
        }
    }
    let shown = cut(diff, MAX_DIFF_BYTES);
    let _ = writeln!(
        out,
        "# Diff\n\n```diff\n{}\n```",
        if shown.trim().is_empty() {
            "(no changes)"
        } else {
            shown.trim_end()
        }
    );
    out
}

pub fn user_test(milestone: &Milestone, assertions: &[&Assertion]) -> String {
    let mut out = format!(
        "# Milestone {}: {}\n\n{}\n\n# Assertions to verify\n\n",
        milestone.id,
        milestone.title,
        milestone.description.trim()
    );
    for a in assertions {
        assertion(&mut out, a);
    }
    out
}

pub fn fix(
    milestone: &Milestone,
    round: u32,
    groups: &[FindingGroup],
    contract: &Contract,
    features: &[Feature],
    library: &str,
) -> String {
    let mut out = format!(
        "# Milestone {} ({}) failed validation in round {round}\n\n# Open findings\n\n\
         The findings are grouped by the feature they concern. Write one fix feature per group; \
         its `addresses` lists every finding of the group.\n",
        milestone.id, milestone.title
    );
    for (index, group) in groups.iter().enumerate() {
        let ids: Vec<&str> = group.findings.iter().map(|f| f.id.as_str()).collect();
        let _ = writeln!(
            out,
            "\n## Group {}: {} (addresses: {})\n",
            index + 1,
            group.concern,
            ids.join(", ")
        );
        for finding in &group.findings {
            let mut about = vec![
                finding.severity.as_str().to_string(),
                finding.source.as_str().to_string(),
            ];
            if let Some(feature) = &finding.feature {
                about.push(format!("feature {feature}"));
            }
            if let Some(assertion) = &finding.assertion {
                about.push(format!("assertion {assertion}"));
            }
            let _ = writeln!(
                out,
                "- **{}** [{}] {}",
                finding.id,
                about.join("; "),
                finding.title
            );
            for line in cut(&finding.detail, 2000).lines() {
                let _ = writeln!(out, "  > {line}");
            }
        }
    }
    out.push_str("\n# Assertions of this milestone\n\n");
    for a in contract.assertions_of(&milestone.id) {
        assertion(&mut out, a);
    }
    out.push_str("\n# Features so far\n\n");
    for feature in features {
        let _ = writeln!(
            out,
            "- {} (milestone {}): {}",
            feature.id, feature.milestone, feature.title
        );
    }
    let _ = writeln!(
        out,
        "\n# Library\n\n{}",
        if library.trim().is_empty() {
            "(empty)"
        } else {
            library.trim()
        }
    );
    out
}

pub fn investigate(question: &str) -> String {
    format!("# Question\n\n{}\n", question.trim())
}

/// At most `max` bytes of `text`, cut at a character boundary, with a marker.
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[... {} more bytes cut ...]\n",
        &text[..end],
        text.len() - end
    )
}

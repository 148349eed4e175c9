//! libtest's JSON results (`cargo test -- -Z unstable-options --format json`): one JSON object
//! per line, read into the same cases as a JUnit report.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::junit::JunitCase;
use crate::events::TestStatus;

/// What a libtest JSON report says: its cases, and what does not add up in it (a test reported
/// twice, more results than the run announced), which a test binary's own output could forge.
#[derive(Debug, Default, PartialEq)]
pub struct LibtestReport {
    pub cases: Vec<JunitCase>,
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    event: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    test_count: Option<u64>,
}

/// Reads every `{"type": "test", ...}` outcome of `text`; lines that are not libtest's JSON
/// (cargo's or a test's own output) are passed over. `None` when no line is libtest's.
pub fn parse_libtest_json(text: &str) -> Option<LibtestReport> {
    let mut seen_any = false;
    let mut announced = 0u64;
    let mut outcomes: BTreeMap<String, Vec<TestStatus>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        let Ok(parsed) = serde_json::from_str::<Line>(line) else {
            continue;
        };
        match (parsed.kind.as_str(), parsed.event.as_str()) {
            ("suite", "started") => {
                seen_any = true;
                announced += parsed.test_count.unwrap_or(0);
            }
            ("suite", _) => seen_any = true,
            ("test", event) => {
                seen_any = true;
                let status = match event {
                    "ok" => TestStatus::Passed,
                    "failed" | "timeout" => TestStatus::Failed,
                    "ignored" => TestStatus::Skipped,
                    _ => continue,
                };
                if let Some(name) = parsed.name {
                    outcomes.entry(name).or_default().push(status);
                }
            }
            _ => {}
        }
    }
    if !seen_any {
        return None;
    }
    let mut report = LibtestReport::default();
    let results: usize = outcomes.values().map(Vec::len).sum();
    if results as u64 > announced {
        report.problems.push(format!(
            "the report has {results} test results where the run announced {announced} tests"
        ));
    }
    for (name, statuses) in outcomes {
        let status = if statuses.len() > 1 {
            report.problems.push(format!(
                "the test `{name}` is reported {} times",
                statuses.len()
            ));
            TestStatus::Failed
        } else {
            statuses[0]
        };
        report.cases.push(JunitCase { id: name, status });
    }
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = r#"   Compiling roman v0.1.0 (/w)
{ "type": "suite", "event": "started", "test_count": 3 }
{ "type": "test", "event": "started", "name": "m1::converts" }
{ "type": "test", "event": "started", "name": "m1::rejects" }
{ "type": "test", "name": "m1::converts", "event": "ok" }
{ "type": "test", "name": "m1::rejects", "event": "failed", "stdout": "thread panicked" }
{ "type": "test", "name": "m1::slow", "event": "ignored" }
{ "type": "suite", "event": "failed", "passed": 1, "failed": 1, "ignored": 1, "measured": 0, "filtered_out": 0, "exec_time": 0.001 }
"#;

    #[test]
    fn outcomes_are_read_and_other_lines_passed_over() {
        let report = parse_libtest_json(RUN).unwrap();
        assert_eq!(report.problems, Vec::<String>::new());
        assert_eq!(
            report.cases,
            vec![
                JunitCase {
                    id: "m1::converts".into(),
                    status: TestStatus::Passed
                },
                JunitCase {
                    id: "m1::rejects".into(),
                    status: TestStatus::Failed
                },
                JunitCase {
                    id: "m1::slow".into(),
                    status: TestStatus::Skipped
                },
            ]
        );
    }

    #[test]
    fn forged_lines_are_problems_and_a_repeated_test_fails() {
        let forged = format!(
            "{RUN}{}\n",
            r#"{ "type": "test", "name": "m1::rejects", "event": "ok" }"#
        );
        let report = parse_libtest_json(&forged).unwrap();
        assert_eq!(
            report.problems,
            vec![
                "the report has 4 test results where the run announced 3 tests".to_string(),
                "the test `m1::rejects` is reported 2 times".to_string(),
            ]
        );
        let rejects = report.cases.iter().find(|c| c.id == "m1::rejects").unwrap();
        assert_eq!(rejects.status, TestStatus::Failed);
    }

    #[test]
    fn text_without_libtest_lines_is_no_report() {
        assert_eq!(
            parse_libtest_json("error[E0425]: cannot find value\n{}\n"),
            None
        );
        assert_eq!(parse_libtest_json(""), None);
    }
}

//! JUnit XML results (pytest `--junitxml`, and most other test runners).

use crate::events::TestStatus;

#[derive(Debug, Clone, PartialEq)]
pub struct JunitCase {
    /// `classname::name`, or just `name` without a class.
    pub id: String,
    pub status: TestStatus,
}

/// Why a JUnit report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    #[error("invalid JUnit XML: {0}")]
    Xml(#[from] roxmltree::Error),
    #[error("invalid JUnit XML: the root element is <{root}>, not <testsuites> or <testsuite>")]
    Root { root: String },
}

/// Every `<testcase>` of a report; a case with `<failure>` or `<error>` failed, one with
/// `<skipped>` was skipped.
pub fn parse_junit(xml: &str) -> Result<Vec<JunitCase>, JunitError> {
    let document = roxmltree::Document::parse(xml)?;
    let root = document.root_element();
    if !matches!(root.tag_name().name(), "testsuites" | "testsuite") {
        return Err(JunitError::Root {
            root: root.tag_name().name().to_string(),
        });
    }
    let mut cases = Vec::new();
    for case in root.descendants().filter(|n| n.has_tag_name("testcase")) {
        let name = case.attribute("name").unwrap_or_default();
        let id = match case.attribute("classname") {
            Some(class) if !class.is_empty() => format!("{class}::{name}"),
            _ => name.to_string(),
        };
        let children: Vec<&str> = case
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name())
            .collect();
        let status = if children.iter().any(|c| *c == "failure" || *c == "error") {
            TestStatus::Failed
        } else if children.contains(&"skipped") {
            TestStatus::Skipped
        } else {
            TestStatus::Passed
        };
        cases.push(JunitCase { id, status });
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytest_reports_parse() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4">
<testcase classname="acceptance.test_m1_cli" name="test_ok" time="0.01" />
<testcase classname="acceptance.test_m1_cli" name="test_bad" time="0.01"><failure message="assert 1 == 2">trace</failure></testcase>
<testcase classname="acceptance.test_m2_api" name="test_err" time="0.01"><error message="boom"/></testcase>
<testcase classname="acceptance.test_m2_api" name="test_skip" time="0.01"><skipped message="later"/></testcase>
</testsuite></testsuites>"#;
        let cases = parse_junit(xml).unwrap();
        assert_eq!(
            cases,
            vec![
                JunitCase {
                    id: "acceptance.test_m1_cli::test_ok".into(),
                    status: TestStatus::Passed
                },
                JunitCase {
                    id: "acceptance.test_m1_cli::test_bad".into(),
                    status: TestStatus::Failed
                },
                JunitCase {
                    id: "acceptance.test_m2_api::test_err".into(),
                    status: TestStatus::Failed
                },
                JunitCase {
                    id: "acceptance.test_m2_api::test_skip".into(),
                    status: TestStatus::Skipped
                },
            ]
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_junit("not xml").is_err());
        assert!(parse_junit("<html/>").is_err());
    }
}

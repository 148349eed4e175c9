//! Line coverage from the three common report formats: coverage.py JSON, LCOV and Cobertura XML.

use crate::spec::mission::CoverageFormat;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineCoverage {
    pub covered: u64,
    pub total: u64,
}

impl LineCoverage {
    /// Percent of lines covered; 100 when there is nothing to cover.
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            self.covered as f64 * 100.0 / self.total as f64
        }
    }
}

/// Why a coverage report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CoverageReportError {
    #[error("invalid coverage.py JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// `key` is `totals` or `totals.<field>`.
    #[error("coverage.py JSON has no `{key}`")]
    JsonMissing { key: String },
    #[error("invalid LCOV line `{line}`")]
    LcovLine { line: String },
    #[error("LCOV report has no `SF:` records")]
    LcovEmpty,
    #[error("invalid Cobertura XML: {0}")]
    CoberturaXml(#[source] roxmltree::Error),
    #[error("invalid Cobertura XML: the root element is <{root}>")]
    CoberturaRoot { root: String },
}

/// The report's line coverage. `counts` says whether a source file of an LCOV report counts
/// (Node's coverage lists the test files too, with no way to leave them out).
pub fn parse_coverage(
    format: CoverageFormat,
    text: &str,
    counts: &dyn Fn(&str) -> bool,
) -> Result<LineCoverage, CoverageReportError> {
    match format {
        CoverageFormat::CoverageJson => parse_coverage_json(text),
        CoverageFormat::Lcov => parse_lcov(text, counts),
        CoverageFormat::Cobertura => parse_cobertura(text),
    }
}

/// coverage.py `coverage json`: `totals.covered_lines` and `totals.num_statements`.
fn parse_coverage_json(text: &str) -> Result<LineCoverage, CoverageReportError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(CoverageReportError::Json)?;
    let totals = value
        .get("totals")
        .ok_or_else(|| CoverageReportError::JsonMissing {
            key: "totals".to_string(),
        })?;
    let number = |key: &str| {
        totals
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| CoverageReportError::JsonMissing {
                key: format!("totals.{key}"),
            })
    };
    Ok(LineCoverage {
        covered: number("covered_lines")?,
        total: number("num_statements")?,
    })
}

/// LCOV: the sums of `LH` (lines hit) and `LF` (lines found) over every `SF` record, or of its
/// `DA` lines when a record lacks them.
fn parse_lcov(
    text: &str,
    counts: &dyn Fn(&str) -> bool,
) -> Result<LineCoverage, CoverageReportError> {
    #[derive(Default)]
    struct Record {
        counts: bool,
        da_hit: u64,
        da_total: u64,
        found: Option<u64>,
        hit: Option<u64>,
    }
    let number = |line: &str, value: &str| {
        value
            .trim()
            .parse::<u64>()
            .map_err(|_| CoverageReportError::LcovLine {
                line: line.to_string(),
            })
    };
    let mut coverage = LineCoverage {
        covered: 0,
        total: 0,
    };
    let mut records = 0;
    let mut record = Record::default();
    for line in text.lines().map(str::trim) {
        if let Some(file) = line.strip_prefix("SF:") {
            records += 1;
            record = Record {
                counts: counts(file),
                ..Record::default()
            };
        } else if let Some(data) = line.strip_prefix("DA:") {
            let count = number(line, data.split(',').nth(1).unwrap_or(""))?;
            record.da_total += 1;
            record.da_hit += u64::from(count > 0);
        } else if let Some(found) = line.strip_prefix("LF:") {
            record.found = Some(number(line, found)?);
        } else if let Some(hit) = line.strip_prefix("LH:") {
            record.hit = Some(number(line, hit)?);
        } else if line == "end_of_record" && record.counts {
            let (hit, found) = match (record.hit, record.found) {
                (Some(hit), Some(found)) => (hit, found),
                _ => (record.da_hit, record.da_total),
            };
            coverage.covered += hit;
            coverage.total += found;
        }
    }
    if records == 0 {
        return Err(CoverageReportError::LcovEmpty);
    }
    Ok(coverage)
}

/// Cobertura XML: `lines-covered` and `lines-valid` of the root, or `line-rate` times the
/// counted `<line>` elements.
fn parse_cobertura(text: &str) -> Result<LineCoverage, CoverageReportError> {
    let document = roxmltree::Document::parse(text).map_err(CoverageReportError::CoberturaXml)?;
    let root = document.root_element();
    if !root.has_tag_name("coverage") {
        return Err(CoverageReportError::CoberturaRoot {
            root: root.tag_name().name().to_string(),
        });
    }
    let attribute = |name: &str| root.attribute(name).and_then(|v| v.parse::<u64>().ok());
    if let (Some(covered), Some(total)) = (attribute("lines-covered"), attribute("lines-valid")) {
        return Ok(LineCoverage { covered, total });
    }
    let lines: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("line"))
        .collect();
    let covered = lines
        .iter()
        .filter(|l| {
            l.attribute("hits")
                .and_then(|h| h.parse::<u64>().ok())
                .unwrap_or(0)
                > 0
        })
        .count();
    Ok(LineCoverage {
        covered: covered as u64,
        total: lines.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn coverage_json() {
        let text = r#"{"meta": {"version": "7.6.10"}, "files": {}, "totals": {"covered_lines": 45, "num_statements": 60, "percent_covered": 75.0, "missing_lines": 15}}"#;
        let coverage = parse_coverage(CoverageFormat::CoverageJson, text, &all).unwrap();
        assert_eq!(
            coverage,
            LineCoverage {
                covered: 45,
                total: 60
            }
        );
        assert_eq!(coverage.percent(), 75.0);
        assert!(parse_coverage(CoverageFormat::CoverageJson, "{}", &all).is_err());
    }

    #[test]
    fn lcov_with_and_without_summaries() {
        let text = "TN:\nSF:a.py\nDA:1,1\nDA:2,0\nLF:2\nLH:1\nend_of_record\nSF:b.py\nDA:1,3\nDA:2,1\nDA:3,0\nend_of_record\n";
        assert_eq!(
            parse_coverage(CoverageFormat::Lcov, text, &all).unwrap(),
            LineCoverage {
                covered: 3,
                total: 5
            }
        );
        assert!(parse_coverage(CoverageFormat::Lcov, "nothing", &all).is_err());
        let product_only = |file: &str| !file.starts_with("tests/");
        let with_tests =
            format!("{text}SF:tests/a.test.js\nDA:1,1\nDA:2,1\nLF:2\nLH:2\nend_of_record\n");
        assert_eq!(
            parse_coverage(CoverageFormat::Lcov, &with_tests, &product_only).unwrap(),
            LineCoverage {
                covered: 3,
                total: 5
            }
        );
    }

    #[test]
    fn cobertura_attributes_or_lines() {
        let with_totals = r#"<?xml version="1.0"?><coverage line-rate="0.5" lines-covered="5" lines-valid="10"><packages/></coverage>"#;
        assert_eq!(
            parse_coverage(CoverageFormat::Cobertura, with_totals, &all).unwrap(),
            LineCoverage {
                covered: 5,
                total: 10
            }
        );
        let with_lines = r#"<coverage line-rate="0.5"><packages><package><classes><class><lines><line number="1" hits="2"/><line number="2" hits="0"/><line number="3" hits="1"/></lines></class></classes></package></packages></coverage>"#;
        assert_eq!(
            parse_coverage(CoverageFormat::Cobertura, with_lines, &all).unwrap(),
            LineCoverage {
                covered: 2,
                total: 3
            }
        );
    }
}

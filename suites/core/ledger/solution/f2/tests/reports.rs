//! Integration tests of `ledger monthly` and of the `--category`, `--from` and `--to` filters.

use std::path::PathBuf;
use std::process::{Command, Output};

const LEDGER: &str = "\
# two years
2024-01-15 rent -900.00
2023-12-24 gifts -80.00
2024-01-03 salary 2000.00
2023-12-01 salary 1900.00
2024-03-02 gifts -15.50
2024-01-31 rent 10.00   # refund
";

fn ledger_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ledger-reports-{}-{name}.ledger", std::process::id()));
    std::fs::write(&path, text).expect("write the test ledger");
    path
}

/// Runs `ledger COMMAND FILE OPTIONS...` on `text` written to a file of its own.
fn run(name: &str, text: &str, command: &str, options: &[&str]) -> Output {
    let path = ledger_file(name, text);
    let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg(command)
        .arg(&path)
        .args(options)
        .output()
        .expect("run ledger");
    let _ = std::fs::remove_file(path);
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn monthly_totals_are_chronological_and_skip_empty_months() {
    let output = run("monthly", LEDGER, "monthly", &[]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "2023-12 1820.00\n2024-01 1110.00\n2024-03 -15.50\nTOTAL 2914.50\n");
}

#[test]
fn monthly_of_an_empty_ledger() {
    assert_eq!(stdout(&run("empty", "\n# none\n", "monthly", &[])), "TOTAL 0.00\n");
}

#[test]
fn category_filter_for_both_commands() {
    assert_eq!(stdout(&run("cat-b", LEDGER, "balance", &["--category", "rent"])), "rent -890.00\nTOTAL -890.00\n");
    assert_eq!(stdout(&run("cat-m", LEDGER, "monthly", &["--category", "gifts"])), "2023-12 -80.00\n2024-03 -15.50\nTOTAL -95.50\n");
    assert_eq!(stdout(&run("cat-none", LEDGER, "balance", &["--category", "Rent"])), "TOTAL 0.00\n");
}

#[test]
fn date_range_is_inclusive_and_each_bound_is_optional() {
    let both = run("range", LEDGER, "balance", &["--from", "2024-01-03", "--to", "2024-01-31"]);
    assert_eq!(stdout(&both), "rent -890.00\nsalary 2000.00\nTOTAL 1110.00\n");
    let from = run("from", LEDGER, "monthly", &["--from", "2024-01-31"]);
    assert_eq!(stdout(&from), "2024-01 10.00\n2024-03 -15.50\nTOTAL -5.50\n");
    let to = run("to", LEDGER, "monthly", &["--to", "2023-12-31"]);
    assert_eq!(stdout(&to), "2023-12 1820.00\nTOTAL 1820.00\n");
}

#[test]
fn options_may_come_before_the_file() {
    let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["balance", "--category", "salary", "-"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&output), "TOTAL 0.00\n");
}

#[test]
fn bad_options_are_usage_errors() {
    for options in [&["--from", "2024-02-30"][..], &["--to"][..], &["--month", "3"][..]] {
        let output = run("usage", LEDGER, "balance", options);
        assert_eq!(output.status.code(), Some(2), "{options:?}");
        assert_eq!(stdout(&output), "");
    }
}

#[test]
fn malformed_lines_outside_the_filters_are_still_errors() {
    let output = run("malformed", "2024-01-01 a 1.00\n1999-01-01 b x\n", "balance", &["--from", "2024-01-01"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("line 2: "));
}

//! Integration tests of `ledger balance`: totals per category, exact cents, malformed lines.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Writes `text` to a ledger file of its own in the temporary directory.
fn ledger_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ledger-balance-{}-{name}.ledger", std::process::id()));
    std::fs::write(&path, text).expect("write the test ledger");
    path
}

fn ledger(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ledger");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().expect("wait for ledger")
}

fn balance_of(name: &str, text: &str) -> Output {
    let path = ledger_file(name, text);
    let output = ledger(&["balance", path.to_str().unwrap()], "");
    let _ = std::fs::remove_file(path);
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn totals_per_category_sorted_by_name_then_total() {
    let output = balance_of(
        "sorted",
        "2024-03-02 salary 2500.00\n2024-03-01 groceries -42.50\n2024-03-05 groceries -7.25\n2024-03-03 books -12\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "books -12.00\ngroceries -49.75\nsalary 2500.00\nTOTAL 2438.25\n");
}

#[test]
fn sums_are_exact_cents() {
    let text = "2024-01-01 coffee 0.10\n".repeat(30) + "2024-01-02 tea 0.1\n2024-01-02 tea 0.2\n";
    let output = balance_of("cents", &text);
    assert_eq!(stdout(&output), "coffee 3.00\ntea 0.30\nTOTAL 3.30\n");
}

#[test]
fn signs_and_small_negative_amounts() {
    let output = balance_of("signs", "2024-01-01 a +1.5\n2024-01-01 b -0.05\n2024-01-01 c 5\n2024-01-01 c -5\n");
    assert_eq!(stdout(&output), "a 1.50\nb -0.05\nc 0.00\nTOTAL 1.45\n");
}

#[test]
fn comments_blank_lines_tabs_and_crlf_are_accepted() {
    let text = "# header\r\n\r\n   # indented comment\n2024-01-01\tfood\t -3.00  # lunch\r\n  \t \n2024-01-02   food   1.00\n";
    let output = balance_of("layout", text);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "food -2.00\nTOTAL -2.00\n");
}

#[test]
fn reads_standard_input_without_a_file_or_with_a_dash() {
    for args in [&["balance"][..], &["balance", "-"][..]] {
        let output = ledger(args, "2024-01-01 x 1.25\n");
        assert_eq!(stdout(&output), "x 1.25\nTOTAL 1.25\n");
    }
}

#[test]
fn an_empty_ledger_has_a_zero_total() {
    assert_eq!(stdout(&balance_of("empty", "# nothing yet\n\n")), "TOTAL 0.00\n");
}

#[test]
fn a_malformed_line_is_reported_with_its_number() {
    let cases = [
        ("fields", "2024-01-01 a 1.00\n# ok\n2024-01-02 b\n"),
        ("extra", "2024-01-01 a 1.00\n\n2024-01-02 b 1.00 c\n"),
        ("date", "2024-01-01 a 1.00\n\n2024-02-30 b 1.00\n"),
        ("amount", "2024-01-01 a 1.00\n\n2024-01-03 b 1.005\n"),
    ];
    for (name, text) in cases {
        let output = balance_of(name, text);
        assert_eq!(output.status.code(), Some(1), "{name}");
        assert_eq!(stdout(&output), "", "{name}");
        assert!(stderr(&output).starts_with("line 3: "), "{name}: {}", stderr(&output));
    }
}

#[test]
fn a_missing_file_is_named_and_exits_1() {
    let output = ledger(&["balance", "no-such-ledger.txt"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no-such-ledger.txt"));
}

#[test]
fn unknown_commands_are_usage_errors() {
    assert_eq!(ledger(&["totals"], "").status.code(), Some(2));
    assert_eq!(ledger(&[], "").status.code(), Some(2));
}

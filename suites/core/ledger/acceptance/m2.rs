//! Milestone m2, reports: `ledger monthly` and the `--category`, `--from`, `--to` filters of
//! both commands.

use crate::{assert_bad_line, assert_output, ledger, ledger_stdin, on_file};

const TWO_YEARS: &str = "\
# not in date order on purpose
2024-01-15 rent -900.00
2023-12-24 gifts -80.00
2024-01-03 salary 2000.00
2023-11-30 salary 1900.00
2023-12-01 salary 1900.00
2024-03-02 gifts -15.50
2024-01-31 rent 10.00   # refund
2023-12-31 rent -900.00
";

#[test]
fn monthly_prints_each_month_oldest_first_then_total() {
    assert_output(
        &on_file("monthly", TWO_YEARS, &[]),
        "2023-11 1900.00\n2023-12 920.00\n2024-01 1110.00\n2024-03 -15.50\nTOTAL 3914.50\n",
    );
}

#[test]
fn monthly_leaves_out_months_without_transactions() {
    let run = on_file("monthly", "2024-01-10 a 1.00\n2024-06-10 a 2.00\n", &[]);
    assert_output(&run, "2024-01 1.00\n2024-06 2.00\nTOTAL 3.00\n");
}

#[test]
fn monthly_keeps_exact_cents_and_zero_months() {
    let text = "2024-05-01 a 0.10\n2024-05-02 b 0.20\n2024-06-01 a 5.00\n2024-06-30 b -5.00\n2024-07-01 c -0.05\n";
    assert_output(&on_file("monthly", text, &[]), "2024-05 0.30\n2024-06 0.00\n2024-07 -0.05\nTOTAL 0.25\n");
}

#[test]
fn monthly_reads_standard_input_and_handles_an_empty_ledger() {
    let run = ledger_stdin(&["monthly"], "2024-02-01 x 4.00\n2024-02-29 y -1.50\n");
    assert_output(&run, "2024-02 2.50\nTOTAL 2.50\n");
    assert_output(&ledger_stdin(&["monthly", "-"], "# nothing\n"), "TOTAL 0.00\n");
}

#[test]
fn balance_with_a_category_shows_only_that_category() {
    assert_output(&on_file("balance", TWO_YEARS, &["--category", "rent"]), "rent -1790.00\nTOTAL -1790.00\n");
}

#[test]
fn monthly_with_a_category() {
    let run = on_file("monthly", TWO_YEARS, &["--category", "salary"]);
    assert_output(&run, "2023-11 1900.00\n2023-12 1900.00\n2024-01 2000.00\nTOTAL 5800.00\n");
}

#[test]
fn category_filter_is_exact_and_case_sensitive() {
    assert_output(&on_file("balance", TWO_YEARS, &["--category", "Rent"]), "TOTAL 0.00\n");
    assert_output(&on_file("balance", TWO_YEARS, &["--category", "ren"]), "TOTAL 0.00\n");
    assert_output(&on_file("monthly", TWO_YEARS, &["--category", "nothing"]), "TOTAL 0.00\n");
}

#[test]
fn from_and_to_are_inclusive() {
    let run = on_file("balance", TWO_YEARS, &["--from", "2023-12-31", "--to", "2024-01-31"]);
    assert_output(&run, "rent -1790.00\nsalary 2000.00\nTOTAL 210.00\n");
}

#[test]
fn from_or_to_alone() {
    assert_output(&on_file("monthly", TWO_YEARS, &["--from", "2024-01-16"]), "2024-01 10.00\n2024-03 -15.50\nTOTAL -5.50\n");
    assert_output(&on_file("monthly", TWO_YEARS, &["--to", "2023-12-01"]), "2023-11 1900.00\n2023-12 1900.00\nTOTAL 3800.00\n");
}

#[test]
fn all_filters_together_and_options_before_the_file() {
    let file = crate::LedgerFile::new(TWO_YEARS);
    let run = ledger(&["monthly", "--to", "2024-01-15", "--category", "rent", file.path(), "--from", "2023-12-01"]);
    assert_output(&run, "2023-12 -900.00\n2024-01 -900.00\nTOTAL -1800.00\n");
}

#[test]
fn a_range_that_matches_nothing_prints_a_zero_total() {
    assert_output(&on_file("balance", TWO_YEARS, &["--from", "2025-01-01"]), "TOTAL 0.00\n");
    assert_output(&on_file("monthly", TWO_YEARS, &["--from", "2024-02-01", "--to", "2024-01-01"]), "TOTAL 0.00\n");
}

#[test]
fn bad_option_values_and_unknown_options_are_usage_errors() {
    let cases: [&[&str]; 5] = [
        &["--from", "2024-02-30"],
        &["--to", "31.01.2024"],
        &["--from"],
        &["--category"],
        &["--month", "2024-01"],
    ];
    for options in cases {
        for command in ["balance", "monthly"] {
            let run = on_file(command, TWO_YEARS, options);
            assert_eq!(run.code, Some(2), "{command} {options:?}: exit status");
            assert_eq!(run.stdout, "", "{command} {options:?}: stdout");
        }
    }
}

#[test]
fn malformed_lines_are_errors_even_when_filtered_out() {
    let text = "2024-01-01 a 1.00\n2019-05-05 old 1.2.3\n";
    assert_bad_line(&on_file("balance", text, &["--from", "2024-01-01"]), 2);
    assert_bad_line(&on_file("monthly", text, &["--category", "a"]), 2);
}

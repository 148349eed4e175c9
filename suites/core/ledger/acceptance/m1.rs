//! Milestone m1, balances: `ledger balance` totals per category and overall, exact cents,
//! comments and blank lines, standard input, malformed lines.

use crate::{assert_bad_line, assert_output, ledger, ledger_stdin, on_file, LedgerFile};

const HOUSEHOLD: &str = "\
# Household, March 2024
2024-03-01 salary 2500.00
2024-03-01 rent -950.00

2024-03-03 groceries -42.50
2024-03-09 groceries -61.25
2024-03-15 transport -30.00
";

#[test]
fn balance_lists_categories_sorted_by_name_then_total() {
    assert_output(
        &on_file("balance", HOUSEHOLD, &[]),
        "groceries -103.75\nrent -950.00\nsalary 2500.00\ntransport -30.00\nTOTAL 1416.25\n",
    );
}

#[test]
fn balance_order_does_not_depend_on_file_order() {
    let text = "2024-01-05 zoo 1.00\n2024-01-01 apple 2.00\n2024-01-03 mango 3.00\n2024-01-02 apple 4.00\n";
    assert_output(&on_file("balance", text, &[]), "apple 6.00\nmango 3.00\nzoo 1.00\nTOTAL 10.00\n");
}

#[test]
fn categories_are_case_sensitive_and_sorted_by_bytes() {
    let text = "2024-01-01 food 1.00\n2024-01-01 Food 2.00\n2024-01-01 food_out 4.00\n2024-01-01 fo 8.00\n";
    assert_output(&on_file("balance", text, &[]), "Food 2.00\nfo 8.00\nfood 1.00\nfood_out 4.00\nTOTAL 15.00\n");
}

#[test]
fn categories_may_hold_punctuation_and_accents() {
    let text = "2024-01-01 home:rent -500\n2024-01-02 café -2.40\n";
    assert_output(&on_file("balance", text, &[]), "café -2.40\nhome:rent -500.00\nTOTAL -502.40\n");
}

#[test]
fn many_small_amounts_add_up_to_exact_cents() {
    let mut text = "2024-02-01 snacks 0.10\n".repeat(100);
    text.push_str("2024-02-02 fees 0.1\n2024-02-02 fees 0.2\n2024-02-03 fees -0.03\n");
    assert_output(&on_file("balance", &text, &[]), "fees 0.27\nsnacks 10.00\nTOTAL 10.27\n");
}

#[test]
fn large_amounts_stay_exact() {
    let text = "2024-01-01 house 9000000000.01\n2024-01-02 house 9000000000.02\n2024-01-03 car -0.01\n";
    assert_output(&on_file("balance", text, &[]), "car -0.01\nhouse 18000000000.03\nTOTAL 18000000000.02\n");
}

#[test]
fn whole_numbers_one_decimal_and_plus_sign() {
    let text = "2024-01-01 a 12\n2024-01-01 b 3.5\n2024-01-01 c +7.25\n2024-01-01 d -0\n";
    assert_output(&on_file("balance", text, &[]), "a 12.00\nb 3.50\nc 7.25\nd 0.00\nTOTAL 22.75\n");
}

#[test]
fn negative_amounts_below_one_keep_their_sign() {
    let text = "2024-01-01 tip -0.05\n2024-01-01 tip -0.40\n2024-01-01 other 0.30\n";
    assert_output(&on_file("balance", text, &[]), "other 0.30\ntip -0.45\nTOTAL -0.15\n");
}

#[test]
fn a_category_that_nets_to_zero_is_still_listed() {
    let text = "2024-01-01 loan 50.00\n2024-01-09 loan -50.00\n2024-01-09 pay 1.00\n";
    assert_output(&on_file("balance", text, &[]), "loan 0.00\npay 1.00\nTOTAL 1.00\n");
}

#[test]
fn comments_blank_lines_and_trailing_comments_are_ignored() {
    let text = "# first\n\n   # indented\n2024-01-01 a 1.00 # after the amount\n\t\n2024-01-02 a 2.00#tight\n# 2024-01-03 a 100.00\n";
    assert_output(&on_file("balance", text, &[]), "a 3.00\nTOTAL 3.00\n");
}

#[test]
fn tabs_several_spaces_and_crlf_line_endings() {
    let text = "2024-01-01\tbooks\t-12.00\r\n   2024-01-02    books      -3.00   \r\n\r\n";
    assert_output(&on_file("balance", text, &[]), "books -15.00\nTOTAL -15.00\n");
}

#[test]
fn a_ledger_without_transactions_has_a_zero_total() {
    assert_output(&on_file("balance", "# nothing\n\n", &[]), "TOTAL 0.00\n");
    assert_output(&on_file("balance", "", &[]), "TOTAL 0.00\n");
}

#[test]
fn reads_standard_input_without_a_file_or_with_a_dash() {
    let input = "2024-01-01 x 1.25\n2024-01-02 y -0.25\n";
    assert_output(&ledger_stdin(&["balance"], input), "x 1.25\ny -0.25\nTOTAL 1.00\n");
    assert_output(&ledger_stdin(&["balance", "-"], input), "x 1.25\ny -0.25\nTOTAL 1.00\n");
}

#[test]
fn a_line_with_too_few_or_too_many_fields_is_malformed() {
    assert_bad_line(&on_file("balance", "2024-01-01 a 1.00\n\n2024-01-02 b\n", &[]), 3);
    assert_bad_line(&on_file("balance", "# c\n2024-01-02 b c 1.00\n", &[]), 2);
    assert_bad_line(&on_file("balance", "2024-01-01 a 1.00\n-42.50\n", &[]), 2);
}

#[test]
fn impossible_or_misshapen_dates_are_malformed() {
    for date in ["2024-02-30", "2023-02-29", "2024-13-01", "2024-04-31", "2024-00-10", "2024-3-01", "03/01/2024"] {
        let text = format!("2024-01-01 a 1.00\n{date} b 1.00\n");
        assert_bad_line(&on_file("balance", &text, &[]), 2);
    }
}

#[test]
fn leap_days_are_valid_dates() {
    let text = "2024-02-29 a 1.00\n2000-02-29 a 1.00\n";
    assert_output(&on_file("balance", text, &[]), "a 2.00\nTOTAL 2.00\n");
    assert_bad_line(&on_file("balance", "1900-02-29 a 1.00\n", &[]), 1);
}

#[test]
fn amounts_with_more_than_two_decimals_or_odd_shapes_are_malformed() {
    for amount in ["1.005", ".50", "5.", "1,000.00", "$5", "abc", "--1", "1e3", "12.5.0"] {
        let text = format!("# amounts\n2024-01-01 a 1.00\n2024-01-02 b {amount}\n");
        assert_bad_line(&on_file("balance", &text, &[]), 3);
    }
}

#[test]
fn only_the_first_malformed_line_is_reported() {
    let run = on_file("balance", "2024-01-01 a 1.00\n2024-01-02 b x\n2024-99-01 c 1.00\n", &[]);
    assert_bad_line(&run, 2);
    assert!(!run.stderr.contains("line 3"), "only one line is reported: {:?}", run.stderr);
}

#[test]
fn an_unreadable_file_is_named_and_exits_1() {
    let missing = LedgerFile::new("");
    let path = format!("{}-missing", missing.path());
    let run = ledger(&["balance", &path]);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains(&path), "stderr names the file: {:?}", run.stderr);
}

#[test]
fn a_missing_or_unknown_command_is_a_usage_error() {
    let unknown = on_file("totals", HOUSEHOLD, &[]);
    assert_eq!(unknown.code, Some(2));
    assert_eq!(unknown.stdout, "");
    assert_eq!(ledger(&[]).code, Some(2));
}

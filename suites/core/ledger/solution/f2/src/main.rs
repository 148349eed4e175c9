//! `ledger`: totals of a plain-text ledger of transactions, one `DATE CATEGORY AMOUNT` per line.
//!
//! `ledger balance [FILE]` prints each category's total (sorted by name) and a `TOTAL` line;
//! `ledger monthly [FILE]` prints each month's total (oldest first) and a `TOTAL` line. Both take
//! `--category NAME`, `--from YYYY-MM-DD` and `--to YYYY-MM-DD` (inclusive) to keep only some
//! transactions. Without FILE, or with `-`, the ledger is read from standard input. Amounts are
//! integer cents.

mod parse;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::process::ExitCode;

use parse::{format_cents, parse_ledger, Date, Transaction};

const USAGE: &str =
    "usage: ledger balance|monthly [FILE] [--category NAME] [--from YYYY-MM-DD] [--to YYYY-MM-DD]";

/// Why the program stops: bad usage (exit 2) or an unreadable or malformed ledger (exit 1).
enum Failure {
    Usage(String),
    Data(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Report {
    Balance,
    Monthly,
}

/// What the command line asks for.
struct Request {
    report: Report,
    file: Option<String>,
    category: Option<String>,
    from: Option<Date>,
    to: Option<Date>,
}

impl Request {
    /// Whether a transaction passes the `--category`, `--from` and `--to` filters.
    fn keeps(&self, t: &Transaction) -> bool {
        self.category.as_ref().map_or(true, |c| *c == t.category)
            && self.from.map_or(true, |from| t.date >= from)
            && self.to.map_or(true, |to| t.date <= to)
    }
}

fn main() -> ExitCode {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(arg) => args.push(arg),
            Err(_) => return report(Failure::Usage("ledger: arguments must be UTF-8".to_string())),
        }
    }
    match run(&args) {
        Ok(output) => {
            // A closed pipe (`ledger balance | head -1`) is not an error worth reporting.
            let _ = io::stdout().lock().write_all(output.as_bytes());
            ExitCode::SUCCESS
        }
        Err(failure) => report(failure),
    }
}

fn report(failure: Failure) -> ExitCode {
    match failure {
        Failure::Usage(message) => {
            eprintln!("{message}\n{USAGE}");
            ExitCode::from(2)
        }
        Failure::Data(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<String, Failure> {
    let request = parse_args(args)?;
    let text = read_input(request.file.as_deref())?;
    // The whole ledger is checked, filters or not: a malformed line is always an error.
    let transactions = parse_ledger(&text).map_err(|e| Failure::Data(e.to_string()))?;
    let kept: Vec<&Transaction> = transactions.iter().filter(|t| request.keeps(t)).collect();
    Ok(match request.report {
        Report::Balance => totals(&kept, |t| t.category.clone()),
        Report::Monthly => totals(&kept, |t| format!("{:04}-{:02}", t.date.year, t.date.month)),
    })
}

fn parse_args(args: &[String]) -> Result<Request, Failure> {
    let usage = |message: String| Failure::Usage(format!("ledger: {message}"));
    let Some((command, rest)) = args.split_first() else {
        return Err(usage("missing command".to_string()));
    };
    let report = match command.as_str() {
        "balance" => Report::Balance,
        "monthly" => Report::Monthly,
        other => return Err(usage(format!("unknown command `{other}`"))),
    };
    let mut request = Request { report, file: None, category: None, from: None, to: None };
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--category" | "--from" | "--to" => {
                let Some(value) = rest.next() else {
                    return Err(usage(format!("{arg} needs a value")));
                };
                if arg == "--category" {
                    request.category = Some(value.clone());
                    continue;
                }
                let date = Date::parse(value)
                    .ok_or_else(|| usage(format!("{arg}: invalid date `{value}` (expected YYYY-MM-DD)")))?;
                if arg == "--from" {
                    request.from = Some(date);
                } else {
                    request.to = Some(date);
                }
            }
            option if option.starts_with('-') && option != "-" => {
                return Err(usage(format!("unknown option `{option}`")));
            }
            file if request.file.is_none() => request.file = Some(file.to_string()),
            _ => return Err(usage("too many arguments".to_string())),
        }
    }
    Ok(request)
}

fn read_input(file: Option<&str>) -> Result<String, Failure> {
    let mut text = String::new();
    match file {
        None | Some("-") => io::stdin()
            .read_to_string(&mut text)
            .map(|_| text)
            .map_err(|e| Failure::Data(format!("ledger: cannot read standard input: {e}"))),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::Data(format!("ledger: cannot read {path}: {e}"))),
    }
}

/// One `key amount` line per key in byte order (for `YYYY-MM` keys, oldest first), then
/// `TOTAL amount`.
fn totals(transactions: &[&Transaction], key: impl Fn(&Transaction) -> String) -> String {
    let mut totals: BTreeMap<String, i128> = BTreeMap::new();
    for t in transactions {
        *totals.entry(key(t)).or_insert(0) += i128::from(t.cents);
    }
    let mut out = String::new();
    for (name, cents) in &totals {
        out.push_str(&format!("{name} {}\n", format_cents(*cents)));
    }
    out.push_str(&format!("TOTAL {}\n", format_cents(totals.values().sum())));
    out
}

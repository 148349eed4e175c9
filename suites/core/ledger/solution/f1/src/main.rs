//! `ledger`: totals of a plain-text ledger of transactions, one `DATE CATEGORY AMOUNT` per line.
//!
//! `ledger balance [FILE]` prints each category's total (sorted by name) and a `TOTAL` line.
//! Without FILE, or with `-`, the ledger is read from standard input. Amounts are integer cents.

mod parse;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::process::ExitCode;

use parse::{format_cents, parse_ledger, Transaction};

const USAGE: &str = "usage: ledger balance [FILE]";

/// Why the program stops: bad usage (exit 2) or an unreadable or malformed ledger (exit 1).
enum Failure {
    Usage(String),
    Data(String),
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
    let Some((command, rest)) = args.split_first() else {
        return Err(Failure::Usage("ledger: missing command".to_string()));
    };
    if command != "balance" {
        return Err(Failure::Usage(format!("ledger: unknown command `{command}`")));
    }
    let file = match rest {
        [] => None,
        [file] if file != "-" && file.starts_with('-') => {
            return Err(Failure::Usage(format!("ledger: unknown option `{file}`")));
        }
        [file] => Some(file.as_str()),
        _ => return Err(Failure::Usage("ledger: too many arguments".to_string())),
    };
    let text = read_input(file)?;
    let transactions = parse_ledger(&text).map_err(|e| Failure::Data(e.to_string()))?;
    Ok(balance(&transactions))
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

/// One `category amount` line per category in byte order of the names, then `TOTAL amount`.
fn balance(transactions: &[Transaction]) -> String {
    let mut totals: BTreeMap<&str, i128> = BTreeMap::new();
    for t in transactions {
        *totals.entry(t.category.as_str()).or_insert(0) += i128::from(t.cents);
    }
    let mut out = String::new();
    for (category, cents) in &totals {
        out.push_str(&format!("{category} {}\n", format_cents(*cents)));
    }
    out.push_str(&format!("TOTAL {}\n", format_cents(totals.values().sum())));
    out
}

//! Reading ledger text: dates, amounts in integer cents, and transaction lines.

use std::fmt;

/// A calendar date `YYYY-MM-DD`; ordering is chronological.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD` (exactly that shape) and checks that the day exists in that month.
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u32> {
            let part = &bytes[range];
            if part.iter().all(u8::is_ascii_digit) {
                Some(part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
            } else {
                None
            }
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses an amount such as `-42.50`, `+7`, `3.5` into cents: an optional sign, digits, and
/// optionally a point followed by one or two digits.
pub fn parse_amount(text: &str) -> Option<i64> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = match rest.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) {
        return None;
    }
    let mut cents: i64 = 0;
    for b in whole.bytes() {
        cents = cents.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    cents = cents.checked_mul(100)?;
    if let Some(fraction) = fraction {
        if !digits(fraction) || fraction.len() > 2 {
            return None;
        }
        let value: i64 = fraction.bytes().fold(0, |n, b| n * 10 + i64::from(b - b'0'));
        cents = cents.checked_add(if fraction.len() == 1 { value * 10 } else { value })?;
    }
    Some(if negative { -cents } else { cents })
}

/// Formats cents as `-1234.05`: a minus sign only for negative amounts, always two decimals.
pub fn format_cents(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub date: Date,
    pub category: String,
    pub cents: i64,
}

/// A malformed line: its 1-based number and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses a whole ledger. `#` starts a comment that runs to the end of the line; blank lines are
/// skipped; every other line is `DATE CATEGORY AMOUNT` separated by spaces or tabs. Stops at the
/// first malformed line.
pub fn parse_ledger(text: &str) -> Result<Vec<Transaction>, ParseError> {
    let mut transactions = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("");
        let fields: Vec<&str> = content.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let error = |message: String| ParseError { line, message };
        if fields.len() != 3 {
            return Err(error(format!(
                "expected DATE CATEGORY AMOUNT, found {} field{}",
                fields.len(),
                if fields.len() == 1 { "" } else { "s" }
            )));
        }
        let date = Date::parse(fields[0])
            .ok_or_else(|| error(format!("invalid date `{}` (expected YYYY-MM-DD)", fields[0])))?;
        let cents = parse_amount(fields[2])
            .ok_or_else(|| error(format!("invalid amount `{}` (expected e.g. -42.50)", fields[2])))?;
        transactions.push(Transaction { date, category: fields[1].to_string(), cents });
    }
    Ok(transactions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_exist() {
        assert_eq!(Date::parse("2024-02-29"), Some(Date { year: 2024, month: 2, day: 29 }));
        for bad in ["2023-02-29", "2024-13-01", "2024-04-31", "2024-00-10", "24-01-01", "2024-1-01", "2024/01/01"] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn amounts_are_exact_cents() {
        assert_eq!(parse_amount("-42.50"), Some(-4250));
        assert_eq!(parse_amount("+7"), Some(700));
        assert_eq!(parse_amount("3.5"), Some(350));
        assert_eq!(parse_amount("0.05"), Some(5));
        for bad in ["", "-", "12.345", ".50", "5.", "1,000.00", "$5", "1e3", "--1", "99999999999999999999"] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_signs_and_cents() {
        assert_eq!(format_cents(-5), "-0.05");
        assert_eq!(format_cents(0), "0.00");
        assert_eq!(format_cents(123456789), "1234567.89");
    }
}

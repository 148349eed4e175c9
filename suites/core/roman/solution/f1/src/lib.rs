//! Conversion between numbers and Roman numerals.
//!
//! Only the canonical (standard, subtractive) form of the numbers 1 to 3999 is written and read:
//! `to_roman(1994) == Ok("MCMXCIV".to_string())` and `from_roman("MCMXCIV") == Ok(1994)`, while
//! `from_roman` rejects `IIII`, `VV`, `IC`, lower case and the empty string.

use std::fmt;

/// The largest number a canonical Roman numeral can write.
pub const MAX: u32 = 3999;

/// Every symbol of the canonical form, subtractive pairs included, largest first.
const SYMBOLS: [(u32, &str); 13] = [
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
];

/// Why a conversion failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RomanError {
    /// `to_roman` got 0 or a number above 3999.
    OutOfRange(u32),
    /// `from_roman` got the empty string.
    Empty,
    /// The first character that is not one of `I V X L C D M`.
    InvalidChar(char),
    /// Only Roman letters, but not the canonical numeral of any number.
    NotCanonical,
}

impl fmt::Display for RomanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RomanError::OutOfRange(n) => {
                write!(f, "{n} is out of range: only 1 to {MAX} can be written")
            }
            RomanError::Empty => write!(f, "empty numeral"),
            RomanError::InvalidChar(c) => write!(f, "invalid character {c:?} in numeral"),
            RomanError::NotCanonical => write!(f, "not a canonical Roman numeral"),
        }
    }
}

impl std::error::Error for RomanError {}

/// Writes `n` (1 to 3999) as a canonical Roman numeral.
pub fn to_roman(n: u32) -> Result<String, RomanError> {
    if n == 0 || n > MAX {
        return Err(RomanError::OutOfRange(n));
    }
    let mut rest = n;
    let mut numeral = String::new();
    for (value, symbol) in SYMBOLS {
        while rest >= value {
            numeral.push_str(symbol);
            rest -= value;
        }
    }
    Ok(numeral)
}

/// Reads a canonical, upper-case Roman numeral.
pub fn from_roman(s: &str) -> Result<u32, RomanError> {
    if s.is_empty() {
        return Err(RomanError::Empty);
    }
    if let Some(bad) = s.chars().find(|c| !"IVXLCDM".contains(*c)) {
        return Err(RomanError::InvalidChar(bad));
    }
    // Read the symbols greedily, largest first; the text is canonical exactly when it is what
    // `to_roman` writes for the value read. Stopping above MAX keeps long inputs from overflowing.
    let mut rest = s;
    let mut total = 0;
    for (value, symbol) in SYMBOLS {
        while let Some(after) = rest.strip_prefix(symbol) {
            total += value;
            if total > MAX {
                return Err(RomanError::NotCanonical);
            }
            rest = after;
        }
    }
    if !rest.is_empty() || to_roman(total)? != s {
        return Err(RomanError::NotCanonical);
    }
    Ok(total)
}

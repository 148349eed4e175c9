//! Milestone m1: `to_roman` and `from_roman`, canonical numerals only, and `RomanError`.

use roman::{from_roman, to_roman, RomanError};

#[test]
fn to_roman_writes_one_to_ten() {
    let expected = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"];
    for (n, numeral) in (1..=10).zip(expected) {
        assert_eq!(to_roman(n), Ok(numeral.to_string()), "to_roman({n})");
    }
}

#[test]
fn to_roman_uses_the_six_subtractive_pairs() {
    let cases = [
        (4, "IV"),
        (9, "IX"),
        (40, "XL"),
        (90, "XC"),
        (400, "CD"),
        (900, "CM"),
        (14, "XIV"),
    ];
    for (n, numeral) in cases {
        assert_eq!(to_roman(n), Ok(numeral.to_string()), "to_roman({n})");
    }
}

#[test]
fn to_roman_writes_larger_numbers() {
    let cases = [
        (1000, "M"),
        (1994, "MCMXCIV"),
        (2024, "MMXXIV"),
        (444, "CDXLIV"),
        (3888, "MMMDCCCLXXXVIII"),
        (3999, "MMMCMXCIX"),
    ];
    for (n, numeral) in cases {
        assert_eq!(to_roman(n), Ok(numeral.to_string()), "to_roman({n})");
    }
}

#[test]
fn to_roman_rejects_zero() {
    assert_eq!(to_roman(0), Err(RomanError::OutOfRange(0)));
}

#[test]
fn to_roman_rejects_numbers_above_3999() {
    assert_eq!(to_roman(4000), Err(RomanError::OutOfRange(4000)));
    assert_eq!(to_roman(10_000), Err(RomanError::OutOfRange(10_000)));
    assert_eq!(to_roman(u32::MAX), Err(RomanError::OutOfRange(u32::MAX)));
}

#[test]
fn from_roman_reads_canonical_numerals() {
    let cases = [
        ("I", 1),
        ("IV", 4),
        ("XLII", 42),
        ("XCIX", 99),
        ("CDXLIV", 444),
        ("MCMXCIV", 1994),
        ("MMMCMXCIX", 3999),
    ];
    for (numeral, n) in cases {
        assert_eq!(from_roman(numeral), Ok(n), "from_roman({numeral:?})");
    }
}

#[test]
fn round_trip_from_1_to_3999() {
    for n in 1..=3999 {
        let numeral = to_roman(n).unwrap_or_else(|e| panic!("to_roman({n}) failed: {e}"));
        assert_eq!(from_roman(&numeral), Ok(n), "from_roman({numeral:?})");
    }
}

#[test]
fn from_roman_rejects_the_empty_string() {
    assert_eq!(from_roman(""), Err(RomanError::Empty));
}

#[test]
fn from_roman_rejects_too_many_repeats() {
    for numeral in ["IIII", "XXXX", "CCCC", "MMMM", "VV", "LL", "DD", "XIIII"] {
        assert_eq!(
            from_roman(numeral),
            Err(RomanError::NotCanonical),
            "from_roman({numeral:?})"
        );
    }
}

#[test]
fn from_roman_rejects_invalid_subtraction() {
    for numeral in ["IC", "IL", "IM", "XD", "XM", "VX", "LC", "DM", "IIV", "IXX"] {
        assert_eq!(
            from_roman(numeral),
            Err(RomanError::NotCanonical),
            "from_roman({numeral:?})"
        );
    }
}

#[test]
fn from_roman_rejects_other_non_canonical_orders() {
    for numeral in ["IVI", "XCX", "CMCM", "CMD", "IXIV", "MCMC"] {
        assert_eq!(
            from_roman(numeral),
            Err(RomanError::NotCanonical),
            "from_roman({numeral:?})"
        );
    }
}

#[test]
fn from_roman_rejects_lower_case() {
    assert_eq!(from_roman("xiv"), Err(RomanError::InvalidChar('x')));
    assert_eq!(from_roman("mcmxciv"), Err(RomanError::InvalidChar('m')));
    assert_eq!(from_roman("Xiv"), Err(RomanError::InvalidChar('i')));
}

#[test]
fn from_roman_does_not_trim_or_accept_other_characters() {
    assert_eq!(from_roman(" XIV"), Err(RomanError::InvalidChar(' ')));
    assert_eq!(from_roman("XIV\n"), Err(RomanError::InvalidChar('\n')));
    assert_eq!(from_roman("12"), Err(RomanError::InvalidChar('1')));
    assert_eq!(from_roman("XIVA"), Err(RomanError::InvalidChar('A')));
    assert_eq!(
        from_roman("\u{216B}"),
        Err(RomanError::InvalidChar('\u{216B}'))
    );
}

#[test]
fn invalid_character_wins_over_non_canonical() {
    assert_eq!(from_roman("IIIIa"), Err(RomanError::InvalidChar('a')));
    assert_eq!(from_roman("VV-"), Err(RomanError::InvalidChar('-')));
}

#[test]
fn from_roman_survives_very_long_input() {
    assert_eq!(
        from_roman(&"M".repeat(100_000)),
        Err(RomanError::NotCanonical)
    );
    assert_eq!(
        from_roman(&"I".repeat(100_000)),
        Err(RomanError::NotCanonical)
    );
}

#[test]
fn errors_display_the_number_or_character() {
    assert!(RomanError::OutOfRange(4000).to_string().contains("4000"));
    assert!(RomanError::InvalidChar('q').to_string().contains('q'));
    let empty = RomanError::Empty.to_string();
    let not_canonical = RomanError::NotCanonical.to_string();
    assert!(!empty.is_empty() && !not_canonical.is_empty());
    assert_ne!(empty, not_canonical);
}

#[test]
fn errors_work_with_question_mark_and_box_dyn_error() {
    fn parse(s: &str) -> Result<u32, Box<dyn std::error::Error>> {
        Ok(from_roman(s)?)
    }
    assert_eq!(parse("XII").ok(), Some(12));
    let error = parse("IIII").unwrap_err();
    assert_eq!(
        error.downcast_ref::<RomanError>(),
        Some(&RomanError::NotCanonical)
    );
    let as_trait: &dyn std::error::Error = &RomanError::Empty;
    assert!(as_trait.source().is_none());
}

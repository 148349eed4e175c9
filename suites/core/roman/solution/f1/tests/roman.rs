//! Tests of `to_roman` and `from_roman`.

use roman::{from_roman, to_roman, RomanError};

#[test]
fn writes_small_numbers() {
    let expected = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"];
    for (n, numeral) in (1..=10).zip(expected) {
        assert_eq!(to_roman(n).as_deref(), Ok(numeral), "to_roman({n})");
    }
}

#[test]
fn writes_subtractive_pairs_and_larger_numbers() {
    let cases = [
        (40, "XL"),
        (90, "XC"),
        (400, "CD"),
        (900, "CM"),
        (1994, "MCMXCIV"),
        (2024, "MMXXIV"),
        (3888, "MMMDCCCLXXXVIII"),
        (3999, "MMMCMXCIX"),
    ];
    for (n, numeral) in cases {
        assert_eq!(to_roman(n).as_deref(), Ok(numeral), "to_roman({n})");
    }
}

#[test]
fn to_roman_rejects_numbers_out_of_range() {
    assert_eq!(to_roman(0), Err(RomanError::OutOfRange(0)));
    assert_eq!(to_roman(4000), Err(RomanError::OutOfRange(4000)));
    assert_eq!(to_roman(u32::MAX), Err(RomanError::OutOfRange(u32::MAX)));
}

#[test]
fn reads_canonical_numerals() {
    assert_eq!(from_roman("I"), Ok(1));
    assert_eq!(from_roman("XLII"), Ok(42));
    assert_eq!(from_roman("MCMXCIV"), Ok(1994));
    assert_eq!(from_roman("MMMCMXCIX"), Ok(3999));
}

#[test]
fn round_trips_every_number() {
    for n in 1..=3999 {
        let numeral = to_roman(n).unwrap();
        assert_eq!(from_roman(&numeral), Ok(n), "{numeral}");
    }
}

#[test]
fn from_roman_rejects_the_empty_string() {
    assert_eq!(from_roman(""), Err(RomanError::Empty));
}

#[test]
fn from_roman_rejects_other_characters() {
    assert_eq!(from_roman("xiv"), Err(RomanError::InvalidChar('x')));
    assert_eq!(from_roman("Xiv"), Err(RomanError::InvalidChar('i')));
    assert_eq!(from_roman(" XIV"), Err(RomanError::InvalidChar(' ')));
    assert_eq!(from_roman("IIIIa"), Err(RomanError::InvalidChar('a')));
}

#[test]
fn from_roman_rejects_non_canonical_numerals() {
    for numeral in ["IIII", "VV", "IC", "IM", "VX", "MMMM", "IIV", "XCX", "CMCM"] {
        assert_eq!(
            from_roman(numeral),
            Err(RomanError::NotCanonical),
            "{numeral}"
        );
    }
}

#[test]
fn from_roman_survives_very_long_input() {
    assert_eq!(
        from_roman(&"M".repeat(50_000)),
        Err(RomanError::NotCanonical)
    );
}

#[test]
fn errors_display_what_went_wrong() {
    assert!(RomanError::OutOfRange(4000).to_string().contains("4000"));
    assert!(RomanError::InvalidChar('q').to_string().contains('q'));
    let boxed: Box<dyn std::error::Error> = Box::new(RomanError::NotCanonical);
    assert!(!boxed.to_string().is_empty());
}

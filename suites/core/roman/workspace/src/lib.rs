//! Conversion between numbers and Roman numerals.

//! `ledger`: totals of a plain-text ledger of transactions, one `DATE CATEGORY AMOUNT` per line.
//!
//! Nothing here yet.

fn main() {}

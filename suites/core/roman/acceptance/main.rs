//! Hidden acceptance tests of the `roman` crate, one module per milestone.

mod m1;

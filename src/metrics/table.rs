//! Rows as columns and back, without knowing any file format: each row type lists its fields
//! once (in [`table_rows!`]) and gets conversions to and from typed [`ColumnData`].

use std::collections::BTreeMap;

/// One column's values. `Option` fields give nullable columns.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Str(Vec<Option<String>>),
    U32(Vec<Option<u32>>),
    U64(Vec<Option<u64>>),
    I64(Vec<Option<i64>>),
    F64(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

impl ColumnData {
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Str(v) => v.len(),
            ColumnData::U32(v) => v.len(),
            ColumnData::U64(v) => v.len(),
            ColumnData::I64(v) => v.len(),
            ColumnData::F64(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A Rust type that can be one cell of a column.
pub trait Cell: Sized {
    fn into_column(values: Vec<Self>) -> ColumnData;
    fn from_column(column: &str, data: &ColumnData) -> Result<Vec<Self>, TableError>;
    /// The column of a table written before it existed: all null for a nullable column, else
    /// none (the table cannot be read).
    fn missing(_height: usize) -> Option<Vec<Self>> {
        None
    }
}

/// Why columns do not make rows of a table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    #[error("column `{column}` is not of type {expected}")]
    WrongType {
        column: String,
        expected: &'static str,
    },
    #[error("column `{column}` is null in row {row}, which this schema does not allow")]
    Null { column: String, row: usize },
    #[error("table `{table}` has no column `{column}`")]
    MissingColumn {
        table: &'static str,
        column: &'static str,
    },
    #[error("column `{column}` has {values} values for {rows} rows")]
    Length {
        column: &'static str,
        values: usize,
        rows: usize,
    },
    #[error("short column")]
    ShortColumn,
}

fn wrong_type(column: &str, expected: &'static str) -> TableError {
    TableError::WrongType {
        column: column.to_string(),
        expected,
    }
}

fn null_in(column: &str, row: usize) -> TableError {
    TableError::Null {
        column: column.to_string(),
        row,
    }
}

macro_rules! cell {
    ($ty:ty, $variant:ident, $label:literal) => {
        impl Cell for $ty {
            fn into_column(values: Vec<Self>) -> ColumnData {
                ColumnData::$variant(values.into_iter().map(Some).collect())
            }
            fn from_column(column: &str, data: &ColumnData) -> Result<Vec<Self>, TableError> {
                let ColumnData::$variant(values) = data else {
                    return Err(wrong_type(column, $label));
                };
                values
                    .iter()
                    .enumerate()
                    .map(|(row, v)| v.clone().ok_or_else(|| null_in(column, row)))
                    .collect()
            }
        }
        impl Cell for Option<$ty> {
            fn into_column(values: Vec<Self>) -> ColumnData {
                ColumnData::$variant(values)
            }
            fn from_column(column: &str, data: &ColumnData) -> Result<Vec<Self>, TableError> {
                let ColumnData::$variant(values) = data else {
                    return Err(wrong_type(column, $label));
                };
                Ok(values.clone())
            }
            fn missing(height: usize) -> Option<Vec<Self>> {
                Some(vec![None; height])
            }
        }
    };
}

cell!(String, Str, "string");
cell!(u32, U32, "u32");
cell!(u64, U64, "u64");
cell!(i64, I64, "i64");
cell!(f64, F64, "f64");
cell!(bool, Bool, "bool");

/// A row type of a report table.
pub trait TableRow: Sized {
    /// The file name stem of the table (`missions` for `missions.parquet`).
    const TABLE: &'static str;
    /// Column names in order.
    fn column_names() -> Vec<&'static str>;
    fn to_columns(rows: &[Self]) -> Vec<(&'static str, ColumnData)>;
    fn from_columns(
        height: usize,
        columns: &BTreeMap<String, ColumnData>,
    ) -> Result<Vec<Self>, TableError>;
}

/// Declares row structs and their [`TableRow`] impls from one field list.
#[macro_export]
macro_rules! table_rows {
    ($( $(#[$meta:meta])* pub struct $row:ident in $table:literal { $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)? } )*) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, PartialEq)]
            pub struct $row { $( $(#[$fmeta])* pub $field: $ty ),* }

            impl $crate::metrics::table::TableRow for $row {
                const TABLE: &'static str = $table;

                fn column_names() -> Vec<&'static str> {
                    vec![$(stringify!($field)),*]
                }

                fn to_columns(rows: &[Self]) -> Vec<(&'static str, $crate::metrics::table::ColumnData)> {
                    vec![$(
                        (stringify!($field), <$ty as $crate::metrics::table::Cell>::into_column(rows.iter().map(|r| r.$field.clone()).collect()))
                    ),*]
                }

                fn from_columns(
                    height: usize,
                    columns: &std::collections::BTreeMap<String, $crate::metrics::table::ColumnData>,
                ) -> Result<Vec<Self>, $crate::metrics::table::TableError> {
                    $(
                        let $field: Vec<$ty> = match columns.get(stringify!($field)) {
                            Some(data) => <$ty as $crate::metrics::table::Cell>::from_column(stringify!($field), data)?,
                            None => <$ty as $crate::metrics::table::Cell>::missing(height).ok_or($crate::metrics::table::TableError::MissingColumn { table: $table, column: stringify!($field) })?,
                        };
                        if $field.len() != height {
                            return Err($crate::metrics::table::TableError::Length { column: stringify!($field), values: $field.len(), rows: height });
                        }
                        let mut $field = $field.into_iter();
                    )*
                    let mut rows = Vec::with_capacity(height);
                    for _ in 0..height {
                        rows.push($row { $( $field: $field.next().ok_or($crate::metrics::table::TableError::ShortColumn)? ),* });
                    }
                    Ok(rows)
                }
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{fold, MissionRow};

    #[test]
    fn a_table_written_before_a_nullable_column_reads_it_as_null() {
        let records = crate::metrics::tests::mission_records(Vec::new());
        let rows = fold("r", &records).missions;
        assert_eq!(rows.len(), 1);
        let columns = |without: &str| -> BTreeMap<String, ColumnData> {
            MissionRow::to_columns(&rows)
                .into_iter()
                .filter(|(name, _)| *name != without)
                .map(|(name, data)| (name.to_string(), data))
                .collect()
        };
        assert_eq!(
            MissionRow::from_columns(1, &columns("replay_diverged")).unwrap(),
            rows,
            "the row as folded, its replay_diverged null"
        );
        assert_eq!(
            MissionRow::from_columns(1, &columns("status")),
            Err(TableError::MissingColumn {
                table: "missions",
                column: "status"
            })
        );
    }
}

//! Report tables as Parquet files, through polars.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::metrics::table::{ColumnData, TableRow};

#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    #[error("cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot read `{path}`: {message}")]
    Read { path: PathBuf, message: String },
    #[error(transparent)]
    NotAFile(#[from] crate::fsutil::NotAFile),
}

impl ParquetError {
    /// Whether the table read is at fault (bad input), not the harness writing one.
    pub fn is_input(&self) -> bool {
        !matches!(self, ParquetError::Write { .. })
    }
}

fn column(name: &str, data: ColumnData) -> Column {
    let name = PlSmallStr::from(name);
    match data {
        ColumnData::Str(values) => Column::new(name, values),
        ColumnData::U32(values) => Column::new(name, values),
        ColumnData::U64(values) => Column::new(name, values),
        ColumnData::I64(values) => Column::new(name, values),
        ColumnData::F64(values) => Column::new(name, values),
        ColumnData::Bool(values) => Column::new(name, values),
    }
}

pub fn to_frame<T: TableRow>(rows: &[T]) -> PolarsResult<DataFrame> {
    let columns: Vec<Column> = T::to_columns(rows)
        .into_iter()
        .map(|(name, data)| column(name, data))
        .collect();
    DataFrame::new(rows.len(), columns)
}

/// Writes `dir/<table>.parquet` through a temporary file, so a crash never leaves half a table.
pub fn write_table<T: TableRow>(dir: &Path, rows: &[T]) -> Result<PathBuf, ParquetError> {
    let path = dir.join(format!("{}.parquet", T::TABLE));
    let temporary = dir.join(format!(".{}.parquet.tmp-{}", T::TABLE, std::process::id()));
    let error = |source: Box<dyn std::error::Error + Send + Sync>| ParquetError::Write {
        path: path.clone(),
        source,
    };
    let mut frame = to_frame(rows).map_err(|e| error(Box::new(e)))?;
    let file = File::create(&temporary).map_err(|e| error(Box::new(e)))?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Snappy)
        .finish(&mut frame)
        .map_err(|e| error(Box::new(e)))?;
    std::fs::rename(&temporary, &path).map_err(|e| error(Box::new(e)))?;
    Ok(path)
}

fn read_column(name: &str, column: &Column) -> PolarsResult<ColumnData> {
    let series = column.as_materialized_series();
    Ok(match series.dtype() {
        DataType::String => ColumnData::Str(
            series
                .str()?
                .iter()
                .map(|v| v.map(str::to_string))
                .collect(),
        ),
        DataType::UInt32 => ColumnData::U32(series.u32()?.iter().collect()),
        DataType::UInt64 => ColumnData::U64(series.u64()?.iter().collect()),
        DataType::Int64 => ColumnData::I64(series.i64()?.iter().collect()),
        DataType::Float64 => ColumnData::F64(series.f64()?.iter().collect()),
        DataType::Boolean => ColumnData::Bool(series.bool()?.iter().collect()),
        // All-null columns may come back untyped.
        DataType::Null => ColumnData::Str(vec![None; series.len()]),
        other => polars_bail!(ComputeError: "column `{}` has unsupported type {}", name, other),
    })
}

pub fn from_frame<T: TableRow>(frame: &DataFrame) -> Result<Vec<T>, String> {
    let mut columns = BTreeMap::new();
    for name in T::column_names() {
        // A column the table was written without: `from_columns` fills a nullable one with
        // nulls (tables of an earlier schema) and refuses any other.
        let Ok(column) = frame.column(name) else {
            continue;
        };
        let mut data = read_column(name, column).map_err(|e| e.to_string())?;
        if let ColumnData::Str(values) = &data {
            // A column that is null in every row may have lost its type; take it as the expected one.
            if values.iter().all(Option::is_none) {
                if let Some((_, expected)) =
                    T::to_columns(&[]).into_iter().find(|(n, _)| *n == name)
                {
                    data = match expected {
                        ColumnData::Str(_) => data,
                        ColumnData::U32(_) => ColumnData::U32(vec![None; values.len()]),
                        ColumnData::U64(_) => ColumnData::U64(vec![None; values.len()]),
                        ColumnData::I64(_) => ColumnData::I64(vec![None; values.len()]),
                        ColumnData::F64(_) => ColumnData::F64(vec![None; values.len()]),
                        ColumnData::Bool(_) => ColumnData::Bool(vec![None; values.len()]),
                    };
                }
            }
        }
        columns.insert(name.to_string(), data);
    }
    T::from_columns(frame.height(), &columns).map_err(|e| e.to_string())
}

pub fn read_frame(path: &Path) -> Result<DataFrame, ParquetError> {
    let error = |message: String| ParquetError::Read {
        path: path.to_path_buf(),
        message,
    };
    crate::fsutil::check_file(path)?;
    let file = File::open(path).map_err(|e| error(e.to_string()))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| error(e.to_string()))
}

/// Reads `dir/<table>.parquet` back into rows.
pub fn read_table<T: TableRow>(dir: &Path) -> Result<Vec<T>, ParquetError> {
    let path = dir.join(format!("{}.parquet", T::TABLE));
    let frame = read_frame(&path)?;
    from_frame(&frame).map_err(|message| ParquetError::Read { path, message })
}

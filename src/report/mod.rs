//! Reports: `run.json` (the fingerprint), the Parquet tables folded from `events.jsonl`, and the
//! summaries and comparisons printed from them.

pub mod atif;
pub mod compare;
mod evidence;
pub mod gate;
pub mod html;
pub mod merge;
pub mod parquet;
pub mod stats;
pub mod text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::events::{read_events, ReadEventsError};
use crate::metrics::{fold, AssertionRow, MilestoneRow, MissionRow, RunRow, Tables, TurnRow};
use parquet::{read_table, write_table, ParquetError};

pub(crate) use evidence::percent_encode;

/// Version of `run.json`.
pub const RUN_INFO_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HarnessInfo {
    pub version: String,
    /// The commit the harness was built from, `-dirty` when the tree had changes; `unknown`
    /// outside a git checkout.
    pub git_commit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteInfo {
    pub name: String,
    pub path: String,
    pub hash: String,
    /// Mission id -> hash of its folder.
    pub missions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairingInfo {
    pub name: String,
    /// Role -> model name.
    pub models: BTreeMap<String, String>,
}

/// A model the run loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub name: String,
    pub provider: String,
    pub load_ms: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub parameters: Option<u64>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub os: String,
    pub arch: String,
    pub cpus: usize,
}

/// `run.json`: what a run was, so that runs can be compared only when comparable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub version: u32,
    pub run_id: String,
    pub harness: HarnessInfo,
    pub command_line: Vec<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub suite: SuiteInfo,
    /// Prompt name -> hash.
    pub prompts: BTreeMap<String, String>,
    pub prompts_overridden: Vec<String>,
    /// Hash of the config text; configs hold names of key variables, never keys.
    pub config_hash: String,
    pub pairings: Vec<PairingInfo>,
    /// Every model loaded, with its load time and memory.
    #[serde(default)]
    pub models: Vec<ModelRecord>,
    pub repeats: u32,
    pub jobs: usize,
    pub seed: Option<u64>,
    /// Budget keys overridden on the command line (`run --budget`), with their values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub budget: BTreeMap<String, String>,
    pub environment_hash: String,
    pub host: HostInfo,
    /// Missions by status, filled in when the run ends.
    pub outcome: BTreeMap<String, u64>,
    /// CPU seconds the harness process itself used during the run (not its commands).
    pub harness_cpu_s: Option<f64>,
    /// CPU seconds of the commands it ran (tests, checks, setup).
    pub commands_cpu_s: Option<f64>,
    pub schema_version: u32,
    /// How agent commands were confined; absent when the sandbox was off.
    #[serde(default)]
    pub sandbox: Option<SandboxInfo>,
    /// The slice of the planned mission runs this run made (`run --shard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// The shard runs a merged run was assembled from (`merge`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// When the run was resumed (`run --resume`), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed_at: Vec<String>,
    /// The recorded runs its `replay` models serve roles from: a counterfactual replay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replays: Vec<ReplayInfo>,
}

/// A `replay` model of a run: which recorded run it serves roles from, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayInfo {
    pub model: String,
    /// The recorded run's id.
    pub recording: String,
    pub report: String,
    /// The recorded pairing it serves, when the config names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing: Option<String>,
    /// `halt` or `live`.
    pub on_divergence: String,
}

impl RunInfo {
    /// Whether roles of this run were served from a recorded run.
    pub fn is_replay(&self) -> bool {
        !self.replays.is_empty()
    }
}

/// Keys whose values differ between two maps, a key absent from one side included.
pub(crate) fn differing_keys(
    ours: &BTreeMap<String, String>,
    theirs: &BTreeMap<String, String>,
) -> Vec<String> {
    ours.keys()
        .chain(theirs.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| ours.get(*k) != theirs.get(*k))
        .cloned()
        .collect()
}

fn value_of(map: &BTreeMap<String, String>, key: &str) -> String {
    map.get(key).cloned().unwrap_or_else(|| "absent".into())
}

impl RunInfo {
    /// What differs between this run's fingerprint and `other`'s: suite and mission hashes,
    /// prompts, config, harness, pairings, repeats, environment and schema (the shard is not part
    /// of it: the shards of one run differ there). Empty when they match.
    pub fn fingerprint_differences(&self, other: &RunInfo) -> Vec<String> {
        let mut differences = Vec::new();
        let mut differ = |what: &str, a: String, b: String| {
            if a != b {
                differences.push(format!("{what}: {a} vs {b}"));
            }
        };
        differ("suite", self.suite.hash.clone(), other.suite.hash.clone());
        for id in differing_keys(&self.suite.missions, &other.suite.missions) {
            differ(
                &format!("mission `{id}`"),
                value_of(&self.suite.missions, &id),
                value_of(&other.suite.missions, &id),
            );
        }
        for name in differing_keys(&self.prompts, &other.prompts) {
            differ(
                &format!("prompt `{name}`"),
                value_of(&self.prompts, &name),
                value_of(&other.prompts, &name),
            );
        }
        differ(
            "config",
            self.config_hash.clone(),
            other.config_hash.clone(),
        );
        differ(
            "harness",
            format!("{} {}", self.harness.version, self.harness.git_commit),
            format!("{} {}", other.harness.version, other.harness.git_commit),
        );
        let pairings = |info: &RunInfo| {
            info.pairings
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        differ("pairings", pairings(self), pairings(other));
        differ(
            "repeats",
            self.repeats.to_string(),
            other.repeats.to_string(),
        );
        let budget = |info: &RunInfo| {
            info.budget
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        differ("budget overrides", budget(self), budget(other));
        // Runs from before seeds were always recorded ran with the default, 0.
        differ(
            "seed",
            self.seed.unwrap_or(0).to_string(),
            other.seed.unwrap_or(0).to_string(),
        );
        differ(
            "environment",
            self.environment_hash.clone(),
            other.environment_hash.clone(),
        );
        differ(
            "schema",
            self.schema_version.to_string(),
            other.schema_version.to_string(),
        );
        differences
    }
}

/// Shard `index` of `count` (1-based): the mission runs at plan positions `index - 1`,
/// `index - 1 + count`, ... of `planned` in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    pub planned: u64,
}

/// The sandbox of a run: its limits and, per network access the suite's missions use, which
/// protections this machine's kernel provided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxInfo {
    pub limits: crate::tools::sandbox::Limits,
    pub protections: BTreeMap<String, Vec<crate::tools::sandbox::Protection>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Events(#[from] ReadEventsError),
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    #[error("cannot write `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read `{path}`: {message}")]
    RunInfo { path: PathBuf, message: String },
    #[error(transparent)]
    NotAFile(#[from] crate::fsutil::NotAFile),
}

impl ReportError {
    /// Whether the report folder read is at fault (bad input), not the harness.
    pub fn is_input(&self) -> bool {
        match self {
            ReportError::Events(_) | ReportError::RunInfo { .. } | ReportError::NotAFile(_) => true,
            ReportError::Parquet(error) => error.is_input(),
            ReportError::Io { .. } => false,
        }
    }
}

/// The files a report folder holds by name (journal, run.json, tables).
fn report_files(dir: &Path) -> Vec<PathBuf> {
    use crate::metrics::table::TableRow;
    let tables = [
        MissionRow::TABLE,
        MilestoneRow::TABLE,
        RunRow::TABLE,
        TurnRow::TABLE,
        AssertionRow::TABLE,
    ];
    let mut files = vec![dir.join("events.jsonl"), dir.join("run.json")];
    files.extend(
        tables
            .iter()
            .map(|table| dir.join(format!("{table}.parquet"))),
    );
    files
}

/// Each of the report folder's own files is a file or absent: a folder (or fifo, …) in one's
/// place is bad input, refused before anything is read or written.
pub fn check_report_files(dir: &Path) -> Result<(), crate::fsutil::NotAFile> {
    report_files(dir)
        .iter()
        .try_for_each(|path| crate::fsutil::check_file(path))
}

pub fn write_run_info(dir: &Path, info: &RunInfo) -> Result<(), ReportError> {
    let path = dir.join("run.json");
    let mut text = serde_json::to_string_pretty(info).map_err(|e| ReportError::Io {
        path: path.clone(),
        source: e.into(),
    })?;
    text.push('\n');
    crate::fsutil::write_atomic(&path, text.as_bytes())
        .map_err(|source| ReportError::Io { path, source })
}

pub fn read_run_info(dir: &Path) -> Result<RunInfo, ReportError> {
    let path = dir.join("run.json");
    crate::fsutil::check_file(&path)?;
    let text = std::fs::read_to_string(&path).map_err(|e| ReportError::RunInfo {
        path: path.clone(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| ReportError::RunInfo {
        path,
        message: e.to_string(),
    })
}

/// Folds `dir/events.jsonl` into the five tables and writes them as Parquet.
pub fn write_tables_from_events(dir: &Path, run_id: &str) -> Result<Tables, ReportError> {
    let records = read_events(&dir.join("events.jsonl"))?;
    let tables = fold(run_id, &records);
    write_tables(dir, &tables)?;
    Ok(tables)
}

pub fn write_tables(dir: &Path, tables: &Tables) -> Result<(), ReportError> {
    write_table(dir, &tables.missions)?;
    write_table(dir, &tables.milestones)?;
    write_table(dir, &tables.runs)?;
    write_table(dir, &tables.turns)?;
    write_table(dir, &tables.assertions)?;
    Ok(())
}

/// Reads the five tables of the report folder `dir`, which must hold nothing but files where
/// its own files belong ([`check_report_files`]).
pub fn read_tables(dir: &Path) -> Result<Tables, ReportError> {
    check_report_files(dir)?;
    Ok(Tables {
        missions: read_table::<MissionRow>(dir)?,
        milestones: read_table::<MilestoneRow>(dir)?,
        runs: read_table::<RunRow>(dir)?,
        turns: read_table::<TurnRow>(dir)?,
        assertions: read_table::<AssertionRow>(dir)?,
    })
}

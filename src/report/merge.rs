//! Putting the shards of a run (`run --shard I/N`) back together: the shards must share one
//! fingerprint and cover every slice once; their event journals are concatenated (sequence
//! numbers renumbered per shard, so each mission's order is kept) and folded into the tables
//! again, exactly as a single run's are.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{read_run_info, write_run_info, write_tables, ReportError, RunInfo};
use crate::events::{read_events, EventRecord};
use crate::metrics::{fold, Tables};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{0}")]
    Report(#[from] ReportError),
    #[error("`{path}`: {message}")]
    Shard { path: String, message: String },
    #[error("the shards are not of one run: {0}")]
    Mismatch(String),
}

/// The merged report.
#[derive(Debug)]
pub struct Merged {
    pub dir: PathBuf,
    pub info: RunInfo,
    pub tables: Tables,
}

/// Merges shard report folders into `<out>/<run-id>/`, the run id being the first shard's with
/// `-merged`.
pub fn merge(shards: &[PathBuf], out: &Path) -> Result<Merged, MergeError> {
    let mut infos = Vec::new();
    for dir in shards {
        crate::report::check_report_files(dir).map_err(ReportError::from)?;
        let info = read_run_info(dir)?;
        let Some(shard) = info.shard else {
            return Err(MergeError::Shard {
                path: dir.display().to_string(),
                message: "not a shard (run.json has no `shard`; was it run with --shard?)"
                    .to_string(),
            });
        };
        infos.push((dir, info, shard));
    }
    // Shards in index order; each shard's sequence numbers will follow the previous shard's.
    infos.sort_by_key(|(_, _, shard)| shard.index);
    let Some((first_dir, first, first_shard)) = infos.first() else {
        return Err(MergeError::Mismatch("no shard folders given".to_string()));
    };
    let count = first_shard.count;
    let mut seen: BTreeMap<u32, &PathBuf> = BTreeMap::new();
    for (dir, info, shard) in &infos {
        let differences = info.fingerprint_differences(first);
        if !differences.is_empty() {
            return Err(MergeError::Mismatch(format!(
                "`{}` and `{}` differ: {}",
                dir.display(),
                first_dir.display(),
                differences.join("; ")
            )));
        }
        if shard.count != count {
            return Err(MergeError::Mismatch(format!(
                "`{}` is a shard of {} and `{}` of {}",
                first_dir.display(),
                count,
                dir.display(),
                shard.count
            )));
        }
        if let Some(other) = seen.insert(shard.index, dir) {
            return Err(MergeError::Mismatch(format!(
                "shard {}/{count} twice: `{}` and `{}`",
                shard.index,
                other.display(),
                dir.display()
            )));
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Mismatch(format!(
            "shards missing: {}",
            missing.join(", ")
        )));
    }

    let run_id = format!("{}-merged", first.run_id);
    let dir = out.join(&run_id);
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut records: Vec<EventRecord> = Vec::new();
    let mut offset = 0u64;
    for (shard_dir, _, _) in &infos {
        let path = shard_dir.join("events.jsonl");
        let shard_records = read_events(&path).map_err(ReportError::from)?;
        let top = shard_records.iter().map(|r| r.seq).max().unwrap_or(0);
        records.extend(shard_records.into_iter().map(|mut r| {
            r.seq += offset;
            r
        }));
        offset += top + 1;
        // Everything a run keeps per mission run: a merged run can be viewed and replayed.
        for folder in ["transcripts", "diffs", "checkpoints", "evidence"] {
            let from = shard_dir.join(folder);
            if from.is_dir() {
                // The report's own files: one the copy cannot take is an error, not a notice.
                let skipped =
                    crate::fsutil::copy_tree(&from, &dir.join(folder), &[]).map_err(|source| {
                        ReportError::Io {
                            path: from.clone(),
                            source,
                        }
                    })?;
                if let Some(first) = skipped.first() {
                    return Err(ReportError::Io {
                        path: from.join(&first.path),
                        source: std::io::Error::other(first.reason.clone()),
                    }
                    .into());
                }
            }
        }
    }
    let events_path = dir.join("events.jsonl");
    let write_events = || -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&events_path)?);
        for record in &records {
            serde_json::to_writer(&mut file, record)?;
            file.write_all(b"\n")?;
        }
        file.flush()?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()
    };
    write_events().map_err(|source| ReportError::Io {
        path: events_path.clone(),
        source,
    })?;
    let tables = fold(&run_id, &records);
    write_tables(&dir, &tables)?;

    let mut info = first.clone();
    info.run_id = run_id;
    info.shard = None;
    info.merged_from = infos.iter().map(|(_, i, _)| i.run_id.clone()).collect();
    info.started_at = infos
        .iter()
        .map(|(_, i, _)| i.started_at.clone())
        .min()
        .unwrap_or_default();
    info.finished_at = infos
        .iter()
        .filter_map(|(_, i, _)| i.finished_at.clone())
        .max();
    let sum = |f: fn(&RunInfo) -> Option<f64>| -> Option<f64> {
        infos.iter().map(|(_, i, _)| f(i)).sum::<Option<f64>>()
    };
    info.harness_cpu_s = sum(|i| i.harness_cpu_s);
    info.commands_cpu_s = sum(|i| i.commands_cpu_s);
    info.outcome = BTreeMap::new();
    for row in &tables.missions {
        *info.outcome.entry(row.status.clone()).or_default() += 1;
    }
    write_run_info(&dir, &info)?;
    Ok(Merged { dir, info, tables })
}

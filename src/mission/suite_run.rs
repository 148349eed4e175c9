//! A whole run: load the suite, prepare its environment, run every mission x pairing x repeat
//! (some in parallel), and write the report folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::env::prepare_environment;
use super::lifecycle::{run_mission, MissionRun, RunContext};
use super::prompts::Prompts;
use super::resume::{checkpoint_repository, Replay};
use crate::events::{Emitter, Event, EventSink, HaltReason, JsonlSink, MissionKey, MissionStatus};
use crate::metrics::Tables;
use crate::model::{ModelEnv, ModelRegistry};
use crate::report::SandboxInfo;
use crate::report::{
    write_run_info, write_tables_from_events, HarnessInfo, HostInfo, ModelRecord, PairingInfo,
    ReportError, RunInfo, SuiteInfo, RUN_INFO_VERSION,
};
use crate::spec::config::{Config, SandboxConfig};
use crate::spec::mission::NetworkAccess;
use crate::spec::suite::load_suite;
use crate::spec::{MissionSpec, Pairing, SpecError, SpecErrors, Suite};
use crate::tools::sandbox::{Limits, Network, Protection, Sandbox, SandboxPaths, SandboxPolicy};

/// Everything a run needs, resolved by the caller (the CLI reads flags and the environment).
#[derive(Clone)]
pub struct RunSettings {
    pub suite_dir: PathBuf,
    pub config: Config,
    pub pairings: Vec<Pairing>,
    /// Mission ids to run; empty means all.
    pub missions: Vec<String>,
    /// Overrides the suite's `defaults.repeats`.
    pub repeats: Option<u32>,
    pub jobs: usize,
    /// Where the report folder `<run_id>/` is created.
    pub out_dir: PathBuf,
    /// Run only shard `index` of `count` (1-based) of the planned mission runs.
    pub shard: Option<(u32, u32)>,
    /// Stops the run when set (the CLI sets it on the first Ctrl-C): no agent run or mission
    /// starts after it, running commands are killed, and the reports are written.
    pub stop: Arc<crate::stop::StopSignal>,
    /// Continue the run `<out_dir>/<run_id>/` instead of starting one: missions that finished
    /// are kept, an unfinished one continues after its last finished agent run.
    pub resume: bool,
    /// Resume even when the fingerprint differs.
    pub force: bool,
    pub run_id: String,
    /// Where mission workspaces are created (a folder per run is made inside).
    pub work_dir: PathBuf,
    /// Where suite environments are cached.
    pub cache_dir: PathBuf,
    /// The environment setup commands run with.
    pub setup_env: Vec<(String, String)>,
    /// PATH entries agents' commands see after the suite's own.
    pub base_path: String,
    pub keep_workspaces: bool,
    pub command_line: Vec<String>,
    pub harness: HarnessInfo,
    /// The run's seed ([`DEFAULT_SEED`] when not given): each agent run's sampling seed is
    /// derived from it and the run's place (pairing, mission, repeat, agent run number).
    pub seed: Option<u64>,
    /// Budget keys set on the command line, over every mission's own budget.
    pub budget: crate::spec::suite::BudgetOverrides,
    /// API keys and proxy settings for remote models.
    pub model_env: ModelEnv,
}

/// The run seed when `--seed` is not given.
pub const DEFAULT_SEED: u64 = 0;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Spec(#[from] SpecErrors),
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("cannot create `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a finished run left behind.
pub struct RunReport {
    pub dir: PathBuf,
    pub info: RunInfo,
    pub tables: Tables,
    /// Mission runs that were planned.
    pub planned: usize,
}

/// Shard `index` of `count` (1-based) of planned runs: every `count`-th run from position
/// `index - 1`, so each shard gets a mix of missions and pairings.
pub fn shard<T>(runs: Vec<T>, index: u32, count: u32) -> Vec<T> {
    let (index, count) = (index.max(1) as usize, count.max(1) as usize);
    runs.into_iter()
        .enumerate()
        .filter(|(i, _)| i % count == index - 1)
        .map(|(_, run)| run)
        .collect()
}

/// The mission runs of a run, in a fixed order: mission, then pairing, then repeat.
pub fn plan_runs(
    suite: &Suite,
    missions: &[Arc<MissionSpec>],
    pairings: &[Pairing],
    repeats: u32,
) -> Vec<MissionRun> {
    let mut runs = Vec::new();
    for mission in missions {
        for pairing in pairings {
            for repeat in 0..repeats {
                runs.push(MissionRun {
                    key: MissionKey {
                        suite: suite.name().to_string(),
                        mission: mission.id().clone(),
                        pairing: pairing.name.clone(),
                        repeat,
                    },
                    mission: mission.clone(),
                    pairing: pairing.clone(),
                    replay: None,
                });
            }
        }
    }
    runs
}

/// What a resumed run keeps.
struct Resumed {
    /// Mission runs that ended (any status but `interrupted`): they are not run again.
    finished: BTreeSet<MissionKey>,
    /// Interrupted missions that continue from their last checkpoint.
    replays: BTreeMap<MissionKey, Replay>,
    /// The sequence number the journal continues from.
    next_seq: u64,
}

/// Whether the bare repository `git_dir` holds `commit`.
fn has_commit(git_dir: &Path, commit: &str, base_path: &str) -> bool {
    std::process::Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
        .env_clear()
        .env("PATH", base_path)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The run number a transcript file name (`007-worker.jsonl`) starts with.
fn transcript_run(name: &str) -> Option<u32> {
    name.split('-').next()?.parse().ok()
}

/// Prepares `dir` to continue: checks the fingerprint against the earlier run.json, and
/// rewrites the journal (atomically; a torn last line is dropped) to keep the run's own records,
/// those of finished missions, and those of each interrupted mission through its last
/// checkpoint (the mission continues from there when its checkpoint repository holds that
/// workspace; otherwise it starts over). Transcripts and diffs of what will run again are
/// removed.
fn resume(
    dir: &Path,
    info: &mut RunInfo,
    force: bool,
    base_path: &str,
) -> Result<Resumed, RunError> {
    let cannot = |message: String| {
        RunError::Settings(format!("cannot resume `{}`: {message}", dir.display()))
    };
    let earlier = crate::report::read_run_info(dir).map_err(|e| cannot(e.to_string()))?;
    let mut differences = info.fingerprint_differences(&earlier);
    if info.shard != earlier.shard {
        let shard = |s: &Option<crate::report::ShardInfo>| match s {
            Some(s) => format!("{}/{}", s.index, s.count),
            None => "none".to_string(),
        };
        differences.push(format!(
            "shard: {} vs {}",
            shard(&info.shard),
            shard(&earlier.shard)
        ));
    }
    if !differences.is_empty() && !force {
        return Err(cannot(format!(
            "it was run with another fingerprint (now vs then): {}; pass --force to resume anyway",
            differences.join("; ")
        )));
    }
    let events_path = dir.join("events.jsonl");
    let records = crate::events::read_events(&events_path).map_err(|e| cannot(e.to_string()))?;
    let finished: BTreeSet<MissionKey> = records
        .iter()
        .filter_map(|r| match (&r.mission, &r.event) {
            (Some(key), Event::MissionFinished { status, .. })
                if *status != MissionStatus::Interrupted =>
            {
                Some(key.clone())
            }
            _ => None,
        })
        .collect();
    let next_seq = records.iter().map(|r| r.seq + 1).max().unwrap_or(0);

    // Each interrupted mission's records, and how many of them it keeps.
    let mut unfinished: BTreeMap<&MissionKey, Vec<&crate::events::EventRecord>> = BTreeMap::new();
    for record in &records {
        if let Some(key) = record.mission.as_ref().filter(|k| !finished.contains(*k)) {
            unfinished.entry(key).or_default().push(record);
        }
    }
    let mut replays = BTreeMap::new();
    let mut keep: BTreeMap<&MissionKey, usize> = BTreeMap::new();
    for (key, own) in &unfinished {
        // A mission that changed (resumed with --force) starts over.
        let mission = key.mission.as_str();
        if info.suite.missions.get(mission) != earlier.suite.missions.get(mission) {
            continue;
        }
        let Some((replay, kept)) = Replay::from_records(own) else {
            continue;
        };
        let repository = checkpoint_repository(dir, key);
        if replay
            .last_commit()
            .is_some_and(|commit| has_commit(&repository, commit, base_path))
        {
            keep.insert(key, kept);
            replays.insert((*key).clone(), replay);
        }
    }

    let mut kept = Vec::new();
    let mut seen: BTreeMap<&MissionKey, usize> = BTreeMap::new();
    for record in &records {
        if let Some(key) = record.mission.as_ref().filter(|k| !finished.contains(*k)) {
            let index = seen.entry(key).or_default();
            *index += 1;
            if *index > keep.get(key).copied().unwrap_or(0) {
                continue;
            }
        }
        let mut line = serde_json::to_vec(record).map_err(|e| cannot(e.to_string()))?;
        line.push(b'\n');
        kept.extend(line);
    }
    crate::fsutil::write_atomic(&events_path, &kept).map_err(|source| RunError::Io {
        path: events_path.clone(),
        source,
    })?;
    for key in unfinished.keys() {
        let transcripts = dir.join("transcripts").join(key.slug());
        match replays.get(*key) {
            // The transcripts of replayed runs stay; those of runs after the checkpoint go.
            Some(replay) => {
                let next_run = replay.next_run();
                for entry in std::fs::read_dir(&transcripts)
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let name = entry.file_name();
                    if transcript_run(&name.to_string_lossy()).is_none_or(|run| run >= next_run) {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
            None => {
                let _ = std::fs::remove_dir_all(&transcripts);
                let _ = std::fs::remove_dir_all(checkpoint_repository(dir, key));
            }
        }
        let _ = std::fs::remove_file(dir.join("diffs").join(format!("{}.patch", key.slug())));
    }
    info.started_at = earlier.started_at.clone();
    info.resumed_at = earlier.resumed_at.clone();
    info.resumed_at.push(chrono::Utc::now().to_rfc3339());
    Ok(Resumed {
        finished,
        replays,
        next_seq,
    })
}

/// The sandbox policy of `[sandbox]` (network access comes from each mission).
pub fn sandbox_policy(config: &SandboxConfig) -> SandboxPolicy {
    SandboxPolicy {
        network: Network::None,
        limits: Limits {
            memory_bytes: config.memory.0,
            processes: config.processes.0,
            file_size_bytes: config.file_size.0,
            cpu_seconds: config.cpu_s.0,
            disk_bytes: config.disk.0,
            files: config.files.0,
        },
        read: config.read.clone(),
    }
}

/// Which protections this machine gives commands, per network access in use, found by building
/// a sandbox on the run's work folder.
fn probe_sandbox(
    policy: &SandboxPolicy,
    work_dir: &std::path::Path,
    base_path: &str,
    networks: &std::collections::BTreeSet<NetworkAccess>,
) -> SandboxInfo {
    let mut info = SandboxInfo {
        limits: policy.limits.clone(),
        protections: BTreeMap::new(),
    };
    let _ = std::fs::create_dir_all(work_dir);
    for access in networks {
        let network = super::lifecycle::network_of(*access);
        let paths = SandboxPaths {
            writable: vec![work_dir.to_path_buf()],
            read_only: Vec::new(),
            counted: Vec::new(),
            read: Vec::new(),
            path_var: base_path.to_string(),
        };
        let protections = match Sandbox::new(
            SandboxPolicy {
                network,
                ..policy.clone()
            },
            &paths,
        ) {
            Ok(sandbox) => sandbox.protections().to_vec(),
            Err(e) => vec![Protection {
                name: "sandbox".to_string(),
                active: false,
                how: format!("cannot be set up: {e}"),
            }],
        };
        info.protections
            .insert(network.as_str().to_string(), protections);
    }
    info
}

/// Runs every mission run, at most `jobs` at a time, in plan order.
pub async fn run_all(
    runs: Vec<MissionRun>,
    context: Arc<RunContext>,
    emitter: Emitter,
    jobs: usize,
) {
    let semaphore = Arc::new(Semaphore::new(jobs.max(1)));
    let mut handles = Vec::new();
    for run in runs {
        let Ok(permit) = semaphore.clone().acquire_owned().await else {
            break;
        };
        let key = run.key.clone();
        let context = context.clone();
        let emitter_for_task = emitter.clone();
        let handle = tokio::spawn(async move {
            run_mission(run, &context, &emitter_for_task).await;
            drop(permit);
        });
        handles.push((key, handle));
    }
    for (key, handle) in handles {
        if let Err(error) = handle.await {
            // A bug in the harness must not lose the other missions: record it as this mission's end.
            let emitter = emitter.for_mission(key);
            let detail = format!("the mission task failed: {error}");
            emitter.emit(Event::MissionHalted {
                reason: HaltReason::HarnessError,
                detail: detail.clone(),
            });
            emitter.emit(Event::MissionFinished {
                status: MissionStatus::Error,
                halt_reason: Some(HaltReason::HarnessError),
                detail,
                duration_ms: 0.0,
            });
        }
    }
}

fn select_missions(suite: &Suite, wanted: &[String]) -> Result<Vec<Arc<MissionSpec>>, RunError> {
    if wanted.is_empty() {
        return Ok(suite.missions.iter().cloned().map(Arc::new).collect());
    }
    let mut selected = Vec::new();
    for id in wanted {
        match suite.missions.iter().find(|m| m.id().as_str() == id) {
            Some(mission) => selected.push(Arc::new(mission.clone())),
            None => {
                let known: Vec<&str> = suite.missions.iter().map(|m| m.id().as_str()).collect();
                return Err(RunError::Settings(format!(
                    "suite `{}` has no mission `{id}`; missions: {}",
                    suite.name(),
                    known.join(", ")
                )));
            }
        }
    }
    Ok(selected)
}

/// Runs a suite and writes `out_dir/<run_id>/`: run.json, events.jsonl, transcripts/, diffs/ and
/// the Parquet tables. `sinks` see every event too (progress display).
pub async fn run_suite(
    settings: &RunSettings,
    sinks: Vec<Arc<dyn EventSink>>,
) -> Result<RunReport, RunError> {
    let suite = load_suite(&settings.suite_dir)?;
    let prompts = Prompts::for_suite(&settings.suite_dir).map_err(|e| RunError::Spec(e.into()))?;
    let missions: Vec<Arc<MissionSpec>> = select_missions(&suite, &settings.missions)?
        .into_iter()
        .map(|mission| {
            if settings.budget == Default::default() {
                return mission;
            }
            let mut mission = (*mission).clone();
            mission.budget = mission.budget.apply(&settings.budget);
            Arc::new(mission)
        })
        .collect();
    if settings.pairings.is_empty() {
        return Err(RunError::Settings("no pairing to run".to_string()));
    }
    for pairing in &settings.pairings {
        settings
            .config
            .check_pairing(pairing)
            .map_err(RunError::Settings)?;
    }
    let model_names: Vec<&str> = settings
        .pairings
        .iter()
        .flat_map(|p| p.models.values().map(String::as_str))
        .collect();
    let redactor = settings.model_env.redactor();
    let registry = ModelRegistry::load(&settings.config, model_names, &settings.model_env)
        .map_err(|e| RunError::Settings(e.to_string()))?;
    let models: Vec<ModelRecord> = registry
        .iter()
        .map(|(name, model)| {
            let stats = model.backend.stats();
            ModelRecord {
                name: name.clone(),
                provider: model.backend.info().provider.to_string(),
                load_ms: stats.load_ms,
                resident_bytes: stats.resident_bytes,
                parameters: stats.parameters,
                detail: stats.detail,
            }
        })
        .collect();
    let repeats = settings
        .repeats
        .unwrap_or(suite.file.defaults.repeats)
        .max(1);

    let dir = settings.out_dir.join(&settings.run_id);
    std::fs::create_dir_all(&dir).map_err(|source| RunError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut info = RunInfo {
        version: RUN_INFO_VERSION,
        run_id: settings.run_id.clone(),
        harness: settings.harness.clone(),
        command_line: settings
            .command_line
            .iter()
            .map(|arg| redactor.redact(arg).into_owned())
            .collect(),
        started_at: chrono::Utc::now().to_rfc3339(),
        finished_at: None,
        suite: SuiteInfo {
            name: suite.name().to_string(),
            path: settings.suite_dir.display().to_string(),
            hash: suite.hash.clone(),
            missions: suite
                .missions
                .iter()
                .map(|m| (m.id().to_string(), m.hash.clone()))
                .collect(),
        },
        prompts: prompts.hashes(),
        prompts_overridden: prompts.overridden.clone(),
        config_hash: crate::spec::hash::hash_bytes(settings.config.source.as_bytes()),
        pairings: settings
            .pairings
            .iter()
            .map(|p| PairingInfo {
                name: p.name.clone(),
                models: p
                    .models
                    .iter()
                    .map(|(r, m)| (r.to_string(), m.clone()))
                    .collect(),
            })
            .collect(),
        models: models.clone(),
        repeats,
        jobs: settings.jobs,
        seed: Some(settings.seed.unwrap_or(DEFAULT_SEED)),
        budget: crate::spec::suite::budget_override_map(&settings.budget),
        environment_hash: super::env::environment_hash(&suite.file.environment),
        host: HostInfo {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        },
        outcome: BTreeMap::new(),
        harness_cpu_s: None,
        commands_cpu_s: None,
        schema_version: crate::metrics::SCHEMA_VERSION,
        sandbox: None,
        shard: None,
        merged_from: Vec::new(),
        resumed_at: Vec::new(),
    };
    let mut runs = plan_runs(&suite, &missions, &settings.pairings, repeats);
    if let Some((index, count)) = settings.shard {
        let all = runs.len();
        runs = shard(runs, index, count);
        info.shard = Some(crate::report::ShardInfo {
            index,
            count,
            planned: all as u64,
        });
    }
    let events_path = dir.join("events.jsonl");
    let mut first_seq = 0;
    if settings.resume {
        let mut resumed = resume(&dir, &mut info, settings.force, &settings.base_path)?;
        runs.retain(|run| !resumed.finished.contains(&run.key));
        for run in &mut runs {
            run.replay = resumed.replays.remove(&run.key).map(Arc::new);
        }
        first_seq = resumed.next_seq;
    }
    let sandbox_policy = settings
        .config
        .sandbox
        .enabled
        .then(|| sandbox_policy(&settings.config.sandbox));
    if let Some(policy) = &sandbox_policy {
        let work_dir = settings.work_dir.join(&settings.run_id);
        let networks: std::collections::BTreeSet<_> =
            missions.iter().map(|m| m.file.sandbox.network).collect();
        info.sandbox = Some(probe_sandbox(
            policy,
            &work_dir,
            &settings.base_path,
            &networks,
        ));
    }
    write_run_info(&dir, &info)?;
    let cpu_at_start = (
        cpu_seconds(libc::RUSAGE_SELF),
        cpu_seconds(libc::RUSAGE_CHILDREN),
    );
    let journal = Arc::new(
        JsonlSink::create(&events_path)
            .map_err(|source| RunError::Io {
                path: events_path.clone(),
                source,
            })?
            .with_redactor(redactor.clone()),
    );
    let mut all_sinks: Vec<Arc<dyn EventSink>> = vec![journal.clone()];
    all_sinks.extend(sinks);
    let emitter = Emitter::continuing(all_sinks, first_seq);
    emitter.emit(Event::RunPlanned {
        mission_runs: runs.len() as u64,
    });
    for (name, model) in registry.iter() {
        emitter.emit(Event::ModelLoaded {
            name: name.clone(),
            provider: model.backend.info().provider.to_string(),
            stats: model.backend.stats(),
        });
    }

    let environment = prepare_environment(
        &suite.file.environment,
        &settings.cache_dir,
        &settings.setup_env,
        &emitter,
    )
    .await
    .map_err(|e| e.to_string());
    let work_dir = settings.work_dir.join(&settings.run_id);
    let context = Arc::new(RunContext {
        registry,
        prompts: Arc::new(prompts),
        environment,
        base_path: settings.base_path.clone(),
        work_dir: work_dir.clone(),
        report_dir: dir.clone(),
        command_timeout: suite.command_timeout(),
        max_output_bytes: suite.file.defaults.max_output_bytes,
        keep_workspaces: settings.keep_workspaces,
        redactor,
        sandbox: sandbox_policy,
        stop: settings.stop.clone(),
        seed: settings.seed.unwrap_or(DEFAULT_SEED),
    });
    let planned = runs.len();
    run_all(runs, context, emitter, settings.jobs).await;
    if !settings.keep_workspaces {
        let _ = std::fs::remove_dir(&work_dir);
    }
    // Empty once every mission finished (interrupted ones keep theirs for `--resume`).
    let _ = std::fs::remove_dir(dir.join("checkpoints"));
    if let Some(error) = journal.take_error() {
        return Err(RunError::Io {
            path: events_path,
            source: error,
        });
    }
    let _ = journal.sync();

    let tables = write_tables_from_events(&dir, &settings.run_id)?;
    for row in &tables.missions {
        *info.outcome.entry(row.status.clone()).or_default() += 1;
    }
    info.finished_at = Some(chrono::Utc::now().to_rfc3339());
    info.harness_cpu_s = Some(cpu_seconds(libc::RUSAGE_SELF) - cpu_at_start.0);
    info.commands_cpu_s = Some(cpu_seconds(libc::RUSAGE_CHILDREN) - cpu_at_start.1);
    write_run_info(&dir, &info)?;
    Ok(RunReport {
        dir,
        info,
        tables,
        planned,
    })
}

impl From<SpecError> for RunError {
    fn from(error: SpecError) -> RunError {
        RunError::Spec(error.into())
    }
}

/// User plus system CPU seconds of this process (`RUSAGE_SELF`) or its reaped children
/// (`RUSAGE_CHILDREN`).
pub fn cpu_seconds(who: libc::c_int) -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete `rusage` into the pointer it is given, which points to
    // zeroed memory of that type; we read it only when the call succeeded.
    let usage = unsafe {
        if libc::getrusage(who, usage.as_mut_ptr()) != 0 {
            return 0.0;
        }
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

//! A whole run: load the suite, prepare its environment, run every mission x pairing x repeat
//! (some in parallel), and write the report folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::counterfactual::{Recording, ReplaySource};
use super::env::Environments;
use super::lifecycle::{run_mission, MissionRun, RunContext};
use super::prompts::Prompts;
use super::resume::{checkpoint_repository, Replay};
use crate::events::{
    Emitter, Event, EventRecord, EventSink, HaltReason, JsonlSink, MissionKey, MissionStatus,
};
use crate::metrics::Tables;
use crate::model::{ModelEnv, ModelRegistry};
use crate::report::SandboxInfo;
use crate::report::{
    write_run_info, write_tables_from_events, HarnessInfo, HostInfo, ModelRecord, PairingInfo,
    ReportError, RunInfo, SuiteInfo, RUN_INFO_VERSION,
};
use crate::spec::config::{Config, DivergenceMode, SandboxConfig};
use crate::spec::lint::linted_suite;
use crate::spec::mission::NetworkAccess;
use crate::spec::{MissionSpec, Pairing, Role, SpecError, SpecErrors, Suite};
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

impl RunSettings {
    /// These settings with the report, work and cache folders made absolute against the current
    /// folder.
    pub fn with_absolute_folders(&self) -> Result<RunSettings, RunError> {
        let absolute = |path: &Path| {
            std::path::absolute(path).map_err(|source| RunError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        Ok(RunSettings {
            out_dir: absolute(&self.out_dir)?,
            work_dir: absolute(&self.work_dir)?,
            cache_dir: absolute(&self.cache_dir)?,
            ..self.clone()
        })
    }
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
    /// An input error: the run asked for is not there, or is not the one that was run.
    #[error("cannot resume `{dir}`: {error}")]
    Resume { dir: PathBuf, error: ResumeError },
    #[error("cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot remove `{path}`")]
    Remove {
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
    let cannot = |error: ResumeError| RunError::Resume {
        dir: dir.to_path_buf(),
        error,
    };
    crate::report::check_report_files(dir).map_err(|e| cannot(ResumeError::NotAFile(e)))?;
    let earlier = crate::report::read_run_info(dir).map_err(|e| cannot(ResumeError::RunInfo(e)))?;
    let differences = fingerprint_differences(info, &earlier);
    if !differences.is_empty() && !force {
        return Err(cannot(ResumeError::Fingerprint { differences }));
    }
    let events_path = dir.join("events.jsonl");
    let records =
        crate::events::read_events(&events_path).map_err(|e| cannot(ResumeError::Journal(e)))?;
    let finished = finished_missions(&records);
    let next_seq = records.iter().map(|r| r.seq + 1).max().unwrap_or(0);
    let unfinished = unfinished_records(&records, &finished);
    let continued = Continued::plan(dir, info, &earlier, &unfinished, base_path);
    let kept = kept_journal(&records, &finished, &continued.kept_records)
        .map_err(|e| cannot(ResumeError::Encode(e)))?;
    crate::fsutil::write_atomic(&events_path, &kept).map_err(|source| RunError::Io {
        path: events_path.clone(),
        source,
    })?;
    for key in unfinished.keys() {
        remove_what_runs_again(dir, key, continued.replays.get(*key))?;
    }
    info.started_at = earlier.started_at.clone();
    info.resumed_at = earlier.resumed_at.clone();
    info.resumed_at.push(chrono::Utc::now().to_rfc3339());
    Ok(Resumed {
        finished,
        replays: continued.replays,
        next_seq,
    })
}

/// Why a run cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("{0}")]
    RunInfo(ReportError),
    #[error(
        "it was run with another fingerprint (now vs then): {}; pass --force to resume anyway",
        differences.join("; ")
    )]
    Fingerprint { differences: Vec<String> },
    #[error("{0}")]
    Journal(crate::events::ReadEventsError),
    #[error("{0}")]
    NotAFile(crate::fsutil::NotAFile),
    #[error("{0}")]
    Encode(serde_json::Error),
}

/// How the run asked for now differs from the `earlier` one, shard included (now vs then).
fn fingerprint_differences(info: &RunInfo, earlier: &RunInfo) -> Vec<String> {
    let mut differences = info.fingerprint_differences(earlier);
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
    differences
}

/// Mission runs that ended (any status but `interrupted`).
fn finished_missions(records: &[EventRecord]) -> BTreeSet<MissionKey> {
    records
        .iter()
        .filter_map(|r| match (&r.mission, &r.event) {
            (Some(key), Event::MissionFinished { status, .. })
                if *status != MissionStatus::Interrupted =>
            {
                Some(key.clone())
            }
            _ => None,
        })
        .collect()
}

/// The records of each mission run that did not finish.
fn unfinished_records<'a>(
    records: &'a [EventRecord],
    finished: &BTreeSet<MissionKey>,
) -> BTreeMap<&'a MissionKey, Vec<&'a EventRecord>> {
    let mut unfinished: BTreeMap<&MissionKey, Vec<&EventRecord>> = BTreeMap::new();
    for record in records {
        if let Some(key) = record.mission.as_ref().filter(|k| !finished.contains(*k)) {
            unfinished.entry(key).or_default().push(record);
        }
    }
    unfinished
}

/// The interrupted missions that continue from their last checkpoint.
struct Continued<'a> {
    replays: BTreeMap<MissionKey, Replay>,
    /// How many of each continued mission's records the journal keeps (none of the others).
    kept_records: BTreeMap<&'a MissionKey, usize>,
}

impl<'a> Continued<'a> {
    /// A mission continues when it is the same mission as before and its checkpoint repository
    /// holds the workspace of its last checkpoint.
    fn plan(
        dir: &Path,
        info: &RunInfo,
        earlier: &RunInfo,
        unfinished: &BTreeMap<&'a MissionKey, Vec<&EventRecord>>,
        base_path: &str,
    ) -> Continued<'a> {
        let mut continued = Continued {
            replays: BTreeMap::new(),
            kept_records: BTreeMap::new(),
        };
        for (key, own) in unfinished {
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
                continued.kept_records.insert(key, kept);
                continued.replays.insert((*key).clone(), replay);
            }
        }
        continued
    }
}

/// The journal a resumed run continues: every record of the run itself and of finished
/// missions, and the first `kept_records` of each unfinished one.
fn kept_journal(
    records: &[EventRecord],
    finished: &BTreeSet<MissionKey>,
    kept_records: &BTreeMap<&MissionKey, usize>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut kept = Vec::new();
    let mut seen: BTreeMap<&MissionKey, usize> = BTreeMap::new();
    for record in records {
        if let Some(key) = record.mission.as_ref().filter(|k| !finished.contains(*k)) {
            let index = seen.entry(key).or_default();
            *index += 1;
            if *index > kept_records.get(key).copied().unwrap_or(0) {
                continue;
            }
        }
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        kept.extend(line);
    }
    Ok(kept)
}

/// Removes what an unfinished mission will write again: the transcripts of agent runs after
/// its checkpoint (all of them, and its checkpoint repository, when it starts over), and its
/// diff.
fn remove_what_runs_again(
    dir: &Path,
    key: &MissionKey,
    replay: Option<&Replay>,
) -> Result<(), RunError> {
    let transcripts = dir.join("transcripts").join(key.slug());
    match replay {
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
                    remove_stale(&entry.path(), |path| std::fs::remove_file(path))?;
                }
            }
        }
        None => {
            remove_stale(&transcripts, |path| std::fs::remove_dir_all(path))?;
            remove_stale(&checkpoint_repository(dir, key), |path| {
                std::fs::remove_dir_all(path)
            })?;
        }
    }
    let diff = dir.join("diffs").join(format!("{}.patch", key.slug()));
    remove_stale(&diff, |path| std::fs::remove_file(path))
}

/// Removes what an earlier attempt wrote; one that is not there is already gone.
fn remove_stale(path: &Path, remove: fn(&Path) -> std::io::Result<()>) -> Result<(), RunError> {
    match remove(path) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => Err(RunError::Remove {
            path: path.to_path_buf(),
            source,
        }),
        _ => Ok(()),
    }
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
    // Git and commands run with a mission's workspace as their folder: a relative report folder
    // would put the checkpoint repositories inside every workspace.
    let absolute = settings.with_absolute_folders()?;
    let settings = &absolute;
    let suite = linted_suite(&settings.suite_dir)?;
    let prompts = Prompts::for_suite(&settings.suite_dir).map_err(|e| RunError::Spec(e.into()))?;
    let missions = missions_to_run(settings, &suite)?;
    check_pairings(settings)?;
    let mut model_names: Vec<String> = settings
        .pairings
        .iter()
        .flat_map(|p| p.models.values().cloned())
        .collect();
    let replays = load_replays(settings, &mut model_names)?;
    if settings.resume && !replays.is_empty() {
        return Err(RunError::Settings(
            "a counterfactual replay (a pairing with a `replay` model) cannot be resumed; run it again: its served runs call no model".to_string(),
        ));
    }
    let redactor = settings.model_env.redactor();
    let registry = ModelRegistry::load(
        &settings.config,
        model_names.iter().map(String::as_str),
        &settings.model_env,
    )
    .map_err(|e| RunError::Settings(e.to_string()))?;
    let repeats = settings
        .repeats
        .unwrap_or(suite.file.defaults.repeats)
        .max(1);

    let dir = settings.out_dir.join(&settings.run_id);
    std::fs::create_dir_all(&dir).map_err(|source| RunError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut info = run_info(&RunFacts {
        settings,
        suite: &suite,
        prompts: &prompts,
        models: model_records(&registry),
        repeats,
        redactor: &redactor,
        replays: &replays,
    });
    let plan = plan_or_resume(settings, &suite, &missions, repeats, &dir, &mut info)?;
    let sandbox_policy = settings
        .config
        .sandbox
        .enabled
        .then(|| sandbox_policy(&settings.config.sandbox));
    if let Some(policy) = &sandbox_policy {
        let networks = missions.iter().map(|m| m.file.sandbox.network).collect();
        let work_dir = settings.work_dir.join(&settings.run_id);
        info.sandbox = Some(probe_sandbox(
            policy,
            &work_dir,
            &settings.base_path,
            &networks,
        ));
    }
    write_run_info(&dir, &info)?;
    let cpu_at_start = CpuTimes::now();
    let events_path = dir.join("events.jsonl");
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
    let emitter = Emitter::continuing(all_sinks, plan.first_seq);
    emit_run_start(&emitter, plan.runs.len(), &registry);

    let environment = Environments::prepare(
        &suite,
        plan.runs.iter().map(|run| run.mission.as_ref()),
        &settings.cache_dir,
        &settings.setup_env,
        &emitter,
    )
    .await;
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
        replays,
    });
    let planned = plan.runs.len();
    run_all(plan.runs, context, emitter, settings.jobs).await;
    if !settings.keep_workspaces {
        remove_if_empty(&work_dir);
    }
    // Empty once every mission finished (interrupted ones keep theirs for `--resume`).
    remove_if_empty(&dir.join("checkpoints"));
    close_journal(&journal, &events_path)?;

    let tables = write_final_reports(&dir, &settings.run_id, &mut info, cpu_at_start)?;
    Ok(RunReport {
        dir,
        info,
        tables,
        planned,
    })
}

/// The first events of a run: how many mission runs it plans, and the models it loaded.
fn emit_run_start(emitter: &Emitter, mission_runs: usize, registry: &ModelRegistry) {
    emitter.emit(Event::RunPlanned {
        mission_runs: mission_runs as u64,
    });
    for (name, model) in registry.iter() {
        emitter.emit(Event::ModelLoaded {
            name: name.clone(),
            provider: model.backend.info().provider.to_string(),
            stats: model.backend.stats(),
        });
    }
}

/// The missions of the run (`--mission`, else all), with the budget keys of the command line
/// over their own.
fn missions_to_run(
    settings: &RunSettings,
    suite: &Suite,
) -> Result<Vec<Arc<MissionSpec>>, RunError> {
    Ok(select_missions(suite, &settings.missions)?
        .into_iter()
        .map(|mission| {
            if settings.budget == Default::default() {
                return mission;
            }
            let mut mission = (*mission).clone();
            mission.budget = mission.budget.apply(&settings.budget);
            Arc::new(mission)
        })
        .collect())
}

/// There is a pairing to run, and every model each one names is defined.
fn check_pairings(settings: &RunSettings) -> Result<(), RunError> {
    if settings.pairings.is_empty() {
        return Err(RunError::Settings("no pairing to run".to_string()));
    }
    for pairing in &settings.pairings {
        settings
            .config
            .check_pairing(pairing)
            .map_err(RunError::Settings)?;
    }
    Ok(())
}

/// What run.json says of each loaded model.
fn model_records(registry: &ModelRegistry) -> Vec<ModelRecord> {
    registry
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
        .collect()
}

/// What run.json is made from at the start of a run.
struct RunFacts<'a> {
    settings: &'a RunSettings,
    suite: &'a Suite,
    prompts: &'a Prompts,
    models: Vec<ModelRecord>,
    repeats: u32,
    redactor: &'a crate::model::secret::Redactor,
    replays: &'a BTreeMap<String, ReplaySource>,
}

/// run.json as a run starts: no outcome, shard, sandbox or CPU times yet.
fn run_info(facts: &RunFacts) -> RunInfo {
    let RunFacts {
        settings,
        suite,
        prompts,
        ..
    } = facts;
    RunInfo {
        version: RUN_INFO_VERSION,
        run_id: settings.run_id.clone(),
        harness: settings.harness.clone(),
        command_line: settings
            .command_line
            .iter()
            .map(|arg| facts.redactor.redact(arg).into_owned())
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
        models: facts.models.clone(),
        repeats: facts.repeats,
        jobs: settings.jobs,
        seed: Some(settings.seed.unwrap_or(DEFAULT_SEED)),
        budget: crate::spec::suite::budget_override_map(&settings.budget),
        environment_hash: super::env::suite_environment_hash(suite),
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
        replays: facts
            .replays
            .iter()
            .map(|(model, source)| crate::report::ReplayInfo {
                model: model.clone(),
                recording: source.recording.run_id.clone(),
                report: source.recording.dir.display().to_string(),
                pairing: source.pairing.clone(),
                on_divergence: source.mode.as_str().to_string(),
            })
            .collect(),
    }
}

/// A pairing's replayed roles make one replay: one replay model, and the subagent replayed only
/// with its orchestrator (a subagent's runs belong to its orchestrator's).
fn check_replayed_roles(settings: &RunSettings, pairing: &Pairing) -> Result<(), RunError> {
    let replayed: BTreeMap<Role, &str> = pairing
        .models
        .iter()
        .filter(|(_, model)| {
            settings
                .config
                .models
                .get(model.as_str())
                .is_some_and(|c| c.provider == crate::spec::Provider::Replay)
        })
        .map(|(role, model)| (*role, model.as_str()))
        .collect();
    let models: BTreeSet<&str> = replayed.values().copied().collect();
    if models.len() > 1 {
        return Err(RunError::Settings(format!(
            "pairing `{}` binds roles to several replay models ({}); one replay serves a mission",
            pairing.name,
            models.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    if replayed.contains_key(&Role::Subagent) && !replayed.contains_key(&Role::Orchestrator) {
        return Err(RunError::Settings(format!(
            "pairing `{}` replays the subagent but runs the orchestrator live: a subagent's runs belong to its orchestrator's, so replay both or neither",
            pairing.name
        )));
    }
    Ok(())
}

/// The `replay` models the pairings use, each with its recording read; in `live` mode the
/// recorded models of the roles it serves are added to `model_names` (they run the rest of a
/// mission that left its record).
fn load_replays(
    settings: &RunSettings,
    model_names: &mut Vec<String>,
) -> Result<BTreeMap<String, ReplaySource>, RunError> {
    let mut replays: BTreeMap<String, ReplaySource> = BTreeMap::new();
    // Each recording is read once, however many replay models serve from it.
    let mut recordings: BTreeMap<String, Arc<Recording>> = BTreeMap::new();
    for pairing in &settings.pairings {
        check_replayed_roles(settings, pairing)?;
        for (role, name) in &pairing.models {
            let Some(config) = settings.config.models.get(name) else {
                continue;
            };
            if config.provider != crate::spec::Provider::Replay {
                continue;
            }
            if !replays.contains_key(name) {
                let report = config.report.clone().unwrap_or_default();
                let recording = match recordings.get(&report) {
                    Some(recording) => recording.clone(),
                    None => {
                        let recording =
                            Arc::new(Recording::load(Path::new(&report)).map_err(|e| {
                                RunError::Settings(format!("replay model `{name}`: {e}"))
                            })?);
                        recordings.insert(report.clone(), recording.clone());
                        recording
                    }
                };
                let mode = config
                    .on_divergence
                    .as_deref()
                    .and_then(DivergenceMode::parse)
                    .unwrap_or_default();
                replays.insert(
                    name.clone(),
                    ReplaySource {
                        recording,
                        pairing: config.pairing.clone(),
                        mode,
                    },
                );
            }
            let source = &replays[name];
            if source.mode != DivergenceMode::Live {
                continue;
            }
            let recorded = source
                .recorded_pairing(&pairing.name)
                .map_err(|e| RunError::Settings(format!("replay model `{name}`: {e}")))?;
            let pairings = source.recording.pairings();
            let Some(model) = pairings.get(&recorded).and_then(|m| m.get(role)) else {
                return Err(RunError::Settings(format!(
                    "replay model `{name}`: the recording {} has no pairing `{recorded}`",
                    source.recording.run_id
                )));
            };
            if !settings.config.models.contains_key(&model.name) {
                return Err(RunError::Settings(format!(
                    "replay model `{name}` goes on live after a divergence, on the recorded model of each role it serves; `{}` ({role} of pairing `{recorded}`) is not defined under [models]",
                    model.name
                )));
            }
            model_names.push(model.name.clone());
        }
    }
    Ok(replays)
}

/// The mission runs still to run, and the sequence number the journal continues from.
struct Plan {
    runs: Vec<MissionRun>,
    first_seq: u64,
}

/// Plans the mission runs, keeps the shard's (recorded in `info`), and, when resuming, drops
/// those that finished and continues interrupted ones from their checkpoints.
fn plan_or_resume(
    settings: &RunSettings,
    suite: &Suite,
    missions: &[Arc<MissionSpec>],
    repeats: u32,
    dir: &Path,
    info: &mut RunInfo,
) -> Result<Plan, RunError> {
    let mut runs = plan_runs(suite, missions, &settings.pairings, repeats);
    if let Some((index, count)) = settings.shard {
        let all = runs.len();
        runs = shard(runs, index, count);
        info.shard = Some(crate::report::ShardInfo {
            index,
            count,
            planned: all as u64,
        });
    }
    let mut first_seq = 0;
    if settings.resume {
        let mut resumed = resume(dir, info, settings.force, &settings.base_path)?;
        runs.retain(|run| !resumed.finished.contains(&run.key));
        for run in &mut runs {
            run.replay = resumed.replays.remove(&run.key).map(Arc::new);
        }
        first_seq = resumed.next_seq;
    }
    Ok(Plan { runs, first_seq })
}

/// Removes a folder of the run when it is empty.
fn remove_if_empty(dir: &Path) {
    // A folder that still holds something (kept workspaces, interrupted missions' checkpoints)
    // is meant to stay, and one left behind loses nothing: no failure here is an error.
    let _ = std::fs::remove_dir(dir);
}

/// The journal's first write error, if any, else its sync to disk.
fn close_journal(journal: &JsonlSink, events_path: &Path) -> Result<(), RunError> {
    if let Some(error) = journal.take_error() {
        return Err(RunError::Io {
            path: events_path.to_path_buf(),
            source: error,
        });
    }
    journal.sync().map_err(|source| RunError::Write {
        path: events_path.to_path_buf(),
        source,
    })
}

/// Writes the tables from the journal, and run.json with the outcome and the CPU times.
fn write_final_reports(
    dir: &Path,
    run_id: &str,
    info: &mut RunInfo,
    cpu_at_start: CpuTimes,
) -> Result<Tables, RunError> {
    let tables = write_tables_from_events(dir, run_id)?;
    for row in &tables.missions {
        *info.outcome.entry(row.status.clone()).or_default() += 1;
    }
    info.finished_at = Some(chrono::Utc::now().to_rfc3339());
    let cpu_at_end = CpuTimes::now();
    info.harness_cpu_s = Some(cpu_at_end.harness_s - cpu_at_start.harness_s);
    info.commands_cpu_s = Some(cpu_at_end.commands_s - cpu_at_start.commands_s);
    write_run_info(dir, info)?;
    Ok(tables)
}

/// CPU seconds used so far by the harness and by the commands it ran.
#[derive(Debug, Clone, Copy)]
struct CpuTimes {
    harness_s: f64,
    commands_s: f64,
}

impl CpuTimes {
    fn now() -> CpuTimes {
        CpuTimes {
            harness_s: cpu_seconds(libc::RUSAGE_SELF),
            commands_s: cpu_seconds(libc::RUSAGE_CHILDREN),
        }
    }
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

//! Command-line flags (clap). Nothing below `cli` sees these types: `cli::resolve` turns them
//! into library settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "missions-bench",
    version,
    about = "Benchmark which model should play which role in autonomous multi-agent software missions",
    long_about = "Runs suites of software missions (orchestrator plans, workers implement test-first, validators judge, \
findings become fixes) with a model bound to each role, checks the result against hidden acceptance tests, and \
writes runs, tokens, rounds-to-pass, coverage and ground truth into Parquet reports.\n\n\
Exit codes: 0 done; 1 suite lint found problems, suite check found invalid missions, or check found a regression; 2 bad usage \
or input; 3 run finished with infrastructure errors; 4 harness failure; 130 interrupted (Ctrl-C)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the missions of a suite and write a report folder.
    Run(Box<RunArgs>),
    /// Work with suites.
    #[command(subcommand)]
    Suite(SuiteCommand),
    /// Compare pairings across one or more report folders.
    Compare(CompareArgs),
    /// Work with the models of the config.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Show which protections agent commands get on this machine, and try one command inside.
    Sandbox(SandboxArgs),
    /// Gate CI: compare a run with a baseline run and fail on regressions.
    Check(GateArgs),
    /// Put the shards of a run back together into one report folder.
    Merge(MergeArgs),
    /// Write a self-contained HTML report with charts for one or more report folders.
    Report(ReportArgs),
    /// Turn other benchmarks' tasks into a suite.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Write a report folder's agent runs in other formats.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Browse report folders in a local, read-only web UI: runs, mission runs, rounds, agent
    /// runs, turns, diffs, evidence and search (served on 127.0.0.1 only).
    View(ViewArgs),
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// One ATIF v1.7 trajectory (Harbor's Agent Trajectory Interchange Format) per agent run:
    /// <out>/<mission>.<pairing>.r<repeat>/<NNN>-<role>/trajectory.json.
    Atif(AtifArgs),
}

#[derive(Debug, Args)]
pub struct AtifArgs {
    /// The report folder (reports/<run-id>).
    pub report: PathBuf,
    /// The folder to write the trajectories into.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Exercism practice exercises (a track checkout, e.g. exercism/python) as one-milestone
    /// missions: instructions become the goal, the stub the workspace (with the tests, visible),
    /// the tests the hidden acceptance, the example the oracle's solution.
    Exercism(ExercismArgs),
    /// Harbor / Terminal-Bench 2 task folders as missions: instruction.md becomes the goal,
    /// tests/test.sh and its reward file the acceptance, solution/solve.sh the oracle's
    /// solution, task.toml's timeouts the budgets. Tasks that need a Docker image or system
    /// packages are written to <out>/needs-environment/, a suite of their own.
    Harbor(HarborArgs),
}

#[derive(Debug, Args)]
pub struct ExercismArgs {
    /// The track folder (config.json, exercises/practice/).
    pub track: PathBuf,
    /// The suite folder to write (new or empty), e.g. suites/exercism-python.
    #[arg(long)]
    pub out: PathBuf,
    /// Only these exercises, by slug (comma-separated, repeatable) [default: every practice
    /// exercise that can be imported].
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// The upstream revision the track folder holds (a commit), recorded in NOTICE.md.
    #[arg(long)]
    pub revision: Option<String>,
}

#[derive(Debug, Args)]
pub struct HarborArgs {
    /// Task folders (task.toml, instruction.md, tests/test.sh, solution/solve.sh).
    #[arg(required = true)]
    pub tasks: Vec<PathBuf>,
    /// The suite folder to write (new or empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Where the tasks come from (repository and commit), recorded in each NOTICE.md.
    #[arg(long)]
    pub origin: Option<String>,
}

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Report folders (reports/<run-id>).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// The port on 127.0.0.1 to serve on (0: any free port).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// Write the pages into this folder instead of serving them (open its index.html; search
    /// needs the server).
    #[arg(long = "static", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Report folders (reports/<run-id>).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(long)]
    pub html: PathBuf,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The report folder to check (reports/<run-id>).
    pub report: PathBuf,
    /// The baseline report folder.
    #[arg(long)]
    pub baseline: PathBuf,
    /// MEASURE=AMOUNT: fail when the measure drops by more (0.05 absolute, or 10% of the
    /// baseline). Measures: pass_rate, acceptance, tokens, cost, wall, rounds. Repeatable.
    #[arg(long = "max-drop", value_name = "MEASURE=AMOUNT")]
    pub max_drop: Vec<String>,
    /// MEASURE=AMOUNT: fail when the measure rises by more. Repeatable.
    #[arg(long = "max-rise", value_name = "MEASURE=AMOUNT")]
    pub max_rise: Vec<String>,
    /// Write each mission run as a JUnit test case to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Check a counterfactual replay (run --replay) against a live baseline, or the reverse;
    /// refused otherwise.
    #[arg(long)]
    pub allow_replay: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Config file whose [sandbox] limits to use [default: ./missions-bench.toml if present, else
    /// the embedded default].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Network access to show: `none` or `loopback`.
    #[arg(long, default_value = "none")]
    pub network: String,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Load a local model and measure it: load time, memory, prefill and decode tokens/s.
    Probe(ProbeArgs),
    /// Ask local models a worker's first turn many times, with and without constrained tool
    /// calls, and count schema-valid, invalid, malformed and missing calls.
    Calls(CallsArgs),
}

#[derive(Debug, Args)]
pub struct CallsArgs {
    /// The models' names under [models] in the config (local models).
    #[arg(required = true)]
    pub models: Vec<String>,
    /// Config file [default: ./missions-bench.toml if present, else the embedded default].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The mission whose reference contract gives the features (its folder).
    #[arg(long, default_value = "suites/core/wordfreq")]
    pub mission: PathBuf,
    /// Replies per feature and mode.
    #[arg(long, default_value_t = 5)]
    pub samples: usize,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The model's name under [models] in the config.
    pub model: String,
    /// Config file [default: ./missions-bench.toml if present, else the embedded default].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Prompt length to prefill, in tokens.
    #[arg(long, default_value_t = 256)]
    pub prompt_tokens: usize,
    /// Tokens to decode, one at a time.
    #[arg(long, default_value_t = 64)]
    pub decode_tokens: usize,
    /// Tokens already in the cache when each measurement starts (as llama-bench's `-d`).
    #[arg(long, value_delimiter = ',', default_values_t = [0usize, 3000])]
    pub depth: Vec<usize>,
}

#[derive(Debug, Subcommand)]
pub enum SuiteCommand {
    /// Prove every mission valid: the oracle passes every milestone in round 1 and every
    /// acceptance test; nop fails acceptance. The suite is linted first.
    Check(CheckArgs),
    /// Validate a suite without running a model, a command or a test: every file against the
    /// format, each hidden test against the milestone patterns, each assertion against what
    /// its verifier needs, answers, solutions, and folders without mission.toml. Exit 0 clean,
    /// 1 with findings, 2 when the suite cannot be read.
    Lint(LintArgs),
    /// Write a commented mission skeleton into a suite (and the suite, when the folder has no
    /// suite.toml). It lints clean; `suite check` refuses it until every `FILL IN:` is written.
    New(NewArgs),
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The suite folder (with suite.toml), e.g. suites/core.
    pub suite: PathBuf,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The suite folder; created with a suite.toml when it has none.
    pub suite: PathBuf,
    /// The mission's id, which is also its folder's name.
    pub id: String,
    #[arg(long, value_enum, default_value_t = NewLanguage::Python)]
    pub language: NewLanguage,
    #[arg(long, value_enum, default_value_t = NewDifficulty::Small)]
    pub difficulty: NewDifficulty,
}

/// `suite new --language`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NewLanguage {
    Python,
    Javascript,
    Rust,
}

/// `suite new --difficulty`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NewDifficulty {
    Micro,
    Small,
    Medium,
    Large,
}

/// Folders and environment shared by `run` and `suite check`.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Missions run in parallel.
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Folder the report folder `<run-id>/` is written into.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Folder for mission workspaces [default: <system temp>/missions-bench/work].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Folder for cached suite environments [default: $XDG_CACHE_HOME/missions-bench or ~/.cache/missions-bench].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Keep each mission's workspace after it ends (it is deleted otherwise; the final diff and the checkpoint of each finished agent run are always kept in the report).
    #[arg(long)]
    pub keep_workspaces: bool,
    /// Print no progress, only the result.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The suite folder (with suite.toml), e.g. suites/core.
    pub suite: PathBuf,
    /// Run only this mission (repeatable).
    #[arg(long = "mission", short = 'm', value_name = "ID")]
    pub missions: Vec<String>,
    /// Pairing to run, by name from the config, or a model name for that model in every role (repeatable) [default: the config's default_pairing].
    #[arg(long = "pairing", short = 'p', value_name = "NAME")]
    pub pairings: Vec<String>,
    /// Bind a role to a model on top of each pairing: orchestrator, worker, validator (both validator roles), scrutiny, user_testing, subagent (repeatable). A list (`worker=a,b`) sweeps: every combination of the lists is run on top of each pairing.
    #[arg(long = "role", short = 'r', value_name = "ROLE=MODEL[,MODEL...]")]
    pub roles: Vec<String>,
    /// Runs of each mission per pairing [default: the suite's defaults.repeats].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeats: Option<u32>,
    /// Run only slice I of N (1-based) of the planned mission runs, e.g. `--shard 2/4`; put the
    /// slices back together with `missions-bench merge`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
    /// Continue an interrupted run (reports/<run-id>) with the same suite and flags: missions
    /// that finished are kept, an unfinished one continues after its last finished agent run.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// With --resume: continue even if the suite, prompts, config or harness changed.
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// Config file with models and pairings [default: ./missions-bench.toml if present, else the embedded default].
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The run's seed [default: 0]. Each agent run's sampling seed is derived from it and the
    /// run's place (pairing, mission, repeat, agent run number), so the same command gives the
    /// same tokens with any --jobs and after --resume (which must be given the same seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override a budget of every mission, e.g. `--budget max_turns=20 --budget max_rounds=2`
    /// (keys as in suite.toml's [defaults.budget]); recorded in run.json and its fingerprint.
    #[arg(long = "budget", value_name = "KEY=VALUE")]
    pub budget: Vec<String>,
    /// Counterfactual replay of a recorded run (reports/<run-id>): every role not named by
    /// --live is served from the record (its replies, tool calls, tool results and workspace),
    /// for each of its pairings, missions and repeats.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["pairings", "roles", "resume"])]
    pub replay: Option<PathBuf>,
    /// With --replay: run this role live on this model (repeatable): orchestrator (its subagent
    /// too), worker, validator (both validator roles), scrutiny, user_testing.
    #[arg(long = "live", value_name = "ROLE=MODEL", requires = "replay")]
    pub live: Vec<String>,
    /// With --replay: what a mission does once it leaves its record: halt there, or go on live
    /// with the recorded pairing's own models.
    #[arg(long, value_enum, default_value_t = OnDivergence::Halt, requires = "replay")]
    pub on_divergence: OnDivergence,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `run --on-divergence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnDivergence {
    Halt,
    Live,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The suite folder (with suite.toml).
    pub suite: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// Markdown tables, for a pull-request comment.
    Markdown,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Report folders (reports/<run-id>).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The pairing the others are compared with, run by run [default: the first by name].
    #[arg(long)]
    pub baseline: Option<String>,
    /// Also break every measure down by the missions' difficulty or language (repeatable).
    #[arg(long, value_enum)]
    pub by: Vec<By>,
}

/// What `compare --by` groups missions by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Difficulty,
    Language,
}

/// `I/N` with 1 <= I <= N.
fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}`: expected I/N, e.g. 2/4"))?;
    let i: u32 = i
        .trim()
        .parse()
        .map_err(|_| format!("`{i}` is not a number"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a number"))?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("`{text}`: I must be between 1 and N"));
    }
    Ok((i, n))
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Report folders of the shards of one run (`run --shard I/N`), every I from 1 to N.
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Where the merged report folder `<run-id>/` is created.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
}

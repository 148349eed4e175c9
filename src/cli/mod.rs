//! The command line: parse flags, resolve them with the environment into library settings, run,
//! print, and pick the exit code. The only module that prints or reads environment variables.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod exit;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use crate::events::EventSink;
use crate::mission::{check_suite, run_suite, RunError, RunSettings};
use crate::report::compare::{
    breakdown, compare, mission_table, render_breakdown, render_breakdown_markdown, render_compare,
    skipped_paths, Dimension, Group,
};
use crate::report::{read_tables, HarnessInfo};
use crate::spec::config::Config;
use args::{Cli, Command, CommonArgs, Format, ImportCommand, ModelsCommand, SuiteCommand};

/// Variables setup commands may see: what installers need, no credentials of models.
const SETUP_ENV_NAMES: [&str; 9] = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
];
const SETUP_ENV_PREFIXES: [&str; 3] = ["PIP_", "PYENV", "UV_"];
const SETUP_ENV_PROXIES: [&str; 6] = [
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
];

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // candle sizes its matmul threads on every call and, without this variable, reads
    // /proc/cpuinfo each time to do so (a tenth of a small model's decode time). Set before
    // any thread starts.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cores = crate::model::local::kernels::physical_cores();
        std::env::set_var("RAYON_NUM_THREADS", cores.to_string());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::code(exit::HARNESS_ERROR);
        }
    };
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Run(args) => run(*args).await,
        Command::Suite(SuiteCommand::Check(args)) => suite_check(args).await,
        Command::Suite(SuiteCommand::Lint(args)) => suite_lint(args),
        Command::Suite(SuiteCommand::New(args)) => suite_new(args),
        Command::Compare(args) => compare_reports(args),
        Command::Models(ModelsCommand::Probe(args)) => probe(args).await,
        Command::Models(ModelsCommand::Calls(args)) => calls(args).await,
        Command::Sandbox(args) => sandbox(args).await,
        Command::Check(args) => check_regressions(args),
        Command::Merge(args) => merge_shards(args),
        Command::Report(args) => html_report(args),
        Command::Import(ImportCommand::Exercism(args)) => import_exercism(args),
        Command::Import(ImportCommand::Harbor(args)) => import_harbor(args),
        Command::Export(args::ExportCommand::Atif(args)) => export_atif(args),
        Command::View(args) => view(args).await,
    }
}

fn harness_info() -> HarnessInfo {
    HarnessInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: env!("MISSIONS_BENCH_GIT_COMMIT").to_string(),
    }
}

fn new_run_id(prefix: &str) -> String {
    let now = chrono::Utc::now();
    let nanos = now.timestamp_subsec_nanos();
    let salt = (u64::from(nanos) ^ u64::from(std::process::id()).rotate_left(20)) & 0xffff;
    format!("{prefix}{}-{salt:04x}", now.format("%Y%m%d-%H%M%S"))
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn cache_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    if let Some(xdg) = env_var("XDG_CACHE_HOME") {
        return PathBuf::from(xdg).join("missions-bench");
    }
    match env_var("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("missions-bench"),
        None => std::env::temp_dir().join("missions-bench-cache"),
    }
}

fn setup_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(name, _)| {
            SETUP_ENV_NAMES.contains(&name.as_str())
                || SETUP_ENV_PROXIES.contains(&name.as_str())
                || SETUP_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
        })
        .collect()
}

fn base_settings(
    common: &CommonArgs,
    suite: &Path,
    config: Config,
    run_id: String,
    seed: Option<u64>,
) -> RunSettings {
    let model_env = model_env(&config);
    RunSettings {
        budget: Default::default(),
        model_env,
        suite_dir: suite.to_path_buf(),
        config,
        pairings: Vec::new(),
        missions: Vec::new(),
        repeats: None,
        jobs: usize::from(common.jobs),
        out_dir: common.out.clone(),
        run_id,
        work_dir: common
            .work_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("missions-bench").join("work")),
        cache_dir: cache_dir(common.cache_dir.as_deref()),
        setup_env: setup_env(),
        base_path: env_var("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_string()),
        keep_workspaces: common.keep_workspaces,
        command_line: std::env::args().collect(),
        harness: harness_info(),
        seed,
        shard: None,
        stop: Default::default(),
        resume: false,
        force: false,
    }
}

/// The keys the config's remote models name in `api_key_env` (those that are set), and the
/// proxy for their requests.
fn model_env(config: &Config) -> crate::model::ModelEnv {
    let mut secrets = crate::model::secret::Secrets::new();
    for model in config.models.values() {
        if let Some(var) = &model.api_key_env {
            if let Some(value) = env_var(var) {
                secrets.insert(var.clone(), crate::model::secret::Secret::new(value));
            }
        }
    }
    let first = |names: &[&str]| names.iter().find_map(|name| env_var(name));
    crate::model::ModelEnv {
        secrets,
        proxy: crate::model::remote::ProxySettings {
            proxy: first(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            no_proxy: first(&["NO_PROXY", "no_proxy"]),
        },
    }
}

/// The config, or the input-error exit after saying why.
fn config_or_exit(flag: Option<&Path>) -> Result<Config, ExitCode> {
    load_config(flag).map_err(|message| {
        eprintln!("error: {message}");
        exit::code(exit::INPUT_ERROR)
    })
}

fn load_config(flag: Option<&Path>) -> Result<Config, String> {
    let path = match flag {
        Some(path) => path.to_path_buf(),
        None if Path::new("missions-bench.toml").is_file() => PathBuf::from("missions-bench.toml"),
        None => return Config::default_config().map_err(|e| e.to_string()),
    };
    let source = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: cannot read config: {e}", path.display()))?;
    let mut config = Config::parse(&path, &source).map_err(|e| e.to_string())?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for model in config.models.values_mut() {
        for field in [
            &mut model.path,
            &mut model.tokenizer,
            &mut model.chat_template,
        ] {
            if let Some(value) = field.as_mut() {
                *value = resolve_model_path(value, &base);
            }
        }
    }
    Ok(config)
}

/// `~/` is the user's home; a relative path is relative to the config file's folder.
fn resolve_model_path(value: &str, base: &Path) -> String {
    if let Some(rest) = value.strip_prefix("~/") {
        return match env_var("HOME") {
            Some(home) => PathBuf::from(home).join(rest).display().to_string(),
            None => value.to_string(),
        };
    }
    let path = Path::new(value);
    if path.is_relative() {
        return base.join(path).display().to_string();
    }
    value.to_string()
}

/// A report folder's tables and run.json; the error names the folder.
fn load_report(dir: &Path) -> Result<(crate::metrics::Tables, crate::report::RunInfo), String> {
    let tables = read_tables(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let info = crate::report::read_run_info(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok((tables, info))
}

fn import_exercism(args: args::ExercismArgs) -> ExitCode {
    let request = crate::import::exercism::ExercismImport {
        track: args.track,
        out: args.out,
        only: args.only,
        revision: args.revision,
    };
    print_import(crate::import::exercism::import_exercism(&request))
}

fn import_harbor(args: args::HarborArgs) -> ExitCode {
    let request = crate::import::harbor::HarborImport {
        tasks: args.tasks,
        out: args.out,
        origin: args.origin,
    };
    print_import(crate::import::harbor::import_harbor(&request))
}

fn print_import(
    result: Result<crate::import::ImportReport, crate::import::ImportError>,
) -> ExitCode {
    use crate::import::ImportError;
    let report = match result {
        Ok(report) => report,
        Err(error @ (ImportError::Write { .. } | ImportError::Invalid { .. })) => {
            eprintln!("error: {error}");
            return exit::code(exit::HARNESS_ERROR);
        }
        Err(error) => {
            eprintln!("error: {error}");
            return exit::code(exit::INPUT_ERROR);
        }
    };
    if let Some(dir) = &report.suite_dir {
        println!(
            "imported {} mission(s) into {}: {}",
            report.missions.len(),
            dir.display(),
            report.missions.join(", ")
        );
    }
    if let Some(dir) = &report.set_aside_dir {
        println!(
            "set aside {} mission(s) that need an environment this harness does not build, in {}:",
            report.set_aside.len(),
            dir.display()
        );
        for set_aside in &report.set_aside {
            println!(
                "  {}: needs {}",
                set_aside.mission,
                set_aside.needs.join("; ")
            );
        }
    }
    if !report.skipped.is_empty() {
        println!("skipped {}:", report.skipped.len());
        for skipped in &report.skipped {
            println!("  {skipped}");
        }
    }
    if !report.notes.is_empty() {
        println!("notes:");
        for (mission, note) in &report.notes {
            println!("  {mission}: {note}");
        }
    }
    if let Some(dir) = &report.suite_dir {
        println!("next: missions-bench suite check {}", dir.display());
    }
    exit::code(exit::OK)
}

fn export_atif(args: args::AtifArgs) -> ExitCode {
    match crate::report::atif::export_atif(&args.report, &args.out) {
        Ok(export) => {
            println!(
                "exported {} agent run(s) of {} mission run(s) as {} trajectories to {}",
                export.trajectories.len(),
                export.mission_runs(),
                crate::report::atif::schema::SCHEMA_VERSION,
                args.out.display()
            );
            if !export.skipped.is_empty() {
                println!("skipped {}:", export.skipped.len());
                for skipped in &export.skipped {
                    println!("  {skipped}");
                }
            }
            exit::code(exit::OK)
        }
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            exit::code(if error.is_input() {
                exit::INPUT_ERROR
            } else {
                exit::HARNESS_ERROR
            })
        }
    }
}

fn html_report(args: args::ReportArgs) -> ExitCode {
    let mut tables = Vec::new();
    let mut ids = Vec::new();
    for dir in &args.reports {
        match load_report(dir) {
            Ok((table, info)) => {
                tables.push(table);
                ids.push(info.run_id);
            }
            Err(message) => {
                eprintln!("error: {message}");
                return exit::code(exit::INPUT_ERROR);
            }
        }
    }
    let title = format!("missions-bench: {}", ids.join(", "));
    let html = crate::report::html::render(&tables, &args.reports, &args.html, &title);
    if let Err(e) = crate::fsutil::write_atomic(&args.html, html.as_bytes()) {
        eprintln!("error: cannot write `{}`: {e}", args.html.display());
        return exit::code(exit::HARNESS_ERROR);
    }
    println!("wrote {}", args.html.display());
    exit::code(exit::OK)
}

/// `view`: the report folders served on 127.0.0.1 until Ctrl-C, or written with `--static`.
async fn view(args: args::ViewArgs) -> ExitCode {
    fn error_chain(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }
    let started = std::time::Instant::now();
    let viewer = match crate::view::Viewer::open(&args.reports) {
        Ok(viewer) => viewer,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return exit::code(exit::INPUT_ERROR);
        }
    };
    for run in viewer.runs() {
        for damaged in &run.damaged {
            eprintln!("warning: {damaged}");
        }
        if run.damaged_unlisted > 0 {
            eprintln!(
                "warning: and {} more damaged lines of `{}`",
                run.damaged_unlisted,
                run.journal.display()
            );
        }
    }
    if let Some(dir) = &args.static_dir {
        return match crate::view::write_static(&viewer, dir) {
            Ok(site) => {
                for why in &site.missing {
                    eprintln!("warning: {why}");
                }
                println!(
                    "wrote {} pages and {} report files to {} (open {}; search needs the server)",
                    site.pages,
                    site.files,
                    dir.display(),
                    dir.join("index.html").display()
                );
                exit::code(exit::OK)
            }
            Err(e) => {
                eprintln!("error: {}", error_chain(&e));
                exit::code(exit::HARNESS_ERROR)
            }
        };
    }
    let listener = match crate::view::server::bind(args.port).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return exit::code(exit::INPUT_ERROR);
        }
    };
    match listener.local_addr() {
        Ok(address) => println!(
            "serving {} report folder(s) at http://{address}/ (indexed in {:.0} ms; Ctrl-C stops)",
            viewer.runs().len(),
            started.elapsed().as_secs_f64() * 1000.0
        ),
        Err(e) => {
            eprintln!("error: cannot read the listener's address: {e}");
            return exit::code(exit::HARNESS_ERROR);
        }
    }
    tokio::select! {
        () = crate::view::server::serve(listener, std::sync::Arc::new(viewer)) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    exit::code(exit::OK)
}

fn merge_shards(args: args::MergeArgs) -> ExitCode {
    match crate::report::merge::merge(&args.reports, &args.out) {
        Ok(merged) => {
            print!("{}", mission_table(&merged.tables.missions));
            println!("\nreport: {}", merged.dir.display());
            exit::code(exit::OK)
        }
        Err(crate::report::merge::MergeError::Report(e)) if !e.is_input() => {
            eprintln!("error: {e}");
            exit::code(exit::HARNESS_ERROR)
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::code(exit::INPUT_ERROR)
        }
    }
}

fn check_regressions(args: args::GateArgs) -> ExitCode {
    use crate::report::gate::{check, junit, Threshold};
    let mut thresholds = Vec::new();
    for (texts, drop) in [(&args.max_drop, true), (&args.max_rise, false)] {
        for text in texts {
            match Threshold::parse(text, drop) {
                Ok(t) => thresholds.push(t),
                Err(message) => {
                    let flag = if drop { "--max-drop" } else { "--max-rise" };
                    eprintln!("error: {flag} {message}");
                    return exit::code(exit::INPUT_ERROR);
                }
            }
        }
    }
    if thresholds.is_empty() {
        eprintln!(
            "error: give at least one --max-drop or --max-rise, e.g. --max-drop pass_rate=0.05"
        );
        return exit::code(exit::INPUT_ERROR);
    }
    let loaded = load_report(&args.report)
        .and_then(|current| load_report(&args.baseline).map(|baseline| (current, baseline)));
    let ((current, current_info), (baseline, baseline_info)) = match loaded {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::code(exit::INPUT_ERROR);
        }
    };
    if let Some(mix) = crate::report::gate::replay_mix(&current_info, &baseline_info) {
        if !args.allow_replay {
            eprintln!("error: {mix}");
            return exit::code(exit::INPUT_ERROR);
        }
    }
    let report = check(
        &current,
        &current_info,
        &baseline,
        &baseline_info,
        &thresholds,
    );
    if let Some(path) = &args.junit {
        if let Err(e) = crate::fsutil::write_atomic(path, junit(&current, &baseline).as_bytes()) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return exit::code(exit::HARNESS_ERROR);
        }
    }
    match args.format {
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::code(exit::HARNESS_ERROR);
            }
        },
        Format::Table | Format::Markdown => {
            let markdown = args.format == Format::Markdown;
            for finding in &report.findings {
                let verdict = if finding.regressed { "REGRESSED" } else { "ok" };
                let line = format!(
                    "{verdict}: {} {}: {:.4} -> {:.4} ({:+.4}, allowed {} {:.4}); {}",
                    finding.pairing,
                    finding.measure.as_str(),
                    finding.baseline,
                    finding.current,
                    finding.change,
                    if finding.drop { "drop" } else { "rise" },
                    finding.allowed,
                    finding.evidence
                );
                if markdown {
                    println!("- {line}");
                } else {
                    println!("{line}");
                }
            }
            println!(
                "{} mission runs compared; {} left out",
                report.compared,
                report.excluded.len()
            );
            for why in &report.excluded {
                println!("  left out: {why}");
            }
        }
    }
    if report.compared == 0 {
        eprintln!("error: no mission run of the report matches the baseline's fingerprint");
        return exit::code(exit::INPUT_ERROR);
    }
    if report.regressed() {
        return exit::code(exit::CHECK_FAILED);
    }
    exit::code(exit::OK)
}

async fn sandbox(args: args::SandboxArgs) -> ExitCode {
    use crate::tools::sandbox::Network;
    let config = match config_or_exit(args.config.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let network = match args.network.as_str() {
        "none" => Network::None,
        "loopback" => Network::Loopback,
        other => {
            eprintln!("error: --network `{other}`: use `none` or `loopback`");
            return exit::code(exit::INPUT_ERROR);
        }
    };
    if !config.sandbox.enabled {
        println!("[sandbox] enabled = false: commands get a session, a cleared environment, a timeout and an output cap only");
        return exit::code(exit::OK);
    }
    let dir = std::env::temp_dir().join(format!("missions-bench-sandbox-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create `{}`: {e}", dir.display());
        return exit::code(exit::HARNESS_ERROR);
    }
    let code = sandbox_report(&config, network, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    code
}

async fn sandbox_report(
    config: &crate::spec::config::Config,
    network: crate::tools::sandbox::Network,
    dir: &std::path::Path,
) -> ExitCode {
    use crate::tools::sandbox::{Sandbox, SandboxPaths};
    let mut policy = crate::mission::suite_run::sandbox_policy(&config.sandbox);
    policy.network = network;
    let path = env_var("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_string());
    let paths = SandboxPaths {
        writable: vec![dir.to_path_buf()],
        read_only: Vec::new(),
        counted: Vec::new(),
        read: Vec::new(),
        path_var: path.clone(),
    };
    let sandbox = match Sandbox::new(policy, &paths) {
        Ok(sandbox) => std::sync::Arc::new(sandbox),
        Err(e) => {
            eprintln!("error: cannot set up the sandbox: {e}");
            return exit::code(exit::HARNESS_ERROR);
        }
    };
    for p in sandbox.protections() {
        println!(
            "{:<12} {:<4} {}",
            p.name,
            if p.active { "on" } else { "off" },
            p.how
        );
    }
    let env = crate::tools::CommandEnv {
        vars: vec![("PATH".to_string(), path.clone())],
        timeout: std::time::Duration::from_secs(10),
        max_output_bytes: 4096,
        sandbox: Some(sandbox),
        stop: None,
    };
    match crate::tools::run_shell("echo ok > probe.txt && cat probe.txt", dir, &env).await {
        Ok(output) if output.success() => {
            println!("a command ran inside: {}", output.stdout.trim());
            report_browser(&path, dir, env).await;
            exit::code(exit::OK)
        }
        Ok(output) => {
            eprintln!(
                "error: a trivial command failed inside the sandbox:\n{}",
                output.observation()
            );
            exit::code(exit::HARNESS_ERROR)
        }
        Err(e) => {
            eprintln!("error: cannot start a command inside the sandbox: {e}");
            exit::code(exit::HARNESS_ERROR)
        }
    }
}

/// Whether a browser is available to missions with `[browser]`, and whether it starts inside the
/// sandbox.
async fn report_browser(path: &str, dir: &std::path::Path, env: crate::tools::CommandEnv) {
    use crate::tools::browser::{find_program, Browser, BrowserLaunch, PROGRAMS};
    let Some(program) = find_program(path) else {
        println!(
            "browser: none ({} not on PATH): missions with [browser] end as infrastructure errors; install the distribution's `chromium` package",
            PROGRAMS.join(", ")
        );
        return;
    };
    // Chromium keeps its profile in $HOME and its sockets in $TMPDIR, as in a mission.
    let mut env = env;
    for (name, folder) in [("HOME", "home"), ("TMPDIR", "tmp")] {
        let folder = dir.join(folder);
        let _ = std::fs::create_dir_all(&folder);
        env.vars
            .push((name.to_string(), folder.display().to_string()));
    }
    let launch = BrowserLaunch {
        program: program.clone(),
        profile: dir.join("home/browser-profile"),
        workspace: dir.to_path_buf(),
        env,
    };
    let started = std::time::Instant::now();
    match Browser::launch(&launch).await {
        Ok(browser) => {
            let version = browser.version().await.unwrap_or_else(|e| e.to_string());
            let took = started.elapsed().as_secs_f64();
            browser.close().await;
            println!(
                "browser: {} ({version}) started inside the sandbox in {took:.1} s",
                program.display()
            );
        }
        Err(e) => println!(
            "browser: {} does not start inside the sandbox: {e}",
            program.display()
        ),
    }
}

async fn probe(args: args::ProbeArgs) -> ExitCode {
    let config = match config_or_exit(args.config.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let Some(model) = config.models.get(&args.model) else {
        let names: Vec<String> = config.models.keys().cloned().collect();
        eprintln!(
            "error: no model named `{}` in the config; models: {}",
            args.model,
            names.join(", ")
        );
        return exit::code(exit::INPUT_ERROR);
    };
    if model.provider != crate::spec::Provider::Candle {
        eprintln!(
            "error: `{}` is a {} model; probe measures local (candle) models",
            args.model,
            model.provider.as_str()
        );
        return exit::code(exit::INPUT_ERROR);
    }
    let info = crate::model::ModelInfo {
        name: args.model.clone(),
        provider: "candle",
    };
    let model = model.clone();
    let (prompt_tokens, decode_tokens) = (args.prompt_tokens, args.decode_tokens);
    let depths = args.depth.clone();
    let result = tokio::task::spawn_blocking(move || {
        let backend = crate::model::local::CandleBackend::load(info, &model)?;
        let points = backend
            .engine()
            .probe(prompt_tokens, decode_tokens, &depths)?;
        Ok::<_, crate::model::ModelError>((
            crate::model::ModelBackend::stats(&backend),
            backend.engine().kernel_summary(),
            points,
        ))
    })
    .await;
    match result {
        Ok(Ok((stats, kernels, points))) => {
            let parameters = stats
                .parameters
                .map_or("-".to_string(), |p| format!("{:.1}M", p as f64 / 1e6));
            let memory = stats.resident_bytes.unwrap_or(0) as f64 / (1024.0 * 1024.0);
            println!("model       {}: {}", args.model, stats.detail);
            println!("kernels     {kernels}");
            println!("parameters  {parameters}");
            println!("load time   {:.0} ms", stats.load_ms.unwrap_or(0.0));
            println!("memory      {memory:.0} MiB resident added by loading");
            for point in points {
                println!(
                    "context {:>5}: prefill {} tokens at {:.1} tokens/s, decode {} tokens at {:.1} tokens/s",
                    point.depth,
                    point.prompt,
                    point.prefill_tokens_per_s,
                    point.generate,
                    point.decode_tokens_per_s
                );
            }
            exit::code(exit::OK)
        }
        Ok(Err(error)) => {
            eprintln!("error: {error}");
            exit::code(exit::INPUT_ERROR)
        }
        Err(error) => {
            eprintln!("error: the probe failed: {error}");
            exit::code(exit::HARNESS_ERROR)
        }
    }
}

async fn calls(args: args::CallsArgs) -> ExitCode {
    use crate::mission::callbench;
    let config = match config_or_exit(args.config.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let turns = match callbench::worker_turns(&args.mission) {
        Ok(turns) => turns,
        Err(errors) => {
            eprintln!("error: {errors}");
            return exit::code(exit::INPUT_ERROR);
        }
    };
    println!(
        "{} worker turns from {}, {} samples each, temperature {}",
        turns.len(),
        args.mission.display(),
        args.samples,
        callbench::TEMPERATURE
    );
    println!(
        "{:<24} {:<13} {:>7} {:>7} {:>7} {:>9} {:>7} {:>9} {:>8} {:>8}",
        "model",
        "mode",
        "replies",
        "valid",
        "invalid",
        "malformed",
        "no call",
        "recovered",
        "tokens",
        "ms/token"
    );
    let percent =
        |tally: &callbench::CallTally, count: usize| format!("{:.0}%", tally.share(count) * 100.0);
    for name in &args.models {
        let Some(model) = config.models.get(name) else {
            eprintln!("error: no model named `{name}` in the config");
            return exit::code(exit::INPUT_ERROR);
        };
        if model.provider != crate::spec::Provider::Candle {
            eprintln!("error: `{name}` is not a local (candle) model");
            return exit::code(exit::INPUT_ERROR);
        }
        let (model, turns_owned, name_owned) = (model.clone(), turns.clone(), name.clone());
        let samples = args.samples;
        let result = tokio::task::spawn_blocking(move || {
            callbench::bench_calls(&name_owned, &model, &turns_owned, samples)
        })
        .await;
        let tallies = match result {
            Ok(Ok(tallies)) => tallies,
            Ok(Err(error)) => {
                eprintln!("error: {name}: {error}");
                return exit::code(exit::INPUT_ERROR);
            }
            Err(error) => {
                eprintln!("error: the bench of {name} failed: {error}");
                return exit::code(exit::HARNESS_ERROR);
            }
        };
        for tally in &tallies {
            println!(
                "{:<24} {:<13} {:>7} {:>7} {:>7} {:>9} {:>7} {:>9} {:>8} {:>8.1}",
                name,
                if tally.constrained {
                    "constrained"
                } else {
                    "unconstrained"
                },
                tally.replies,
                percent(tally, tally.valid),
                percent(tally, tally.invalid),
                percent(tally, tally.malformed),
                percent(tally, tally.no_call),
                percent(tally, tally.recovered),
                tally.output_tokens,
                tally.ms_per_token()
            );
        }
    }
    exit::code(exit::OK)
}

/// Counts planned mission runs for the progress bar; 0 when the suite does not load (the run
/// reports that error itself).
fn report_error(error: &RunError) -> ExitCode {
    eprintln!("error: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
    match error {
        RunError::Spec(_) | RunError::Settings(_) | RunError::Resume { .. } => {
            exit::code(exit::INPUT_ERROR)
        }
        RunError::Report(_)
        | RunError::Io { .. }
        | RunError::Write { .. }
        | RunError::Remove { .. } => exit::code(exit::HARNESS_ERROR),
    }
}

/// `run --replay`: a `replay` model per recorded pairing, added to the config, and each
/// recorded pairing with the `--live` roles bound to their models; also the recorded missions,
/// repeats and seed, which the run takes unless its flags say otherwise.
struct Replayed {
    pairings: Vec<crate::spec::Pairing>,
    missions: Vec<String>,
    repeats: u32,
    seed: Option<u64>,
}

fn replay_pairings(
    dir: &Path,
    live: &[String],
    on_divergence: args::OnDivergence,
    config: &mut crate::spec::Config,
) -> Result<Replayed, String> {
    let recording = crate::mission::counterfactual::Recording::load(dir)
        .map_err(|e| format!("--replay: {e}"))?;
    let info = crate::report::read_run_info(dir).map_err(|e| format!("--replay: {e}"))?;
    let mut overrides = Vec::new();
    for binding in live {
        let Some((role, model)) = binding
            .split_once('=')
            .map(|(r, m)| (r.trim(), m.trim()))
            .filter(|(r, m)| !r.is_empty() && !m.is_empty())
        else {
            return Err(format!(
                "--live `{binding}`: expected ROLE=MODEL, e.g. --live validator=qwen"
            ));
        };
        if role == "subagent" {
            return Err(format!(
                "--live `{binding}`: a subagent's runs belong to its orchestrator's; make the orchestrator live (--live orchestrator=MODEL), and its subagent runs live with it"
            ));
        }
        if !config.models.contains_key(model) {
            return Err(format!(
                "--live `{binding}`: model `{model}` is not defined under [models]"
            ));
        }
        overrides.push((role.to_string(), model.to_string()));
    }
    if overrides.is_empty() {
        eprintln!("note: no --live role: every role is served from the record, no model is called");
    }
    let mut pairings = Vec::new();
    for (name, models) in recording.pairings() {
        let replay_model = format!("replay:{name}");
        config.models.insert(
            replay_model.clone(),
            crate::spec::ModelConfig {
                provider: crate::spec::Provider::Replay,
                description: format!("roles served from {}", recording.run_id),
                report: Some(dir.display().to_string()),
                pairing: Some(name.clone()),
                on_divergence: Some(
                    match on_divergence {
                        args::OnDivergence::Halt => "halt",
                        args::OnDivergence::Live => "live",
                    }
                    .to_string(),
                ),
                ..Default::default()
            },
        );
        let base = crate::spec::Pairing {
            name: name.clone(),
            models: crate::spec::Role::ALL
                .into_iter()
                .map(|role| (role, replay_model.clone()))
                .collect(),
        };
        let mut pairing = base.with_overrides(&overrides)?;
        // A live orchestrator's subagents run live on its model.
        if let Some((_, model)) = overrides.iter().find(|(r, _)| r == "orchestrator") {
            pairing
                .models
                .insert(crate::spec::Role::Subagent, model.clone());
        }
        if on_divergence == args::OnDivergence::Live {
            for model in models.values() {
                if !config.models.contains_key(&model.name) {
                    return Err(format!(
                        "--on-divergence live: the recorded pairing `{name}` uses model `{}`, which is not defined under [models]",
                        model.name
                    ));
                }
            }
        }
        config.check_pairing(&pairing)?;
        pairings.push(pairing);
    }
    let mut missions: Vec<String> = recording
        .mission_runs()
        .map(|(m, _, _)| m.clone())
        .collect();
    missions.dedup();
    let repeats = recording
        .mission_runs()
        .map(|(_, _, r)| r + 1)
        .max()
        .unwrap_or(1);
    Ok(Replayed {
        pairings,
        missions,
        repeats,
        seed: info.seed,
    })
}

async fn run(args: args::RunArgs) -> ExitCode {
    let mut config = match config_or_exit(args.config.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let replayed = match &args.replay {
        Some(dir) => match replay_pairings(dir, &args.live, args.on_divergence, &mut config) {
            Ok(replayed) => Some(replayed),
            Err(message) => {
                eprintln!("error: {message}");
                return exit::code(exit::INPUT_ERROR);
            }
        },
        None => None,
    };
    let names = if args.pairings.is_empty() {
        vec![config.default_pairing.clone()]
    } else {
        args.pairings.clone()
    };
    // `--role worker=a,b --role validator=c,d`: every combination, on top of each pairing.
    let mut sweeps: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for role in &args.roles {
        let (name, list) = role.split_once('=').unwrap_or((role.as_str(), ""));
        let name = name.trim();
        let models: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect();
        if name.is_empty() || models.is_empty() {
            eprintln!(
                "error: --role `{role}`: expected ROLE=MODEL[,MODEL...], e.g. --role worker=nop"
            );
            return exit::code(exit::INPUT_ERROR);
        }
        sweeps = sweeps
            .into_iter()
            .flat_map(|set| {
                models.iter().map(move |model| {
                    let mut set = set.clone();
                    set.push((name.to_string(), model.to_string()));
                    set
                })
            })
            .collect();
    }
    let mut pairings = Vec::new();
    for name in &names {
        for overrides in &sweeps {
            let pairing = config
                .pairing(name)
                .and_then(|p| p.with_overrides(overrides))
                .and_then(|p| config.check_pairing(&p).map(|()| p));
            match pairing {
                Ok(pairing) => pairings.push(pairing),
                Err(message) => {
                    eprintln!("error: {message}");
                    return exit::code(exit::INPUT_ERROR);
                }
            }
        }
    }
    let run_id = match &args.resume {
        Some(dir) => {
            if let Err(error) = crate::report::check_report_files(dir) {
                eprintln!("error: --resume: {error}");
                return exit::code(exit::INPUT_ERROR);
            }
            match dir.file_name() {
                Some(name) if dir.join("run.json").is_file() => name.to_string_lossy().into_owned(),
                _ => {
                    eprintln!(
                        "error: --resume `{}`: not a report folder (no run.json)",
                        dir.display()
                    );
                    return exit::code(exit::INPUT_ERROR);
                }
            }
        }
        None => new_run_id(""),
    };
    let seed = args.seed.or_else(|| replayed.as_ref().and_then(|r| r.seed));
    let mut settings = base_settings(&args.common, &args.suite, config, run_id, seed);
    if let Some(dir) = &args.resume {
        // A report folder named relative to the current one (`--resume 2026…`) has the
        // empty path as its parent.
        settings.out_dir = dir
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        settings.resume = true;
        settings.force = args.force;
    }
    settings.pairings = pairings;
    settings.missions = args.missions.clone();
    settings.repeats = args.repeats;
    if let Some(replayed) = replayed {
        settings.pairings = replayed.pairings;
        if settings.missions.is_empty() {
            settings.missions = replayed.missions;
        }
        settings.repeats = settings.repeats.or(Some(replayed.repeats));
    }
    settings.shard = args.shard;
    settings.budget = match crate::spec::suite::parse_budget_overrides(&args.budget) {
        Ok(budget) => budget,
        Err(message) => {
            eprintln!("error: --budget: {message}");
            return exit::code(exit::INPUT_ERROR);
        }
    };
    let progress = Arc::new(progress::Progress::new());
    let sinks: Vec<Arc<dyn EventSink>> = if args.common.quiet {
        Vec::new()
    } else {
        vec![progress.clone()]
    };
    // First Ctrl-C: stop starting work, kill running commands, write the reports. Second: exit.
    let stop = settings.stop.clone();
    let interrupts = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!("\ninterrupted: stopping the running agents and commands and writing the reports (Ctrl-C again exits at once)");
        stop.stop();
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted again: exiting; events.jsonl holds everything that finished");
            std::process::exit(i32::from(exit::INTERRUPTED));
        }
    });
    let result = run_suite(&settings, sinks).await;
    interrupts.abort();
    progress.finish();
    match result {
        Ok(report) => {
            print!("{}", mission_table(&report.tables.missions));
            print!("{}", skipped_paths(&report.tables.missions));
            println!("\nreport: {}", report.dir.display());
            if settings.stop.is_stopped() {
                eprintln!(
                    "the run was interrupted: missions not finished have status `interrupted`"
                );
                return exit::code(exit::INTERRUPTED);
            }
            let errors = report
                .tables
                .missions
                .iter()
                .filter(|m| m.status == "error")
                .count();
            if errors > 0 {
                eprintln!("{errors} mission runs ended in an infrastructure error (status `error`); see halt_detail in missions.parquet");
                return exit::code(exit::INFRA_ERRORS);
            }
            exit::code(exit::OK)
        }
        Err(error) => report_error(&error),
    }
}

fn suite_lint(args: args::LintArgs) -> ExitCode {
    let started = std::time::Instant::now();
    match crate::spec::lint::lint_suite(&args.suite) {
        Ok(lint) => {
            for finding in &lint.findings {
                println!("{finding}");
            }
            for note in &lint.unchecked {
                println!("note: {note}");
            }
            println!(
                "{}: {} mission(s), {} acceptance test(s) read, {} finding(s) in {:.2} s",
                args.suite.display(),
                lint.missions,
                lint.tests,
                lint.findings.len(),
                started.elapsed().as_secs_f64()
            );
            if lint.is_clean() {
                exit::code(exit::OK)
            } else {
                exit::code(exit::CHECK_FAILED)
            }
        }
        Err(errors) => {
            eprintln!("error: {errors}");
            exit::code(exit::INPUT_ERROR)
        }
    }
}

fn suite_new(args: args::NewArgs) -> ExitCode {
    use crate::spec::mission::Difficulty;
    use crate::spec::skeleton::Language;
    let language = match args.language {
        args::NewLanguage::Python => Language::Python,
        args::NewLanguage::Javascript => Language::Javascript,
        args::NewLanguage::Rust => Language::Rust,
    };
    let difficulty = match args.difficulty {
        args::NewDifficulty::Micro => Difficulty::Micro,
        args::NewDifficulty::Small => Difficulty::Small,
        args::NewDifficulty::Medium => Difficulty::Medium,
        args::NewDifficulty::Large => Difficulty::Large,
    };
    match crate::spec::skeleton::new_mission(&args.suite, &args.id, language, difficulty) {
        Ok(new) => {
            if new.new_suite {
                println!("created suite {}", args.suite.display());
            }
            println!("wrote mission {}:", new.dir.display());
            for file in &new.files {
                println!("  {}", file.display());
            }
            if let Some(name) = new.missing_environment {
                println!(
                    "note: suite.toml names no [environments.{name}]; mission.toml says where to name it"
                );
            }
            println!(
                "Write every `{}` place, check the format with `missions-bench suite lint {}`, then prove the mission with `missions-bench suite check {}`.",
                crate::spec::skeleton::FILL_IN,
                args.suite.display(),
                args.suite.display()
            );
            exit::code(exit::OK)
        }
        Err(message) => {
            eprintln!("error: {message}");
            exit::code(exit::INPUT_ERROR)
        }
    }
}

async fn suite_check(args: args::CheckArgs) -> ExitCode {
    let config = match Config::default_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::code(exit::HARNESS_ERROR);
        }
    };
    let settings = base_settings(
        &args.common,
        &args.suite,
        config,
        new_run_id("check-"),
        None,
    );
    let progress = Arc::new(progress::Progress::new());
    let sinks: Vec<Arc<dyn EventSink>> = if args.common.quiet {
        Vec::new()
    } else {
        vec![progress.clone()]
    };
    let result = check_suite(&settings, sinks).await;
    progress.finish();
    match result {
        Ok(check) => {
            for mission in &check.missions {
                let mutation = mission
                    .mutation
                    .as_ref()
                    .map(|m| format!("  (oracle mutation score {m})"))
                    .unwrap_or_default();
                if mission.problems.is_empty() {
                    println!("ok       {}{mutation}", mission.mission);
                } else {
                    println!("INVALID  {}", mission.mission);
                    for problem in &mission.problems {
                        println!("  - mission `{}`: {problem}", mission.mission);
                    }
                }
            }
            if let Some(dir) = &check.report_dir {
                println!("\nreport: {}", dir.display());
            }
            if check.is_valid() {
                exit::code(exit::OK)
            } else {
                exit::code(exit::CHECK_FAILED)
            }
        }
        Err(error) => report_error(&error),
    }
}

fn compare_reports(args: args::CompareArgs) -> ExitCode {
    let mut tables = Vec::new();
    for dir in &args.reports {
        match read_tables(dir) {
            Ok(table) => tables.push(table),
            Err(e) => {
                eprintln!("error: {}: {e}", dir.display());
                return exit::code(exit::INPUT_ERROR);
            }
        }
    }
    let summaries = compare(&tables);
    if let Some(baseline) = &args.baseline {
        if !summaries.iter().any(|s| &s.pairing == baseline) {
            let names: Vec<&str> = summaries.iter().map(|s| s.pairing.as_str()).collect();
            eprintln!(
                "error: --baseline `{baseline}` is not a pairing of these reports; pairings: {}",
                names.join(", ")
            );
            return exit::code(exit::INPUT_ERROR);
        }
    }
    let differences =
        crate::report::compare::paired_differences(&tables, &summaries, args.baseline.as_deref());
    let validators = crate::report::compare::validator_differences(
        &tables,
        &summaries,
        args.baseline.as_deref(),
    );
    let breakdowns: Vec<(Dimension, Vec<Group>)> = args
        .by
        .iter()
        .map(|by| {
            let dimension = match by {
                args::By::Difficulty => Dimension::Difficulty,
                args::By::Language => Dimension::Language,
            };
            (dimension, breakdown(&tables, dimension))
        })
        .collect();
    match args.format {
        Format::Table => {
            print!("{}", render_compare(&summaries));
            println!();
            print!("{}", crate::report::compare::render_statistics(&summaries));
            if summaries.iter().any(|s| !s.tool_calls_by_role.is_empty()) {
                println!();
                print!("{}", crate::report::compare::render_tool_calls(&summaries));
            }
            if !differences.is_empty() {
                println!();
                print!(
                    "{}",
                    crate::report::compare::render_differences(&differences)
                );
            }
            if !validators.is_empty() {
                println!();
                println!("validators on identical work (the same recorded worker runs):");
                print!(
                    "{}",
                    crate::report::compare::render_validator_differences(&validators)
                );
            }
            for (dimension, groups) in &breakdowns {
                println!();
                println!("by {}:", dimension.as_str());
                print!("{}", render_breakdown(*dimension, groups));
            }
            let warnings = crate::report::compare::render_warnings(&summaries);
            if !warnings.is_empty() {
                println!();
                print!("{warnings}");
            }
        }
        Format::Markdown => {
            print!(
                "{}",
                crate::report::compare::render_markdown(&summaries, &differences)
            );
            if !validators.is_empty() {
                println!();
                println!("Validators on identical work (the same recorded worker runs):");
                println!();
                print!(
                    "{}",
                    crate::report::compare::render_validator_differences(&validators)
                );
            }
            for (dimension, groups) in &breakdowns {
                println!();
                print!("{}", render_breakdown_markdown(*dimension, groups));
            }
        }
        Format::Json => match serde_json::to_string_pretty(&serde_json::json!({
            "pairings": summaries,
            "differences": differences,
            "validators": validators,
            "breakdowns": breakdowns
                .iter()
                .map(|(dimension, groups)| (dimension.as_str(), groups))
                .collect::<std::collections::BTreeMap<_, _>>(),
        })) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::code(exit::HARNESS_ERROR);
            }
        },
    }
    exit::code(exit::OK)
}

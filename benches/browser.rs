//! The cost of one browser action, side by side in one run with a sandboxed `run_command` of
//! `true` (the cheapest thing an agent does that starts a process): `browser_read` of a page's
//! text, `browser_click` on a button that changes the page (with the wait for the page to
//! settle), `browser_type` into a field, `browser_screenshot` (PNG saved as evidence) and
//! `browser_open` of a page served by a `start_server` server, all in the mission's sandbox; and
//! the one-off cost of starting the browser.
//!
//! Before the criterion groups it prints the medians of interleaved runs and their ratios to
//! `run_command`. Without Chromium it says so and measures nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

use missions_bench::mission::suite_run::sandbox_policy;
use missions_bench::spec::config::SandboxConfig;
use missions_bench::tools::browser::tools::{
    with_browser_tools, BrowserAccess, BrowserTools, EvidenceDir,
};
use missions_bench::tools::browser::{find_program, BrowserLaunch};
use missions_bench::tools::files::RunCommand;
use missions_bench::tools::sandbox::{Network, Sandbox, SandboxPaths};
use missions_bench::tools::{CommandEnv, Registry, Workspace, WorkspaceAccess, WorkspaceTools};

const PAGE: &str = r#"<!doctype html><html><head><title>Bench</title></head><body>
<label for="q">Query</label> <input id="q"> <button id="b">Count</button> <p id="n">0</p>
<ul>{items}</ul>
<script>document.getElementById('b').onclick = () => {
  const n = document.getElementById('n'); n.textContent = String(Number(n.textContent) + 1); };</script>
</body></html>"#;

struct Context {
    tools: BrowserTools,
    workspace: WorkspaceTools,
}

impl BrowserAccess for Context {
    fn browser_tools(&mut self) -> Option<&mut BrowserTools> {
        Some(&mut self.tools)
    }
}

impl WorkspaceAccess for Context {
    fn workspace_tools(&self) -> &WorkspaceTools {
        &self.workspace
    }
}

struct Bench {
    registry: Registry<Context>,
    context: Context,
    runtime: tokio::runtime::Runtime,
}

impl Bench {
    fn call(&mut self, name: &str, args: Value) {
        let reply = self
            .runtime
            .block_on(self.registry.dispatch(&mut self.context, name, args))
            .expect("no harness failure");
        assert!(reply.error.is_none(), "{name}: {}", reply.content);
    }
}

fn setup(root: &Path, program: PathBuf) -> Bench {
    let workspace = root.join("workspace");
    let home = root.join("home");
    let tmp = root.join("tmp");
    for dir in [&workspace, &home, &tmp] {
        std::fs::create_dir_all(dir).expect("folder");
    }
    let items: String = (0..200).map(|i| format!("<li>item {i}</li>")).collect();
    std::fs::write(
        workspace.join("index.html"),
        PAGE.replace("{items}", &items),
    )
    .expect("page");
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    let mut policy = sandbox_policy(&SandboxConfig::default());
    policy.network = Network::Loopback;
    let paths = SandboxPaths {
        writable: vec![root.to_path_buf()],
        read_only: Vec::new(),
        counted: Vec::new(),
        read: Vec::new(),
        path_var: path.clone(),
    };
    let sandbox = Arc::new(Sandbox::new(policy, &paths).expect("sandbox"));
    let env = CommandEnv {
        vars: vec![
            ("PATH".into(), path),
            ("HOME".into(), home.display().to_string()),
            ("TMPDIR".into(), tmp.display().to_string()),
        ],
        timeout: Duration::from_secs(30),
        max_output_bytes: 32 * 1024,
        sandbox: Some(sandbox),
        stop: None,
    };
    let tools = BrowserTools::new(
        BrowserLaunch {
            program,
            profile: home.join("profile"),
            workspace: workspace.clone(),
            env: env.clone(),
        },
        EvidenceDir {
            report: root.join("report"),
            folder: "evidence/bench".into(),
            prefix: "r1-".into(),
        },
        32 * 1024,
    );
    let registry = with_browser_tools(Registry::new().with(RunCommand));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut bench = Bench {
        registry,
        context: Context {
            tools,
            workspace: WorkspaceTools {
                workspace: Workspace::new(&workspace).expect("workspace"),
                command_env: env,
            },
        },
        runtime,
    };
    bench.call(
        "start_server",
        json!({"command": "python3 -m http.server 8871 --bind 127.0.0.1", "port": 8871}),
    );
    bench
}

type Action = (&'static str, &'static str, Value);

fn actions() -> Vec<Action> {
    vec![
        (
            "run_command true",
            "run_command",
            json!({"command": "true"}),
        ),
        ("browser_read", "browser_read", json!({})),
        ("browser_click", "browser_click", json!({"target": "Count"})),
        (
            "browser_type",
            "browser_type",
            json!({"target": "Query", "text": "hello"}),
        ),
        ("browser_screenshot", "browser_screenshot", json!({})),
        (
            "browser_open",
            "browser_open",
            json!({"url": "http://127.0.0.1:8871/index.html"}),
        ),
    ]
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn side_by_side(bench: &mut Bench) {
    let actions = actions();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); actions.len()];
    for _ in 0..15 {
        for (i, (_, name, args)) in actions.iter().enumerate() {
            let started = Instant::now();
            bench.call(name, args.clone());
            samples[i].push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    println!("one browser action, medians of 15 interleaved runs (sandbox on):");
    for ((label, _, _), ms) in actions.iter().zip(&medians) {
        println!(
            "  {label:<20} {ms:>8.1} ms  ({:.1}x run_command true)",
            ms / medians[0]
        );
    }
}

fn benches(c: &mut Criterion) {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    let Some(program) = find_program(&path) else {
        println!(
            "no Chromium on PATH: nothing measured (install the distribution's chromium package)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let mut bench = setup(dir.path(), program.clone());
    bench.call(
        "browser_open",
        json!({"url": "http://127.0.0.1:8871/index.html"}),
    );
    println!(
        "start_server + first browser_open (starts the browser): {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    side_by_side(&mut bench);
    let mut group = c.benchmark_group("browser_action");
    group.sample_size(20);
    for (label, name, args) in actions() {
        group.bench_function(label, |b| b.iter(|| bench.call(name, args.clone())));
    }
    group.finish();
    let context = &mut bench.context;
    bench.runtime.block_on(context.tools.shut_down());
}

criterion_group!(browser, benches);
criterion_main!(browser);

//! The sandbox's cost on `run_command`, side by side in one run: a trivial command (`true`)
//! through `run_shell` with the sandbox off (session, cleared environment, timeout, output cap)
//! and on (plus Landlock, namespaces, seccomp, dropped capabilities, a control group and
//! rlimits), and the one-off cost of building a mission's sandbox.
//!
//! Before the criterion groups it prints the medians of interleaved runs and their ratio.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use missions_bench::mission::runner::sandbox_policy;
use missions_bench::spec::config::SandboxConfig;
use missions_bench::tools::sandbox::{Sandbox, SandboxPaths};
use missions_bench::tools::{run_shell, CommandEnv};

fn env(sandbox: Option<Arc<Sandbox>>) -> CommandEnv {
    CommandEnv {
        vars: vec![("PATH".into(), "/usr/bin:/bin".into())],
        timeout: Duration::from_secs(10),
        max_output_bytes: 32 * 1024,
        sandbox,
        stop: None,
    }
}

fn sandbox(root: &Path) -> Sandbox {
    let paths = SandboxPaths {
        writable: vec![root.to_path_buf()],
        read_only: Vec::new(),
        counted: Vec::new(),
        read: Vec::new(),
        path_var: "/usr/bin:/bin".into(),
    };
    // The limits users get by default.
    let policy = sandbox_policy(&SandboxConfig::default());
    Sandbox::new(policy, &paths).expect("sandbox")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let workspace = dir.path().join("workspace");
    std::fs::create_dir_all(&workspace).expect("workspace");
    let on = Arc::new(sandbox(dir.path()));
    let off_env = env(None);
    let on_env = env(Some(on.clone()));

    let active: Vec<&str> = on
        .protections()
        .iter()
        .filter(|p| p.active)
        .map(|p| p.name.as_str())
        .collect();
    println!("active protections: {}", active.join(", "));

    // Interleaved so that both see the same machine.
    let (mut off, mut sandboxed) = (Vec::new(), Vec::new());
    runtime.block_on(async {
        for _ in 0..300 {
            let started = Instant::now();
            let out = run_shell("true", &workspace, &off_env).await.expect("run");
            assert!(out.success());
            off.push(started.elapsed().as_secs_f64() * 1e3);
            let started = Instant::now();
            let out = run_shell("true", &workspace, &on_env).await.expect("run");
            assert!(out.success(), "{out:?}");
            sandboxed.push(started.elapsed().as_secs_f64() * 1e3);
        }
    });
    let (off_ms, on_ms) = (median(off), median(sandboxed));
    println!(
        "run_command `true`, median of 300 interleaved: sandbox off {off_ms:.2} ms, on {on_ms:.2} ms, ratio {:.2}x (+{:.2} ms)",
        on_ms / off_ms,
        on_ms - off_ms
    );
    let mut builds = Vec::new();
    for i in 0..20 {
        let root = dir.path().join(format!("m{i}"));
        std::fs::create_dir_all(&root).expect("mission folder");
        let started = Instant::now();
        let built = sandbox(&root);
        builds.push(started.elapsed().as_secs_f64() * 1e3);
        drop(built);
    }
    println!(
        "building a mission's sandbox, median of 20: {:.2} ms",
        median(builds)
    );

    let mut group = c.benchmark_group("run_command_true");
    group.bench_function("sandbox_off", |b| {
        b.iter(|| runtime.block_on(run_shell("true", &workspace, &off_env)))
    });
    group.bench_function("sandbox_on", |b| {
        b.iter(|| runtime.block_on(run_shell("true", &workspace, &on_env)))
    });
    group.finish();
}

criterion_group! {
    name = sandbox_benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(sandbox_benches);

//! The sandbox's cost on `run_command`, side by side in one run: a trivial command (`true`)
//! through `run_shell` with the sandbox off (session, cleared environment, timeout, output cap)
//! and on (plus Landlock, namespaces, seccomp, dropped capabilities, a control group and
//! rlimits), and the one-off cost of building a mission's sandbox.
//!
//! The "slowed" case: what the quotas' accounting costs when a mission folder holds 30,000 or
//! 100,000 empty files: one count of the folders (bytes and files in one walk), and the
//! harness's own CPU time while a 3-second command runs under the watcher.
//!
//! Before the criterion groups it prints the medians of interleaved runs and their ratio, and
//! the slowed case's figures side by side.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use missions_bench::mission::suite_run::sandbox_policy;
use missions_bench::spec::config::{CountValue, SandboxConfig};
use missions_bench::tools::sandbox::{tree_usage, Sandbox, SandboxPaths};
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
    // The limits users get by default.
    sandbox_with(root, &SandboxConfig::default())
}

fn sandbox_with(root: &Path, config: &SandboxConfig) -> Sandbox {
    let paths = SandboxPaths {
        writable: vec![root.to_path_buf()],
        read_only: Vec::new(),
        counted: Vec::new(),
        read: Vec::new(),
        path_var: "/usr/bin:/bin".into(),
    };
    let policy = sandbox_policy(config);
    Sandbox::new(policy, &paths).expect("sandbox")
}

/// CPU seconds this process has used: the harness's side of a command (the watcher), not the
/// command's own.
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills a zeroed structure.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// A mission folder whose workspace holds `n` empty files in one folder.
fn flooded(root: &Path, n: usize) -> std::path::PathBuf {
    let junk = root.join("workspace/junk");
    std::fs::create_dir_all(&junk).expect("junk folder");
    for i in 0..n {
        std::fs::write(junk.join(format!("f{i}")), "").expect("empty file");
    }
    root.join("workspace")
}

/// Prints the slowed case's figures: per folder size, the median of 5 counts and the harness's
/// CPU during `sleep 3` in the sandbox, with the default quotas (disk 8 GiB, 100,000 files) or
/// the file quota off. 100,000 files with the quota on is a mission sitting over it, where the
/// free-inode signal asks for a count at every tick.
fn slowed(runtime: &tokio::runtime::Runtime, dir: &Path) {
    for (n, files_quota) in [
        (0usize, true),
        (30_000, true),
        (100_000, false),
        (100_000, true),
    ] {
        let root = dir.join(format!("slowed-{n}"));
        let workspace = flooded(&root, n);
        let counts: Vec<f64> = (0..5)
            .map(|_| {
                let started = Instant::now();
                let usage = tree_usage(&root, &[]);
                assert!(usage.files as usize > n);
                started.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let count_ms = median(counts);
        let mut config = SandboxConfig::default();
        if !files_quota {
            config.files = CountValue(None);
        }
        let on_env = env(Some(Arc::new(sandbox_with(&root, &config))));
        let cpu = own_cpu_seconds();
        let out = runtime
            .block_on(run_shell("sleep 3", &workspace, &on_env))
            .expect("run");
        assert!(out.success(), "{out:?}");
        let watcher_ms = (own_cpu_seconds() - cpu) * 1e3;
        println!(
            "slowed, {n} files, file quota {}: one count {count_ms:.1} ms ({:.2} us per file); harness CPU during `sleep 3` {watcher_ms:.1} ms",
            if files_quota { "on" } else { "off" },
            if n == 0 { 0.0 } else { count_ms * 1e3 / n as f64 }
        );
        let _ = std::fs::remove_dir_all(&root);
    }
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

    slowed(&runtime, dir.path());

    let flood = dir.path().join("count-30000");
    flooded(&flood, 30_000);
    c.bench_function("count_30000_files", |b| b.iter(|| tree_usage(&flood, &[])));

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

//! The viewer on a generated report of 1,000 mission runs (20 turns each, four at a time
//! interleaved in the journal):
//! - `open`: indexing the journal, what `missions-bench view` does before it serves;
//! - `run_page`, `mission_page`, `agent_page`, `turn_page`: each page of the last mission run,
//!   which reads only its own lines of the journal and its one transcript;
//! - `search`: a string only the last transcript holds, so every transcript is read.
//!
//! Before the groups it prints the time to first page: indexing plus the run page, once, cold
//! of the viewer's own state (the files are in the page cache).

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};

use missions_bench::view::{Mode, Reply, Viewer};

#[path = "../tests/it/synthetic_report.rs"]
mod synthetic_report;

fn page(viewer: &Viewer, path: &str, query: Option<&str>) -> usize {
    match viewer.get(path, query, Mode::Server) {
        Reply::Html(html) => html.len(),
        other => panic!("{path}: {other:?}"),
    }
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let report = dir.path().join("view-1000");
    synthetic_report::write(&report, 1000, 20);
    let folders = [report.clone()];
    let journal_bytes = std::fs::metadata(report.join("events.jsonl"))
        .map(|m| m.len())
        .unwrap_or(0);

    let started = Instant::now();
    let viewer = Viewer::open(&folders).expect("open the report");
    let indexed = started.elapsed();
    let bytes = page(&viewer, "/r/0/index.html", None);
    let first_page = started.elapsed();
    println!(
        "1,000 mission runs, journal {:.1} MB: indexed in {:.0} ms, first page (run page, {} KB) after {:.0} ms",
        journal_bytes as f64 / 1e6,
        indexed.as_secs_f64() * 1000.0,
        bytes / 1024,
        first_page.as_secs_f64() * 1000.0
    );

    let mission = "/r/0/m/m0999.worker-small.r0";
    let mut group = c.benchmark_group("view");
    group.sample_size(10);
    group.bench_function("open", |b| {
        b.iter(|| Viewer::open(&folders).expect("open the report"))
    });
    group.bench_function("run_page", |b| {
        b.iter(|| page(&viewer, "/r/0/index.html", None))
    });
    group.bench_function("mission_page", |b| {
        b.iter(|| page(&viewer, &format!("{mission}/index.html"), None))
    });
    group.bench_function("agent_page", |b| {
        b.iter(|| page(&viewer, &format!("{mission}/001.html"), None))
    });
    group.bench_function("turn_page", |b| {
        b.iter(|| page(&viewer, &format!("{mission}/001/20.html"), None))
    });
    let query = format!("q={}", synthetic_report::NEEDLE);
    group.bench_function("search", |b| {
        b.iter(|| page(&viewer, "/search.html", Some(&query)))
    });
    group.finish();
}

criterion_group!(view, benches);
criterion_main!(view);

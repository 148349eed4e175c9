//! A generated report folder of many mission runs (a journal whose missions interleave as with
//! `--jobs 4`, and a worker transcript per mission run), for the viewer's test and bench of
//! large reports. Shared by the integration tests and `benches/view.rs`.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{json, Value};

/// The text the last mission run's transcript holds, for search to find.
pub const NEEDLE: &str = "needle-in-the-last-mission";

/// Writes `dir/events.jsonl` and `dir/transcripts/` for `missions` mission runs of `turns` turns
/// each.
pub fn write(dir: &Path, missions: usize, turns: u32) {
    std::fs::create_dir_all(dir).expect("create report folder");
    let mut journal =
        BufWriter::new(File::create(dir.join("events.jsonl")).expect("create journal"));
    let mut seq = 0u64;
    let mut line = |journal: &mut BufWriter<File>, mission: Option<Value>, event: Value| {
        let mut record = json!({"v": 1, "seq": seq, "time_ms": 1_796_335_902_140i64 + seq as i64});
        if let Some(mission) = mission {
            record["mission"] = mission;
        }
        record["event"] = event;
        seq += 1;
        serde_json::to_writer(&mut *journal, &record).expect("write journal");
        journal.write_all(b"\n").expect("write journal");
    };
    line(
        &mut journal,
        None,
        json!({"type": "run_planned", "mission_runs": missions}),
    );
    // Four missions at a time, their lines interleaved.
    for group in (0..missions).collect::<Vec<_>>().chunks(4) {
        let keys: Vec<Value> = group
            .iter()
            .map(|&m| {
                json!({"suite": "synthetic", "mission": format!("m{m:04}"), "pairing": if m % 2 == 0 { "oracle" } else { "worker-small" }, "repeat": 0})
            })
            .collect();
        for key in &keys {
            line(
                &mut journal,
                Some(key.clone()),
                json!({"type": "mission_started", "mission_hash": "h", "models": {"worker": {"name": "oracle", "provider": "oracle"}}, "workspace": "/tmp/w"}),
            );
            line(
                &mut journal,
                Some(key.clone()),
                json!({"type": "agent_started", "run": 1, "parent": null, "role": "worker", "model": "oracle", "provider": "oracle", "task": "implement", "milestone": "m1", "feature": "f1", "round": 1}),
            );
        }
        for turn in 1..=turns {
            for key in &keys {
                line(
                    &mut journal,
                    Some(key.clone()),
                    json!({"type": "turn", "run": 1, "turn": turn, "context_messages": 2 * turn, "usage": {"input_tokens": 1000 + turn, "cache_read_tokens": 900, "cache_write_tokens": null, "output_tokens": 50, "reasoning_tokens": null, "source": "estimate"}, "cost_usd": null, "timing": {"latency_ms": 120.5, "ttft_ms": 30.0, "prefill_tokens": 100, "prefill_tokens_per_s": 800.0, "decode_tokens_per_s": 55.0}, "tool_calls": 1, "stop": "tool_calls"}),
                );
                line(
                    &mut journal,
                    Some(key.clone()),
                    json!({"type": "tool_called", "run": 1, "turn": turn, "tool": "run_command", "status": "ok", "duration_ms": 12.0, "command": "sh tests/run.sh", "exit_code": 0}),
                );
            }
        }
        for key in &keys {
            for event in [
                json!({"type": "agent_finished", "run": 1, "outcome": "finished", "turns": turns, "duration_ms": 1500.0, "summary": "done"}),
                json!({"type": "milestone_round", "milestone": "m1", "round": 1, "passed": true, "open_blocking": 0}),
                json!({"type": "acceptance_finished", "tests": [{"id": "t::a", "milestone": "m1", "status": "passed"}, {"id": "t::b", "milestone": "m1", "status": "failed"}], "exit_code": 1, "timed_out": false, "duration_ms": 300.0, "error": null}),
                json!({"type": "mission_finished", "status": "failed", "halt_reason": null, "detail": "1 of 2 acceptance tests failed", "duration_ms": 2000.0}),
            ] {
                line(&mut journal, Some(key.clone()), event);
            }
        }
    }
    journal.flush().expect("write journal");
    for m in 0..missions {
        let pairing = if m % 2 == 0 { "oracle" } else { "worker-small" };
        let folder = dir
            .join("transcripts")
            .join(format!("m{m:04}.{pairing}.r0"));
        std::fs::create_dir_all(&folder).expect("create transcripts folder");
        let mut transcript = BufWriter::new(
            File::create(folder.join("001-worker.jsonl")).expect("create transcript"),
        );
        let mut write = |value: Value| {
            serde_json::to_writer(&mut transcript, &value).expect("write transcript");
            transcript.write_all(b"\n").expect("write transcript");
        };
        write(
            json!({"type": "header", "run": 1, "role": "worker", "model": "oracle", "task": "implement", "tools": [{"name": "run_command", "description": "Run a shell command.", "parameters": {}}]}),
        );
        write(json!({"type": "message", "role": "system", "content": "You are the worker."}));
        write(json!({"type": "message", "role": "user", "content": "Implement feature f1."}));
        for turn in 1..=turns {
            let id = format!("call_{turn}");
            write(
                json!({"type": "message", "role": "assistant", "content": format!("Turn {turn}: running the tests."), "tool_calls": [{"id": id, "name": "run_command", "arguments": "{\"command\":\"sh tests/run.sh\"}"}]}),
            );
            let output = if m + 1 == missions && turn == turns {
                format!("ok {NEEDLE}")
            } else {
                format!("ok {turn}")
            };
            write(
                json!({"type": "message", "role": "tool", "content": output, "tool_call_id": id, "tool_name": "run_command"}),
            );
        }
        write(json!({"type": "end", "outcome": "finished", "turns": turns}));
        transcript.flush().expect("write transcript");
    }
}

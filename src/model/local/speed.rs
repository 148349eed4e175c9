//! Prefill and decode speed measured the way `llama-bench` measures it, for our engine and, where
//! a `llama-bench` binary is at hand, for llama.cpp on the same file: `pp` is the time of
//! `prompt` tokens prefilled after `depth` tokens already in the cache, `tg` the time of
//! `generate` tokens decoded one by one after `depth` tokens.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::kv::KvCache;
use super::transformer::Transformer;

/// One measurement at one depth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedPoint {
    /// Tokens already in the cache when the timed work starts.
    pub depth: usize,
    pub prompt: usize,
    pub prefill_tokens_per_s: f64,
    pub generate: usize,
    pub decode_tokens_per_s: f64,
}

/// Token ids spread over the vocabulary (speed does not depend on which).
pub fn ids(vocab: usize, count: usize, salt: usize) -> Vec<u32> {
    (0..count)
        .map(|i| ((i * 7919 + salt * 104_729 + 13) % vocab.max(1)) as u32)
        .collect()
}

/// Our engine: `depth` tokens prefilled untimed, then `prompt` tokens timed; the cache cut back
/// to `depth`, then `generate` single-token steps timed.
pub fn measure(
    model: &Transformer,
    depth: usize,
    prompt: usize,
    generate: usize,
) -> Result<SpeedPoint, String> {
    let needed = depth + prompt.max(generate);
    if needed > model.max_positions() {
        return Err(format!(
            "{needed} positions are past the model's {} (raise `max_context`)",
            model.max_positions()
        ));
    }
    let vocab = model.shape.vocab_size;
    let mut cache = KvCache::new(model.shape.num_layers);
    for chunk in ids(vocab, depth, 1).chunks(512) {
        model
            .forward(chunk, &mut cache, false)
            .map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    for chunk in ids(vocab, prompt, 2).chunks(512) {
        model
            .forward(chunk, &mut cache, false)
            .map_err(|e| e.to_string())?;
    }
    let prefill = started.elapsed().as_secs_f64();
    cache.truncate(depth);
    let steps = ids(vocab, generate, 3);
    let started = Instant::now();
    for token in &steps {
        model
            .forward(&[*token], &mut cache, false)
            .map_err(|e| e.to_string())?;
    }
    let decode = started.elapsed().as_secs_f64();
    Ok(SpeedPoint {
        depth,
        prompt,
        prefill_tokens_per_s: prompt as f64 / prefill.max(1e-9),
        generate,
        decode_tokens_per_s: generate as f64 / decode.max(1e-9),
    })
}

/// A `llama-bench` binary.
#[derive(Debug, Clone)]
pub struct LlamaBench {
    pub program: PathBuf,
}

impl LlamaBench {
    /// The first of `candidates` that is an executable file.
    pub fn find(candidates: &[PathBuf]) -> Option<LlamaBench> {
        candidates
            .iter()
            .find(|p| p.is_file())
            .map(|p| LlamaBench { program: p.clone() })
    }

    /// `llama-bench -m model -t threads -p prompt -n generate -d depth -r repetitions -o json`.
    pub fn run(
        &self,
        model: &Path,
        threads: usize,
        depth: usize,
        prompt: usize,
        generate: usize,
        repetitions: usize,
    ) -> Result<SpeedPoint, String> {
        let output = Command::new(&self.program)
            .arg("-m")
            .arg(model)
            .args(["-t", &threads.to_string()])
            .args(["-p", &prompt.to_string()])
            .args(["-n", &generate.to_string()])
            .args(["-d", &depth.to_string()])
            .args(["-r", &repetitions.max(1).to_string()])
            .args(["-o", "json"])
            .output()
            .map_err(|e| format!("`{}`: {e}", self.program.display()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().last().unwrap_or("").trim().to_string();
            return Err(format!(
                "`{}` failed ({}): {last}",
                self.program.display(),
                output.status
            ));
        }
        parse_llama_bench(&String::from_utf8_lossy(&output.stdout), depth)
    }
}

/// The `pp` and `tg` rows of `llama-bench -o json` output.
pub fn parse_llama_bench(json: &str, depth: usize) -> Result<SpeedPoint, String> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(json)
        .map_err(|e| format!("llama-bench printed no JSON list of results: {e}"))?;
    let mut point = SpeedPoint {
        depth,
        prompt: 0,
        prefill_tokens_per_s: 0.0,
        generate: 0,
        decode_tokens_per_s: 0.0,
    };
    for row in &rows {
        let field = |name: &str| row.get(name).and_then(serde_json::Value::as_f64);
        let (Some(prompt), Some(generate), Some(speed)) =
            (field("n_prompt"), field("n_gen"), field("avg_ts"))
        else {
            return Err("a llama-bench result lacks n_prompt, n_gen or avg_ts".to_string());
        };
        if generate == 0.0 {
            point.prompt = prompt as usize;
            point.prefill_tokens_per_s = speed;
        } else {
            point.generate = generate as usize;
            point.decode_tokens_per_s = speed;
        }
    }
    if point.prompt == 0 || point.generate == 0 {
        return Err("llama-bench reported no prompt or no generation result".to_string());
    }
    Ok(point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_llama_bench_json() {
        let json = r#"[{"n_prompt": 256, "n_gen": 0, "n_depth": 3000, "avg_ts": 150.5},
                       {"n_prompt": 0, "n_gen": 64, "n_depth": 3000, "avg_ts": 30.25}]"#;
        let point = parse_llama_bench(json, 3000).unwrap();
        assert_eq!((point.prompt, point.generate, point.depth), (256, 64, 3000));
        assert_eq!(point.prefill_tokens_per_s, 150.5);
        assert_eq!(point.decode_tokens_per_s, 30.25);
        let error = parse_llama_bench("[{\"n_prompt\": 256}]", 0).unwrap_err();
        assert!(error.contains("lacks n_prompt, n_gen or avg_ts"), "{error}");
        assert!(parse_llama_bench("not json", 0).is_err());
    }
}

//! The tokenizer and chat template built from a real GGUF file's metadata, checked against
//! llama.cpp's tokenizer (ids in tests/fixtures/gguf-tokenizer/, 227 strings per vocabulary) and against the template
//! fixtures whose transformers renders tests/fixtures/templates/golden.json holds.
//!
//! The real models are not in the repository: each check looks for
//! `$MISSIONS_BENCH_MODELS/<name>/model.gguf`, else `~/.cache/missions-bench/models/<name>/model.gguf`
//! (where `../shared/models/fetch.sh` puts them), and says in its output when a model is absent
//! and its step was not run.

use std::path::{Path, PathBuf};

use candle_core::quantized::GgmlDType;
use missions_bench::model::local::fixtures::{write_gguf, write_hf_folder, FixtureShape};
use missions_bench::model::local::gguf_tokenizer;
use missions_bench::model::local::load::gguf_metadata;
use missions_bench::model::local::shape::Family;
use missions_bench::model::local::CandleBackend;
use missions_bench::model::{ModelBackend, ModelError, ModelInfo};
use missions_bench::spec::config::ModelConfig;
use missions_bench::spec::Provider;

use crate::common::real_model;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn gguf_tokenizer_matches_llama_cpp() {
    // The two Qwen2.5-Coder files share one vocabulary, and so one fixture.
    let groups = [
        (
            "qwen2.5-coder-0.5b",
            &["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"][..],
        ),
        ("smollm2-135m", &["smollm2-135m"][..]),
    ];
    for (fixture_name, models) in groups {
        let fixture_path = fixtures().join(format!("gguf-tokenizer/{fixture_name}.json"));
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&fixture_path).unwrap()).unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        assert!(
            cases.len() >= 200,
            "{}: {} cases",
            fixture_path.display(),
            cases.len()
        );
        for model in models {
            let Some(path) = real_model(model) else {
                continue;
            };
            let metadata = gguf_metadata(&path).unwrap();
            let tokenizer = gguf_tokenizer::tokenizer(&metadata, model).unwrap();
            let mut mismatches = Vec::new();
            for case in cases {
                let text = case["text"].as_str().unwrap();
                let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
                let ids = tokenizer.encode(text, false).unwrap().get_ids().to_vec();
                if ids != expected {
                    mismatches.push(format!("{text:?}: ours {ids:?}, llama.cpp {expected:?}"));
                }
            }
            assert!(
                mismatches.is_empty(),
                "{model}: {} of {} strings differ from llama.cpp:\n{}",
                mismatches.len(),
                cases.len(),
                mismatches.join("\n")
            );
            println!("{model}: {} strings encode as llama.cpp does", cases.len());
        }
    }
}

#[test]
fn gguf_chat_templates_are_the_rendered_fixtures() {
    // Each file's `tokenizer.chat_template` is one of the template fixtures, which
    // `template.rs` renders exactly as transformers does (golden.json).
    let models = [
        ("qwen2.5-coder-0.5b", "qwen2.5-instruct.jinja"),
        ("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct.jinja"),
        ("smollm2-135m", "smollm2-instruct.jinja"),
    ];
    for (model, fixture) in models {
        let Some(path) = real_model(model) else {
            continue;
        };
        let expected = std::fs::read_to_string(fixtures().join("templates").join(fixture)).unwrap();
        let metadata = gguf_metadata(&path).unwrap();
        let specials = gguf_tokenizer::specials(&metadata, model).unwrap();
        let template = specials.chat_template.unwrap();
        // Jinja drops one trailing newline, so the fixtures may or may not end in one.
        assert_eq!(
            template.strip_suffix('\n').unwrap_or(&template),
            expected.strip_suffix('\n').unwrap_or(&expected),
            "{model}"
        );
        assert!(!specials.stop_ids.is_empty(), "{model}");
    }
}

fn load(config: &ModelConfig) -> Result<CandleBackend, ModelError> {
    CandleBackend::load(
        ModelInfo {
            name: "gguf".into(),
            provider: "candle",
        },
        config,
    )
}

#[test]
fn a_gguf_without_tokenizer_metadata_needs_a_tokenizer_json() {
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        write_hf_folder(&dir.path().join("hf"), FixtureShape::tiny(Family::Qwen2), 5).unwrap();
    // The fixture writer puts no tokenizer in the GGUF metadata, and the folder has no
    // tokenizer.json: the error names the file and the missing key.
    std::fs::create_dir(dir.path().join("alone")).unwrap();
    let gguf = write_gguf(
        &fixture,
        &dir.path().join("alone/model.gguf"),
        GgmlDType::F32,
    )
    .unwrap();
    let mut config = ModelConfig {
        provider: Provider::Candle,
        path: Some(gguf.display().to_string()),
        ..ModelConfig::default()
    };
    let error = match load(&config) {
        Ok(_) => panic!("a GGUF with no tokenizer at all loaded"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&gguf.display().to_string()), "{error}");
    assert!(error.contains("`tokenizer.ggml.model`"), "{error}");
    // A tokenizer.json given in the config is used instead.
    config.tokenizer = Some(fixture.folder.join("tokenizer.json").display().to_string());
    let backend = load(&config).unwrap();
    assert_eq!(
        backend.engine().encode("<|im_start|>").unwrap().len(),
        1,
        "ChatML markers are single tokens of the fixture tokenizer"
    );
}

#[test]
fn smollm2_loads_from_its_gguf_file_alone() {
    let Some(path) = real_model("smollm2-135m") else {
        return;
    };
    let config = ModelConfig {
        provider: Provider::Candle,
        path: Some(path.display().to_string()),
        max_context: Some(4096),
        ..ModelConfig::default()
    };
    let backend = load(&config).unwrap();
    // SmolLM2's ids for its ChatML markers, as llama.cpp reads them from the same file.
    assert_eq!(
        backend
            .engine()
            .encode("<|im_start|>user\nhi<|im_end|>")
            .unwrap()[..1],
        [1]
    );
    assert!(backend.stats().detail.contains("gguf"));
}

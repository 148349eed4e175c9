//! Bad suites, missions, contracts and configs: every error names the file, the line and the
//! field, and all problems are reported at once.

use std::path::Path;

use missions_bench::spec::config::Config;
use missions_bench::spec::suite::load_suite;
use missions_bench::spec::SpecErrors;

use crate::common::{copy_suite, edit, tiny_suite};

fn broken(edit_suite: impl FnOnce(&Path)) -> (tempfile::TempDir, SpecErrors) {
    let dir = tempfile::tempdir().unwrap();
    let suite = copy_suite(&tiny_suite(), dir.path());
    edit_suite(&suite);
    let errors = load_suite(&suite).expect_err("the suite should not load");
    (dir, errors)
}

#[test]
fn unknown_key_in_mission_toml() {
    let (_dir, errors) = broken(|suite| {
        edit(
            &suite.join("greet/mission.toml"),
            "tags = [\"cli\"]",
            "tags = [\"cli\"]\ncolour = \"red\"",
        )
    });
    assert_eq!(errors.0.len(), 1, "{errors}");
    let error = &errors.0[0];
    assert!(error.path.ends_with("greet/mission.toml"));
    assert_eq!(error.line, Some(6));
    assert_eq!(error.field.as_deref(), Some("colour"));
    assert!(
        error
            .to_string()
            .contains("greet/mission.toml:6: unknown field `colour`"),
        "{error}"
    );
}

#[test]
fn wrong_type_in_suite_toml() {
    let (_dir, errors) = broken(|suite| {
        edit(
            &suite.join("suite.toml"),
            "command_timeout_s = 20",
            "command_timeout_s = \"soon\"",
        )
    });
    let error = &errors.0[0];
    assert!(error.path.ends_with("suite.toml"));
    assert_eq!(error.line, Some(5));
    assert_eq!(error.field.as_deref(), Some("command_timeout_s"));
}

#[test]
fn contract_problems_are_all_reported_with_lines() {
    let (_dir, errors) = broken(|suite| {
        let contract = suite.join("greet/contract.toml");
        edit(
            &contract,
            "id = \"A3\"\nmilestone = \"m2\"",
            "id = \"A3\"\nmilestone = \"m9\"",
        );
        edit(
            &contract,
            "fulfils = [\"A1\"]",
            "fulfils = [\"A1\", \"A7\"]",
        );
    });
    let text = errors.to_string();
    let unknown_milestone = errors
        .0
        .iter()
        .find(|e| e.message.contains("unknown milestone `m9`"))
        .expect(&text);
    assert!(unknown_milestone.path.ends_with("greet/contract.toml"));
    assert_eq!(
        unknown_milestone.field.as_deref(),
        Some("assertion.milestone")
    );
    assert_eq!(unknown_milestone.line, Some(35));
    let unknown_assertion = errors
        .0
        .iter()
        .find(|e| e.message.contains("unknown assertion `A7`"))
        .expect(&text);
    assert_eq!(unknown_assertion.field.as_deref(), Some("feature.fulfils"));
    assert_eq!(unknown_assertion.line, Some(47));
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.message.contains("assertion `A3` is not claimed")),
        "{text}"
    );
}

#[test]
fn missing_solution_and_unmapped_milestone() {
    let (_dir, errors) = broken(|suite| {
        std::fs::remove_dir_all(suite.join("greet/solution/f2")).unwrap();
        edit(
            &suite.join("greet/mission.toml"),
            "m2 = [\"acceptance.m2::*\"]\n",
            "",
        );
        edit(
            &suite.join("weak/mission.toml"),
            "id = \"weak\"",
            "id = \"strong\"",
        );
    });
    let text = errors.to_string();
    assert!(
        text.contains("feature `f2` has no solution/f2/ folder"),
        "{text}"
    );
    assert!(text.contains("field `acceptance.milestones`: milestone `m2` of contract.toml has no acceptance test patterns"), "{text}");
    assert!(
        text.contains(
            "weak/mission.toml:1: field `id`: id `strong` must equal the folder name `weak`"
        ),
        "{text}"
    );
}

#[test]
fn a_folder_without_suite_toml() {
    let dir = tempfile::tempdir().unwrap();
    let errors = load_suite(dir.path()).unwrap_err();
    assert!(errors.to_string().contains("no suite.toml here"));
}

#[test]
fn config_errors_name_the_field() {
    let path = Path::new("missions-bench.toml");
    let errors = Config::parse(
        path,
        "default_pairing = \"x\"\n[models.a]\nprovider = \"oracle\"\ntemperature = 0.5\n",
    )
    .unwrap_err();
    assert_eq!(errors.0[0].line, Some(4));
    assert_eq!(errors.0[0].field.as_deref(), Some("models.a.temperature"));
    let errors = Config::parse(
        path,
        "default_pairing = \"x\"\n[models.a]\nprovider = \"oracle\"\n",
    )
    .unwrap_err();
    assert!(
        errors
            .to_string()
            .contains("missions-bench.toml:1: field `default_pairing`: no pairing named `x`"),
        "{errors}"
    );
}

#[test]
fn remote_model_keys_are_checked_and_keys_are_never_echoed() {
    let path = Path::new("missions-bench.toml");
    let text = "default_pairing = \"a\"\n[models.a]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:8000/v1\"\napi_key_env = \"OPENAI_API_KEY\"\nparams = { temperature = 0.2, seed = 7 }\nmax_concurrency = 4\n[models.b]\nprovider = \"anthropic\"\nmodel = \"claude\"\ncache_ttl = \"1h\"\n[pairings.a]\norchestrator = \"a\"\nworker = \"a\"\nvalidator = \"b\"\n";
    let config = Config::parse(path, text).expect("valid remote models");
    assert_eq!(config.models["a"].params.as_ref().unwrap()["seed"], 7);
    assert_eq!(config.models["b"].cache_ttl.as_deref(), Some("1h"));

    let text = "default_pairing = \"a\"\n[models.a]\nprovider = \"openai\"\napi_key_env = \"sk-live-abcdef123456\"\ntemperature = 0.2\nbase_url = \"localhost:8000\"\n[models.b]\nprovider = \"candle\"\npath = \"x.gguf\"\ncache_ttl = \"1h\"\n";
    let errors = Config::parse(path, text).unwrap_err().to_string();
    assert!(!errors.contains("sk-live-abcdef123456"), "{errors}");
    for expected in [
        "missions-bench.toml:2: field `models.a.model`: model `a`: a remote model needs `model`",
        "missions-bench.toml:4: field `models.a.api_key_env`: api_key_env must name an environment variable",
        "missions-bench.toml:5: field `models.a.temperature`: `temperature` is for candle models; `a` is openai; for openai models put it in `params`",
        "missions-bench.toml:6: field `models.a.base_url`: base_url `localhost:8000` must start with http:// or https://",
        "missions-bench.toml:10: field `models.b.cache_ttl`: `cache_ttl` is for anthropic models; `b` is candle",
    ] {
        assert!(errors.contains(expected), "missing {expected:?} in:\n{errors}");
    }
}

#[test]
fn a_mission_budget_without_fix_features_is_refused() {
    let (_dir, errors) = broken(|suite| {
        edit(
            &suite.join("greet/mission.toml"),
            "tags = [\"cli\"]",
            "tags = [\"cli\"]\n\n[budget]\nmax_fix_features = 0",
        )
    });
    assert_eq!(errors.0.len(), 1, "{errors}");
    let error = &errors.0[0];
    assert!(error.path.ends_with("greet/mission.toml"));
    assert_eq!(error.field.as_deref(), Some("budget"));
    assert!(
        error
            .message
            .contains("max_fix_features must be at least 1"),
        "{error}"
    );
}

#[test]
fn sealing_settings_are_checked_and_the_runner_inferred() {
    let (_dir, errors) = broken(|suite| {
        edit(
            &suite.join("greet/mission.toml"),
            "[acceptance.milestones]",
            "product = [\"src/[\"]\nrunner = \"jest\"\n\n[acceptance.milestones]",
        )
    });
    let text = errors.to_string();
    assert!(
        text.contains("field `runner`: unknown variant `jest`"),
        "{text}"
    );

    let (_dir, errors) = broken(|suite| {
        edit(
            &suite.join("greet/mission.toml"),
            "[acceptance.milestones]",
            "product = [\"src/[\"]\n\n[acceptance.milestones]",
        )
    });
    let error = errors
        .0
        .iter()
        .find(|e| e.field.as_deref() == Some("acceptance.product"))
        .unwrap_or_else(|| panic!("{errors}"));
    assert!(error.path.ends_with("greet/mission.toml"));
    assert!(error.line.is_some());
    assert!(error.message.contains("invalid glob `src/[`"), "{error}");

    // The tiny suite's command is a shell script: no pytest plugin; the core suite's runners
    // are its languages' (pytest, `node --test`, `cargo test`).
    use missions_bench::spec::mission::Runner;
    let tiny = load_suite(&tiny_suite()).unwrap();
    assert!(tiny.missions.iter().all(|m| m.runner() == Runner::Command));
    let core = load_suite(&crate::common::core_suite()).unwrap();
    for mission in &core.missions {
        let expected = match mission.file.language.as_str() {
            "python" => Runner::Pytest,
            "javascript" => Runner::Node,
            "rust" => Runner::Cargo,
            other => panic!("{}: language {other}", mission.id()),
        };
        assert_eq!(mission.runner(), expected, "{}", mission.id());
    }
    for language in ["python", "javascript", "rust"] {
        assert!(core.missions.iter().any(|m| m.file.language == language));
    }
}

#[test]
fn a_mission_naming_an_environment_the_suite_lacks() {
    let (_dir, errors) = broken(|suite| {
        edit(
            &suite.join("greet/mission.toml"),
            "tags = [\"cli\"]",
            "tags = [\"cli\"]\nenvironment = \"node\"",
        )
    });
    assert_eq!(errors.0.len(), 1, "{errors}");
    let error = &errors.0[0];
    assert!(error.path.ends_with("greet/mission.toml"), "{error}");
    assert_eq!(error.line, Some(6));
    assert_eq!(error.field.as_deref(), Some("environment"));
    assert!(
        error
            .message
            .contains("asks for the environment `node`, and suite.toml names none"),
        "{error}"
    );

    let (_dir, errors) = broken(|suite| {
        edit(
            &suite.join("greet/mission.toml"),
            "tags = [\"cli\"]",
            "tags = [\"cli\"]\nenvironment = \"nodejs\"",
        );
        let toml = suite.join("suite.toml");
        let text = std::fs::read_to_string(&toml).unwrap();
        std::fs::write(
            &toml,
            format!("{text}\n[environments.node]\nsetup = []\n\n[environments.\"b a d\"]\n"),
        )
        .unwrap();
    });
    let text = errors.to_string();
    assert!(
        text.contains("asks for the environment `nodejs`, and suite.toml names only b a d, node"),
        "{text}"
    );
    assert!(
        text.contains("`b a d` is not a usable environment name"),
        "{text}"
    );
}

#[test]
fn record_caches_in_suite_toml_are_checked() {
    let append = |text: &'static str| {
        move |suite: &Path| {
            let path = suite.join("suite.toml");
            let source = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, format!("{source}\n{text}")).unwrap();
        }
    };
    let (_dir, errors) = broken(append("[record]\ncache = [\"build/\"]\n"));
    let error = &errors.0[0];
    assert!(error.path.ends_with("suite.toml"));
    assert_eq!(error.field.as_deref(), Some("cache"));
    assert!(error.line.is_some(), "{error}");

    let (_dir, errors) = broken(append("[record]\ncaches = [\"!keep.txt\"]\n"));
    let error = &errors.0[0];
    assert_eq!(error.field.as_deref(), Some("record.caches"));
    assert!(error.line.is_some(), "{error}");
    assert!(error.to_string().contains("`!keep.txt`"), "{error}");
}

#[test]
fn a_mutation_tool_not_supported_yet_names_file_line_and_field() {
    let (_dir, errors) = broken(|suite| {
        edit(
            &suite.join("greet/mission.toml"),
            "[lines]",
            "[mutation]\ncommand = \"sh tests/run.sh\"\ntool = \"mutmut\"\nmax_mutants = 0\n\n[lines]",
        )
    });
    let messages: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
    assert_eq!(errors.0.len(), 2, "{errors}");
    assert!(
        messages[0].contains(
            "greet/mission.toml:23: field `mutation.tool`: mutation tool `mutmut` is not supported yet"
        ),
        "{errors}"
    );
    assert!(
        messages[1].contains("greet/mission.toml:24: field `mutation.max_mutants`"),
        "{errors}"
    );
}

#[test]
fn the_builtin_mutation_tool_mutates_python_only() {
    let (_dir, errors) = broken(|suite| {
        edit(
            &suite.join("greet/mission.toml"),
            "[lines]",
            "[mutation]\ncommand = \"sh tests/run.sh\"\n\n[lines]",
        )
    });
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].field.as_deref(), Some("mutation.tool"));
    assert!(
        errors.0[0]
            .to_string()
            .contains("mutates Python only, and this mission's language is `shell`"),
        "{errors}"
    );
}

#[test]
fn a_missing_field_is_named_once_with_its_table_line() {
    let (_dir, errors) = broken(|suite| {
        edit(
            &suite.join("greet/contract.toml"),
            "id = \"A3\"\nmilestone = \"m2\"",
            "milestone = \"m2\"",
        )
    });
    let error = &errors.0[0];
    let text = error.to_string();
    assert!(error.path.ends_with("greet/contract.toml"), "{text}");
    assert!(
        text.ends_with("greet/contract.toml:33: missing field `id`"),
        "{text}"
    );
    assert_eq!(text.matches("`id`").count(), 1, "{text}");
    assert_eq!(error.field.as_deref(), Some("assertion.id"), "{text}");

    // A key the file should not have is named once too, at its own line.
    let (_dir, errors) = broken(|suite| {
        edit(
            &suite.join("greet/mission.toml"),
            "tags = [\"cli\"]",
            "tags = [\"cli\"]\ncolour = \"red\"",
        )
    });
    let text = errors.0[0].to_string();
    assert!(
        text.contains("greet/mission.toml:6: unknown field `colour`"),
        "{text}"
    );
    assert_eq!(text.matches("`colour`").count(), 1, "{text}");
}

//! Each role's tools: the schemas derived from the argument types are the ones the models have
//! always seen (the fixture), examples built from every schema decode into the arguments, and a
//! tool is reachable only in a role that lists it.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::*;
use crate::spec::FindingGroup;

fn every_kind() -> Vec<(&'static str, ToolboxKind)> {
    vec![
        ("plan", ToolboxKind::Plan),
        (
            "fix",
            ToolboxKind::Fix {
                milestone: "m1".into(),
                groups: Vec::<FindingGroup>::new(),
            },
        ),
        ("worker", ToolboxKind::Worker),
        ("scrutiny", ToolboxKind::Scrutiny),
        (
            "user_testing",
            ToolboxKind::UserTesting {
                assertions: Vec::new(),
            },
        ),
        ("subagent", ToolboxKind::Subagent),
    ]
}

fn spec_json(spec: &ToolSpec) -> Value {
    json!({"name": spec.name, "description": spec.description, "parameters": spec.parameters})
}

#[test]
fn derived_schemas_are_the_ones_models_see() {
    let fixture: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/tool-specs/roles.json"
    ))
    .expect("the fixture is JSON");
    let with_browser = (
        "user_testing_browser",
        ToolboxKind::UserTesting {
            assertions: Vec::new(),
        },
        true,
    );
    let kinds = every_kind()
        .into_iter()
        .map(|(role, kind)| (role, kind, false));
    for (role, kind, browser) in kinds.chain([with_browser]) {
        let derived: Vec<Value> = role_specs(&kind, browser).iter().map(spec_json).collect();
        let expected = fixture[role].as_array().expect("a list per role");
        assert_eq!(derived.len(), expected.len(), "{role}: number of tools");
        for (got, want) in derived.iter().zip(expected) {
            // Compared as text, so the order of keys counts too (it is what a model reads).
            assert_eq!(
                serde_json::to_string(got).expect("serializable"),
                serde_json::to_string(want).expect("serializable"),
                "{role}: tool {}",
                want["name"]
            );
        }
    }
}

/// A value of `schema`: every property when `full`, else only the required ones.
fn example(schema: &Value, full: bool) -> Value {
    if let Some(values) = schema["enum"].as_array() {
        return values[0].clone();
    }
    match schema["type"].as_str() {
        Some("object") => {
            let required: BTreeSet<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut object = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    if full || required.contains(name.as_str()) {
                        object.insert(name.clone(), example(property, full));
                    }
                }
            }
            Value::Object(object)
        }
        Some("array") => json!([example(&schema["items"], full)]),
        Some("integer") => json!(schema["minimum"].as_u64().unwrap_or(1)),
        Some("boolean") => json!(true),
        Some("string") => json!("x"),
        other => panic!("a tool schema has a type the tools do not use: {other:?}"),
    }
}

/// Every value an enum of `schema` can take, each in a full example (one enum varied at a time).
fn enum_variants(schema: &Value) -> Vec<Value> {
    let mut variants = Vec::new();
    let Some(properties) = schema["properties"].as_object() else {
        return variants;
    };
    for (name, property) in properties {
        let nested = if property["type"] == "array" {
            &property["items"]
        } else {
            property
        };
        let values: Vec<Value> = match nested["enum"].as_array() {
            Some(values) => values.clone(),
            None => enum_variants(nested),
        };
        for value in values {
            let mut whole = example(schema, true);
            let slot = if property["type"] == "array" {
                &mut whole[name.as_str()][0]
            } else {
                &mut whole[name.as_str()]
            };
            *slot = value;
            variants.push(whole);
        }
    }
    variants
}

#[test]
fn examples_of_every_schema_decode_into_the_arguments() {
    for (role, kind) in every_kind() {
        // With the browser toolset, so that its schemas are covered too.
        let registry = role_registry(&kind, true);
        for spec in registry.specs() {
            let mut examples = vec![
                example(&spec.parameters, true),
                example(&spec.parameters, false),
            ];
            examples.extend(enum_variants(&spec.parameters));
            for arguments in examples {
                let decoded = registry.decodes(&spec.name, arguments.clone());
                assert_eq!(
                    decoded,
                    Some(Ok(())),
                    "{role}: `{}` does not take {arguments}",
                    spec.name
                );
            }
            // The schema's required keys are the ones decoding requires.
            if let Value::Object(full) = example(&spec.parameters, true) {
                for key in spec.parameters["required"].as_array().into_iter().flatten() {
                    let mut without = full.clone();
                    without.remove(key.as_str().unwrap_or_default());
                    let decoded = registry.decodes(&spec.name, Value::Object(without));
                    assert!(
                        matches!(decoded, Some(Err(_))),
                        "{role}: `{}` decodes without its required `{key}`",
                        spec.name
                    );
                }
            }
        }
    }
}

struct NoSubagents;

#[async_trait]
impl SubagentSpawner for NoSubagents {
    async fn spawn_subagent(&self, _parent: u32, _task: &str) -> Result<String, String> {
        Err("no subagents here".to_string())
    }
}

fn workspace_tools(dir: &std::path::Path) -> WorkspaceTools {
    WorkspaceTools {
        workspace: crate::tools::Workspace::new(dir).expect("workspace"),
        command_env: crate::tools::CommandEnv {
            vars: Vec::new(),
            timeout: std::time::Duration::from_secs(5),
            max_output_bytes: 4096,
            sandbox: None,
            stop: None,
        },
    }
}

/// Agent run 1's tools for `kind`, over a workspace at `dir`.
fn toolbox_of<'a>(
    kind: ToolboxKind,
    state: &'a MissionState,
    emitter: &'a Emitter,
    answers: &'a Answers,
    dir: &std::path::Path,
) -> RoleToolbox<'a> {
    RoleToolbox::new(RoleContext {
        run: 1,
        kind,
        state,
        emitter,
        answers,
        subagents: &NoSubagents,
        workspace: workspace_tools(dir),
        browser: None,
        mission_browser: false,
        outputs: Outputs::default(),
    })
}

#[tokio::test]
async fn a_harness_failure_to_save_is_fatal_never_the_models_mistake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = MissionState::new(dir.path()).expect("state");
    // A folder where the contract is saved: no write can succeed, whoever runs the test.
    std::fs::create_dir_all(dir.path().join(".mission/contract.toml")).expect("folder");
    let emitter = Emitter::new(Vec::new());
    let answers = Answers::default();
    let mut toolbox = toolbox_of(ToolboxKind::Plan, &state, &emitter, &answers, dir.path());
    let contract = json!({
        "milestones": [{"id": "m1", "title": "the first"}],
        "assertions": [{"id": "A1", "milestone": "m1", "description": "it works", "verify": "agent"}]
    });
    let fatal = toolbox
        .call("write_contract", contract)
        .await
        .expect_err("a failure of the harness, not a reply");
    assert!(
        fatal.message.starts_with("cannot save the contract: "),
        "{}",
        fatal.message
    );
    assert_eq!(toolbox.context.outputs.contract, None);
    // A model's mistake is still an answer for the model.
    let reply = toolbox
        .call("write_contract", json!({"milestones": []}))
        .await
        .expect("a reply");
    assert_eq!(reply.error, Some(ToolErrorKind::InvalidArguments));
}

#[tokio::test]
async fn a_tool_is_reachable_only_where_its_role_lists_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = MissionState::new(dir.path()).expect("state");
    let emitter = Emitter::new(Vec::new());
    let answers = Answers::default();
    let every_name: BTreeSet<&'static str> = every_kind()
        .iter()
        .flat_map(|(_, kind)| role_registry(kind, false).names())
        .collect();
    for (role, kind) in every_kind() {
        let listed = role_registry(&kind, false).names();
        let unique: BTreeSet<&str> = listed.iter().copied().collect();
        assert_eq!(unique.len(), listed.len(), "{role} lists a tool twice");
        let mut toolbox = toolbox_of(kind.clone(), &state, &emitter, &answers, dir.path());
        let offered: Vec<String> = toolbox.specs().into_iter().map(|s| s.name).collect();
        assert_eq!(offered, listed, "{role}: the specs are the registry's");
        for name in every_name.iter().filter(|n| !listed.contains(n)) {
            let reply = toolbox
                .call(name, json!({}))
                .await
                .expect("a refusal is a reply");
            assert_eq!(reply.error, Some(ToolErrorKind::Refused), "{role}: {name}");
            assert_eq!(
                reply.content,
                format!("`{name}` is not available to this role")
            );
        }
    }
}

#[tokio::test]
async fn browser_assertions_need_a_mission_with_a_browser_and_well_formed_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = MissionState::new(dir.path()).expect("state");
    let emitter = Emitter::new(Vec::new());
    let answers = Answers::default();
    let browser_assertion = |steps: Value| {
        json!({
            "milestones": [{"id": "m1", "title": "the page"}],
            "assertions": [{
                "id": "A1", "milestone": "m1", "description": "a person is greeted",
                "verify": "browser", "serve": "python3 -m http.server 8801", "steps": steps
            }]
        })
    };
    let good = json!([{"open": "http://127.0.0.1:8801/"}, {"expect_text": "Hello"}]);
    let mut toolbox = toolbox_of(ToolboxKind::Plan, &state, &emitter, &answers, dir.path());
    let reply = toolbox
        .call("write_contract", browser_assertion(good.clone()))
        .await
        .expect("a reply");
    assert_eq!(reply.error, Some(ToolErrorKind::PlanViolation));
    assert!(
        reply
            .content
            .contains("assertions[0].verify: this mission has no browser"),
        "{}",
        reply.content
    );
    toolbox.context.mission_browser = true;
    let saved = toolbox
        .call("write_contract", browser_assertion(good))
        .await
        .expect("a reply");
    assert_eq!(saved.error, None, "{}", saved.content);
    let steps = &toolbox
        .context
        .outputs
        .contract
        .as_ref()
        .expect("saved")
        .assertions[0]
        .steps;
    assert_eq!(steps[1].expect_text.as_deref(), Some("Hello"));
    for (steps, problem) in [
        (
            json!([]),
            "assertions[0].steps: an assertion with verify = \"browser\" needs steps",
        ),
        (
            json!([{"click": "Go"}]),
            "assertions[0].steps: the first step must open a page",
        ),
        (
            json!([{"open": "http://127.0.0.1:8801/", "click": "Go"}]),
            "assertions[0].steps: step 1: a step does one thing",
        ),
        (
            json!([{"open": "http://127.0.0.1:8801/"}, {"type": "Ada"}]),
            "assertions[0].steps: step 2: `type` needs `into`",
        ),
        (
            json!([{"open": "http://127.0.0.1/"}]),
            "assertions[0].serve: the server's port comes from the first `open` address",
        ),
    ] {
        let reply = toolbox
            .call("write_contract", browser_assertion(steps))
            .await
            .expect("a reply");
        assert_eq!(reply.error, Some(ToolErrorKind::PlanViolation), "{problem}");
        assert!(
            reply.content.contains(problem),
            "{problem}: {}",
            reply.content
        );
    }
}

#[tokio::test]
async fn a_verdict_citing_unsaved_evidence_is_told_how_to_report_without_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = MissionState::new(dir.path()).expect("state");
    let emitter = Emitter::new(Vec::new());
    let answers = Answers::default();
    let mut toolbox = toolbox_of(
        ToolboxKind::UserTesting {
            assertions: vec![AssertionId::new("A1")],
        },
        &state,
        &emitter,
        &answers,
        dir.path(),
    );
    // What Qwen2.5-Coder-1.5B sent as a user tester: its command's output cited as `stdout`.
    let verdict = |ids: Value| json!({"verdicts": [{"assertion": "A1", "status": "pass", "evidence": "hello, world", "evidence_ids": ids}]});
    let reply = toolbox
        .call("submit_verdicts", verdict(json!(["stdout"])))
        .await
        .expect("a reply");
    assert_eq!(reply.error, Some(ToolErrorKind::InvalidArguments));
    assert_eq!(
        reply.content,
        "unknown evidence ids: stdout. An evidence id names a screenshot or network summary this run saved, and this run saved none (browser_screenshot and browser_network save them); cite only those, or leave `evidence_ids` out and say what you saw (a command's output too) in `evidence`"
    );
    assert!(toolbox.context.outputs.verdicts.is_empty());
    // Done as the reply says, the verdict goes through.
    let reply = toolbox
        .call("submit_verdicts", verdict(json!([])))
        .await
        .expect("a reply");
    assert_eq!(reply.error, None, "{}", reply.content);
    assert_eq!(toolbox.context.outputs.verdicts.len(), 1);
}

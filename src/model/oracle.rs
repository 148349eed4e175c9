//! The `oracle` provider: plays every role from the mission's hidden reference, through the same
//! tool calls a model would make. The orchestrator writes the reference contract, plan and
//! library; each worker writes its feature's solution files, tests first, running the feature's
//! tests before and after; validators run the checks and report what they observed, so an oracle
//! validator behind a worker that did nothing reports failures. One tool call per turn.

use std::path::{Path, PathBuf};
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{json, Value};
use walkdir::WalkDir;

use super::estimate::estimate_usage;
use super::{
    millis, AgentTask, CallTiming, ChatRequest, ChatResponse, MessageRole, ModelBackend,
    ModelError, ModelInfo, ModelSession, SessionContext, StopReason, ToolCall,
};
use crate::spec::{Assertion, Feature, FindingGroup, MissionSpec, Severity, StepAction, Verify};

pub struct OracleBackend {
    info: ModelInfo,
}

impl OracleBackend {
    pub fn new(info: ModelInfo) -> OracleBackend {
        OracleBackend { info }
    }
}

impl ModelBackend for OracleBackend {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn start_session(&self, context: SessionContext) -> Box<dyn ModelSession> {
        let steps = plan_steps(&context);
        Box::new(OracleSession {
            steps,
            next: 0,
            observations: Vec::new(),
        })
    }
}

/// One scripted turn.
#[derive(Debug, Clone)]
enum Step {
    Call {
        name: &'static str,
        arguments: Value,
    },
    /// Run an assertion's probe; its observation decides the verdict.
    Probe {
        assertion: Assertion,
    },
    /// One browser action of a browser assertion's replay; its observation must meet `expect`.
    BrowserCall {
        assertion: String,
        name: &'static str,
        arguments: Value,
        expect: Expect,
    },
    /// Run a feature's tests; a failure becomes a blocking finding.
    ReviewTests {
        command: String,
    },
    SubmitVerdicts,
    SubmitReview,
    /// Finish with the previous step's observation as the report.
    Report,
}

/// What a browser action's observation must show.
#[derive(Debug, Clone)]
enum Expect {
    /// The reply starts so (the action was done).
    Done(&'static str),
    /// The page's text holds this.
    Text(String),
    /// The page's address holds this.
    Url(String),
    /// A screenshot was saved; its id is cited.
    Screenshot,
}

impl Expect {
    fn met(&self, observation: &str) -> bool {
        match self {
            Expect::Done(prefix) => observation.starts_with(prefix),
            Expect::Text(text) => observation
                .split_once("--- page ---\n")
                .is_some_and(|(_, page)| page.contains(text.as_str())),
            Expect::Url(part) => observation
                .lines()
                .next()
                .and_then(|line| line.strip_prefix("url: "))
                .is_some_and(|url| url.contains(part.as_str())),
            Expect::Screenshot => screenshot_id(observation).is_some(),
        }
    }
}

/// The evidence id a `browser_screenshot` reply names.
fn screenshot_id(observation: &str) -> Option<&str> {
    let rest = observation.strip_prefix("screenshot saved as evidence `")?;
    rest.split('`').next()
}

struct OracleSession {
    steps: Vec<Step>,
    next: usize,
    /// Tool result text of each step taken so far.
    observations: Vec<String>,
}

#[async_trait]
impl ModelSession for OracleSession {
    async fn complete(&mut self, request: ChatRequest<'_>) -> Result<ChatResponse, ModelError> {
        let started = Instant::now();
        if self.next > 0 {
            let last = request
                .messages
                .iter()
                .rev()
                .find(|m| m.role == MessageRole::Tool)
                .map(|m| m.content.clone());
            self.observations.push(last.unwrap_or_default());
        }
        let (name, arguments) = match self.steps.get(self.next) {
            Some(step) => self.render(step),
            // The script is spent but the run goes on (a final tool was refused): stop cleanly.
            None => (
                "finish",
                json!({"summary": "oracle: nothing left to do", "tests_run": [], "notes": ""}),
            ),
        };
        self.next += 1;
        let call = ToolCall {
            id: format!("oracle_{}", self.next),
            name: name.to_string(),
            arguments: arguments.to_string(),
            recovered: false,
        };
        let usage = estimate_usage(&request, "", std::slice::from_ref(&call));
        Ok(ChatResponse {
            text: String::new(),
            tool_calls: vec![call],
            stop: StopReason::ToolCalls,
            usage,
            timing: CallTiming {
                latency_ms: millis(started.elapsed()),
                ..CallTiming::default()
            },
            retries: 0,
        })
    }
}

impl OracleSession {
    fn render(&self, step: &Step) -> (&'static str, Value) {
        match step {
            Step::Call { name, arguments } => (name, arguments.clone()),
            Step::Probe { assertion } => (
                "run_command",
                json!({"command": assertion.command.clone().unwrap_or_default()}),
            ),
            Step::ReviewTests { command } => ("run_command", json!({"command": command})),
            Step::BrowserCall {
                name, arguments, ..
            } => (name, arguments.clone()),
            Step::Report => {
                let observation = self.observations.last().cloned().unwrap_or_default();
                (
                    "finish",
                    json!({"summary": format!("The workspace holds:\n{observation}")}),
                )
            }
            Step::SubmitVerdicts => ("submit_verdicts", json!({ "verdicts": self.verdicts() })),
            Step::SubmitReview => {
                let findings: Vec<Value> = self
                    .steps
                    .iter()
                    .zip(&self.observations)
                    .filter_map(|(step, observation)| match step {
                        Step::ReviewTests { command }
                            if !observation.starts_with("exit_code: 0\n") =>
                        {
                            Some(json!({
                                "severity": Severity::Blocking.as_str(),
                                "title": format!("the feature's tests fail: `{command}`"),
                                "detail": first_lines(observation, 40),
                            }))
                        }
                        _ => None,
                    })
                    .collect();
                (
                    "submit_review",
                    json!({"findings": findings, "library_notes": []}),
                )
            }
        }
    }
}

impl OracleSession {
    /// One verdict per assertion, in the order they were checked: a probe's from its
    /// observation, a browser replay's from all of its actions.
    fn verdicts(&self) -> Vec<Value> {
        let mut verdicts: Vec<Value> = Vec::new();
        let mut replay: Option<Replay> = None;
        for (step, observation) in self.steps.iter().zip(&self.observations) {
            match step {
                Step::Probe { assertion } => {
                    verdicts.extend(replay.take().map(Replay::verdict));
                    verdicts.push(verdict(assertion, observation));
                }
                Step::BrowserCall {
                    assertion,
                    name,
                    expect,
                    ..
                } => {
                    if replay.as_ref().is_some_and(|r| &r.assertion != assertion) {
                        verdicts.extend(replay.take().map(Replay::verdict));
                    }
                    replay
                        .get_or_insert_with(|| Replay::new(assertion))
                        .observe(name, expect, observation);
                }
                _ => {}
            }
        }
        verdicts.extend(replay.take().map(Replay::verdict));
        verdicts
    }
}

/// A browser assertion's replay as it is observed.
struct Replay {
    assertion: String,
    passed: bool,
    log: Vec<String>,
    evidence_ids: Vec<String>,
}

impl Replay {
    fn new(assertion: &str) -> Replay {
        Replay {
            assertion: assertion.to_string(),
            passed: true,
            log: Vec::new(),
            evidence_ids: Vec::new(),
        }
    }

    fn observe(&mut self, name: &str, expect: &Expect, observation: &str) {
        if let Some(id) = screenshot_id(observation) {
            self.evidence_ids.push(id.to_string());
        }
        // After the first failure only the screenshot counts.
        if !self.passed && !matches!(expect, Expect::Screenshot) {
            return;
        }
        let met = expect.met(observation);
        let first = observation.lines().next().unwrap_or_default();
        self.log.push(format!(
            "{name}: {}",
            if met {
                first.to_string()
            } else {
                first_lines(observation, 8)
            }
        ));
        if !met && !matches!(expect, Expect::Screenshot) {
            self.passed = false;
        }
    }

    fn verdict(self) -> Value {
        json!({
            "assertion": self.assertion,
            "status": if self.passed { "pass" } else { "fail" },
            "evidence": self.log.join("\n"),
            "evidence_ids": self.evidence_ids,
        })
    }
}

/// Pass when the probe exited as expected and printed what was expected.
fn verdict(assertion: &Assertion, observation: &str) -> Value {
    let expected_exit = format!("exit_code: {}\n", assertion.expect_exit);
    let stdout = stdout_of(observation);
    let exit_ok = observation.starts_with(&expected_exit);
    let stdout_ok = assertion
        .expect_stdout
        .as_deref()
        .is_none_or(|needle| stdout.contains(needle));
    let status = if assertion.command.is_none() {
        "fail"
    } else if exit_ok && stdout_ok {
        "pass"
    } else {
        "fail"
    };
    let evidence = if assertion.command.is_none() {
        "the oracle has no probe for this assertion".to_string()
    } else {
        first_lines(observation, 12)
    };
    json!({"assertion": assertion.id.as_str(), "status": status, "evidence": evidence})
}

fn stdout_of(observation: &str) -> &str {
    let start = observation
        .find("--- stdout ---\n")
        .map_or(0, |i| i + "--- stdout ---\n".len());
    let end = observation
        .rfind("--- stderr ---\n")
        .filter(|&e| e >= start)
        .unwrap_or(observation.len());
    &observation[start..end]
}

fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join("\n")
}

fn plan_steps(context: &SessionContext) -> Vec<Step> {
    let mission = &context.mission;
    match &context.task {
        AgentTask::Plan => plan_orchestrator(mission),
        AgentTask::Implement { feature } => plan_worker(mission, feature),
        AgentTask::Review { feature } => plan_review(feature),
        AgentTask::UserTest { assertions, .. } => {
            let mut steps: Vec<Step> = Vec::new();
            for assertion in assertions {
                if assertion.verify == Verify::Browser {
                    steps.extend(plan_browser_replay(assertion));
                } else {
                    steps.push(Step::Probe {
                        assertion: assertion.clone(),
                    });
                }
            }
            steps.push(Step::SubmitVerdicts);
            steps
        }
        AgentTask::Fix {
            milestone,
            round,
            groups,
        } => plan_fix(milestone.as_str(), *round, groups),
        AgentTask::Investigate { .. } => vec![
            Step::Call {
                name: "list_files",
                arguments: json!({"path": "."}),
            },
            Step::Report,
        ],
    }
}

/// A browser assertion replayed through the browser tools: its server started, its steps, a
/// screenshot, and the browser closed so that the next assertion starts signed out.
fn plan_browser_replay(assertion: &Assertion) -> Vec<Step> {
    let id = assertion.id.as_str();
    let call = |name: &'static str, arguments: Value, expect: Expect| Step::BrowserCall {
        assertion: id.to_string(),
        name,
        arguments,
        expect,
    };
    let mut steps = Vec::new();
    if let (Some(serve), Some(port)) = (&assertion.serve, assertion.serve_port()) {
        steps.push(call(
            "start_server",
            json!({"command": serve, "port": port}),
            Expect::Done("the server is up"),
        ));
    }
    for step in &assertion.steps {
        steps.push(match step.action() {
            Ok(StepAction::Open(url)) => {
                call("browser_open", json!({"url": url}), Expect::Done("opened "))
            }
            Ok(StepAction::Click(target)) => call(
                "browser_click",
                json!({"target": target}),
                Expect::Done("clicked "),
            ),
            Ok(StepAction::Type { text, into }) => call(
                "browser_type",
                json!({"target": into, "text": text}),
                Expect::Done("typed into "),
            ),
            Ok(StepAction::ExpectText(text)) => call(
                "browser_read",
                json!({"wait_for": text}),
                Expect::Text(text.to_string()),
            ),
            Ok(StepAction::ExpectUrl(part)) => {
                call("browser_read", json!({}), Expect::Url(part.to_string()))
            }
            // A malformed step cannot be replayed: reading the page shows where it stopped.
            Err(why) => call("browser_read", json!({}), Expect::Text(why)),
        });
    }
    steps.push(call("browser_screenshot", json!({}), Expect::Screenshot));
    steps.push(call(
        "browser_close",
        json!({}),
        Expect::Done("the browser is closed"),
    ));
    steps
}

fn plan_orchestrator(mission: &MissionSpec) -> Vec<Step> {
    let reference = &mission.reference;
    // Delegating the survey of the workspace exercises subagents the way a model would use them.
    let mut steps = vec![Step::Call {
        name: "spawn_subagent",
        arguments: json!({"task": "Survey the workspace: which files does it hold?"}),
    }];
    for section in &mission.answers.sections {
        if let Some(keyword) = section.keywords.first() {
            steps.push(Step::Call {
                name: "ask_user",
                arguments: json!({"question": format!("Do you have a preference about {keyword}?")}),
            });
        }
    }
    steps.push(Step::Call {
        name: "write_contract",
        arguments: json!({"milestones": reference.milestones, "assertions": reference.assertions}),
    });
    steps.push(Step::Call {
        name: "write_features",
        arguments: json!({"features": reference.features}),
    });
    steps.push(Step::Call {
        name: "write_library",
        arguments: json!({"content": reference.library}),
    });
    steps.push(Step::Call {
        name: "finish",
        arguments: json!({"summary": format!(
            "Planned {} milestones, {} assertions and {} features.",
            reference.milestones.len(),
            reference.assertions.len(),
            reference.features.len()
        )}),
    });
    steps
}

fn plan_worker(mission: &MissionSpec, feature: &Feature) -> Vec<Step> {
    let reference_features: Vec<&Feature> = if feature.is_fix() {
        // A fix re-applies the reference of its whole milestone.
        mission
            .reference
            .features
            .iter()
            .filter(|f| f.milestone == feature.milestone)
            .collect()
    } else {
        mission
            .reference
            .features
            .iter()
            .filter(|f| f.id == feature.id)
            .collect()
    };
    if reference_features.is_empty() {
        return vec![Step::Call {
            name: "blocked",
            arguments: json!({"reason": format!("the oracle has no reference solution for feature `{}`", feature.id)}),
        }];
    }
    let mut tests = Vec::new();
    let mut sources = Vec::new();
    for reference in &reference_features {
        let folder = mission.solution_dir().join(reference.id.as_str());
        for (relative, content) in solution_files(&folder) {
            if mission.is_test_path(Path::new(&relative)) {
                tests.push((relative, content));
            } else {
                sources.push((relative, content));
            }
        }
    }
    let write = |(path, content): (String, String)| Step::Call {
        name: "write_file",
        arguments: json!({"path": path, "content": content}),
    };
    let test_command = feature.test_command.clone();
    let mut steps: Vec<Step> = tests.into_iter().map(write).collect();
    if let Some(command) = &test_command {
        steps.push(Step::Call {
            name: "run_command",
            arguments: json!({"command": command}),
        });
    }
    steps.extend(sources.into_iter().map(write));
    if let Some(command) = &test_command {
        steps.push(Step::Call {
            name: "run_command",
            arguments: json!({"command": command}),
        });
    }
    steps.push(Step::Call {
        name: "finish",
        arguments: json!({
            "summary": format!("Implemented `{}` from the reference, tests first.", feature.id),
            "tests_run": test_command.into_iter().collect::<Vec<_>>(),
            "notes": ""
        }),
    });
    steps
}

fn plan_review(feature: &Feature) -> Vec<Step> {
    let mut steps = Vec::new();
    if let Some(command) = &feature.test_command {
        steps.push(Step::ReviewTests {
            command: command.clone(),
        });
    }
    steps.push(Step::SubmitReview);
    steps
}

/// One fix feature per group of findings, addressing all of them.
fn plan_fix(milestone: &str, round: u32, groups: &[FindingGroup]) -> Vec<Step> {
    let fixes: Vec<Value> = groups
        .iter()
        .filter(|g| !g.findings.is_empty())
        .enumerate()
        .map(|(i, group)| {
            let titles: Vec<&str> = group.findings.iter().map(|f| f.title.as_str()).collect();
            let addresses: Vec<&str> = group.findings.iter().map(|f| f.id.as_str()).collect();
            json!({
                "id": format!("fix-{milestone}-r{round}-{}", i + 1),
                "milestone": milestone,
                "title": format!("Fix {}", group.concern),
                "description": titles.join("\n"),
                "addresses": addresses,
            })
        })
        .collect();
    if fixes.is_empty() {
        return vec![Step::Call {
            name: "finish",
            arguments: json!({"summary": "No blocking findings to fix."}),
        }];
    }
    vec![
        Step::Call {
            name: "write_fix_features",
            arguments: json!({ "features": fixes }),
        },
        Step::Call {
            name: "finish",
            arguments: json!({"summary": "Planned one fix for each group of blocking findings."}),
        },
    ]
}

/// Files of one solution folder, relative to it, in path order.
fn solution_files(folder: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = WalkDir::new(folder)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            !e.path()
                .components()
                .any(|c| c.as_os_str() == "__pycache__")
        })
        .filter_map(|e| {
            let relative: PathBuf = e.path().strip_prefix(folder).ok()?.to_path_buf();
            let content = std::fs::read_to_string(e.path()).ok()?;
            Some((relative.to_string_lossy().into_owned(), content))
        })
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Verify;

    fn assertion(command: Option<&str>, stdout: Option<&str>) -> Assertion {
        Assertion {
            id: "A1".into(),
            milestone: "m1".into(),
            description: "d".into(),
            verify: Verify::Command,
            command: command.map(str::to_string),
            expect_exit: 0,
            expect_stdout: stdout.map(str::to_string),
            evidence: String::new(),
            serve: None,
            steps: Vec::new(),
        }
    }

    #[test]
    fn verdicts_follow_observations() {
        let ok = "exit_code: 0\n--- stdout ---\nwords: 3\n--- stderr ---\n";
        assert_eq!(
            verdict(&assertion(Some("x"), Some("words: 3")), ok)["status"],
            "pass"
        );
        assert_eq!(
            verdict(&assertion(Some("x"), Some("words: 4")), ok)["status"],
            "fail"
        );
        assert_eq!(
            verdict(
                &assertion(Some("x"), None),
                "exit_code: 1\n--- stdout ---\n--- stderr ---\n"
            )["status"],
            "fail"
        );
        assert_eq!(verdict(&assertion(None, None), ok)["status"], "fail");
        // Expected text only in stderr does not count.
        let stderr_only = "exit_code: 0\n--- stdout ---\n--- stderr ---\nwords: 3\n";
        assert_eq!(
            verdict(&assertion(Some("x"), Some("words: 3")), stderr_only)["status"],
            "fail"
        );
    }
}

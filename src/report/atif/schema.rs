//! ATIF, Harbor's Agent Trajectory Interchange Format (RFC 0001, v1.7), as typed values: what a
//! reader parses (every object the RFC closes denies unknown fields), what the exporter writes,
//! and the RFC's field rules checked over a parsed trajectory ([`validate`]).
//!
//! The types follow the RFC's tables field for field. Fields the RFC types as "String or Array"
//! (`message`, `content`) or "String or Float" (`reasoning_effort`) stay JSON values here, and
//! [`validate`] checks their shapes, so a reader never guesses between alternatives.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The version the exporter writes, as the RFC spells it.
pub const SCHEMA_VERSION: &str = "ATIF-v1.7";

/// Every `schema_version` the RFC has defined; a reader of v1.7 accepts the earlier ones, whose
/// fields are a subset.
pub const KNOWN_VERSIONS: [&str; 8] = [
    "ATIF-v1.0",
    "ATIF-v1.1",
    "ATIF-v1.2",
    "ATIF-v1.3",
    "ATIF-v1.4",
    "ATIF-v1.5",
    "ATIF-v1.6",
    "ATIF-v1.7",
];

type Object = Map<String, Value>;

/// The root object of a trajectory document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trajectory {
    pub schema_version: String,
    /// Run-scoped since v1.7: trajectories of one logical run may share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Unique per document; required on embedded subagent trajectories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory_id: Option<String>,
    pub agent: Agent,
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_metrics: Option<FinalMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continued_trajectory_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Object>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagent_trajectories: Option<Vec<Trajectory>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// OpenAI function-calling definitions (`type` and `function`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_definitions: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Object>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepSource {
    System,
    User,
    Agent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub step_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    pub source: StepSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// A string or a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<Value>,
    /// A string, or an array of content parts (v1.6).
    pub message: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Object>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_call_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_copied_context: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    pub tool_call_id: String,
    pub function_name: String,
    /// Always a JSON object, `{}` when the call had no arguments.
    pub arguments: Object,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Object>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub results: Vec<ObservationResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationResult {
    /// The `tool_call_id` of a call of the same step; absent for results of other actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_call_id: Option<String>,
    /// A string, or an array of content parts (v1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagent_trajectory_ref: Option<Vec<SubagentTrajectoryRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Object>,
}

/// A delegated subagent's trajectory: embedded (`trajectory_id`) or in a file
/// (`trajectory_path`); at least one of them is set. `session_id` is informational only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubagentTrajectoryRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Object>,
}

/// One step's model call. `prompt_tokens` counts every input token, cached ones included;
/// `cached_tokens` is the part of it served from a cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_token_ids: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_token_ids: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Object>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalMetrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_prompt_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cached_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_steps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Object>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ContentType {
    Text,
    Image,
}

/// One part of a multimodal `message` or `content` (v1.6).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentPart {
    #[serde(rename = "type")]
    kind: ContentType,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    source: Option<ImageSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageSource {
    media_type: String,
    #[allow(dead_code)] // Required by the RFC; its value is any path or URL.
    path: String,
}

const IMAGE_MEDIA_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// A broken rule: where (a JSON path such as `steps[2].observation.results[0]`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub at: String,
    pub rule: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}", self.rule)
        } else {
            write!(f, "{}: {}", self.at, self.rule)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadTrajectoryError {
    #[error("cannot read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not JSON, or not the RFC's shape: serde's message names the line, column and field.
    #[error("`{}` is not an ATIF trajectory: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("`{}` breaks the ATIF rules: {}", path.display(), join(violations))]
    Invalid {
        path: PathBuf,
        violations: Vec<Violation>,
    },
}

fn join(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(Violation::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Trajectory {
    /// Parses a trajectory document; the field rules are [`validate`]'s.
    pub fn from_json(text: &str) -> Result<Trajectory, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Reads a `trajectory.json`, parses it and checks every rule; all violations come at once.
pub fn read_trajectory(path: &Path) -> Result<Trajectory, ReadTrajectoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadTrajectoryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let trajectory = Trajectory::from_json(&text).map_err(|e| ReadTrajectoryError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let violations = validate(&trajectory);
    if violations.is_empty() {
        Ok(trajectory)
    } else {
        Err(ReadTrajectoryError::Invalid {
            path: path.to_path_buf(),
            violations,
        })
    }
}

/// Checks the RFC's field rules the types alone cannot: the version, step ids counting from 1,
/// fields only agent steps may carry, timestamps, the shapes of `message`, `content` and
/// `reasoning_effort`, tool call ids and the observation results that name them, subagent
/// references and embedded subagents, `cached_tokens` within `prompt_tokens`, and
/// `final_metrics` equal to the sums of the steps' metrics. Empty when the trajectory is valid.
pub fn validate(trajectory: &Trajectory) -> Vec<Violation> {
    let mut violations = Vec::new();
    check_trajectory(trajectory, "", &mut violations);
    violations
}

struct Out<'a> {
    violations: &'a mut Vec<Violation>,
}

impl Out<'_> {
    fn push(&mut self, at: impl Into<String>, rule: impl Into<String>) {
        self.violations.push(Violation {
            at: at.into(),
            rule: rule.into(),
        });
    }
}

fn check_trajectory(trajectory: &Trajectory, prefix: &str, violations: &mut Vec<Violation>) {
    let mut out = Out { violations };
    if !KNOWN_VERSIONS.contains(&trajectory.schema_version.as_str()) {
        out.push(
            format!("{prefix}schema_version"),
            format!(
                "`{}` is no ATIF version (ATIF-v1.0 to {SCHEMA_VERSION})",
                trajectory.schema_version
            ),
        );
    }
    let embedded_ids: BTreeSet<&str> = trajectory
        .subagent_trajectories
        .iter()
        .flatten()
        .filter_map(|sub| sub.trajectory_id.as_deref())
        .collect();
    for (index, step) in trajectory.steps.iter().enumerate() {
        let at = format!("{prefix}steps[{index}]");
        check_step(step, index, &at, &embedded_ids, &mut out);
    }
    if let Some(totals) = &trajectory.final_metrics {
        check_final_metrics(
            trajectory,
            totals,
            &format!("{prefix}final_metrics"),
            &mut out,
        );
    }
    let mut seen = BTreeSet::new();
    for (index, sub) in trajectory
        .subagent_trajectories
        .iter()
        .flatten()
        .enumerate()
    {
        let at = format!("{prefix}subagent_trajectories[{index}]");
        match &sub.trajectory_id {
            None => out.push(
                at.clone(),
                "an embedded subagent trajectory must set `trajectory_id`",
            ),
            Some(id) if !seen.insert(id.as_str()) => out.push(
                format!("{at}.trajectory_id"),
                format!("`{id}` is not unique among the embedded subagent trajectories"),
            ),
            Some(_) => {}
        }
        check_trajectory(sub, &format!("{at}."), out.violations);
    }
}

fn check_step(
    step: &Step,
    index: usize,
    at: &str,
    embedded_ids: &BTreeSet<&str>,
    out: &mut Out<'_>,
) {
    let expected = index as u64 + 1;
    if step.step_id != expected {
        out.push(
            format!("{at}.step_id"),
            format!(
                "is {} where {expected} was expected (step ids count from 1, one by one)",
                step.step_id
            ),
        );
    }
    if let Some(timestamp) = &step.timestamp {
        if !is_iso8601(timestamp) {
            out.push(
                format!("{at}.timestamp"),
                format!("`{timestamp}` is not an ISO 8601 date and time"),
            );
        }
    }
    check_content(&step.message, &format!("{at}.message"), out);
    if step.source != StepSource::Agent {
        let agent_only = [
            ("model_name", step.model_name.is_some()),
            ("reasoning_effort", step.reasoning_effort.is_some()),
            ("reasoning_content", step.reasoning_content.is_some()),
            ("tool_calls", step.tool_calls.is_some()),
            ("metrics", step.metrics.is_some()),
        ];
        for (field, present) in agent_only {
            if present {
                out.push(
                    format!("{at}.{field}"),
                    "only agent steps (`source: \"agent\"`) may carry it",
                );
            }
        }
    }
    if let Some(effort) = &step.reasoning_effort {
        if !(effort.is_string() || effort.is_number()) {
            out.push(
                format!("{at}.reasoning_effort"),
                "must be a string or a number",
            );
        }
    }
    if step.source == StepSource::Agent && step.llm_call_count == Some(0) {
        for (field, present) in [
            ("metrics", step.metrics.is_some()),
            ("reasoning_content", step.reasoning_content.is_some()),
        ] {
            if present {
                out.push(
                    format!("{at}.{field}"),
                    "must be absent on an agent step with `llm_call_count` 0 (no model call)",
                );
            }
        }
    }
    let mut call_ids = BTreeSet::new();
    for (call_index, call) in step.tool_calls.iter().flatten().enumerate() {
        let call_at = format!("{at}.tool_calls[{call_index}]");
        if call.tool_call_id.is_empty() {
            out.push(format!("{call_at}.tool_call_id"), "must not be empty");
        } else if !call_ids.insert(call.tool_call_id.as_str()) {
            out.push(
                format!("{call_at}.tool_call_id"),
                format!(
                    "`{}` is used by another tool call of this step",
                    call.tool_call_id
                ),
            );
        }
        if call.function_name.is_empty() {
            out.push(format!("{call_at}.function_name"), "must not be empty");
        }
    }
    if let Some(observation) = &step.observation {
        for (result_index, result) in observation.results.iter().enumerate() {
            let result_at = format!("{at}.observation.results[{result_index}]");
            if let Some(id) = &result.source_call_id {
                if !call_ids.contains(id.as_str()) {
                    out.push(
                        format!("{result_at}.source_call_id"),
                        format!("`{id}` names no tool call of this step"),
                    );
                }
            }
            if let Some(content) = &result.content {
                check_content(content, &format!("{result_at}.content"), out);
            }
            for (ref_index, reference) in
                result.subagent_trajectory_ref.iter().flatten().enumerate()
            {
                let ref_at = format!("{result_at}.subagent_trajectory_ref[{ref_index}]");
                match (&reference.trajectory_id, &reference.trajectory_path) {
                    (None, None) => out.push(
                        ref_at,
                        "must set `trajectory_id` or `trajectory_path` (`session_id` alone does not resolve)",
                    ),
                    (Some(id), None) if !embedded_ids.contains(id.as_str()) => out.push(
                        format!("{ref_at}.trajectory_id"),
                        format!(
                            "`{id}` names no embedded subagent trajectory and no `trajectory_path` is given"
                        ),
                    ),
                    _ => {}
                }
            }
        }
    }
    if let Some(metrics) = &step.metrics {
        if let (Some(prompt), Some(cached)) = (metrics.prompt_tokens, metrics.cached_tokens) {
            if cached > prompt {
                out.push(
                    format!("{at}.metrics.cached_tokens"),
                    format!("{cached} exceeds prompt_tokens {prompt} (cached tokens are part of the prompt)"),
                );
            }
        }
        if let Some(cost) = metrics.cost_usd {
            if !(cost.is_finite() && cost >= 0.0) {
                out.push(
                    format!("{at}.metrics.cost_usd"),
                    format!("{cost} is not a cost"),
                );
            }
        }
    }
}

/// `message` and `content`: a string, or an array of text and image parts.
fn check_content(value: &Value, at: &str, out: &mut Out<'_>) {
    match value {
        Value::String(_) => {}
        Value::Array(parts) => {
            for (index, part) in parts.iter().enumerate() {
                let part_at = format!("{at}[{index}]");
                match ContentPart::deserialize(part) {
                    Err(e) => out.push(part_at, format!("not a content part: {e}")),
                    Ok(part) => check_content_part(&part, &part_at, out),
                }
            }
        }
        _ => out.push(at, "must be a string or an array of content parts"),
    }
}

fn check_content_part(part: &ContentPart, at: &str, out: &mut Out<'_>) {
    match part.kind {
        ContentType::Text => {
            if part.text.is_none() {
                out.push(at, "a text part must have `text`");
            }
            if part.source.is_some() {
                out.push(at, "a text part must not have `source`");
            }
        }
        ContentType::Image => {
            if part.text.is_some() {
                out.push(at, "an image part must not have `text`");
            }
            match &part.source {
                None => out.push(at, "an image part must have `source`"),
                Some(source) if !IMAGE_MEDIA_TYPES.contains(&source.media_type.as_str()) => out
                    .push(
                        format!("{at}.source.media_type"),
                        format!(
                            "`{}` is not one of {}",
                            source.media_type,
                            IMAGE_MEDIA_TYPES.join(", ")
                        ),
                    ),
                Some(_) => {}
            }
        }
    }
}

fn check_final_metrics(
    trajectory: &Trajectory,
    totals: &FinalMetrics,
    at: &str,
    out: &mut Out<'_>,
) {
    let metrics = || trajectory.steps.iter().filter_map(|s| s.metrics.as_ref());
    let sums = [
        (
            "total_prompt_tokens",
            "prompt_tokens",
            totals.total_prompt_tokens,
            metrics().filter_map(|m| m.prompt_tokens).sum::<u64>(),
        ),
        (
            "total_completion_tokens",
            "completion_tokens",
            totals.total_completion_tokens,
            metrics().filter_map(|m| m.completion_tokens).sum::<u64>(),
        ),
        (
            "total_cached_tokens",
            "cached_tokens",
            totals.total_cached_tokens,
            metrics().filter_map(|m| m.cached_tokens).sum::<u64>(),
        ),
    ];
    for (total_field, step_field, total, sum) in sums {
        if let Some(total) = total {
            if total != sum {
                out.push(
                    format!("{at}.{total_field}"),
                    format!("is {total}, but the steps' {step_field} sum to {sum}"),
                );
            }
        }
    }
    if let Some(total) = totals.total_cost_usd {
        let sum: f64 = metrics().filter_map(|m| m.cost_usd).sum();
        if (total - sum).abs() > 1e-9 * total.abs().max(sum.abs()).max(1.0) {
            out.push(
                format!("{at}.total_cost_usd"),
                format!("is {total}, but the steps' cost_usd sum to {sum}"),
            );
        }
    }
    if let (Some(prompt), Some(cached)) = (totals.total_prompt_tokens, totals.total_cached_tokens) {
        if cached > prompt {
            out.push(
                format!("{at}.total_cached_tokens"),
                format!("{cached} exceeds total_prompt_tokens {prompt}"),
            );
        }
    }
    if let Some(total_steps) = totals.total_steps {
        let steps = trajectory.steps.len() as u64;
        if total_steps != steps && trajectory.notes.is_none() {
            out.push(
                format!("{at}.total_steps"),
                format!("is {total_steps} for {steps} steps, and no `notes` explain why"),
            );
        }
    }
}

/// ISO 8601 as ATIF writes it: RFC 3339, or a date and time without an offset.
fn is_iso8601(text: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(text).is_ok()
        || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Value {
        serde_json::json!({
            "schema_version": "ATIF-v1.7",
            "agent": {"name": "a", "version": "1"},
            "steps": [
                {"step_id": 1, "source": "user", "message": "hi"},
                {
                    "step_id": 2,
                    "source": "agent",
                    "message": "",
                    "tool_calls": [{"tool_call_id": "c1", "function_name": "f", "arguments": {}}],
                    "observation": {"results": [{"source_call_id": "c1", "content": "ok"}]},
                    "metrics": {"prompt_tokens": 10, "completion_tokens": 2, "cached_tokens": 4}
                }
            ],
            "final_metrics": {
                "total_prompt_tokens": 10,
                "total_completion_tokens": 2,
                "total_cached_tokens": 4,
                "total_steps": 2
            }
        })
    }

    fn violations_of(value: Value) -> Vec<String> {
        let trajectory: Trajectory = serde_json::from_value(value).unwrap();
        validate(&trajectory)
            .iter()
            .map(Violation::to_string)
            .collect()
    }

    #[test]
    fn a_minimal_trajectory_is_valid() {
        assert_eq!(violations_of(minimal()), Vec::<String>::new());
    }

    #[test]
    fn each_rule_is_reported_where_it_is_broken() {
        let mut value = minimal();
        value["schema_version"] = "ATIF-v2.0".into();
        value["steps"][0]["metrics"] = serde_json::json!({"prompt_tokens": 1});
        value["steps"][1]["step_id"] = 3.into();
        value["steps"][1]["timestamp"] = "yesterday".into();
        value["steps"][1]["observation"]["results"][0]["source_call_id"] = "c9".into();
        value["steps"][1]["metrics"]["cached_tokens"] = 11.into();
        value["final_metrics"]["total_prompt_tokens"] = 12.into();
        value["final_metrics"]["total_steps"] = 5.into();
        assert_eq!(
            violations_of(value),
            [
                "schema_version: `ATIF-v2.0` is no ATIF version (ATIF-v1.0 to ATIF-v1.7)",
                "steps[0].metrics: only agent steps (`source: \"agent\"`) may carry it",
                "steps[1].step_id: is 3 where 2 was expected (step ids count from 1, one by one)",
                "steps[1].timestamp: `yesterday` is not an ISO 8601 date and time",
                "steps[1].observation.results[0].source_call_id: `c9` names no tool call of this step",
                "steps[1].metrics.cached_tokens: 11 exceeds prompt_tokens 10 (cached tokens are part of the prompt)",
                "final_metrics.total_prompt_tokens: is 12, but the steps' prompt_tokens sum to 11",
                "final_metrics.total_cached_tokens: is 4, but the steps' cached_tokens sum to 11",
                "final_metrics.total_steps: is 5 for 2 steps, and no `notes` explain why",
            ]
        );
    }

    #[test]
    fn closed_objects_refuse_unknown_fields_and_wrong_types() {
        let mut value = minimal();
        value["steps"][1]["tool_calls"][0]["args"] = serde_json::json!({});
        let error = serde_json::from_value::<Trajectory>(value).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `args`"),
            "{error}"
        );
        let mut value = minimal();
        value["steps"][1]["tool_calls"][0]["arguments"] = "x=1".into();
        assert!(serde_json::from_value::<Trajectory>(value).is_err());
        let mut value = minimal();
        value["steps"][0]["source"] = "tool".into();
        let error = serde_json::from_value::<Trajectory>(value).unwrap_err();
        assert!(
            error.to_string().contains("unknown variant `tool`"),
            "{error}"
        );
        let mut value = minimal();
        value["steps"][0].as_object_mut().unwrap().remove("message");
        let error = serde_json::from_value::<Trajectory>(value).unwrap_err();
        assert!(
            error.to_string().contains("missing field `message`"),
            "{error}"
        );
    }

    #[test]
    fn content_parts_subagent_refs_and_embedded_trajectories_are_checked() {
        let mut value = minimal();
        value["steps"][0]["message"] = serde_json::json!([
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"media_type": "image/bmp", "path": "images/a.bmp"}},
            {"type": "text"},
        ]);
        value["steps"][1]["observation"]["results"][0]["subagent_trajectory_ref"] =
            serde_json::json!([{"session_id": "s"}, {"trajectory_id": "child"}]);
        value["subagent_trajectories"] = serde_json::json!([
            {"schema_version": "ATIF-v1.7", "agent": {"name": "b", "version": "1"},
             "steps": [{"step_id": 2, "source": "user", "message": "x"}]}
        ]);
        assert_eq!(
            violations_of(value),
            [
                "steps[0].message[1].source.media_type: `image/bmp` is not one of image/jpeg, image/png, image/gif, image/webp",
                "steps[0].message[2]: a text part must have `text`",
                "steps[1].observation.results[0].subagent_trajectory_ref[0]: must set `trajectory_id` or `trajectory_path` (`session_id` alone does not resolve)",
                "steps[1].observation.results[0].subagent_trajectory_ref[1].trajectory_id: `child` names no embedded subagent trajectory and no `trajectory_path` is given",
                "subagent_trajectories[0]: an embedded subagent trajectory must set `trajectory_id`",
                "subagent_trajectories[0].steps[0].step_id: is 2 where 1 was expected (step ids count from 1, one by one)",
            ]
        );
    }

    #[test]
    fn a_deterministic_dispatch_carries_no_metrics() {
        let mut value = minimal();
        value["steps"][1]["llm_call_count"] = 0.into();
        value.as_object_mut().unwrap().remove("final_metrics");
        assert_eq!(
            violations_of(value),
            ["steps[1].metrics: must be absent on an agent step with `llm_call_count` 0 (no model call)"]
        );
    }
}

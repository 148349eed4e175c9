//! Whole missions against a remote model: a scripted server on 127.0.0.1 plays orchestrator,
//! workers and validators over the real protocol (it relays each conversation to the oracle),
//! reports usage the test can check row by row, injects faults, and echoes the API key where a
//! careless harness would write it down.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use serde_json::{json, Value};

use missions_bench::events::{read_events, Event};
use missions_bench::metrics::Tables;
use missions_bench::model::oracle::OracleBackend;
use missions_bench::model::secret::Secret;
use missions_bench::model::{
    AgentTask, ChatRequest, ChatResponse, Message, MessageRole, ModelBackend, ModelInfo,
    ModelSession, SessionContext, ToolCall,
};
use missions_bench::report::compare::compare;
use missions_bench::spec::config::Config;
use missions_bench::spec::suite::load_suite;
use missions_bench::spec::{MissionSpec, Role};

use crate::common::{run, settings, tiny_suite};
use crate::http_server::{anthropic, openai, Recorded, Reply, ScriptedServer};

const KEY: &str = "sk-relay-91c07d5e2f";

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Protocol {
    OpenAi,
    Anthropic,
}

struct Conversation {
    session: Box<dyn ModelSession>,
    role: Role,
    /// Which agent of its role this is (1 = the first the relay saw).
    nth: usize,
    /// The reply to the conversation at this many assistant messages, kept so that a request
    /// repeated after a fault gets the same answer.
    last: Option<(usize, ChatResponse)>,
}

/// Plays every role from the mission's reference, one conversation per agent.
pub struct Relay {
    mission: Arc<MissionSpec>,
    oracle: OracleBackend,
    conversations: Mutex<HashMap<String, Conversation>>,
    /// Every `fault_every`-th request fails (cycling through kinds) before it is answered.
    fault_every: Option<usize>,
    /// Request index -> the usage object the server reported.
    reported: Mutex<BTreeMap<usize, Value>>,
    /// Turns of tool calls (name, JSON arguments) the first agent of `hostile_role` makes before
    /// it does its task: a hostile agent.
    hostile: Vec<Vec<(String, String)>>,
    hostile_role: Role,
    /// The conversation that plays the hostile worker.
    hostile_key: Mutex<Option<String>>,
    /// Workers do nothing but the hostile turns: the first one makes them and stops, every later
    /// one stops at once (a worker that rigs the verdict instead of doing the work).
    rigging: bool,
    /// Where the relay stops answering, and whether it got there.
    hold: Option<Hold>,
    held: std::sync::atomic::AtomicBool,
    /// The agents the relay played (role, what for), in the order they started.
    started: Mutex<Vec<(Role, String)>>,
    /// Usage from the request's size and turn instead of its index, so that a run resumed
    /// elsewhere reports the same numbers as an uninterrupted one.
    stable_usage: bool,
    /// Agents of this role write their calls as fenced JSON in the reply's text instead of
    /// native calls, as a server that does not parse its model's calls hands them back.
    text_calls: Option<Role>,
}

/// A reply the relay scripts itself rather than asks of the oracle; usage unknown.
fn scripted(
    text: String,
    tool_calls: Vec<ToolCall>,
    stop: missions_bench::model::StopReason,
) -> ChatResponse {
    ChatResponse {
        text,
        tool_calls,
        stop,
        usage: missions_bench::model::Usage {
            input_tokens: None,
            cache_read_tokens: None,
            cache_write_tokens: None,
            output_tokens: None,
            reasoning_tokens: None,
            source: missions_bench::model::UsageSource::Provider,
            raw: None,
        },
        timing: Default::default(),
        retries: 0,
    }
}

/// Where a relay stops answering: request `turn` (0-based) of the `nth` agent (1-based) of
/// `role`. Its reply is an event stream that never ends.
#[derive(Clone, Copy, Debug)]
pub struct Hold {
    pub role: Role,
    pub nth: usize,
    pub turn: usize,
}

/// What an agent works on, in the words of its task.
fn label(task: &AgentTask) -> String {
    match task {
        AgentTask::Plan => "plan".to_string(),
        AgentTask::Implement { feature } | AgentTask::Review { feature } => feature.id.to_string(),
        AgentTask::UserTest { milestone, .. } => milestone.to_string(),
        AgentTask::Fix {
            milestone, round, ..
        } => format!("fix {milestone} {round}"),
        AgentTask::Investigate { .. } => "investigate".to_string(),
    }
}

impl Relay {
    pub fn new(mission: Arc<MissionSpec>, fault_every: Option<usize>) -> Relay {
        Relay {
            mission,
            oracle: OracleBackend::new(ModelInfo {
                name: "relay".into(),
                provider: "oracle",
            }),
            conversations: Mutex::new(HashMap::new()),
            fault_every,
            reported: Mutex::new(BTreeMap::new()),
            hostile: Vec::new(),
            hostile_key: Mutex::new(None),
            hostile_role: Role::Worker,
            rigging: false,
            hold: None,
            held: Default::default(),
            started: Mutex::new(Vec::new()),
            stable_usage: false,
            text_calls: None,
        }
    }

    /// Agents of `role` write their calls as text (fenced JSON blocks) rather than native calls.
    pub fn with_text_calls(mut self, role: Role) -> Relay {
        self.text_calls = Some(role);
        self
    }

    /// Stops answering at `hold`.
    pub fn holding(mut self, hold: Option<Hold>) -> Relay {
        self.hold = hold;
        self
    }

    /// Reports usage that depends on the request only.
    pub fn with_stable_usage(mut self) -> Relay {
        self.stable_usage = true;
        self
    }

    /// Whether the relay reached its hold.
    pub fn held(&self) -> bool {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The agents the relay played (role, what for), in order.
    pub fn started(&self) -> Vec<(Role, String)> {
        self.started.lock().unwrap().clone()
    }

    /// The first worker makes these turns of calls first.
    pub fn with_hostile_worker(self, turns: Vec<Vec<(String, String)>>) -> Relay {
        self.with_hostile(Role::Worker, turns)
    }

    /// The first agent of `role` makes these turns of calls before it does its task.
    pub fn with_hostile(mut self, role: Role, turns: Vec<Vec<(String, String)>>) -> Relay {
        self.hostile = turns;
        self.hostile_role = role;
        self
    }

    /// The first worker makes these turns of calls and stops; later workers stop at once.
    pub fn with_rigging_worker(mut self, turns: Vec<Vec<(String, String)>>) -> Relay {
        self.hostile = turns;
        self.rigging = true;
        self
    }

    pub fn answer(&self, request: &Recorded, index: usize) -> Reply {
        let protocol = if request.path.ends_with("/messages") {
            Protocol::Anthropic
        } else {
            Protocol::OpenAi
        };
        let body = request.json();
        let (messages, tools) = match protocol {
            Protocol::OpenAi => openai_messages(&body),
            Protocol::Anthropic => anthropic_messages(&body),
        };
        let fault = self
            .fault_every
            .filter(|every| index % every == every - 1)
            .map(|every| (index / every) % 4);
        match fault {
            Some(0) => {
                let key = request
                    .header("authorization")
                    .or(request.header("x-api-key"))
                    .unwrap_or("");
                return Reply::json(
                    500,
                    &json!({"error": {"type": "api_error", "message": format!("internal error for {key}")}}),
                );
            }
            Some(1) => return Reply::Drop,
            Some(3) => {
                return Reply::json(429, &json!({"error": {"message": "rate limited"}}))
                    .with_header("retry-after", "0")
            }
            _ => {}
        }
        let turn = messages
            .iter()
            .filter(|m| m.role == MessageRole::Assistant)
            .count();
        if let Some(hold) = self.hold {
            let here = self
                .open(&messages, &tools)
                .is_some_and(|(role, nth)| (role, nth, turn) == (hold.role, hold.nth, hold.turn));
            if here && !self.held.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Reply::Stream {
                    chunks: Vec::new(),
                    delay: std::time::Duration::ZERO,
                    stall_after: true,
                };
            }
        }
        let Some(mut response) = self.reply_for(&messages, &tools) else {
            return Reply::json(
                400,
                &json!({"error": {"message": "the relay cannot tell which task this is"}}),
            );
        };
        let echo = request
            .header("authorization")
            .or(request.header("x-api-key"))
            .unwrap_or("")
            .to_string();
        let first_turn = !messages.iter().any(|m| m.role == MessageRole::Assistant);
        let mut text = if first_turn {
            format!("Starting (credentials seen: {echo}).")
        } else {
            String::new()
        };
        let role = self.open(&messages, &tools).map(|(role, _)| role);
        if role.is_some() && role == self.text_calls {
            for call in std::mem::take(&mut response.tool_calls) {
                let arguments: Value = serde_json::from_str(&call.arguments).unwrap_or(Value::Null);
                text.push_str(&format!(
                    "\n```json\n{}\n```\n",
                    serde_json::to_string_pretty(
                        &json!({"name": call.name, "arguments": arguments})
                    )
                    .unwrap()
                ));
            }
        }
        let (prompt, cached) = if self.stable_usage {
            let prompt = 1000 + request.body.len() / 4;
            (prompt, (turn % 2 == 1).then_some(prompt as u64 / 2))
        } else {
            (
                1000 + index,
                (!index.is_multiple_of(3)).then_some(300 + index as u64),
            )
        };
        let reply = match protocol {
            Protocol::OpenAi => {
                let mut usage = json!({"prompt_tokens": prompt, "completion_tokens": 7, "total_tokens": prompt + 7});
                if !self.stable_usage {
                    usage["request_index"] = json!(index);
                    usage["echo"] = json!(echo);
                }
                if let Some(cached) = cached {
                    usage["prompt_tokens_details"] = json!({"cached_tokens": cached});
                }
                self.reported.lock().unwrap().insert(index, usage.clone());
                let calls: Vec<(&str, &str)> = response
                    .tool_calls
                    .iter()
                    .map(|c| (c.name.as_str(), c.arguments.as_str()))
                    .collect();
                openai::tool_calls(&text, &calls, usage)
            }
            Protocol::Anthropic => {
                let mut usage = json!({"input_tokens": prompt - 900, "output_tokens": 7, "cache_creation_input_tokens": 20});
                if !self.stable_usage {
                    usage["request_index"] = json!(index);
                    usage["echo"] = json!(echo);
                }
                if let Some(cached) = cached {
                    usage["cache_read_input_tokens"] = json!(cached);
                }
                self.reported.lock().unwrap().insert(index, usage.clone());
                let calls: Vec<(&str, &str, &str)> = response
                    .tool_calls
                    .iter()
                    .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
                    .collect();
                anthropic::tool_uses(&text, &calls, usage)
            }
        };
        if fault == Some(2) {
            // Half the stream, then the connection closes: the client must restart the turn.
            if let Reply::Stream { chunks, delay, .. } = reply {
                return Reply::Stream {
                    chunks: chunks[..chunks.len() / 2].to_vec(),
                    delay,
                    stall_after: false,
                };
            }
        }
        reply
    }

    /// The conversation's key: its system prompt and first message.
    fn key(messages: &[Message]) -> Option<String> {
        Some(format!(
            "{}\u{0}{}",
            messages.first()?.content,
            messages.get(1)?.content
        ))
    }

    /// Starts the conversation of these messages unless it exists; its role and which agent of
    /// that role it is.
    fn open(&self, messages: &[Message], tools: &[String]) -> Option<(Role, usize)> {
        let key = Self::key(messages)?;
        let mut conversations = self.conversations.lock().unwrap();
        if let Some(conversation) = conversations.get(&key) {
            return Some((conversation.role, conversation.nth));
        }
        let context = self.context(&messages.get(1)?.content, tools)?;
        if context.role == self.hostile_role && !self.hostile.is_empty() {
            self.hostile_key.lock().unwrap().get_or_insert(key.clone());
        }
        let role = context.role;
        let mut started = self.started.lock().unwrap();
        started.push((role, label(&context.task)));
        let nth = started.iter().filter(|(r, _)| *r == role).count();
        conversations.insert(
            key,
            Conversation {
                session: self.oracle.start_session(context),
                last: None,
                role,
                nth,
            },
        );
        Some((role, nth))
    }

    fn reply_for(&self, messages: &[Message], tools: &[String]) -> Option<ChatResponse> {
        let turn = messages
            .iter()
            .filter(|m| m.role == MessageRole::Assistant)
            .count();
        self.open(messages, tools)?;
        let key = Self::key(messages)?;
        let mut conversations = self.conversations.lock().unwrap();
        let conversation = conversations.get_mut(&key)?;
        if self.hostile_key.lock().unwrap().as_deref() == Some(key.as_str())
            && turn < self.hostile.len()
        {
            let tool_calls = self.hostile[turn]
                .iter()
                .enumerate()
                .map(|(i, (name, arguments))| ToolCall {
                    id: format!("hostile_{turn}_{i}"),
                    name: name.clone(),
                    arguments: arguments.clone(),
                    recovered: false,
                })
                .collect();
            return Some(scripted(
                String::new(),
                tool_calls,
                missions_bench::model::StopReason::ToolCalls,
            ));
        }
        if self.rigging && conversation.role == Role::Worker {
            return Some(scripted(
                "Done.".to_string(),
                Vec::new(),
                missions_bench::model::StopReason::EndTurn,
            ));
        }
        if let Some((at, response)) = &conversation.last {
            if *at == turn {
                return Some(response.clone());
            }
        }
        let request = ChatRequest::new(messages, &[]);
        let response = now(conversation.session.complete(request)).ok()?;
        conversation.last = Some((turn, response.clone()));
        Some(response)
    }

    /// Which agent this is, from its tools and its first message.
    fn context(&self, first_user: &str, tools: &[String]) -> Option<SessionContext> {
        let has = |name: &str| tools.iter().any(|t| t == name);
        let reference = &self.mission.reference;
        let feature = || {
            let line = first_user.lines().find(|l| l.starts_with("# Feature "))?;
            let id = line
                .trim_start_matches("# Feature ")
                .split(':')
                .next()?
                .trim();
            reference
                .features
                .iter()
                .find(|f| f.id.to_string() == id)
                .cloned()
        };
        let (role, task) = if has("write_contract") {
            (Role::Orchestrator, AgentTask::Plan)
        } else if has("submit_review") {
            (
                Role::Scrutiny,
                AgentTask::Review {
                    feature: feature()?,
                },
            )
        } else if has("submit_verdicts") {
            let line = first_user.lines().find(|l| l.starts_with("# Milestone "))?;
            let id = line
                .trim_start_matches("# Milestone ")
                .split(':')
                .next()?
                .trim();
            let milestone = reference
                .milestones
                .iter()
                .find(|m| m.id.to_string() == id)?;
            let assertions = reference
                .assertions
                .iter()
                .filter(|a| first_user.contains(&format!("**{}**", a.id)))
                .cloned()
                .collect();
            (
                Role::UserTesting,
                AgentTask::UserTest {
                    milestone: milestone.id.clone(),
                    assertions,
                },
            )
        } else if has("blocked") {
            (
                Role::Worker,
                AgentTask::Implement {
                    feature: feature()?,
                },
            )
        } else {
            let question = first_user
                .trim_start_matches("# Question")
                .trim()
                .to_string();
            (Role::Subagent, AgentTask::Investigate { question })
        };
        Some(SessionContext {
            role,
            task,
            mission: self.mission.clone(),
            seed: 0,
        })
    }
}

/// Runs a future that never waits (the oracle's) to its end.
fn now<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the oracle waited on something"),
    }
}

fn openai_messages(body: &Value) -> (Vec<Message>, Vec<String>) {
    let mut messages = Vec::new();
    for m in body["messages"].as_array().into_iter().flatten() {
        let content = m["content"].as_str().unwrap_or_default();
        match m["role"].as_str() {
            Some("system") => messages.push(Message::system(content)),
            Some("user") => messages.push(Message::user(content)),
            Some("assistant") => messages.push(Message::assistant(content, Vec::new())),
            Some("tool") => {
                let call = ToolCall {
                    id: m["tool_call_id"].as_str().unwrap_or_default().into(),
                    name: String::new(),
                    arguments: String::new(),
                    recovered: false,
                };
                messages.push(Message::tool_result(&call, content, false));
            }
            _ => {}
        }
    }
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
        .collect();
    (messages, tools)
}

fn anthropic_messages(body: &Value) -> (Vec<Message>, Vec<String>) {
    let system: Vec<&str> = body["system"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["text"].as_str())
        .collect();
    let mut messages = vec![Message::system(system.join("\n"))];
    for m in body["messages"].as_array().into_iter().flatten() {
        let assistant = m["role"] == "assistant";
        if assistant {
            messages.push(Message::assistant("", Vec::new()));
            continue;
        }
        for block in m["content"].as_array().into_iter().flatten() {
            match block["type"].as_str() {
                Some("text") => {
                    messages.push(Message::user(block["text"].as_str().unwrap_or_default()))
                }
                Some("tool_result") => {
                    let call = ToolCall {
                        id: block["tool_use_id"].as_str().unwrap_or_default().into(),
                        name: String::new(),
                        arguments: String::new(),
                        recovered: false,
                    };
                    messages.push(Message::tool_result(
                        &call,
                        block["content"].as_str().unwrap_or_default(),
                        false,
                    ));
                }
                _ => {}
            }
        }
    }
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    (messages, tools)
}

pub fn greet() -> Arc<MissionSpec> {
    let suite = load_suite(&tiny_suite()).expect("tiny suite");
    Arc::new(
        suite
            .missions
            .into_iter()
            .find(|m| m.id().as_str() == "greet")
            .expect("greet mission"),
    )
}

/// Runs the tiny suite's `greet` mission with every role on the relay.
async fn run_remote(
    server: &ScriptedServer,
    protocol: Protocol,
    max_retries: u32,
    out: &Path,
) -> missions_bench::mission::RunReport {
    run_remote_with(server, protocol, max_retries, out, &tiny_suite(), "").await
}

/// As [`run_remote`], on a given copy of the tiny suite and with more config.
pub async fn run_remote_with(
    server: &ScriptedServer,
    protocol: Protocol,
    max_retries: u32,
    out: &Path,
    suite: &Path,
    extra_config: &str,
) -> missions_bench::mission::RunReport {
    run_remote_mission(
        server,
        protocol,
        max_retries,
        out,
        suite,
        "greet",
        extra_config,
    )
    .await
}

/// `run_remote_with` for any one mission of the suite.
pub async fn run_remote_mission(
    server: &ScriptedServer,
    protocol: Protocol,
    max_retries: u32,
    out: &Path,
    suite: &Path,
    mission: &str,
    extra_config: &str,
) -> missions_bench::mission::RunReport {
    let provider = match protocol {
        Protocol::OpenAi => "openai",
        Protocol::Anthropic => "anthropic",
    };
    let text = format!(
        r#"default_pairing = "remote"

[models.relay]
provider = "{provider}"
base_url = "{}"
model = "relay-model"
api_key_env = "RELAY_TEST_KEY"
max_retries = {max_retries}
retry_initial_ms = 5
idle_timeout_s = 2
params = {{ temperature = 0.0 }}
price_per_mtok = {{ input = 3.0, output = 15.0, cache_read = 0.3, cache_write = 3.75 }}

[pairings.remote]
orchestrator = "relay"
worker = "relay"
validator = "relay"
{extra_config}
"#,
        server.base_url()
    );
    let config = Config::parse(Path::new("remote.toml"), &text).expect("config");
    let mut settings = settings(suite, &[], out);
    settings.pairings = vec![config.pairing("remote").expect("pairing")];
    settings.config = config;
    settings.missions = vec![mission.to_string()];
    settings
        .model_env
        .secrets
        .insert("RELAY_TEST_KEY".into(), Secret::new(KEY));
    run(&settings).await
}

/// A config file whose pairing `relay` plays every role on `server` with `provider`, the key in
/// the variable `key_env`, and more settings of the model (`model_lines`).
pub fn write_relay_config(
    path: &Path,
    server: &ScriptedServer,
    provider: &str,
    key_env: &str,
    model_lines: &str,
) {
    let text = format!(
        "default_pairing = \"relay\"\n[models.relay]\nprovider = \"{provider}\"\nbase_url = \"{}\"\nmodel = \"relay-model\"\napi_key_env = \"{key_env}\"\n{model_lines}\n[pairings.relay]\norchestrator = \"relay\"\nworker = \"relay\"\nvalidator = \"relay\"\n",
        server.base_url()
    );
    std::fs::write(path, text).expect("write the relay config");
}

/// Every file under `dir` that contains `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            std::fs::read(e.path())
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        })
        .map(|e| e.path().display().to_string())
        .collect()
}

fn check_cache_reads(tables: &Tables, reported: &BTreeMap<usize, Value>, protocol: Protocol) {
    let (mut known, mut unknown) = (0, 0);
    for turn in &tables.turns {
        let raw: Value = serde_json::from_str(turn.raw_usage.as_deref().expect("raw usage"))
            .expect("raw usage is JSON");
        let index = raw["request_index"].as_u64().expect("request index") as usize;
        let sent = &reported[&index];
        let expected = match protocol {
            Protocol::OpenAi => sent["prompt_tokens_details"]["cached_tokens"].as_u64(),
            Protocol::Anthropic => sent["cache_read_input_tokens"].as_u64(),
        };
        assert_eq!(
            turn.cache_read_tokens, expected,
            "turn {} of run {}",
            turn.turn, turn.agent_run
        );
        match expected {
            Some(_) => known += 1,
            None => unknown += 1,
        }
        assert_eq!(turn.usage_source, "provider");
        assert!(turn.ttft_ms.is_some() && turn.latency_ms > 0.0);
        if protocol == Protocol::Anthropic {
            let uncached = sent["input_tokens"].as_u64().unwrap();
            assert_eq!(
                turn.input_tokens,
                Some(uncached + expected.unwrap_or(0) + 20),
                "the total input adds cache reads and writes"
            );
            assert_eq!(turn.cache_write_tokens, Some(20));
        } else {
            assert_eq!(turn.input_tokens, sent["prompt_tokens"].as_u64());
        }
        assert!(turn.cost_usd.is_some());
    }
    assert!(known > 0 && unknown > 0, "known {known}, unknown {unknown}");
}

async fn full_mission(protocol: Protocol) {
    let relay = Arc::new(Relay::new(greet(), Some(5)));
    let handler = relay.clone();
    let server = ScriptedServer::start(move |request, index| handler.answer(request, index)).await;
    let out = tempfile::tempdir().unwrap();
    let report = run_remote(&server, protocol, 4, out.path()).await;

    let mission = &report.tables.missions[0];
    assert_eq!(mission.status, "passed", "{mission:?}");
    assert_eq!(mission.acceptance_passed, mission.acceptance_total);
    assert!(mission.acceptance_total > 0);
    assert_eq!(mission.milestones_passed, mission.milestones_total);
    assert_eq!(mission.usage_source, "provider");
    assert!(mission.runs_worker > 0 && mission.runs_scrutiny > 0 && mission.runs_user_testing > 0);

    // Faults were injected and survived: each is an event, counted per run and per mission.
    let events = read_events(&report.dir.join("events.jsonl")).expect("events");
    let retried: Vec<(bool, String)> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::ModelRetried {
                restart, reason, ..
            } => Some((*restart, reason.clone())),
            _ => None,
        })
        .collect();
    let requests = server.requests().len();
    assert_eq!(retried.len(), requests / 5, "{retried:?}");
    assert!(retried.iter().any(|(restart, _)| *restart), "{retried:?}");
    assert!(retried.iter().any(|(restart, _)| !*restart), "{retried:?}");
    assert_eq!(mission.model_retries as usize, retried.len());
    let run_retries: u64 = report.tables.runs.iter().map(|r| r.model_retries).sum();
    assert_eq!(run_retries, mission.model_retries);
    let turn_retries: u64 = report
        .tables
        .turns
        .iter()
        .map(|t| u64::from(t.retries))
        .sum();
    assert_eq!(turn_retries, mission.model_retries);
    assert_eq!(report.tables.turns.len() + retried.len(), requests);

    check_cache_reads(&report.tables, &relay.reported.lock().unwrap(), protocol);

    // The server echoed the key in replies, usage and errors; none of it was written down.
    assert!(
        files_containing(&report.dir, KEY).is_empty(),
        "{:?}",
        files_containing(&report.dir, KEY)
    );
    assert!(!files_containing(&report.dir, "[redacted]").is_empty());
}

/// Workers whose server hands their calls back as fenced JSON in the text still pass the
/// mission, and every one of their calls is counted as recovered, in the runs and missions
/// Parquet tables alike; the other roles' native calls are not.
#[tokio::test(flavor = "multi_thread")]
async fn calls_written_as_text_are_recovered_and_counted_apart() {
    let relay = Arc::new(Relay::new(greet(), None).with_text_calls(Role::Worker));
    let handler = relay.clone();
    let server = ScriptedServer::start(move |request, index| handler.answer(request, index)).await;
    let out = tempfile::tempdir().unwrap();
    let report = run_remote(&server, Protocol::OpenAi, 0, out.path()).await;
    let tables = missions_bench::report::read_tables(&report.dir).expect("Parquet tables");

    let mission = &tables.missions[0];
    assert_eq!(mission.status, "passed", "{mission:?}");
    let workers: Vec<_> = tables.runs.iter().filter(|r| r.role == "worker").collect();
    assert!(!workers.is_empty());
    for run in &workers {
        assert!(run.tool_calls > 0);
        assert_eq!(run.malformed_calls + run.unknown_tool_calls, 0, "{run:?}");
        assert_eq!(run.recovered_calls, run.tool_calls, "{run:?}");
    }
    for run in tables.runs.iter().filter(|r| r.role != "worker") {
        assert!(run.tool_calls > 0);
        assert_eq!(run.recovered_calls, 0, "{run:?}");
    }
    let worker_calls: u64 = workers.iter().map(|r| r.tool_calls).sum();
    assert_eq!(mission.recovered_calls, worker_calls);
    assert!(mission.tool_calls > worker_calls);

    // The events say which calls were recovered, and compare shows the shares by role.
    let events = read_events(&report.dir.join("events.jsonl")).expect("events");
    let recovered_events = events
        .iter()
        .filter(|r| {
            matches!(
                r.event,
                Event::ToolCalled {
                    recovered: true,
                    ..
                }
            )
        })
        .count() as u64;
    assert_eq!(recovered_events, worker_calls);
    let summary = &compare(std::slice::from_ref(&tables))[0];
    let worker = &summary.tool_calls_by_role["worker"];
    assert_eq!(worker.counts(), (worker_calls, 0, worker_calls, 0));
    assert_eq!(worker.recovered_share, 1.0);
    let orchestrator = &summary.tool_calls_by_role["orchestrator"];
    assert_eq!(orchestrator.valid, orchestrator.calls);
    assert_eq!(orchestrator.valid_share, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mission_passes_over_openai_chat_completions_despite_faults() {
    full_mission(Protocol::OpenAi).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mission_passes_over_anthropic_messages_despite_faults() {
    full_mission(Protocol::Anthropic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backend_that_stays_down_is_an_infrastructure_failure_in_the_denominator() {
    let server = ScriptedServer::start(|_, _| {
        Reply::json(503, &json!({"error": {"message": "maintenance"}}))
    })
    .await;
    let out = tempfile::tempdir().unwrap();
    let report = run_remote(&server, Protocol::OpenAi, 2, out.path()).await;
    assert_eq!(report.tables.missions.len(), 1);
    let mission = &report.tables.missions[0];
    assert_eq!(mission.status, "error");
    assert_eq!(mission.halt_reason.as_deref(), Some("backend_unavailable"));
    assert!(
        mission.halt_detail.contains("503"),
        "{}",
        mission.halt_detail
    );
    assert_eq!(mission.model_retries, 2);
    assert_eq!(server.requests().len(), 3);
    let summary = compare(std::slice::from_ref(&report.tables));
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].infra_errors, 1);
    assert_eq!(
        summary[0].missions, 1,
        "the failed mission stays in the denominator"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_reads_the_key_from_the_named_variable_only() {
    let relay = Arc::new(Relay::new(greet(), Some(7)));
    let handler = relay.clone();
    let server = ScriptedServer::start(move |request, index| handler.answer(request, index)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("remote.toml");
    write_relay_config(
        &config,
        &server,
        "anthropic",
        "MB_TEST_RELAY_KEY",
        "retry_initial_ms = 5",
    );
    let out = dir.path().join("reports");
    let run = |key: Option<&str>| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_missions-bench"));
        command
            .args([
                "run",
                tiny_suite().to_str().unwrap(),
                "-m",
                "greet",
                "-q",
                "--config",
            ])
            .arg(&config)
            .arg("--out")
            .arg(&out)
            .env("XDG_CACHE_HOME", crate::common::shared_cache())
            .env_remove("MB_TEST_RELAY_KEY")
            .current_dir(dir.path());
        if let Some(key) = key {
            command.env("MB_TEST_RELAY_KEY", key);
        }
        command.output()
    };
    let missing = run(None).await.expect("run the binary");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "model `relay`: the environment variable `MB_TEST_RELAY_KEY` (api_key_env) is not set"
        ),
        "{stderr}"
    );

    let output = run(Some(KEY)).await.expect("run the binary");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "{printed}");
    assert!(!printed.contains(KEY));
    assert!(server
        .requests()
        .iter()
        .all(|r| r.header("x-api-key") == Some(KEY)));
    assert!(
        files_containing(&out, KEY).is_empty(),
        "{:?}",
        files_containing(&out, KEY)
    );
    assert!(!files_containing(&out, "[redacted]").is_empty());
    let reports: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(reports.len(), 1);
}

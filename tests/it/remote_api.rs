//! Remote model clients against real HTTP servers on 127.0.0.1: scripted multi-turn tool
//! conversations in both protocols with the requests checked, usage normalisation (including
//! llama.cpp's captured replies), and every kind of fault.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use missions_bench::model::remote::{ProxySettings, RemoteBackend, RemoteOptions};
use missions_bench::model::secret::{Redactor, Secret};
use missions_bench::model::{
    AgentTask, CallRetry, ChatRequest, Message, ModelBackend, ModelError, ModelInfo,
    SessionContext, StopReason, ToolCall, ToolSpec,
};
use missions_bench::spec::config::{ModelConfig, Provider};
use missions_bench::spec::suite::load_suite;
use missions_bench::spec::Role;

use crate::common::{repo, tiny_suite};
use crate::http_server::{anthropic, openai, Reply, ScriptedServer};

const KEY: &str = "sk-test-4f1c2b9e7d3a";

fn config(server: &ScriptedServer, provider: Provider) -> ModelConfig {
    ModelConfig {
        provider,
        base_url: Some(server.base_url()),
        model: Some("scripted-model".into()),
        api_key_env: Some("TEST_KEY".into()),
        retry_initial_ms: Some(10),
        max_retries: Some(3),
        idle_timeout_s: Some(0.5),
        timeout_s: Some(20.0),
        params: Some(json!({"temperature": 0.2, "seed": 7})),
        ..ModelConfig::default()
    }
}

fn remote(config: &ModelConfig) -> RemoteBackend {
    let key = Secret::new(KEY);
    let options = RemoteOptions::from_config("m", config, Some(key.clone())).expect("options");
    RemoteBackend::new(
        ModelInfo {
            name: "m".into(),
            provider: config.provider.as_str(),
        },
        options,
        &ProxySettings::default(),
        Redactor::new([&key]),
    )
    .expect("backend")
}

fn context() -> SessionContext {
    let suite = load_suite(&tiny_suite()).expect("tiny suite");
    SessionContext {
        role: Role::Worker,
        task: AgentTask::Plan,
        mission: Arc::new(suite.missions[0].clone()),
        seed: 0,
    }
}

fn tools() -> Vec<ToolSpec> {
    ["list_files", "read_file", "finish"]
        .iter()
        .map(|name| ToolSpec {
            name: name.to_string(),
            description: format!("{name} tool"),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        })
        .collect()
}

/// Runs one call and collects the retries it reported.
async fn call(
    backend: &RemoteBackend,
    messages: &[Message],
) -> (
    Result<missions_bench::model::ChatResponse, ModelError>,
    Vec<CallRetry>,
) {
    let retries = Mutex::new(Vec::new());
    let observe = |retry: &CallRetry| retries.lock().unwrap().push(retry.clone());
    let tools = tools();
    let request = ChatRequest {
        on_retry: Some(&observe),
        ..ChatRequest::new(messages, &tools)
    };
    let mut session = backend.start_session(context());
    let result = session.complete(request).await;
    (result, retries.into_inner().unwrap())
}

fn start() -> Vec<Message> {
    vec![
        Message::system("You are a worker."),
        Message::user("Do the feature."),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_tool_conversation_reassembles_fragments_and_answers_every_call() {
    let server = ScriptedServer::start(|_, index| match index {
        0 => openai::tool_calls(
            "Looking around.",
            &[("list_files", "{\"path\": \".\"}"), ("read_file", "{\"path\": \"goal.md\"}")],
            json!({"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150, "prompt_tokens_details": {"cached_tokens": 64}, "completion_tokens_details": {"reasoning_tokens": 5}}),
        ),
        // A server that reports no cache details (vLLM without --enable-prompt-tokens-details).
        _ => openai::tool_calls(
            "",
            &[("finish", "{\"summary\": \"done\"}")],
            json!({"prompt_tokens": 200, "completion_tokens": 10, "total_tokens": 210}),
        ),
    })
    .await;
    let backend = remote(&config(&server, Provider::Openai));
    let mut messages = start();

    let (first, retries) = call(&backend, &messages).await;
    let first = first.expect("first turn");
    assert!(retries.is_empty());
    assert_eq!(first.text, "Looking around.");
    assert_eq!(first.stop, StopReason::ToolCalls);
    let names: Vec<&str> = first.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["list_files", "read_file"]);
    assert_eq!(first.tool_calls[1].arguments, "{\"path\": \"goal.md\"}");
    assert_eq!(first.usage.input_tokens, Some(120));
    assert_eq!(first.usage.cache_read_tokens, Some(64));
    assert_eq!(first.usage.cache_write_tokens, None);
    assert_eq!(first.usage.output_tokens, Some(30));
    assert_eq!(first.usage.reasoning_tokens, Some(5));
    assert!(first.timing.ttft_ms.is_some());
    assert!(first.timing.latency_ms >= first.timing.ttft_ms.unwrap());

    messages.push(Message::assistant(
        first.text.clone(),
        first.tool_calls.clone(),
    ));
    for call in &first.tool_calls {
        messages.push(Message::tool_result(
            call,
            format!("result of {}", call.name),
            false,
        ));
    }
    let (second, _) = call(&backend, &messages).await;
    let second = second.expect("second turn");
    assert_eq!(second.tool_calls[0].name, "finish");
    assert_eq!(second.usage.input_tokens, Some(200));
    assert_eq!(second.usage.cache_read_tokens, None, "absent is not zero");
    assert!(second.usage.raw.is_some());

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first_request = &requests[0];
    assert_eq!(first_request.path, "/v1/chat/completions");
    assert_eq!(
        first_request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = first_request.json();
    assert_eq!(body["model"], "scripted-model");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["seed"], 7);
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][1]["function"]["name"], "read_file");
    // The second request answers every call of the first, by id.
    let body = requests[1].json();
    let sent = body["messages"].as_array().unwrap();
    let assistant = &sent[2];
    assert_eq!(assistant["role"], "assistant");
    let ids: Vec<&str> = assistant["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let answered: Vec<&str> = sent[3..]
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["tool_call_id"].as_str().unwrap())
        .collect();
    assert_eq!(answered, ids);
    assert_eq!(
        assistant["tool_calls"][0]["function"]["arguments"],
        "{\"path\": \".\"}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_tool_conversation_slides_its_cache_breakpoints() {
    let server = ScriptedServer::start(|_, index| {
        let usage = json!({"input_tokens": 10 + index, "cache_read_input_tokens": 900 * index, "cache_creation_input_tokens": 50, "output_tokens": 12, "service_tier": "standard"});
        match index {
            0 | 1 => anthropic::tool_uses(
                "Checking.",
                &[(&format!("toolu_{index}a"), "list_files", "{\"path\": \".\"}"), (&format!("toolu_{index}b"), "read_file", "{\"path\": \"x\"}")],
                usage,
            ),
            _ => anthropic::tool_uses("", &[("toolu_end", "finish", "{\"summary\": \"ok\"}")], usage),
        }
    })
    .await;
    let backend = remote(&config(&server, Provider::Anthropic));
    let mut messages = start();
    for turn in 0..3 {
        let (response, _) = call(&backend, &messages).await;
        let response = response.expect("turn");
        assert_eq!(response.usage.cache_write_tokens, Some(50));
        assert_eq!(response.usage.cache_read_tokens, Some(900 * turn));
        assert_eq!(
            response.usage.input_tokens,
            Some(10 + turn + 900 * turn + 50),
            "input excludes cache reads and writes; the total adds them"
        );
        assert_eq!(response.usage.output_tokens, Some(12));
        if turn < 2 {
            assert_eq!(response.tool_calls.len(), 2);
            assert_eq!(response.tool_calls[0].arguments, "{\"path\": \".\"}");
            assert_eq!(response.stop, StopReason::ToolCalls);
        }
        messages.push(Message::assistant(
            response.text.clone(),
            response.tool_calls.clone(),
        ));
        for (i, call) in response.tool_calls.iter().enumerate() {
            messages.push(Message::tool_result(call, format!("out {i}"), i == 1));
        }
        if turn == 0 {
            messages.push(Message::user("A reminder after the results."));
        }
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for (index, request) in requests.iter().enumerate() {
        assert_eq!(request.path, "/v1/messages");
        assert_eq!(request.header("x-api-key"), Some(KEY));
        assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
        let body = request.json();
        assert_eq!(body["stream"], true);
        assert!(body["max_tokens"].as_u64().unwrap() > 0);
        let marked = markers(&body);
        assert!(marked.len() <= 4, "request {index}: {marked:?}");
        assert!(marked.contains(&"tools[2]".to_string()), "{marked:?}");
        assert!(marked.contains(&"system[0]".to_string()), "{marked:?}");
        let messages = body["messages"].as_array().unwrap();
        let last = messages.len() - 1;
        let last_block = messages[last]["content"].as_array().unwrap().len() - 1;
        assert!(
            marked.contains(&format!("messages[{last}][{last_block}]")),
            "{marked:?}"
        );
        // Roles alternate: tool results and the reminder go back as one user message.
        for pair in messages.windows(2) {
            assert_ne!(pair[0]["role"], pair[1]["role"]);
        }
    }
    // The third request: the previous user turn keeps a marker (where the last request wrote),
    // no other old marker is replayed, and tool results carry their ids and error flags.
    let body = requests[2].json();
    let marked = markers(&body);
    assert_eq!(marked.len(), 4, "{marked:?}");
    assert!(marked.contains(&"messages[2][2]".to_string()), "{marked:?}");
    let results = body["messages"][2]["content"].as_array().unwrap();
    assert_eq!(results[0]["type"], "tool_result");
    assert_eq!(results[0]["tool_use_id"], "toolu_0a");
    assert_eq!(results[1]["is_error"], true);
    assert_eq!(results[2]["type"], "text");
    assert_eq!(body["messages"][1]["content"][1]["type"], "tool_use");
    assert_eq!(
        body["messages"][1]["content"][1]["input"],
        json!({"path": "."})
    );
}

/// Where a body carries `cache_control`, as `tools[i]`, `system[i]`, `messages[i][j]`.
fn markers(body: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for (key, list) in [("tools", &body["tools"]), ("system", &body["system"])] {
        for (i, item) in list.as_array().into_iter().flatten().enumerate() {
            if item.get("cache_control").is_some() {
                found.push(format!("{key}[{i}]"));
            }
        }
    }
    for (i, message) in body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (j, block) in message["content"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if block.get("cache_control").is_some() {
                found.push(format!("messages[{i}][{j}]"));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn llama_cpp_replies_captured_from_a_real_server_are_read_exactly() {
    let fixtures = repo().join("tests/fixtures/llama-server");
    let streamed = std::fs::read(fixtures.join("resp3_stream.sse")).expect("fixture");
    let whole = std::fs::read(fixtures.join("resp1.json")).expect("fixture");
    let server = ScriptedServer::start(move |_, index| match index {
        0 => Reply::Stream {
            chunks: streamed.chunks(97).map(<[u8]>::to_vec).collect(),
            delay: Duration::ZERO,
            stall_after: false,
        },
        _ => Reply::Full {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: whole.clone(),
        },
    })
    .await;
    let backend = remote(&config(&server, Provider::Openai));
    let (streamed, _) = call(&backend, &start()).await;
    let streamed = streamed.expect("streamed reply");
    assert_eq!(streamed.text, "t120097".repeat(8));
    assert_eq!(streamed.stop, StopReason::MaxTokens);
    assert_eq!(streamed.usage.input_tokens, Some(234));
    assert_eq!(streamed.usage.cache_read_tokens, Some(233));
    assert_eq!(streamed.usage.output_tokens, Some(8));
    assert_eq!(streamed.timing.prefill_tokens, Some(1));
    assert!((streamed.timing.decode_tokens_per_s.unwrap() - 38.858881197297634).abs() < 1e-9);
    let raw = streamed.usage.raw.expect("raw usage");
    assert_eq!(raw["timings"]["cache_n"], 233);
    // A reply sent whole although a stream was asked for: reported zero stays zero.
    let (whole, _) = call(&backend, &start()).await;
    let whole = whole.expect("whole reply");
    assert_eq!(whole.usage.input_tokens, Some(178));
    assert_eq!(whole.usage.cache_read_tokens, Some(0));
    assert_eq!(whole.text.len(), 8 * 7);
}

/// Serves `faults` in order, then a good reply.
async fn faulty(protocol: Provider, faults: Vec<Reply>) -> ScriptedServer {
    ScriptedServer::start(move |_, index| match faults.get(index) {
        Some(fault) => fault.clone(),
        None => good(protocol),
    })
    .await
}

fn good(protocol: Provider) -> Reply {
    match protocol {
        Provider::Anthropic => anthropic::tool_uses(
            "",
            &[("toolu_1", "finish", "{\"summary\": \"ok\"}")],
            json!({"input_tokens": 5, "output_tokens": 3}),
        ),
        _ => openai::tool_calls(
            "",
            &[("finish", "{\"summary\": \"ok\"}")],
            json!({"prompt_tokens": 5, "completion_tokens": 3}),
        ),
    }
}

/// The first half of a good reply's stream, then the connection closes.
fn truncated(protocol: Provider) -> Reply {
    match good(protocol) {
        Reply::Stream { chunks, .. } => Reply::Stream {
            chunks: chunks[..chunks.len() / 2].to_vec(),
            delay: Duration::ZERO,
            stall_after: false,
        },
        other => other,
    }
}

fn stalled(protocol: Provider) -> Reply {
    match truncated(protocol) {
        Reply::Stream { chunks, .. } => Reply::Stream {
            chunks,
            delay: Duration::ZERO,
            stall_after: true,
        },
        other => other,
    }
}

fn malformed() -> Reply {
    Reply::Stream {
        chunks: vec![
            b"data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"hi\"}}]}\n\n".to_vec(),
            b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"te\n\n".to_vec(),
        ],
        delay: Duration::ZERO,
        stall_after: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_are_survived_by_retrying_or_restarting_the_turn() {
    for protocol in [Provider::Openai, Provider::Anthropic] {
        let error = |status: u16| {
            Reply::json(
                status,
                &json!({"error": {"type": "server_error", "message": format!("try again, {KEY}")}}),
            )
        };
        let cases: Vec<(&str, Reply, bool)> = vec![
            (
                "429 with Retry-After",
                error(429).with_header("retry-after", "1"),
                false,
            ),
            ("500", error(500), false),
            ("529 overloaded", error(529), false),
            ("connection reset", Reply::Drop, false),
            ("malformed JSON", malformed(), true),
            ("truncated stream", truncated(protocol), true),
            ("stalled stream", stalled(protocol), true),
        ];
        for (name, fault, restart) in cases {
            let server = faulty(protocol, vec![fault]).await;
            let backend = remote(&config(&server, protocol));
            let started = std::time::Instant::now();
            let (result, retries) = call(&backend, &start()).await;
            let response = result.unwrap_or_else(|e| panic!("{protocol:?} {name}: {e}"));
            assert_eq!(response.tool_calls[0].name, "finish", "{name}");
            assert_eq!(response.retries, 1, "{protocol:?} {name}");
            assert_eq!(retries.len(), 1, "{protocol:?} {name}");
            assert_eq!(
                retries[0].restart, restart,
                "{protocol:?} {name}: {:?}",
                retries[0]
            );
            assert!(!retries[0].reason.contains(KEY), "{}", retries[0].reason);
            assert_eq!(server.requests().len(), 2, "{protocol:?} {name}");
            if name.starts_with("429") {
                assert!(retries[0].wait_ms >= 1000.0, "{:?}", retries[0]);
                assert!(started.elapsed() >= Duration::from_secs(1));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_that_outlast_retries_are_infrastructure_and_context_length_is_not() {
    // Always 503: the retries run out.
    let server = ScriptedServer::start(|_, _| Reply::json(503, &json!({"error": "down"}))).await;
    let backend = remote(&config(&server, Provider::Openai));
    let (result, retries) = call(&backend, &start()).await;
    let error = result.expect_err("must fail");
    assert!(error.is_infrastructure(), "{error}");
    assert!(matches!(error, ModelError::Unavailable { .. }));
    assert_eq!(retries.len(), 3);
    assert_eq!(server.requests().len(), 4);

    // A bad key is not retried, and the key the server echoed is not in the error.
    let server = ScriptedServer::start(|request, _| {
        Reply::json(401, &json!({"error": {"type": "authentication_error", "message": format!("invalid key {}", request.header("x-api-key").unwrap_or(""))}}))
    })
    .await;
    let backend = remote(&config(&server, Provider::Anthropic));
    let (result, retries) = call(&backend, &start()).await;
    let error = result.expect_err("must fail").to_string();
    assert!(retries.is_empty());
    assert_eq!(server.requests().len(), 1);
    assert!(
        error.contains("401") && error.contains("[redacted]"),
        "{error}"
    );
    assert!(!error.contains(KEY), "{error}");

    // Context length, as vLLM words it: the agent's failure, not the infrastructure's.
    let server = ScriptedServer::start(|_, _| {
        Reply::json(400, &json!({"object": "error", "message": "This model's maximum context length is 4096 tokens. However, you requested 9000 tokens.", "type": "BadRequestError", "code": 400}))
    })
    .await;
    let backend = remote(&config(&server, Provider::Openai));
    let (result, _) = call(&backend, &start()).await;
    let error = result.expect_err("must fail");
    assert!(matches!(error, ModelError::ContextLength { .. }), "{error}");
    assert!(!error.is_infrastructure());

    // An error event inside an Anthropic stream that has begun: the turn restarts.
    let overloaded = Reply::sse(&[
        (Some("message_start"), json!({"type": "message_start", "message": {"usage": {"input_tokens": 3}}}).to_string()),
        (Some("error"), json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}).to_string()),
    ]);
    let server = faulty(Provider::Anthropic, vec![overloaded]).await;
    let backend = remote(&config(&server, Provider::Anthropic));
    let (result, retries) = call(&backend, &start()).await;
    assert!(result.is_ok());
    assert!(
        retries[0].restart && retries[0].reason.contains("overloaded"),
        "{retries:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_concurrency_limit_holds_across_sessions() {
    let server = ScriptedServer::start(|_, _| match good(Provider::Openai) {
        Reply::Stream { chunks, .. } => Reply::Stream {
            chunks,
            delay: Duration::from_millis(50),
            stall_after: false,
        },
        other => other,
    })
    .await;
    let mut model = config(&server, Provider::Openai);
    model.max_concurrency = Some(2);
    let backend = Arc::new(remote(&model));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let backend = backend.clone();
        tasks.push(tokio::spawn(async move {
            let messages = start();
            let tools = tools();
            let mut session = backend.start_session(context());
            session
                .complete(ChatRequest::new(&messages, &tools))
                .await
                .map(|r| r.tool_calls.len())
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("call"), 1);
    }
    assert_eq!(server.requests().len(), 6);
    assert_eq!(server.max_in_flight(), 2);
}

#[test]
fn tool_calls_without_ids_get_unique_ones() {
    // Some servers omit ids and indexes; each call still gets an id the next request answers.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let server = ScriptedServer::start(|_, _| {
            Reply::sse(&[
                (None, openai::chunk(json!({"tool_calls": [{"function": {"name": "list_files", "arguments": "{}"}}]}), None)),
                (None, openai::chunk(json!({"tool_calls": [{"id": "x2", "function": {"name": "finish", "arguments": "{\"summary\":"}}]}), None)),
                (None, openai::chunk(json!({"tool_calls": [{"function": {"arguments": " \"s\"}"}}]}), Some("tool_calls"))),
                (None, "[DONE]".to_string()),
            ])
        })
        .await;
        let model = remote(&config(&server, Provider::Openai));
        let (result, _) = call(&model, &start()).await;
        let calls: Vec<ToolCall> = result.expect("reply").tool_calls;
        assert_eq!(calls.len(), 2);
        assert!(calls[0].id.starts_with("call_"));
        assert_eq!(calls[1].id, "x2");
        assert_eq!(calls[1].arguments, "{\"summary\": \"s\"}");
        // Absent usage: every count stays unknown.
        assert_eq!(
            call(&model, &start()).await.0.unwrap().usage.input_tokens,
            None
        );
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_that_outlasts_timeout_s_after_it_began_restarts_the_turn() {
    let slow = match good(Provider::Openai) {
        Reply::Stream { chunks, .. } => Reply::Stream {
            chunks,
            delay: Duration::from_millis(400),
            stall_after: false,
        },
        other => other,
    };
    let server = faulty(Provider::Openai, vec![slow]).await;
    let mut model = config(&server, Provider::Openai);
    model.timeout_s = Some(1.0);
    let (result, retries) = call(&remote(&model), &start()).await;
    assert_eq!(result.expect("second attempt").retries, 1);
    assert!(retries[0].restart, "{retries:?}");
    assert!(retries[0].reason.contains("timeout_s"), "{retries:?}");
}

/// A server that does not parse its model's calls (llama.cpp without `--jinja`, an Ollama
/// template without tools) hands back the model's fenced call as text: it is recovered and
/// flagged, over both protocols. A reply with native calls is taken as it is, unflagged.
#[tokio::test(flavor = "multi_thread")]
async fn calls_in_the_text_of_a_reply_without_native_calls_are_recovered() {
    let fixtures = repo().join("tests/fixtures/toolcalls");
    let reply = std::fs::read_to_string(fixtures.join("qwen-1.5b-write-file.txt")).unwrap();
    let content = std::fs::read_to_string(fixtures.join("wordcount.py")).unwrap();
    let text = reply.clone();
    let server = ScriptedServer::start(move |_, index| match index {
        0 => openai::tool_calls(&text, &[], Value::Null),
        1 => openai::tool_calls(
            "```json\n{\"name\": \"finish\", \"arguments\": {}}\n```",
            &[("read_file", "{\"path\": \"a.py\"}")],
            Value::Null,
        ),
        _ => anthropic::tool_uses(&text, &[], json!({"input_tokens": 10, "output_tokens": 5})),
    })
    .await;
    let openai_backend = remote(&config(&server, Provider::Openai));
    let anthropic_backend = remote(&config(&server, Provider::Anthropic));

    let check = |response: &missions_bench::model::ChatResponse| {
        assert_eq!(response.tool_calls.len(), 1, "{:?}", response.tool_calls);
        let call = &response.tool_calls[0];
        assert_eq!(call.name, "write_file");
        assert!(call.recovered);
        assert!(!call.id.is_empty());
        let arguments: Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(arguments["path"], "wordcount.py");
        assert_eq!(arguments["content"].as_str(), Some(content.as_str()));
        assert!(response.text.starts_with("To solve this"));
        assert!(response.text.ends_with("returns a `Counter`."));
        assert!(!response.text.contains("```"), "{}", response.text);
    };
    let (first, _) = call(&openai_backend, &start()).await;
    check(&first.expect("recovered over Chat Completions"));

    let (second, _) = call(&openai_backend, &start()).await;
    let second = second.expect("native call");
    assert_eq!(second.tool_calls.len(), 1);
    assert_eq!(second.tool_calls[0].name, "read_file");
    assert!(!second.tool_calls[0].recovered);
    assert!(second.text.contains("```json"), "the text is left alone");

    let (third, _) = call(&anthropic_backend, &start()).await;
    check(&third.expect("recovered over Messages"));
}

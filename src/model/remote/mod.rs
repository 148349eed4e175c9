//! Remote models over HTTP: the `openai` provider (Chat Completions, for OpenAI and every
//! compatible server) and the `anthropic` provider (Messages). One thin streaming client per
//! protocol on reqwest; this module owns what both share: the request loop with retries, the
//! per-model concurrency limit, timeouts, error classification and redaction of keys.
//!
//! A call is retried with exponential backoff and jitter on 429, 408, 409, 5xx, connection
//! errors and timeouts, waiting as long as `Retry-After` asks. Once a streamed reply has begun,
//! nothing is retried in place: the partial reply is dropped and the turn restarts with the same
//! request. Both count against `max_retries`, and each is reported through
//! [`ChatRequest::on_retry`]. A failure that survives the retries is
//! [`ModelError::Unavailable`], an infrastructure failure.

pub mod anthropic;
pub mod openai;
pub mod retry;
pub mod sse;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use super::recover::recover_tool_calls;
use super::secret::{Redactor, Secret};
use super::{
    millis, CallRetry, CallTiming, ChatRequest, ChatResponse, ModelBackend, ModelError, ModelInfo,
    ModelSession, SessionContext, StopReason, ToolCall, Usage,
};
use crate::spec::config::{ModelConfig, Provider};
use retry::{Backoff, Failure};
use sse::SseParser;

pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com/v1";
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Defaults for keys the config leaves out.
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
pub const DEFAULT_TIMEOUT_S: f64 = 600.0;
pub const DEFAULT_IDLE_TIMEOUT_S: f64 = 120.0;
pub const DEFAULT_MAX_RETRIES: u32 = 5;
pub const DEFAULT_RETRY_INITIAL_MS: u64 = 1000;
/// The longest wait between attempts that backoff alone chooses.
pub const RETRY_MAX_WAIT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an error body kept for the message.
const MAX_ERROR_BODY: usize = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    OpenAi,
    Anthropic,
}

/// Network settings the caller resolves from the environment.
#[derive(Debug, Clone, Default)]
pub struct ProxySettings {
    /// `HTTPS_PROXY` / `ALL_PROXY`: used for every request when set.
    pub proxy: Option<String>,
    /// `NO_PROXY`: hosts that bypass the proxy.
    pub no_proxy: Option<String>,
}

/// A remote model's settings, resolved from its config.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    pub protocol: Protocol,
    /// `.../chat/completions` or `.../messages`.
    pub url: String,
    pub model: String,
    pub api_key: Option<Secret>,
    pub max_concurrency: usize,
    pub timeout: Duration,
    pub idle_timeout: Duration,
    pub max_retries: u32,
    pub retry_initial: Duration,
    pub params: Map<String, Value>,
    pub headers: Vec<(String, String)>,
    /// Anthropic prompt caching: `None` is off.
    pub cache_ttl: Option<String>,
    /// `max_new_tokens` of the config: the output limit when a request sets none.
    pub max_tokens: Option<u32>,
}

impl RemoteOptions {
    /// Resolves a model's config. `api_key` is the value of its `api_key_env` variable.
    pub fn from_config(
        name: &str,
        config: &ModelConfig,
        api_key: Option<Secret>,
    ) -> Result<RemoteOptions, ModelError> {
        let protocol = match config.provider {
            Provider::Openai => Protocol::OpenAi,
            Provider::Anthropic => Protocol::Anthropic,
            other => {
                return Err(ModelError::Unavailable {
                    message: format!(
                        "model `{name}`: provider `{}` is not remote",
                        other.as_str()
                    ),
                })
            }
        };
        let base = config.base_url.clone().unwrap_or_else(|| {
            match protocol {
                Protocol::OpenAi => OPENAI_BASE_URL,
                Protocol::Anthropic => ANTHROPIC_BASE_URL,
            }
            .to_string()
        });
        let base = base.trim_end_matches('/');
        let url = match protocol {
            Protocol::OpenAi => format!("{base}/chat/completions"),
            Protocol::Anthropic => format!("{base}/messages"),
        };
        let model = config
            .model
            .clone()
            .ok_or_else(|| ModelError::Unavailable {
                message: format!("model `{name}`: remote models need `model`"),
            })?;
        let params = match &config.params {
            None => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return Err(ModelError::Unavailable {
                    message: format!("model `{name}`: `params` must be a table"),
                })
            }
        };
        let seconds = |value: Option<f64>, default: f64| {
            Duration::from_secs_f64(
                value
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .unwrap_or(default),
            )
        };
        Ok(RemoteOptions {
            protocol,
            url,
            model,
            api_key,
            max_concurrency: config
                .max_concurrency
                .unwrap_or(DEFAULT_MAX_CONCURRENCY)
                .max(1),
            timeout: seconds(config.timeout_s, DEFAULT_TIMEOUT_S),
            idle_timeout: seconds(config.idle_timeout_s, DEFAULT_IDLE_TIMEOUT_S),
            max_retries: config.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            retry_initial: Duration::from_millis(
                config.retry_initial_ms.unwrap_or(DEFAULT_RETRY_INITIAL_MS),
            ),
            params,
            headers: config
                .headers
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            cache_ttl: match config.cache_ttl.as_deref() {
                Some("off") => None,
                Some(ttl) => Some(ttl.to_string()),
                None => Some("5m".to_string()),
            },
            max_tokens: config
                .max_new_tokens
                .map(|n| n.min(u32::MAX as usize) as u32),
        })
    }
}

/// What both stream readers hand back.
#[derive(Debug)]
pub struct Assembled {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub stop: StopReason,
    pub usage: Usage,
    pub prefill_tokens: Option<u64>,
    pub prefill_tokens_per_s: Option<f64>,
    pub decode_tokens_per_s: Option<f64>,
}

pub enum Feed {
    Continue,
    Done,
}

/// A stream that went wrong after it began.
#[derive(Debug)]
pub enum StreamFault {
    /// A chunk could not be understood.
    Malformed(String),
    /// The server reported an error inside the stream.
    Server(String),
}

struct Shared {
    info: ModelInfo,
    options: RemoteOptions,
    client: reqwest::Client,
    headers: HeaderMap,
    permits: Semaphore,
    redactor: Redactor,
    call_ids: AtomicU64,
}

/// A remote model: a client, its settings and its concurrency limit, shared by every agent
/// that uses it.
pub struct RemoteBackend {
    shared: Arc<Shared>,
}

impl RemoteBackend {
    pub fn new(
        info: ModelInfo,
        options: RemoteOptions,
        proxy: &ProxySettings,
        redactor: Redactor,
    ) -> Result<RemoteBackend, ModelError> {
        let unavailable = |message: String| ModelError::Unavailable {
            message: redactor.redact(&message).into_owned(),
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .user_agent(concat!("missions-bench/", env!("CARGO_PKG_VERSION")));
        if let Some(url) = &proxy.proxy {
            let mut rule =
                reqwest::Proxy::all(url).map_err(|e| unavailable(format!("proxy `{url}`: {e}")))?;
            if let Some(list) = &proxy.no_proxy {
                rule = rule.no_proxy(reqwest::NoProxy::from_string(list));
            }
            builder = builder.proxy(rule);
        }
        let client = builder
            .build()
            .map_err(|e| unavailable(format!("model `{}`: HTTP client: {e}", info.name)))?;
        let mut headers = HeaderMap::new();
        let mut header = |name: &str, value: &str, secret: bool| -> Result<(), ModelError> {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                unavailable(format!("model `{}`: bad header name `{name}`", info.name))
            })?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                unavailable(format!(
                    "model `{}`: the value of header `{name}` is not valid in HTTP",
                    info.name
                ))
            })?;
            value.set_sensitive(secret);
            headers.insert(name, value);
            Ok(())
        };
        match (options.protocol, &options.api_key) {
            (Protocol::OpenAi, Some(key)) => {
                header("authorization", &format!("Bearer {}", key.expose()), true)?
            }
            (Protocol::Anthropic, Some(key)) => header("x-api-key", key.expose(), true)?,
            (_, None) => {}
        }
        if options.protocol == Protocol::Anthropic {
            header("anthropic-version", ANTHROPIC_VERSION, false)?;
        }
        for (name, value) in &options.headers {
            header(name, value, false)?;
        }
        Ok(RemoteBackend {
            shared: Arc::new(Shared {
                permits: Semaphore::new(options.max_concurrency),
                info,
                options,
                client,
                headers,
                redactor,
                call_ids: AtomicU64::new(0),
            }),
        })
    }
}

impl ModelBackend for RemoteBackend {
    fn info(&self) -> &ModelInfo {
        &self.shared.info
    }

    fn start_session(&self, _context: SessionContext) -> Box<dyn ModelSession> {
        Box::new(RemoteSession {
            shared: self.shared.clone(),
        })
    }
}

/// Remote sessions hold no state: the server sees the whole conversation on every call.
struct RemoteSession {
    shared: Arc<Shared>,
}

#[async_trait]
impl ModelSession for RemoteSession {
    async fn complete(&mut self, request: ChatRequest<'_>) -> Result<ChatResponse, ModelError> {
        self.shared.complete(&request).await
    }
}

/// How one attempt ended, when it did not succeed.
struct AttemptError {
    failure: Failure,
    /// The response had begun streaming.
    after_first_byte: bool,
}

impl Shared {
    fn body(&self, request: &ChatRequest<'_>) -> Value {
        let options = &self.options;
        match options.protocol {
            Protocol::OpenAi => {
                openai::body(request, &options.model, &options.params, options.max_tokens)
            }
            Protocol::Anthropic => anthropic::body(
                request,
                &anthropic::BodyOptions {
                    model: &options.model,
                    params: &options.params,
                    cache_ttl: options.cache_ttl.as_deref(),
                    max_tokens: options.max_tokens.unwrap_or(anthropic::DEFAULT_MAX_TOKENS),
                },
            ),
        }
    }

    async fn complete(&self, request: &ChatRequest<'_>) -> Result<ChatResponse, ModelError> {
        let started = Instant::now();
        let body = match serde_json::to_vec(&self.body(request)) {
            Ok(body) => body,
            Err(e) => {
                return Err(ModelError::Protocol {
                    message: format!("cannot encode the request: {e}"),
                })
            }
        };
        let mut backoff = Backoff::new(self.options.retry_initial, RETRY_MAX_WAIT);
        let mut retries = 0u32;
        loop {
            let attempt = {
                let Ok(_permit) = self.permits.acquire().await else {
                    return Err(ModelError::Unavailable {
                        message: "the model's concurrency limit was closed".into(),
                    });
                };
                let began = AtomicBool::new(false);
                tokio::time::timeout(self.options.timeout, self.attempt(&body, started, &began))
                    .await
                    .unwrap_or_else(|_| {
                        Err(AttemptError {
                            failure: Failure::Retryable {
                                reason: format!(
                                    "no complete reply within {:.0} s (timeout_s)",
                                    self.options.timeout.as_secs_f64()
                                ),
                                retry_after: None,
                            },
                            after_first_byte: began.load(Ordering::Relaxed),
                        })
                    })
            };
            let error = match attempt {
                Ok(mut response) => {
                    response.retries = retries;
                    response.timing.latency_ms = millis(started.elapsed());
                    return Ok(response);
                }
                Err(error) => error,
            };
            let clean = |text: String| self.redactor.redact(&text).into_owned();
            let (reason, retry_after) = match error.failure {
                Failure::Retryable {
                    reason,
                    retry_after,
                } => (clean(reason), retry_after),
                Failure::ContextLength(message) => {
                    return Err(ModelError::ContextLength {
                        message: clean(message),
                    })
                }
                Failure::Fatal(message) => {
                    return Err(ModelError::Unavailable {
                        message: clean(message),
                    })
                }
                Failure::Protocol(message) => {
                    return Err(ModelError::Protocol {
                        message: clean(message),
                    })
                }
            };
            if retries >= self.options.max_retries {
                return Err(ModelError::Unavailable {
                    message: format!("{reason} (after {} attempts)", retries + 1),
                });
            }
            let wait = backoff.next_wait(retry_after);
            if wait > self.options.timeout {
                return Err(ModelError::Unavailable {
                    message: format!(
                        "{reason}; the server asked to wait {:.0} s, longer than timeout_s",
                        wait.as_secs_f64()
                    ),
                });
            }
            retries += 1;
            if let Some(notify) = request.on_retry {
                notify(&CallRetry {
                    attempt: retries,
                    restart: error.after_first_byte,
                    reason,
                    wait_ms: millis(wait),
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One HTTP request and its streamed reply.
    async fn attempt(
        &self,
        body: &[u8],
        call_started: Instant,
        began: &AtomicBool,
    ) -> Result<ChatResponse, AttemptError> {
        let before = |failure: Failure| AttemptError {
            failure,
            after_first_byte: false,
        };
        let response = self
            .client
            .post(&self.options.url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("accept", "text/event-stream")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| before(retry::transport_failure(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry::retry_after(response.headers());
            let text = read_capped(response, MAX_ERROR_BODY).await;
            return Err(before(retry::status_failure(
                status.as_u16(),
                &text,
                retry_after,
            )));
        }
        let json_reply = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let mut reader = Reader::new(self.options.protocol);
        let mut response = response;
        let mut ttft = None;
        let mut json_body = Vec::new();
        // Whether the reply had begun decides between a retry and a restart.
        let fail = |failure: Failure| AttemptError {
            failure,
            after_first_byte: began.load(Ordering::Relaxed),
        };
        loop {
            let chunk =
                match tokio::time::timeout(self.options.idle_timeout, response.chunk()).await {
                    Err(_) => {
                        return Err(fail(Failure::Retryable {
                            reason: format!(
                                "the stream stalled: nothing for {:.1} s (idle_timeout_s)",
                                self.options.idle_timeout.as_secs_f64()
                            ),
                            retry_after: None,
                        }))
                    }
                    Ok(Err(e)) => return Err(fail(retry::transport_failure(&e))),
                    Ok(Ok(chunk)) => chunk,
                };
            let Some(chunk) = chunk else {
                break;
            };
            if chunk.is_empty() {
                continue;
            }
            began.store(true, Ordering::Relaxed);
            if json_reply {
                json_body.extend_from_slice(&chunk);
                continue;
            }
            match reader.feed(&chunk) {
                Ok(done) => {
                    if ttft.is_none() && reader.output_started() {
                        ttft = Some(millis(call_started.elapsed()));
                    }
                    if done {
                        return Ok(self.finish(reader, ttft));
                    }
                }
                Err(fault) => return Err(fail(fault_failure(fault))),
            }
        }
        if json_reply {
            // A server that ignored `stream: true` (OpenAI shape only).
            let text = String::from_utf8_lossy(&json_body);
            return match reader.feed_json(&text) {
                Ok(()) => Ok(self.finish(reader, Some(millis(call_started.elapsed())))),
                Err(fault) => Err(fail(fault_failure(fault))),
            };
        }
        if reader.finished() && !reader.partial() {
            // The server said how the reply ended and then closed without its end marker.
            return Ok(self.finish(reader, ttft));
        }
        Err(fail(Failure::Retryable {
            reason: "the stream ended before the reply was complete".to_string(),
            retry_after: None,
        }))
    }

    fn finish(&self, reader: Reader, ttft: Option<f64>) -> ChatResponse {
        let mut ids = || format!("call_{}", self.call_ids.fetch_add(1, Ordering::Relaxed));
        let mut assembled = match reader.stream {
            ReaderStream::OpenAi(stream) => stream.assemble(&mut ids),
            ReaderStream::Anthropic(stream) => stream.assemble(),
        };
        // A server that does not parse its model's calls (llama.cpp without `--jinja`, an
        // Ollama template without tools) hands them back as text: they are recovered from it
        // and flagged, so that the agent loop can run them and the report can tell them apart.
        if assembled.tool_calls.is_empty() && !assembled.text.is_empty() {
            let prefix = format!("call_{}_", self.call_ids.fetch_add(1, Ordering::Relaxed));
            let parsed = recover_tool_calls(&assembled.text, &prefix);
            if !parsed.calls.is_empty() {
                assembled.text = parsed.text;
                assembled.tool_calls = parsed.calls;
            }
        }
        let redactor = &self.redactor;
        if !redactor.is_empty() {
            assembled.text = redactor.redact(&assembled.text).into_owned();
            for call in &mut assembled.tool_calls {
                call.arguments = redactor.redact(&call.arguments).into_owned();
            }
            if let Some(raw) = assembled.usage.raw.as_mut() {
                redactor.redact_json(raw);
            }
        }
        ChatResponse {
            text: assembled.text,
            tool_calls: assembled.tool_calls,
            stop: assembled.stop,
            usage: assembled.usage,
            timing: CallTiming {
                latency_ms: 0.0,
                ttft_ms: ttft,
                prefill_tokens: assembled.prefill_tokens,
                prefill_tokens_per_s: assembled.prefill_tokens_per_s,
                decode_tokens_per_s: assembled.decode_tokens_per_s,
            },
            retries: 0,
        }
    }
}

fn fault_failure(fault: StreamFault) -> Failure {
    match fault {
        StreamFault::Malformed(message) => Failure::Retryable {
            reason: format!("malformed stream: {message}"),
            retry_after: None,
        },
        StreamFault::Server(message) => retry::stream_error_failure(&message),
    }
}

enum ReaderStream {
    OpenAi(openai::Stream),
    Anthropic(anthropic::Stream),
}

/// Bytes -> events -> a reply.
struct Reader {
    parser: SseParser,
    stream: ReaderStream,
}

impl Reader {
    fn new(protocol: Protocol) -> Reader {
        Reader {
            parser: SseParser::new(),
            stream: match protocol {
                Protocol::OpenAi => ReaderStream::OpenAi(openai::Stream::default()),
                Protocol::Anthropic => ReaderStream::Anthropic(anthropic::Stream::default()),
            },
        }
    }

    /// Returns whether the reply is complete.
    fn feed(&mut self, chunk: &[u8]) -> Result<bool, StreamFault> {
        let events = self.parser.feed(chunk).map_err(StreamFault::Malformed)?;
        for event in events {
            let fed = match &mut self.stream {
                ReaderStream::OpenAi(stream) => stream.feed(&event.data)?,
                ReaderStream::Anthropic(stream) => stream.feed(&event.event, &event.data)?,
            };
            if let Feed::Done = fed {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn feed_json(&mut self, body: &str) -> Result<(), StreamFault> {
        match &mut self.stream {
            ReaderStream::OpenAi(stream) => stream.feed(body).map(|_| ()),
            ReaderStream::Anthropic(_) => Err(StreamFault::Malformed(
                "the server answered with JSON instead of an event stream".into(),
            )),
        }
    }

    fn output_started(&self) -> bool {
        match &self.stream {
            ReaderStream::OpenAi(stream) => stream.output_started(),
            ReaderStream::Anthropic(stream) => stream.output_started(),
        }
    }

    fn finished(&self) -> bool {
        match &self.stream {
            ReaderStream::OpenAi(stream) => stream.finished(),
            ReaderStream::Anthropic(stream) => stream.finished(),
        }
    }

    fn partial(&self) -> bool {
        self.parser.has_partial()
    }
}

/// The start of an error body, as text.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < cap {
        match tokio::time::timeout(Duration::from_secs(10), response.chunk()).await {
            Ok(Ok(Some(chunk))) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(cap);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The message of an error object (`{"message": ..., "type": ..., "code": ...}`) or a string.
pub(crate) fn error_message(error: &Value) -> String {
    match error {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let message = o.get("message").and_then(Value::as_str).unwrap_or("");
            let kind = o
                .get("code")
                .and_then(Value::as_str)
                .or_else(|| o.get("type").and_then(Value::as_str));
            match kind {
                Some(kind) if !message.contains(kind) => format!("{kind}: {message}"),
                _ if message.is_empty() => error.to_string(),
                _ => message.to_string(),
            }
        }
        other => other.to_string(),
    }
}

/// The start of `text`, for error messages.
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 300;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

//! Which failures are worth another attempt, how long to wait before it, and recognising a
//! context-length error whatever server wrote it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::{clip, error_message};

/// What a failed attempt means.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Worth another attempt (after `retry_after` when the server named a wait).
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The conversation no longer fits the model: the agent's failure, not the infrastructure's.
    ContextLength(String),
    /// Another attempt would fail the same way (bad key, unknown model, bad request).
    Fatal(String),
    /// The reply could not be understood.
    Protocol(String),
}

/// Exponential backoff with jitter: the n-th wait is drawn from [d/2, d] with
/// d = initial x 2^n, capped. A server's `Retry-After` replaces it: the wait is what the server
/// asked, plus at most 250 ms of jitter.
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff { next: initial, max }
    }

    pub fn next_wait(&mut self, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        let jittered = ceiling.mul_f64(0.5 + 0.5 * unit_random());
        match retry_after {
            Some(asked) => jittered.clamp(asked, asked + Duration::from_millis(250)),
            None => jittered,
        }
    }
}

/// A number in [0, 1) from a process-wide splitmix64 sequence seeded by the clock.
fn unit_random() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    let state = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(seed);
    crate::rng::SplitMix::new(state).unit()
}

/// `retry-after-ms` (OpenAI), or `Retry-After` in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(wait.max(0) as u64))
}

/// A failure to connect, send, or receive.
pub fn transport_failure(error: &reqwest::Error) -> Failure {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the connection broke while reading"
    } else {
        "request failed"
    };
    let mut message = format!("{kind}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if error.is_builder() {
        return Failure::Fatal(message);
    }
    Failure::Retryable {
        reason: message,
        retry_after: None,
    }
}

/// An HTTP error status with its body.
pub fn status_failure(status: u16, body: &str, retry_after: Option<Duration>) -> Failure {
    let message = body_message(body);
    let described = format!("HTTP {status}: {message}");
    if matches!(status, 400 | 413 | 422 | 500) && is_context_length(&message) {
        return Failure::ContextLength(described);
    }
    match status {
        408 | 409 | 425 | 429 | 500..=599 => Failure::Retryable {
            reason: described,
            retry_after,
        },
        _ => Failure::Fatal(described),
    }
}

/// An error the server sent inside a stream that had begun.
pub fn stream_error_failure(message: &str) -> Failure {
    if is_context_length(message) {
        return Failure::ContextLength(message.to_string());
    }
    let lower = message.to_ascii_lowercase();
    let permanent = [
        "invalid_request",
        "authentication",
        "permission",
        "not_found",
        "invalid api key",
    ];
    if permanent.iter().any(|p| lower.contains(p)) {
        return Failure::Fatal(format!("error in the stream: {message}"));
    }
    Failure::Retryable {
        reason: format!("error in the stream: {message}"),
        retry_after: None,
    }
}

/// The error message of a JSON error body (`{"error": {...}}` or `{"error": "..."}`), or the
/// start of the body as text.
fn body_message(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(value) => match value.get("error") {
            Some(error) => error_message(error),
            None => match value.get("message").and_then(Value::as_str) {
                Some(message) => message.to_string(),
                None => clip(body.trim()),
            },
        },
        Err(_) => clip(body.trim()),
    }
}

/// What OpenAI, vLLM, SGLang, llama.cpp, Ollama and Anthropic say when a prompt is too long.
pub fn is_context_length(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "context_length_exceeded",
        "maximum context length",
        "context length",
        "context window",
        "prompt is too long",
        "exceed_context_size",
        "exceeds the available context size",
        "input is too long",
        "too many tokens",
    ]
    .iter()
    .any(|pattern| lower.contains(pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages_are_classified() {
        assert!(matches!(
            status_failure(429, "{\"error\":{\"message\":\"slow down\"}}", None),
            Failure::Retryable { .. }
        ));
        assert!(matches!(
            status_failure(529, "overloaded", None),
            Failure::Retryable { .. }
        ));
        assert_eq!(
            status_failure(
                401,
                "{\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key\"}}",
                None
            ),
            Failure::Fatal("HTTP 401: authentication_error: invalid x-api-key".into())
        );
        // vLLM, llama.cpp and Anthropic wordings.
        for body in [
            "{\"object\":\"error\",\"message\":\"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens\",\"type\":\"BadRequestError\"}",
            "{\"error\":{\"code\":400,\"message\":\"the request exceeds the available context size, try increasing it\",\"type\":\"exceed_context_size_error\"}}",
            "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"prompt is too long: 210000 tokens > 200000 maximum\"}}",
        ] {
            assert!(
                matches!(status_failure(400, body, None), Failure::ContextLength(_)),
                "{body}"
            );
        }
        assert!(matches!(
            stream_error_failure("overloaded_error: Overloaded"),
            Failure::Retryable { .. }
        ));
    }

    #[test]
    fn waits_grow_with_jitter_and_honour_retry_after() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let waits: Vec<Duration> = (0..4).map(|_| backoff.next_wait(None)).collect();
        assert!(waits[0] >= Duration::from_millis(50) && waits[0] <= Duration::from_millis(100));
        assert!(waits[1] >= Duration::from_millis(100) && waits[1] <= Duration::from_millis(200));
        assert!(waits[3] >= Duration::from_millis(175) && waits[3] <= Duration::from_millis(350));
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
        assert!(backoff.next_wait(Some(Duration::from_secs(2))) >= Duration::from_secs(2));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
        let mut dated = HeaderMap::new();
        dated.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&dated), Some(Duration::ZERO));
    }
}

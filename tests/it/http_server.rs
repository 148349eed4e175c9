//! A real HTTP/1.1 server on 127.0.0.1 that answers from a script and records every request:
//! full replies, event streams written chunk by chunk, stalls, and dropped connections. It
//! stops when dropped. Shared by the integration tests and the remote-model bench.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// How the server answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response with a `Content-Length`.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// `200 text/event-stream`, the chunks written one by one with `delay` between them; the
    /// body ends when the connection closes, or never when `stall_after` is set.
    Stream {
        chunks: Vec<Vec<u8>>,
        delay: Duration,
        stall_after: bool,
    },
    /// Close the connection without a reply.
    Drop,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Full { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// An event stream of whole events, each `event:` (when named) and `data:` lines.
    pub fn sse(events: &[(Option<&str>, String)]) -> Reply {
        let chunks = events
            .iter()
            .map(|(name, data)| {
                let mut chunk = String::new();
                if let Some(name) = name {
                    chunk.push_str(&format!("event: {name}\n"));
                }
                chunk.push_str(&format!("data: {data}\n\n"));
                chunk.into_bytes()
            })
            .collect();
        Reply::Stream {
            chunks,
            delay: Duration::ZERO,
            stall_after: false,
        }
    }
}

type Handler = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

/// The server; it stops accepting and drops its connections when dropped.
pub struct ScriptedServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// Requests being answered now, and the most there ever were at once.
    active: Arc<(AtomicUsize, AtomicUsize)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedServer {
    /// Serves every request with `handler(request, index)`, `index` counting from 0.
    pub async fn start(
        handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = requests.clone();
        let active = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let counters = active.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let handler = handler.clone();
                let recorded = recorded.clone();
                let counters = counters.clone();
                connections.spawn(async move {
                    serve(stream, handler, recorded, counters).await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        ScriptedServer {
            addr,
            requests,
            active,
            task,
        }
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The most requests ever answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.active.1.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests").clone()
    }
}

async fn serve(
    stream: TcpStream,
    handler: Arc<Handler>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    active: Arc<(AtomicUsize, AtomicUsize)>,
) {
    let mut stream = stream;
    // One request per connection: every reply says `Connection: close`.
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let now = active.0.fetch_add(1, Ordering::SeqCst) + 1;
    active.1.fetch_max(now, Ordering::SeqCst);
    let mut counted = Some(active);
    // The request stops counting just before its last bytes go out: the client can only start
    // another once it has them, so the count never exceeds what the client has in flight.
    let mut done = move || {
        if let Some(active) = counted.take() {
            active.0.fetch_sub(1, Ordering::SeqCst);
        }
    };
    answer(stream, handler, recorded, request, &mut done).await;
    done();
}

async fn answer(
    mut stream: TcpStream,
    handler: Arc<Handler>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    request: Recorded,
    done: &mut (dyn FnMut() + Send),
) {
    let index = {
        let mut all = recorded.lock().expect("requests");
        all.push(request.clone());
        all.len() - 1
    };
    match handler(&request, index) {
        Reply::Drop => {
            // Nothing written: the client sees the connection close under it.
            done();
            let _ = stream.shutdown().await;
        }
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            for (name, value) in &headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str(&format!(
                "content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            ));
            done();
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        }
        Reply::Stream {
            chunks,
            delay,
            stall_after,
        } => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let last = chunks.len().saturating_sub(1);
            for (index, chunk) in chunks.into_iter().enumerate() {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                if index == last && !stall_after {
                    done();
                }
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
                let _ = stream.flush().await;
            }
            if stall_after {
                // Hold the connection open and silent until the client gives up.
                let mut sink = [0u8; 64];
                let _ = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut sink)).await;
                return;
            }
            let _ = stream.shutdown().await;
        }
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    }
}

/// `text` in two pieces split at a character boundary near its middle, as fragments arrive.
fn halves(text: &str) -> [&str; 2] {
    let cut = text
        .char_indices()
        .map(|(i, _)| i)
        .find(|i| *i >= text.len() / 2)
        .unwrap_or(0);
    [&text[..cut], &text[cut..]]
}

/// OpenAI-style streamed replies.
pub mod openai {
    use serde_json::{json, Value};

    use super::Reply;

    pub fn chunk(delta: Value, finish: Option<&str>) -> String {
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "model": "scripted",
            "system_fingerprint": "fp-test",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
        })
        .to_string()
    }

    /// A streamed reply making `calls` (name, arguments), each split into fragments, with
    /// `usage` in the last chunk before `[DONE]` (none when `usage` is null).
    pub fn tool_calls(text: &str, calls: &[(&str, &str)], usage: Value) -> Reply {
        let mut events: Vec<(Option<&str>, String)> = vec![(
            None,
            chunk(json!({"role": "assistant", "content": ""}), None),
        )];
        if !text.is_empty() {
            events.push((None, chunk(json!({"content": text}), None)));
        }
        for (index, (name, arguments)) in calls.iter().enumerate() {
            events.push((
                None,
                chunk(
                    json!({"tool_calls": [{"index": index, "id": format!("call_{index}_{}", arguments.len()), "type": "function", "function": {"name": name, "arguments": ""}}]}),
                    None,
                ),
            ));
            for piece in super::halves(arguments) {
                events.push((
                    None,
                    chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                        None,
                    ),
                ));
            }
        }
        let finish = if calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        events.push((None, chunk(json!({}), Some(finish))));
        if !usage.is_null() {
            events.push((
                None,
                json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [], "usage": usage, "unknown_field": {"x": 1}}).to_string(),
            ));
        }
        events.push((None, "[DONE]".to_string()));
        Reply::sse(&events)
    }
}

/// Anthropic-style streamed replies.
pub mod anthropic {
    use serde_json::{json, Value};

    use super::Reply;

    /// A streamed message making `calls` (id, name, input JSON text split in fragments), with
    /// `usage` in `message_start` and the output count in `message_delta`.
    pub fn tool_uses(text: &str, calls: &[(&str, &str, &str)], usage: Value) -> Reply {
        let output = usage.get("output_tokens").cloned().unwrap_or(json!(1));
        let mut start_usage = usage.clone();
        if let Some(object) = start_usage.as_object_mut() {
            object.insert("output_tokens".into(), json!(1));
        }
        let mut events: Vec<(Option<&str>, String)> = vec![
            (
                Some("message_start"),
                json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "scripted", "content": [], "stop_reason": null, "usage": start_usage}}).to_string(),
            ),
            (Some("ping"), json!({"type": "ping"}).to_string()),
        ];
        let mut index = 0;
        if !text.is_empty() {
            events.push((Some("content_block_start"), json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}).to_string()));
            events.push((Some("content_block_delta"), json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}).to_string()));
            events.push((
                Some("content_block_stop"),
                json!({"type": "content_block_stop", "index": index}).to_string(),
            ));
            index += 1;
        }
        for (id, name, input) in calls {
            events.push((Some("content_block_start"), json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}).to_string()));
            for piece in super::halves(input) {
                events.push((Some("content_block_delta"), json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}).to_string()));
            }
            events.push((
                Some("content_block_stop"),
                json!({"type": "content_block_stop", "index": index}).to_string(),
            ));
            index += 1;
        }
        let stop = if calls.is_empty() {
            "end_turn"
        } else {
            "tool_use"
        };
        events.push((Some("message_delta"), json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": output}}).to_string()));
        events.push((
            Some("message_stop"),
            json!({"type": "message_stop"}).to_string(),
        ));
        Reply::sse(&events)
    }
}

//! The DevTools protocol over Chromium's `--remote-debugging-pipe`: commands written to the
//! browser's fd 3, replies and events read from its fd 4, each message JSON ended by a NUL byte.
//!
//! One reader thread owns the read end: it hands each reply to the call waiting for its id, and
//! each event to the [`EventSink`] the connection was opened with, which may answer it at once
//! (a paused request is continued or failed from the reader thread, before the page sees it).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The longest a single message from the browser may be (a full-page screenshot of a long page
/// is the largest).
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Why a protocol call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CdpError {
    /// The browser answered with an error (a selector that matches nothing is not one of these).
    #[error("the browser refused `{method}`: {message}")]
    Protocol { method: String, message: String },
    #[error("the browser did not answer `{method}` within {seconds} s")]
    Timeout { method: String, seconds: u64 },
    #[error("the browser is gone ({0})")]
    Closed(String),
}

/// What the reader thread does with an event: `method`, `params`, and the session it came from.
/// It runs on the reader thread and must not block on the browser.
pub trait EventSink: Send + Sync + 'static {
    fn event(&self, connection: &Connection, method: &str, params: &Value, session: Option<&str>);
}

/// What a waiting call learns instead of a result.
enum Failure {
    /// The browser answered with an error.
    Refused(String),
    /// The browser went away before answering.
    Gone(String),
}

type Pending = Mutex<HashMap<u64, oneshot::Sender<Result<Value, Failure>>>>;

/// A connection to one browser process.
pub struct Connection {
    writer: Mutex<File>,
    next_id: AtomicU64,
    pending: Pending,
    /// Why the reader stopped, once it has.
    closed: Mutex<Option<String>>,
}

impl Connection {
    /// Starts the reader over `from_browser` and returns the connection that writes to
    /// `to_browser`.
    pub fn open(
        to_browser: OwnedFd,
        from_browser: OwnedFd,
        sink: Arc<dyn EventSink>,
    ) -> io::Result<Arc<Connection>> {
        let connection = Arc::new(Connection {
            writer: Mutex::new(File::from(to_browser)),
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            closed: Mutex::new(None),
        });
        let reader = Arc::clone(&connection);
        std::thread::Builder::new()
            .name("cdp-reader".to_string())
            .spawn(move || reader.read_all(File::from(from_browser), sink.as_ref()))?;
        Ok(connection)
    }

    fn read_all(&self, from_browser: File, sink: &dyn EventSink) {
        let mut reader = BufReader::with_capacity(1 << 16, from_browser);
        let mut message = Vec::new();
        let why = loop {
            message.clear();
            match (&mut reader)
                .take(MAX_MESSAGE_BYTES as u64 + 1)
                .read_until(0, &mut message)
            {
                Ok(0) => break "its pipe closed".to_string(),
                Ok(_) => {}
                Err(e) => break format!("reading its pipe failed: {e}"),
            }
            if message.last() != Some(&0) {
                if message.len() > MAX_MESSAGE_BYTES {
                    break format!("it sent a message over {MAX_MESSAGE_BYTES} bytes");
                }
                break "its pipe closed mid-message".to_string();
            }
            message.pop();
            let Ok(value) = serde_json::from_slice::<Value>(&message) else {
                continue;
            };
            self.dispatch(value, sink);
        };
        if let Ok(mut closed) = self.closed.lock() {
            *closed = Some(why.clone());
        }
        // Every call still waiting learns that no answer will come.
        if let Ok(mut pending) = self.pending.lock() {
            for (_, waiter) in pending.drain() {
                let _ = waiter.send(Err(Failure::Gone(why.clone())));
            }
        }
    }

    fn dispatch(&self, value: Value, sink: &dyn EventSink) {
        if let Some(id) = value.get("id").and_then(Value::as_u64) {
            let waiter = self.pending.lock().ok().and_then(|mut p| p.remove(&id));
            if let Some(waiter) = waiter {
                let result = match value.get("error") {
                    Some(error) => Err(Failure::Refused(
                        error
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("unknown error")
                            .to_string(),
                    )),
                    None => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
                };
                let _ = waiter.send(result);
            }
        } else if let Some(method) = value.get("method").and_then(Value::as_str) {
            let params = value.get("params").unwrap_or(&Value::Null);
            let session = value.get("sessionId").and_then(Value::as_str);
            sink.event(self, method, params, session);
        }
    }

    /// Writes command `id` to the browser.
    fn write(
        &self,
        id: u64,
        method: &str,
        params: Value,
        session: Option<&str>,
    ) -> Result<(), String> {
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = Value::String(session.to_string());
        }
        let mut bytes = serde_json::to_vec(&message).unwrap_or_default();
        bytes.push(0);
        match self.writer.lock() {
            Ok(mut writer) => writer
                .write_all(&bytes)
                .map_err(|e| format!("writing its pipe failed: {e}")),
            Err(_) => Err("a writer panicked".to_string()),
        }
    }

    /// Sends a command without waiting for its answer (from the reader thread, answering an
    /// event).
    pub fn send(
        &self,
        method: &str,
        params: Value,
        session: Option<&str>,
    ) -> Result<u64, CdpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.write(id, method, params, session)
            .map_err(CdpError::Closed)?;
        Ok(id)
    }

    /// Calls `method` and waits up to `timeout` for its result.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        session: Option<&str>,
        timeout: Duration,
    ) -> Result<Value, CdpError> {
        if let Some(why) = self.closed.lock().ok().and_then(|c| c.clone()) {
            return Err(CdpError::Closed(why));
        }
        let (sender, receiver) = oneshot::channel();
        // The waiter is in place before the command is written, so no answer can come first.
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id, sender);
        }
        if let Err(why) = self.write(id, method, params, session) {
            if let Ok(mut pending) = self.pending.lock() {
                pending.remove(&id);
            }
            return Err(CdpError::Closed(why));
        }
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(Failure::Refused(message)))) => Err(CdpError::Protocol {
                method: method.to_string(),
                message,
            }),
            Ok(Ok(Err(Failure::Gone(why)))) => Err(CdpError::Closed(why)),
            Ok(Err(_)) => Err(CdpError::Closed("the reader stopped".to_string())),
            Err(_) => {
                if let Ok(mut pending) = self.pending.lock() {
                    pending.remove(&id);
                }
                Err(CdpError::Timeout {
                    method: method.to_string(),
                    seconds: timeout.as_secs(),
                })
            }
        }
    }

    /// Whether the reader has stopped (the browser exited or closed its pipe).
    pub fn is_closed(&self) -> bool {
        self.closed.lock().map(|c| c.is_some()).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::FromRawFd;

    struct Events(Mutex<Vec<String>>);

    impl EventSink for Events {
        fn event(&self, _: &Connection, method: &str, _: &Value, session: Option<&str>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{method}@{}", session.unwrap_or("-")));
        }
    }

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: a two-element array for pipe2.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fresh descriptors from pipe2.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[tokio::test]
    async fn replies_reach_their_callers_and_events_their_sink() {
        let (commands_read, commands_write) = pipe();
        let (replies_read, replies_write) = pipe();
        let events = Arc::new(Events(Mutex::new(Vec::new())));
        let connection = Connection::open(commands_write, replies_read, events.clone()).unwrap();
        // A fake browser: answers each command after sending an event, then an error for the
        // second, then closes.
        let browser = std::thread::spawn(move || {
            let mut input = BufReader::new(File::from(commands_read));
            let mut output = File::from(replies_write);
            let mut seen = Vec::new();
            for n in 0..2 {
                let mut message = Vec::new();
                input.read_until(0, &mut message).unwrap();
                message.pop();
                let command: Value = serde_json::from_slice(&message).unwrap();
                seen.push(command.clone());
                let event =
                    json!({"method": "Page.loadEventFired", "params": {}, "sessionId": "S"});
                let reply = if n == 0 {
                    json!({"id": command["id"], "result": {"echo": command["params"]["x"]}})
                } else {
                    json!({"id": command["id"], "error": {"code": -32000, "message": "No node"}})
                };
                for value in [event, reply] {
                    let mut bytes = serde_json::to_vec(&value).unwrap();
                    bytes.push(0);
                    output.write_all(&bytes).unwrap();
                }
            }
            seen
        });
        let second = Duration::from_secs(5);
        let result = connection
            .call("Runtime.evaluate", json!({"x": 7}), Some("S"), second)
            .await
            .unwrap();
        assert_eq!(result, json!({"echo": 7}));
        let error = connection
            .call("DOM.focus", json!({}), None, second)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the browser refused `DOM.focus`: No node"
        );
        assert_eq!(
            *events.0.lock().unwrap(),
            vec!["Page.loadEventFired@S", "Page.loadEventFired@S"]
        );
        drop(connection);
        let seen = browser.join().unwrap();
        assert_eq!(seen[0]["sessionId"], "S");
        assert!(seen[1].get("sessionId").is_none());
    }

    /// `Browser.getVersion`, which these tests expect to fail.
    async fn ask_version(connection: &Connection) -> CdpError {
        connection
            .call(
                "Browser.getVersion",
                json!({}),
                None,
                Duration::from_secs(5),
            )
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_browser_that_goes_away_fails_the_waiting_call() {
        let (commands_read, commands_write) = pipe();
        let (replies_read, replies_write) = pipe();
        let events = Arc::new(Events(Mutex::new(Vec::new())));
        let connection = Connection::open(commands_write, replies_read, events).unwrap();
        let browser = std::thread::spawn(move || {
            let mut input = BufReader::new(File::from(commands_read));
            let mut message = Vec::new();
            input.read_until(0, &mut message).unwrap();
            // Half a message, then gone.
            let mut output = File::from(replies_write);
            output.write_all(b"{\"id\":").unwrap();
        });
        let error = ask_version(&connection).await;
        browser.join().unwrap();
        assert!(matches!(error, CdpError::Closed(_)), "{error}");
        assert!(connection.is_closed());
        let again = ask_version(&connection).await;
        assert!(again.to_string().contains("mid-message"), "{again}");
    }
}

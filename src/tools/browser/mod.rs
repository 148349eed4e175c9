//! A headless Chromium driven over the DevTools protocol ([`cdp`]), started inside the mission's
//! sandbox like any command: its own process group and control group, the mission's private
//! `$HOME` for its profile, the mission's network namespace (loopback only). What it may load is
//! decided by [`policy`] three times over: before a navigation, for every request the page makes
//! (the `Fetch` domain pauses each one and the harness lets it go or fails it), and for every
//! page it ends up on. The browser tools themselves are in [`tools`].

pub mod cdp;
pub mod policy;
pub mod tools;

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};

use self::cdp::{CdpError, Connection, EventSink};
use self::policy::UrlPolicy;
use super::background::{Background, Inherit};
use super::notice::Notice;
use super::process::CommandEnv;

/// The programs a Chromium may be installed as, in the order they are looked for on `PATH`.
pub const PROGRAMS: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// The viewport every page is shown in (and screenshots are taken of).
pub const VIEWPORT: (u32, u32) = (1280, 800);

/// How long a protocol call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a page may take to load.
const LOAD_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the network must be quiet before a page counts as settled, and the longest wait.
const QUIET: Duration = Duration::from_millis(300);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The element finder, run in the page (see `find.js`).
const FIND_JS: &str = include_str!("find.js");

/// Finds a Chromium on a `PATH`-style list of folders.
pub fn find_program(path_var: &str) -> Option<PathBuf> {
    PROGRAMS.iter().find_map(|name| {
        path_var
            .split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| Path::new(dir).join(name))
            .find(|candidate| is_executable(candidate))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why a browser action failed: the model's to act on, except where the browser itself is gone.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BrowserError {
    #[error("cannot start the browser `{program}`: {reason}")]
    Start { program: String, reason: String },
    #[error("{0}")]
    Cdp(#[from] CdpError),
    /// The page did not do what was asked (no such element, a load that failed); said to the
    /// model as is.
    #[error("{0}")]
    Page(String),
}

/// How to start a browser for one agent run or check.
#[derive(Debug, Clone)]
pub struct BrowserLaunch {
    pub program: PathBuf,
    /// The profile folder (under the mission's `$HOME`).
    pub profile: PathBuf,
    /// The workspace root: the browser's working folder, and where `file://` may point.
    pub workspace: PathBuf,
    /// The command environment (variables, sandbox).
    pub env: CommandEnv,
}

/// One request the page made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    #[serde(skip)]
    id: String,
    pub method: String,
    pub url: String,
    /// `None` until a response came (or when the request failed).
    pub status: Option<u16>,
    pub mime: String,
    /// Why it failed (`net::ERR_CONNECTION_REFUSED`, blocked by the sandbox).
    pub failed: Option<String>,
    #[serde(skip)]
    finished: bool,
    /// The response body, cut to the cap (text responses only).
    pub body: Option<String>,
}

/// What the reader thread keeps from the browser's events.
#[derive(Default)]
struct PageLog {
    requests: Vec<Request>,
    /// Requests before this index were returned by an earlier `network` call.
    reported: usize,
    in_flight: usize,
    last_activity: Option<Instant>,
    url: String,
    denials: Vec<Notice>,
    crashed: bool,
}

struct Events {
    policy: UrlPolicy,
    log: Mutex<PageLog>,
}

impl EventSink for Events {
    fn event(&self, connection: &Connection, method: &str, params: &Value, session: Option<&str>) {
        let Ok(mut log) = self.log.lock() else {
            return;
        };
        let text =
            |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
        match method {
            "Fetch.requestPaused" => {
                let id = text(params, "requestId");
                let url = params
                    .get("request")
                    .map(|r| text(r, "url"))
                    .unwrap_or_default();
                match self.policy.check_resource(&url) {
                    Ok(()) => {
                        let _ = connection.send(
                            "Fetch.continueRequest",
                            json!({"requestId": id}),
                            session,
                        );
                    }
                    Err(refusal) => {
                        log.denials.push(refusal.notice());
                        let _ = connection.send(
                            "Fetch.failRequest",
                            json!({"requestId": id, "errorReason": "BlockedByClient"}),
                            session,
                        );
                    }
                }
            }
            "Network.requestWillBeSent" => {
                let id = text(params, "requestId");
                let request = params.get("request").cloned().unwrap_or(Value::Null);
                // A redirect reuses the id: the earlier hop is done.
                if let Some(previous) = log
                    .requests
                    .iter_mut()
                    .rev()
                    .find(|r| r.id == id && !r.finished)
                {
                    previous.finished = true;
                    previous.status = params
                        .get("redirectResponse")
                        .and_then(|r| r.get("status"))
                        .and_then(Value::as_u64)
                        .map(|s| s as u16);
                } else {
                    log.in_flight += 1;
                }
                log.requests.push(Request {
                    id,
                    method: text(&request, "method"),
                    url: text(&request, "url"),
                    status: None,
                    mime: String::new(),
                    failed: None,
                    finished: false,
                    body: None,
                });
                log.last_activity = Some(Instant::now());
            }
            "Network.responseReceived" => {
                let id = text(params, "requestId");
                let response = params.get("response").cloned().unwrap_or(Value::Null);
                if let Some(request) = log.requests.iter_mut().rev().find(|r| r.id == id) {
                    request.status = response
                        .get("status")
                        .and_then(Value::as_u64)
                        .map(|s| s as u16);
                    request.mime = text(&response, "mimeType");
                }
                log.last_activity = Some(Instant::now());
            }
            "Network.loadingFinished" | "Network.loadingFailed" => {
                let id = text(params, "requestId");
                let failed = (method == "Network.loadingFailed").then(|| text(params, "errorText"));
                if let Some(request) = log
                    .requests
                    .iter_mut()
                    .rev()
                    .find(|r| r.id == id && !r.finished)
                {
                    request.finished = true;
                    request.failed = failed;
                    log.in_flight = log.in_flight.saturating_sub(1);
                }
                log.last_activity = Some(Instant::now());
            }
            "Page.frameNavigated" => {
                let frame = params.get("frame").cloned().unwrap_or(Value::Null);
                if frame.get("parentId").is_none() {
                    let url = text(&frame, "url");
                    // A page the policy forbids (reached by a link or a script, past every other
                    // check) is left at once.
                    if let Err(refusal) = self.policy.check(&url) {
                        if !url.starts_with("chrome-error:") {
                            log.denials.push(refusal.notice());
                            let _ = connection.send(
                                "Page.navigate",
                                json!({"url": "about:blank"}),
                                session,
                            );
                        }
                    }
                    log.url = url;
                }
            }
            "Inspector.targetCrashed" | "Target.targetCrashed" => log.crashed = true,
            _ => {}
        }
    }
}

/// A running browser with one page.
pub struct Browser {
    process: Option<Background>,
    connection: Arc<Connection>,
    session: String,
    events: Arc<Events>,
}

impl Browser {
    /// Starts the browser in the sandbox and opens a blank page.
    pub async fn launch(launch: &BrowserLaunch) -> Result<Browser, BrowserError> {
        let start_error = |reason: String| BrowserError::Start {
            program: launch.program.display().to_string(),
            reason,
        };
        let (commands_read, commands_write) = pipe().map_err(|e| start_error(e.to_string()))?;
        let (replies_read, replies_write) = pipe().map_err(|e| start_error(e.to_string()))?;
        let args: Vec<String> = [
            "--headless=new",
            // Chromium's own sandbox needs namespaces the harness's sandbox refuses; the
            // harness's sandbox confines the whole browser instead.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-sync",
            "--disable-breakpad",
            "--metrics-recording-only",
            "--mute-audio",
            "--password-store=basic",
            // Names other than localhost resolve to nothing (addresses are the namespace's
            // business).
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]",
            "--remote-debugging-pipe",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            format!("--user-data-dir={}", launch.profile.display()),
            format!("--window-size={},{}", VIEWPORT.0, VIEWPORT.1),
            "about:blank".to_string(),
        ])
        .collect();
        std::fs::create_dir_all(&launch.profile)
            .map_err(|e| start_error(format!("cannot create its profile folder: {e}")))?;
        // Chromium binds its single-instance socket beneath $TMPDIR, and a socket's path may
        // not exceed 107 bytes: a mission's folder can be deeper than that. It runs in $TMPDIR
        // with TMPDIR=., so the path it binds is relative and short.
        let mut env = launch.env.clone();
        let mut cwd = launch.workspace.clone();
        if let Some((_, tmp)) = env.vars.iter_mut().find(|(name, _)| name == "TMPDIR") {
            cwd = PathBuf::from(std::mem::replace(tmp, ".".to_string()));
        }
        let process = Background::spawn(
            &launch.program,
            &args,
            &cwd,
            &env,
            vec![
                Inherit {
                    fd: commands_read,
                    at: 3,
                },
                Inherit {
                    fd: replies_write,
                    at: 4,
                },
            ],
            16 * 1024,
        )
        .map_err(|e| start_error(e.to_string()))?;
        let events = Arc::new(Events {
            policy: UrlPolicy::new(&launch.workspace),
            log: Mutex::new(PageLog::default()),
        });
        let connection = Connection::open(commands_write, replies_read, events.clone())
            .map_err(|e| start_error(e.to_string()))?;
        let mut browser = Browser {
            process: Some(process),
            connection,
            session: String::new(),
            events,
        };
        if let Err(e) = browser.attach().await {
            let (output, status) = match browser.process.as_mut() {
                Some(process) => (process.output(), process.exited()),
                None => (String::new(), None),
            };
            browser.close().await;
            let mut reason = e.to_string();
            if let Some(status) = status {
                reason.push_str(&format!("; it {}", tools::describe_status(status)));
            }
            let tail: Vec<&str> = output.lines().rev().take(12).collect();
            if !tail.is_empty() {
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                reason.push_str(&format!("; it printed:\n{}", tail.join("\n")));
            }
            return Err(start_error(reason));
        }
        Ok(browser)
    }

    async fn attach(&mut self) -> Result<(), CdpError> {
        let target = self
            .connection
            .call(
                "Target.createTarget",
                json!({"url": "about:blank"}),
                None,
                CALL_TIMEOUT,
            )
            .await?;
        let target_id = target.get("targetId").cloned().unwrap_or(Value::Null);
        let attached = self
            .connection
            .call(
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
                None,
                CALL_TIMEOUT,
            )
            .await?;
        self.session = attached
            .get("sessionId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // The product sees an ordinary Chrome: a page cannot tell the harness's headless browser
        // from a person's and serve it something else.
        let version = self
            .connection
            .call("Browser.getVersion", json!({}), None, CALL_TIMEOUT)
            .await?;
        let user_agent = version
            .get("userAgent")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .replace("HeadlessChrome", "Chrome");
        for (method, params) in [
            (
                "Network.setUserAgentOverride",
                json!({"userAgent": user_agent}),
            ),
            ("Page.enable", json!({})),
            ("Network.enable", json!({})),
            ("Fetch.enable", json!({"patterns": [{"urlPattern": "*"}]})),
            (
                "Emulation.setDeviceMetricsOverride",
                json!({"width": VIEWPORT.0, "height": VIEWPORT.1, "deviceScaleFactor": 1, "mobile": false}),
            ),
        ] {
            self.page(method, params).await?;
        }
        Ok(())
    }

    async fn page(&self, method: &str, params: Value) -> Result<Value, CdpError> {
        self.connection
            .call(method, params, Some(&self.session), CALL_TIMEOUT)
            .await
    }

    /// Evaluates `expression` in the page and returns its value.
    async fn evaluate(&self, expression: &str) -> Result<Value, BrowserError> {
        let result = self
            .page(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            let text = exception
                .pointer("/exception/description")
                .or_else(|| exception.get("text"))
                .and_then(Value::as_str)
                .unwrap_or("an exception");
            return Err(BrowserError::Page(format!(
                "the page's script failed: {text}"
            )));
        }
        Ok(result
            .pointer("/result/value")
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// Notices of what the policy refused since the last call.
    pub fn take_denials(&self) -> Vec<Notice> {
        self.events
            .log
            .lock()
            .map(|mut log| std::mem::take(&mut log.denials))
            .unwrap_or_default()
    }

    /// The page's address now.
    pub fn url(&self) -> String {
        self.events
            .log
            .lock()
            .map(|l| l.url.clone())
            .unwrap_or_default()
    }

    /// Goes to `url` (already checked against the policy) and waits for the page to load.
    pub async fn open(&self, url: &str) -> Result<(), BrowserError> {
        let navigated = self.page("Page.navigate", json!({"url": url})).await?;
        if let Some(error) = navigated.get("errorText").and_then(Value::as_str) {
            return Err(BrowserError::Page(format!("`{url}` did not load: {error}")));
        }
        self.settle(LOAD_TIMEOUT).await
    }

    /// Waits until the document has loaded and the network has been quiet for a moment.
    async fn settle(&self, limit: Duration) -> Result<(), BrowserError> {
        let started = Instant::now();
        loop {
            let ready = self.evaluate("document.readyState").await?;
            let quiet = self.events.log.lock().is_ok_and(|log| {
                log.in_flight == 0 && log.last_activity.is_none_or(|t| t.elapsed() >= QUIET)
            });
            if (ready == "complete" && quiet) || started.elapsed() >= limit {
                return Ok(());
            }
            if self.events.log.lock().is_ok_and(|l| l.crashed) {
                return Err(BrowserError::Page("the page crashed".to_string()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Finds what `target` names for `purpose` (`click` or `type`) and returns its centre.
    async fn find(&self, target: &str, purpose: &str) -> Result<(f64, f64, String), BrowserError> {
        let call = format!(
            "({FIND_JS})({}, {})",
            Value::String(target.to_string()),
            Value::String(purpose.to_string())
        );
        let found = self.evaluate(&call).await?;
        let found: Value = found
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null);
        if found.get("found") != Some(&Value::Bool(true)) {
            let offered: Vec<&str> = found
                .get("offered")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let what = if purpose == "type" {
                "text field"
            } else {
                "element to click"
            };
            let mut message =
                format!("no {what} matches `{target}` (by text, label or CSS selector)");
            if !offered.is_empty() {
                message.push_str(&format!("; the page offers: {}", offered.join(", ")));
            }
            return Err(BrowserError::Page(message));
        }
        let x = found.get("x").and_then(Value::as_f64).unwrap_or(0.0);
        let y = found.get("y").and_then(Value::as_f64).unwrap_or(0.0);
        let description = found
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Ok((x, y, description))
    }

    /// Clicks what `target` names, as a mouse would; returns what was clicked.
    pub async fn click(&self, target: &str) -> Result<String, BrowserError> {
        let (x, y, description) = self.find(target, "click").await?;
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.page(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await?;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.settle(SETTLE_TIMEOUT).await?;
        Ok(description)
    }

    /// Types `text` into the field `target` names (replacing what it held), and presses Enter
    /// when `submit`; returns the field.
    pub async fn type_into(
        &self,
        target: &str,
        text: &str,
        submit: bool,
    ) -> Result<String, BrowserError> {
        let (_, _, description) = self.find(target, "type").await?;
        self.page("Input.insertText", json!({"text": text})).await?;
        if submit {
            for kind in ["keyDown", "keyUp"] {
                self.page(
                    "Input.dispatchKeyEvent",
                    json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": if kind == "keyDown" { "\r" } else { "" }}),
                )
                .await?;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.settle(SETTLE_TIMEOUT).await?;
        Ok(description)
    }

    /// The page's title and visible text.
    pub async fn text(&self) -> Result<(String, String), BrowserError> {
        let value = self
            .evaluate(
                "JSON.stringify([document.title, document.body ? document.body.innerText : ''])",
            )
            .await?;
        let pair: (String, String) = value
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        Ok(pair)
    }

    /// Waits up to `limit` for the page's visible text to contain `text`; whether it did.
    pub async fn wait_for_text(&self, text: &str, limit: Duration) -> Result<bool, BrowserError> {
        let started = Instant::now();
        loop {
            let (_, body) = self.text().await?;
            if body.contains(text) {
                return Ok(true);
            }
            if started.elapsed() >= limit {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits up to `limit` for the page's address to contain `part`; whether it did.
    pub async fn wait_for_url(&self, part: &str, limit: Duration) -> bool {
        let started = Instant::now();
        loop {
            if self.url().contains(part) {
                return true;
            }
            if started.elapsed() >= limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's accessibility tree, one node per line (`role "name"`), indented by depth;
    /// nodes without a role worth naming are left out and their children lifted.
    pub async fn accessibility(&self) -> Result<String, BrowserError> {
        let tree = self.page("Accessibility.getFullAXTree", json!({})).await?;
        let nodes = tree
            .get("nodes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(render_ax_tree(&nodes))
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>, BrowserError> {
        let shot = self
            .page("Page.captureScreenshot", json!({"format": "png"}))
            .await?;
        let data = shot.get("data").and_then(Value::as_str).unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| BrowserError::Page(format!("the screenshot could not be decoded: {e}")))
    }

    /// The requests made since the last call, each text body cut to `body_cap` bytes.
    pub async fn network(&self, body_cap: usize) -> Vec<Request> {
        let requests: Vec<Request> = match self.events.log.lock() {
            Ok(mut log) => {
                let new = log.requests[log.reported..].to_vec();
                log.reported = log.requests.len();
                new
            }
            Err(_) => Vec::new(),
        };
        let mut out = Vec::with_capacity(requests.len());
        for mut request in requests {
            let texty = request.mime.starts_with("text/")
                || request.mime.contains("json")
                || request.mime.contains("javascript")
                || request.mime.contains("xml");
            if request.finished && request.failed.is_none() && texty && body_cap > 0 {
                if let Ok(body) = self
                    .page("Network.getResponseBody", json!({"requestId": request.id}))
                    .await
                {
                    let text = body.get("body").and_then(Value::as_str).unwrap_or_default();
                    let base64 = body.get("base64Encoded").and_then(Value::as_bool) == Some(true);
                    if !base64 {
                        request.body = Some(cut_bytes(text, body_cap));
                    }
                }
            }
            out.push(request);
        }
        out
    }

    /// The browser's product and version, e.g. `Chrome/148.0.7778.167`.
    pub async fn version(&self) -> Result<String, BrowserError> {
        let version = self
            .connection
            .call("Browser.getVersion", json!({}), None, CALL_TIMEOUT)
            .await?;
        Ok(version
            .get("product")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string())
    }

    /// The browser process's id (its group leader).
    pub fn pid(&self) -> Option<i32> {
        self.process.as_ref().and_then(Background::pid)
    }

    /// Asks the browser to close, then kills what is left of it with its group; returns what its
    /// sandbox reported.
    pub async fn close(mut self) -> Vec<Notice> {
        let _ = self
            .connection
            .call("Browser.close", json!({}), None, Duration::from_secs(2))
            .await;
        match self.process.take() {
            Some(process) => process.stop().await,
            None => Vec::new(),
        }
    }
}

/// Text cut at a character boundary to at most `cap` bytes, saying how much was cut.
fn cut_bytes(text: &str, cap: usize) -> String {
    if text.len() <= cap {
        return text.to_string();
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} more bytes]", &text[..end], text.len() - end)
}

fn render_ax_tree(nodes: &[Value]) -> String {
    use std::collections::HashMap;
    let by_id: HashMap<&str, &Value> = nodes
        .iter()
        .filter_map(|n| Some((n.get("nodeId")?.as_str()?, n)))
        .collect();
    let value_of = |n: &Value, key: &str| {
        n.get(key)
            .and_then(|v| v.get("value"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut lines = Vec::new();
    // Depth-first from the root, lifting the children of nodes that say nothing.
    let mut stack: Vec<(&Value, usize)> = nodes
        .first()
        .map(|root| vec![(root, 0)])
        .unwrap_or_default();
    let mut seen = 0usize;
    while let Some((node, depth)) = stack.pop() {
        seen += 1;
        if seen > 20_000 {
            break;
        }
        let role = value_of(node, "role");
        let name = value_of(node, "name");
        let ignored = node.get("ignored").and_then(Value::as_bool) == Some(true);
        let silent = ignored
            || matches!(
                role.as_str(),
                "none" | "generic" | "InlineTextBox" | "LineBreak" | ""
            )
            || (role == "StaticText" && name.trim().is_empty());
        let child_depth = if silent { depth } else { depth + 1 };
        if !silent {
            let mut line = format!("{}{role}", "  ".repeat(depth));
            if !name.is_empty() {
                line.push_str(&format!(" {}", Value::String(name)));
            }
            let value = value_of(node, "value");
            if !value.is_empty() {
                line.push_str(&format!(" value={}", Value::String(value)));
            }
            lines.push(line);
        }
        let children: Vec<&Value> = node
            .get("childIds")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| by_id.get(id.as_str()?).copied())
                    .collect()
            })
            .unwrap_or_default();
        for child in children.into_iter().rev() {
            stack.push((child, child_depth));
        }
    }
    lines.join("\n")
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: a two-element array for pipe2.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors from pipe2, owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

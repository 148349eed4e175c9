//! The browser toolset: `start_server`, `browser_open`, `browser_click`, `browser_type`,
//! `browser_read`, `browser_screenshot`, `browser_network` and `browser_close`, as handlers over
//! one agent run's [`BrowserTools`]. The browser starts at the first call that needs it and is
//! closed, with every server the run started, when the run ends ([`BrowserTools::shut_down`]).
//! Screenshots and network summaries are saved as evidence with ids the run's verdicts and
//! findings can cite.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::policy::UrlPolicy;
use super::{Browser, BrowserError, BrowserLaunch, Request};
use crate::tools::background::Background;
use crate::tools::notice::Notice;
use crate::tools::{CallResult, Registry, Tool, ToolErrorKind, ToolReply};

/// How long `start_server` waits for its port.
const SERVER_READY: Duration = Duration::from_secs(30);
/// How long `browser_read` waits for the text it is told to wait for.
pub const WAIT_FOR: Duration = Duration::from_secs(5);
/// Bytes of a response body `browser_network` shows.
const BODY_CAP: usize = 2048;

/// What kind of evidence a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    Screenshot,
    Network,
}

impl EvidenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Screenshot => "screenshot",
            EvidenceKind::Network => "network",
        }
    }
}

/// One saved piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub id: String,
    pub kind: EvidenceKind,
    /// Relative to the report folder.
    pub path: String,
    /// The page it was taken on.
    pub url: String,
    pub bytes: u64,
}

/// Where one agent run's (or one check's) evidence goes.
#[derive(Debug, Clone)]
pub struct EvidenceDir {
    /// The report folder.
    pub report: PathBuf,
    /// The folder under it, e.g. `evidence/<mission>`.
    pub folder: String,
    /// What every id starts with, e.g. `r7-` for agent run 7.
    pub prefix: String,
}

impl EvidenceDir {
    /// Saves `bytes` as evidence `<prefix><name>.<extension>`.
    pub fn save(
        &self,
        name: &str,
        extension: &str,
        kind: EvidenceKind,
        url: &str,
        bytes: &[u8],
    ) -> std::io::Result<Evidence> {
        let id = format!("{}{name}", self.prefix);
        let path = format!("{}/{id}.{extension}", self.folder);
        let full = self.report.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, bytes)?;
        Ok(Evidence {
            id,
            kind,
            path,
            url: url.to_string(),
            bytes: bytes.len() as u64,
        })
    }
}

/// One agent run's browser, servers and evidence.
pub struct BrowserTools {
    launch: BrowserLaunch,
    evidence: EvidenceDir,
    browser: Option<Browser>,
    servers: BTreeMap<u16, Background>,
    screenshots: u32,
    summaries: u32,
    /// Evidence saved since the last [`BrowserTools::take_evidence`].
    saved: Vec<Evidence>,
    /// Every id this run saved (what its reports may cite).
    ids: Vec<String>,
    /// Bytes a page's text may take in a reply.
    max_output: usize,
}

impl BrowserTools {
    pub fn new(launch: BrowserLaunch, evidence: EvidenceDir, max_output: usize) -> BrowserTools {
        BrowserTools {
            launch,
            evidence,
            browser: None,
            servers: BTreeMap::new(),
            screenshots: 0,
            summaries: 0,
            saved: Vec::new(),
            ids: Vec::new(),
            max_output,
        }
    }

    /// Evidence saved since the last call.
    pub fn take_evidence(&mut self) -> Vec<Evidence> {
        std::mem::take(&mut self.saved)
    }

    /// Whether this run saved evidence `id`.
    pub fn has_evidence(&self, id: &str) -> bool {
        self.ids.iter().any(|i| i == id)
    }

    pub fn evidence_ids(&self) -> &[String] {
        &self.ids
    }

    /// The browser's process id, when one runs.
    pub fn browser_pid(&self) -> Option<i32> {
        self.browser.as_ref().and_then(Browser::pid)
    }

    fn policy(&self) -> UrlPolicy {
        UrlPolicy::new(&self.launch.workspace)
    }

    async fn browser(&mut self) -> Result<&Browser, BrowserError> {
        if self.browser.is_none() {
            self.browser = Some(Browser::launch(&self.launch).await?);
        }
        match &self.browser {
            Some(browser) => Ok(browser),
            None => Err(BrowserError::Page("the browser is not running".to_string())),
        }
    }

    /// Closes the browser and stops every server; what their sandboxes reported.
    pub async fn shut_down(&mut self) -> Vec<Notice> {
        let mut notices = Vec::new();
        if let Some(browser) = self.browser.take() {
            notices.extend(browser.close().await);
        }
        for (_, server) in std::mem::take(&mut self.servers) {
            notices.extend(server.stop().await);
        }
        notices
    }

    /// Starts `command` in the background and waits until `127.0.0.1:port` accepts connections.
    pub async fn start_server(&mut self, command: &str, port: u16) -> Result<String, String> {
        if let Some(previous) = self.servers.remove(&port) {
            previous.stop().await;
        }
        let mut server = Background::spawn(
            std::path::Path::new("/bin/sh"),
            &["-c".to_string(), command.to_string()],
            &self.launch.workspace,
            &self.launch.env,
            Vec::new(),
            self.max_output.min(8192),
        )
        .map_err(|e| format!("cannot start `{command}`: {e}"))?;
        let started = Instant::now();
        loop {
            if self.accepts(port) {
                let waited = started.elapsed().as_secs_f64();
                self.servers.insert(port, server);
                return Ok(format!(
                    "the server is up: 127.0.0.1:{port} accepts connections (after {waited:.1} s); it runs until this run ends or another server starts on the port"
                ));
            }
            if let Some(status) = server.exited() {
                return Err(format!(
                    "the server {} before 127.0.0.1:{port} accepted connections; it printed:\n{}",
                    describe_status(status),
                    server.output()
                ));
            }
            if started.elapsed() >= SERVER_READY {
                let output = server.output();
                server.stop().await;
                return Err(format!(
                    "127.0.0.1:{port} did not accept connections within {} s; the server was stopped; it printed:\n{output}",
                    SERVER_READY.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn accepts(&self, port: u16) -> bool {
        match &self.launch.env.sandbox {
            Some(sandbox) => sandbox.loopback_accepts(port),
            None => crate::tools::sandbox::host_accepts(port),
        }
    }

    /// Opens `url` when the policy allows it.
    pub async fn open(&mut self, url: &str) -> Result<String, Refused> {
        self.policy()
            .check(url)
            .map_err(|refusal| Refused::Denied(refusal.notice()))?;
        let browser = self.browser().await.map_err(Refused::from)?;
        browser.open(url).await.map_err(Refused::from)?;
        let (title, _) = browser.text().await.map_err(Refused::from)?;
        Ok(format!("opened {}\ntitle: {title}", browser.url()))
    }

    /// A screenshot saved as evidence; the reply names its id.
    pub async fn screenshot(&mut self) -> Result<Evidence, Refused> {
        let browser = self.browser().await.map_err(Refused::from)?;
        let png = browser.screenshot().await.map_err(Refused::from)?;
        let url = browser.url();
        self.screenshots += 1;
        let name = format!("s{}", self.screenshots);
        let evidence = self
            .evidence
            .save(&name, "png", EvidenceKind::Screenshot, &url, &png)
            .map_err(|e| Refused::Fatal(format!("cannot save a screenshot: {e}")))?;
        self.ids.push(evidence.id.clone());
        self.saved.push(evidence.clone());
        Ok(evidence)
    }

    /// The requests since the last call, saved as evidence too.
    pub async fn network(&mut self) -> Result<(Vec<Request>, Option<Evidence>), Refused> {
        let browser = self.browser().await.map_err(Refused::from)?;
        let requests = browser.network(BODY_CAP).await;
        if requests.is_empty() {
            return Ok((requests, None));
        }
        let url = browser.url();
        self.summaries += 1;
        let name = format!("n{}", self.summaries);
        let json = serde_json::to_vec_pretty(&requests).unwrap_or_default();
        let evidence = self
            .evidence
            .save(&name, "json", EvidenceKind::Network, &url, &json)
            .map_err(|e| Refused::Fatal(format!("cannot save a network summary: {e}")))?;
        self.ids.push(evidence.id.clone());
        self.saved.push(evidence.clone());
        Ok((requests, Some(evidence)))
    }

    /// The running browser, started if need be.
    pub async fn page(&mut self) -> Result<&Browser, Refused> {
        self.browser().await.map_err(Refused::from)
    }

    /// Closes the browser (the servers keep running).
    pub async fn close(&mut self) -> Vec<Notice> {
        match self.browser.take() {
            Some(browser) => browser.close().await,
            None => Vec::new(),
        }
    }

    pub fn max_output(&self) -> usize {
        self.max_output
    }
}

/// Why a browser action was not done.
#[derive(Debug)]
pub enum Refused {
    /// The policy refused an address.
    Denied(Notice),
    /// The page or the browser did not do it (said to the model).
    Failed(String),
    /// The harness could not keep what it must (evidence).
    Fatal(String),
}

impl From<BrowserError> for Refused {
    fn from(error: BrowserError) -> Refused {
        Refused::Failed(error.to_string())
    }
}

/// How a process ended, in words.
pub(super) fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "for an unknown reason".to_string(),
    }
}

/// `registry` with the browser toolset after its own tools.
pub fn with_browser_tools<C: BrowserAccess>(registry: Registry<C>) -> Registry<C> {
    registry
        .with(StartServer)
        .with(BrowserOpen)
        .with(BrowserClick)
        .with(BrowserType)
        .with(BrowserRead)
        .with(BrowserScreenshot)
        .with(BrowserNetwork)
        .with(BrowserClose)
}

/// What a role gives the browser tools.
pub trait BrowserAccess: Send {
    /// The run's browser tools; `None` where the mission gives this role no browser.
    fn browser_tools(&mut self) -> Option<&mut BrowserTools>;
}

/// The reply for a refusal, or the harness failure it is.
fn refused(error: Refused, mut denials: Vec<Notice>) -> CallResult {
    match error {
        Refused::Denied(notice) => {
            let text = notice.detail.clone();
            denials.insert(0, notice);
            Ok(ToolReply::error(ToolErrorKind::Refused, text).with_notices(denials))
        }
        Refused::Failed(text) => {
            Ok(ToolReply::error(ToolErrorKind::Failed, text).with_notices(denials))
        }
        Refused::Fatal(text) => Err(crate::tools::ToolFatal::new(text)),
    }
}

/// The reply for an action's result, with what the policy refused meanwhile.
fn finish(tools: &mut BrowserTools, result: Result<String, Refused>) -> CallResult {
    let denials = tools
        .browser
        .as_ref()
        .map(Browser::take_denials)
        .unwrap_or_default();
    match result {
        Ok(mut text) => {
            for notice in &denials {
                text.push('\n');
                text.push_str(&notice.detail);
            }
            Ok(ToolReply::ok(text).with_notices(denials))
        }
        Err(error) => refused(error, denials),
    }
}

fn no_browser() -> ToolReply {
    ToolReply::error(
        ToolErrorKind::Refused,
        "this mission gives this role no browser",
    )
}

/// `start_server` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerArgs {
    /// shell command that starts the server in the workspace root, e.g. `python app.py --port 8801`
    pub command: String,
    /// the port on 127.0.0.1 it listens on
    pub port: u16,
}

/// `browser_open` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenArgs {
    /// http(s) address on 127.0.0.1 or localhost, or a file:// path in the workspace
    pub url: String,
}

/// `browser_click` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickArgs {
    /// the visible text or label of a button or link, or a CSS selector
    pub target: String,
}

/// `browser_type` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeArgs {
    /// the label, placeholder or name of a text field, or a CSS selector
    pub target: String,
    /// text that replaces what the field holds
    pub text: String,
    /// press Enter afterwards
    #[serde(default)]
    pub submit: Option<bool>,
}

/// How `browser_read` shows the page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    #[default]
    Text,
    Accessibility,
}

/// `browser_read` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadPageArgs {
    /// `text` (the visible text, the default) or `accessibility` (roles and names)
    #[serde(default)]
    pub mode: Option<ReadMode>,
    /// wait up to 5 s for this text to appear before reading
    #[serde(default)]
    pub wait_for: Option<String>,
}

/// Arguments of the tools that take none.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

macro_rules! browser_tool {
    ($(#[$doc:meta])* $handler:ident, $name:literal, $args:ty, $description:expr, |$tools:ident, $a:ident| $body:expr) => {
        $(#[$doc])*
        pub struct $handler;

        #[async_trait]
        impl<C: BrowserAccess> Tool<C> for $handler {
            type Args = $args;

            fn name(&self) -> &'static str {
                $name
            }

            fn description(&self) -> &'static str {
                $description
            }

            async fn handle(&self, context: &mut C, $a: $args) -> CallResult {
                let Some($tools) = context.browser_tools() else {
                    return Ok(no_browser());
                };
                let result: Result<String, Refused> = async { $body }.await;
                finish($tools, result)
            }
        }
    };
}

browser_tool!(
    /// `start_server`: a server in the background for the browser to visit.
    StartServer,
    "start_server",
    ServerArgs,
    "Start a server in the background (sh -c, in the workspace root) and wait until 127.0.0.1:PORT accepts \
     connections. It keeps running until this run ends or another server starts on the same port.",
    |tools, args| tools.start_server(&args.command, args.port).await.map_err(Refused::Failed)
);

browser_tool!(
    /// `browser_open`: go to an address.
    BrowserOpen,
    "browser_open",
    OpenArgs,
    "Open an address in the headless browser (http on 127.0.0.1 or localhost, or a file in the workspace) and \
     wait for the page to load. Replies with the address reached and the page title.",
    |tools, args| tools.open(&args.url).await
);

browser_tool!(
    /// `browser_click`: click an element as a mouse would.
    BrowserClick,
    "browser_click",
    ClickArgs,
    "Click a button, link or other element, found by its visible text, label or a CSS selector, and wait for \
     the page to settle.",
    |tools, args| {
        let browser = tools.page().await?;
        let clicked = browser.click(&args.target).await?;
        Ok(format!("clicked {clicked}; the page is now {}", browser.url()))
    }
);

browser_tool!(
    /// `browser_type`: type into a text field.
    BrowserType,
    "browser_type",
    TypeArgs,
    "Type text into a text field, found by its label, placeholder, name or a CSS selector (what it held is \
     replaced); with submit, press Enter afterwards.",
    |tools, args| {
        let browser = tools.page().await?;
        let field = browser
            .type_into(&args.target, &args.text, args.submit.unwrap_or(false))
            .await?;
        Ok(format!("typed into {field}; the page is now {}", browser.url()))
    }
);

browser_tool!(
    /// `browser_read`: the page as text or as an accessibility snapshot.
    BrowserRead,
    "browser_read",
    ReadPageArgs,
    "Read the current page: its visible text (mode text, the default) or its accessibility tree (mode \
     accessibility: roles, names and values). With wait_for, first wait up to 5 s for that text to appear. \
     Long pages keep their head and tail.",
    |tools, args| {
        let cap = tools.max_output();
        let browser = tools.page().await?;
        let mut waited = String::new();
        if let Some(text) = &args.wait_for {
            if !browser.wait_for_text(text, WAIT_FOR).await? {
                waited = format!("(`{text}` did not appear within {} s)\n", WAIT_FOR.as_secs());
            }
        }
        let (title, text) = browser.text().await?;
        let body = match args.mode.unwrap_or_default() {
            ReadMode::Text => text,
            ReadMode::Accessibility => browser.accessibility().await?,
        };
        Ok(format!(
            "url: {}\ntitle: {title}\n{waited}--- page ---\n{}",
            browser.url(),
            head_and_tail(&body, cap)
        ))
    }
);

browser_tool!(
    /// `browser_screenshot`: the viewport as a PNG, saved as evidence.
    BrowserScreenshot,
    "browser_screenshot",
    NoArgs,
    "Take a screenshot of the page. It is saved as evidence; cite its id in your verdicts or findings.",
    |tools, _args| {
        let evidence = tools.screenshot().await?;
        Ok(format!(
            "screenshot saved as evidence `{}` ({} bytes PNG of {})",
            evidence.id, evidence.bytes, evidence.url
        ))
    }
);

browser_tool!(
    /// `browser_network`: the requests since the last call.
    BrowserNetwork,
    "browser_network",
    NoArgs,
    "List the requests the page made since the last call: method, address, status and the start of each text \
     response body. The list is saved as evidence.",
    |tools, _args| {
        let cap = tools.max_output();
        let (requests, evidence) = tools.network().await?;
        let Some(evidence) = evidence else {
            return Ok("no requests since the last call".to_string());
        };
        let mut text = format!("{} requests (evidence `{}`):\n", requests.len(), evidence.id);
        for request in &requests {
            let status = match (&request.failed, request.status) {
                (Some(why), _) => format!("failed: {why}"),
                (None, Some(status)) => status.to_string(),
                (None, None) => "pending".to_string(),
            };
            text.push_str(&format!("{} {} -> {status}\n", request.method, request.url));
            if let Some(body) = &request.body {
                text.push_str(&format!("  {}\n", body.replace('\n', "\n  ")));
            }
        }
        Ok(head_and_tail(&text, cap))
    }
);

browser_tool!(
    /// `browser_close`: close the browser.
    BrowserClose,
    "browser_close",
    NoArgs,
    "Close the browser (a later browser call starts a fresh one, signed out). Servers keep running.",
    |tools, _args| {
        tools.close().await;
        Ok("the browser is closed".to_string())
    }
);

/// Keeps the head and tail of `text` within `cap` bytes.
pub fn head_and_tail(text: &str, cap: usize) -> String {
    if text.len() <= cap {
        return text.to_string();
    }
    let half = cap / 2;
    let mut head_end = half;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - half;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    format!(
        "{}\n[... {} bytes of the page dropped ...]\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

//! The harness's own check of a `verify = "browser"` assertion: its `serve` command started in
//! the sandbox, its steps played in a fresh browser (open, click, type, expect text or address),
//! a screenshot kept as evidence whatever the outcome, and everything stopped. The same steps are
//! what the oracle's user-testing validator replays through the browser tools.

use std::time::{Duration, Instant};

use crate::spec::{Assertion, StepAction};
use crate::tools::browser::tools::{BrowserTools, Evidence, Refused, WAIT_FOR};
use crate::tools::Notice;

/// What a browser check found.
#[derive(Debug)]
pub struct BrowserCheck {
    pub passed: bool,
    /// One line per step, then the screenshot's id: the finding's detail when it fails.
    pub log: String,
    pub duration: Duration,
    pub evidence: Vec<Evidence>,
    /// What the sandbox and the address policy reported.
    pub notices: Vec<Notice>,
}

/// Plays `assertion`'s steps with `tools`, which are shut down at the end.
pub async fn check(assertion: &Assertion, tools: &mut BrowserTools) -> BrowserCheck {
    let started = Instant::now();
    let mut log = String::new();
    let mut notices = Vec::new();
    let passed = play(assertion, tools, &mut log, &mut notices).await;
    match tools.screenshot().await {
        Ok(evidence) => log.push_str(&format!("screenshot: evidence `{}`\n", evidence.id)),
        Err(error) => log.push_str(&format!("no screenshot: {}\n", refusal_text(&error))),
    }
    if let Ok(page) = tools.page().await {
        notices.extend(page.take_denials());
    }
    notices.extend(tools.shut_down().await);
    BrowserCheck {
        passed,
        log,
        duration: started.elapsed(),
        evidence: tools.take_evidence(),
        notices,
    }
}

async fn play(
    assertion: &Assertion,
    tools: &mut BrowserTools,
    log: &mut String,
    notices: &mut Vec<Notice>,
) -> bool {
    if let Some(serve) = assertion.serve.as_deref().filter(|s| !s.trim().is_empty()) {
        let Some(port) = assertion.serve_port() else {
            log.push_str("serve: the first `open` address names no port\n");
            return false;
        };
        match tools.start_server(serve, port).await {
            Ok(_) => log.push_str(&format!("serve `{serve}`: 127.0.0.1:{port} is up\n")),
            Err(why) => {
                log.push_str(&format!("serve `{serve}`: {why}\n"));
                return false;
            }
        }
    }
    for (n, step) in assertion.steps.iter().enumerate() {
        let number = n + 1;
        let action = match step.action() {
            Ok(action) => action,
            Err(why) => {
                log.push_str(&format!("{number}. {why}\n"));
                return false;
            }
        };
        let outcome = run_step(action, tools).await;
        let described = describe(action);
        match outcome {
            Ok(()) => log.push_str(&format!("{number}. {described}: ok\n")),
            Err(Failure::Refused(error)) => {
                if let Refused::Denied(notice) = &error {
                    notices.push(notice.clone());
                }
                log.push_str(&format!(
                    "{number}. {described}: {}\n",
                    refusal_text(&error)
                ));
                return false;
            }
            Err(Failure::Expected(why)) => {
                log.push_str(&format!("{number}. {described}: {why}\n"));
                return false;
            }
        }
    }
    true
}

enum Failure {
    Refused(Refused),
    /// An expectation did not hold; what was seen instead.
    Expected(String),
}

impl From<Refused> for Failure {
    fn from(error: Refused) -> Failure {
        Failure::Refused(error)
    }
}

impl From<crate::tools::browser::BrowserError> for Failure {
    fn from(error: crate::tools::browser::BrowserError) -> Failure {
        Failure::Refused(Refused::from(error))
    }
}

async fn run_step(action: StepAction<'_>, tools: &mut BrowserTools) -> Result<(), Failure> {
    match action {
        StepAction::Open(url) => {
            tools.open(url).await?;
        }
        StepAction::Click(target) => {
            tools.page().await?.click(target).await?;
        }
        StepAction::Type { text, into } => {
            tools.page().await?.type_into(into, text, false).await?;
        }
        StepAction::ExpectText(text) => {
            let page = tools.page().await?;
            if !page.wait_for_text(text, WAIT_FOR).await? {
                let (_, shown) = page.text().await?;
                return Err(Failure::Expected(format!(
                    "not shown within {} s; the page at {} shows:\n{}",
                    WAIT_FOR.as_secs(),
                    page.url(),
                    crate::tools::browser::tools::head_and_tail(&shown, 1500)
                )));
            }
        }
        StepAction::ExpectUrl(part) => {
            let page = tools.page().await?;
            if !page.wait_for_url(part, WAIT_FOR).await {
                return Err(Failure::Expected(format!("the address is {}", page.url())));
            }
        }
    }
    Ok(())
}

fn describe(action: StepAction<'_>) -> String {
    match action {
        StepAction::Open(url) => format!("open {url}"),
        StepAction::Click(target) => format!("click `{target}`"),
        StepAction::Type { text, into } => format!("type `{text}` into `{into}`"),
        StepAction::ExpectText(text) => format!("expect text `{text}`"),
        StepAction::ExpectUrl(part) => format!("expect address containing `{part}`"),
    }
}

fn refusal_text(error: &Refused) -> String {
    match error {
        Refused::Denied(notice) => notice.detail.clone(),
        Refused::Failed(text) | Refused::Fatal(text) => text.clone(),
    }
}

//! Progress while a run goes: an overall bar (missions done / total) and a line per running
//! mission (milestone, round, the role at work). Without a terminal, one line per finished mission.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::events::{Event, EventRecord, EventSink, MissionKey};

pub struct Progress {
    inner: Mutex<Inner>,
}

struct Inner {
    multi: MultiProgress,
    overall: ProgressBar,
    missions: HashMap<MissionKey, ProgressBar>,
    interactive: bool,
}

impl Progress {
    /// The total is set when the run says what it planned (`RunPlanned`).
    pub fn new() -> Progress {
        let interactive = std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} missions {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress {
            inner: Mutex::new(Inner {
                multi,
                overall,
                missions: HashMap::new(),
                interactive,
            }),
        }
    }

    pub fn finish(&self) {
        if let Ok(inner) = self.inner.lock() {
            inner.overall.finish_and_clear();
            let _ = inner.multi.clear();
        }
    }
}

impl Inner {
    /// The line of a running mission, made on its first event.
    fn bar(&mut self, key: &MissionKey) -> ProgressBar {
        if let Some(bar) = self.missions.get(key) {
            return bar.clone();
        }
        let bar = self
            .multi
            .insert_before(&self.overall, ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {prefix}: {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(key.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.missions.insert(key.clone(), bar.clone());
        bar
    }
}

impl EventSink for Progress {
    fn record(&self, record: &EventRecord) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let Some(key) = &record.mission else {
            match &record.event {
                Event::RunPlanned { mission_runs } => inner.overall.set_length(*mission_runs),
                Event::EnvironmentReady { reused, .. } => inner.overall.set_message(if *reused {
                    "(environment reused)"
                } else {
                    "(environment built)"
                }),
                _ => {}
            }
            return;
        };
        match &record.event {
            Event::MissionStarted { .. } => {
                inner.bar(key).set_message("setting up");
            }
            Event::AgentStarted {
                role,
                milestone,
                feature,
                round,
                ..
            } => {
                // A resumed mission's first live event may be its next agent run.
                let mut message = String::new();
                if let Some(milestone) = milestone {
                    message.push_str(&format!("{milestone} round {} ", round.unwrap_or(1)));
                }
                message.push_str(role.as_str());
                if let Some(feature) = feature {
                    message.push_str(&format!(" {feature}"));
                }
                inner.bar(key).set_message(message);
            }
            Event::AcceptanceFinished { .. } => {
                if let Some(bar) = inner.missions.get(key) {
                    bar.set_message("acceptance tests done, measuring coverage");
                }
            }
            Event::MissionFinished {
                status,
                halt_reason,
                duration_ms,
                ..
            } => {
                let halt = halt_reason
                    .map(|h| format!(" ({})", h.as_str()))
                    .unwrap_or_default();
                let line = format!(
                    "{key}: {}{halt} in {:.1}s",
                    status.as_str(),
                    duration_ms / 1000.0
                );
                if let Some(bar) = inner.missions.remove(key) {
                    bar.finish_and_clear();
                }
                if inner.interactive {
                    let _ = inner.multi.println(format!("  {line}"));
                } else {
                    let done = inner.overall.position() + 1;
                    let total = inner.overall.length().unwrap_or(0);
                    #[allow(clippy::print_stderr)]
                    {
                        eprintln!("[{done}/{total}] {line}");
                    }
                }
                inner.overall.inc(1);
            }
            _ => {}
        }
    }
}

//! The viewer's pages as HTML strings: runs, one run (pairings and mission runs), its charts, a
//! mission run (milestones, rounds, verdicts, findings, evidence, agent runs, ground truth, the
//! final diff), an agent run (its diff, its turns' usage and timing, the whole conversation) and
//! one turn. Every text from the record goes through `escape`; links are relative to the page.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::Serialize;

use super::index::{MissionRun, RunIndex};
use super::transcript::{self, MessageLine, Transcript, Turn};
use super::{resolve_inside, Reply, Viewer};
use crate::events::{Event, EventRecord};
use crate::report::percent_encode;
use crate::report::text::escape;

/// How much of one text (a tool result, a diff) a page shows; the rest is in the file linked.
const SHOWN_BYTES: usize = 256 * 1024;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}\
header{background:#234;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}\
header a{color:#cde}header form{margin-left:auto}main{padding:12px 16px}\
h1{font-size:19px;margin:8px 0}h2{font-size:16px;margin-top:24px;border-bottom:1px solid #ddd}h3{font-size:14px}\
table{border-collapse:collapse;font-size:12px;margin:6px 0;background:#fff}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#f0f0f0}td.n{text-align:right}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;font-size:13px}dt{color:#666}dd{margin:0}\
pre{white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid #e4e4e4;padding:6px;margin:4px 0;font-size:12px;max-height:480px;overflow:auto}\
.passed,.pass,.ok{color:#176}.failed,.fail,.halted,.error,.err{color:#b22}.unfinished,.interrupted{color:#a60}\
.msg{margin:6px 0;padding:4px 8px;border-left:4px solid #ccc;background:#fff}.msg .role{font-size:11px;color:#666;text-transform:uppercase}\
.assistant{border-color:#47a}.user{border-color:#7a4}.call{margin:6px 0 6px 12px;border:1px solid #dde;border-radius:4px;padding:4px}\
.tool{font-weight:bold;font-family:monospace}.result.err pre{border-color:#e99}.turn{border-top:2px solid #ccd;margin-top:14px}\
.meta{font-size:12px;color:#555}figure{display:inline-block;margin:4px 8px 4px 0;font-size:11px}figure img{max-width:480px;border:1px solid #ccc}\
.diff .a{color:#176}.diff .d{color:#b22}.diff .h{color:#46a}mark{background:#fe6}.note{color:#666;font-size:13px}";

/// A whole page: `root` leads from the page back to the viewer's root (`../../`).
fn layout(title: &str, root: &str, crumbs: &[(String, String)], body: &str) -> String {
    let mut nav = format!("<a href=\"{root}index.html\">runs</a>");
    for (href, label) in crumbs {
        let _ = write!(nav, " / <a href=\"{href}\">{}</a>", escape(label));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<header><strong>missions-bench view</strong><nav>{nav}</nav><form action=\"{root}search.html\" method=\"get\"><input name=\"q\" placeholder=\"search transcripts\" aria-label=\"search transcripts\"> <button>search</button></form></header>\n<main>\n<h1>{}</h1>\n{body}</main></body></html>\n",
        escape(title),
        escape(title)
    )
}

/// A page at the viewer's root (`search.html`).
pub(super) fn layout_page(title: &str, body: &str) -> String {
    layout(title, "", &[], body)
}

pub(super) fn error_page(status: &str, message: &str) -> String {
    layout(
        status,
        "/",
        &[],
        &format!("<p class=\"err\">{}</p>", escape(message)),
    )
}

fn run_href(root: &str, i: usize) -> String {
    format!("{root}r/{i}/index.html")
}

fn mission_href(root: &str, i: usize, slug: &str) -> String {
    format!("{root}r/{i}/m/{}/index.html", percent_encode(slug))
}

fn agent_href(root: &str, i: usize, slug: &str, run: u32) -> String {
    format!("{root}r/{i}/m/{}/{run:03}.html", percent_encode(slug))
}

pub(super) fn turn_href(root: &str, i: usize, slug: &str, run: u32, turn: u32) -> String {
    format!(
        "{root}r/{i}/m/{}/{run:03}/{turn}.html",
        percent_encode(slug)
    )
}

/// A file of report folder `i`, by its path relative to the folder.
fn file_href(root: &str, i: usize, relative: &str) -> String {
    let names: Vec<String> = relative.split('/').map(percent_encode).collect();
    format!("{root}r/{i}/{}", names.join("/"))
}

/// A serialized enum's name (`"blocking"`), for types that have no `as_str`.
fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "–".to_string(), |v| v.to_string())
}

fn millis(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

/// `text` cut to what a page shows, on a character boundary, and whether it was cut.
fn shown(text: &str) -> (&str, bool) {
    if text.len() <= SHOWN_BYTES {
        return (text, false);
    }
    let mut end = SHOWN_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

fn errors_section(errors: &[String]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<h2>Lines that could not be read</h2><p class=\"note\">{} lines; everything else is shown.</p><ul>",
        errors.len()
    );
    for error in errors.iter().take(100) {
        let _ = write!(out, "<li class=\"err\">{}</li>", escape(error));
    }
    out.push_str("</ul>");
    out
}

// ---------------------------------------------------------------------------------------------
// Runs and one run.

pub(super) fn runs_page(viewer: &Viewer) -> String {
    let mut body = String::from(
        "<table><thead><tr><th>run</th><th>suite</th><th>started</th><th>finished</th><th>mission runs</th><th>passed</th><th>failed</th><th>halted</th><th>error</th><th>unfinished</th><th>charts</th></tr></thead><tbody>",
    );
    for (i, run) in viewer.runs().iter().enumerate() {
        let count = |status: &str| {
            run.missions
                .iter()
                .filter(|m| m.status_text() == status)
                .count()
        };
        let (suite, started, finished) = match &run.info {
            Ok(info) => (
                info.suite.name.clone(),
                info.started_at.clone(),
                info.finished_at.clone().unwrap_or_default(),
            ),
            Err(_) => Default::default(),
        };
        let _ = write!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td><a href=\"r/{i}/charts.html\">charts</a></td></tr>",
            run_href("", i),
            escape(&run.run_id()),
            escape(&suite),
            escape(&started),
            escape(&finished),
            run.missions.len(),
            count("passed"),
            count("failed"),
            count("halted"),
            count("error"),
            count("unfinished") + count("interrupted"),
        );
    }
    body.push_str("</tbody></table>");
    layout("Runs", "", &[], &body)
}

pub(super) fn run_page(run: &RunIndex, i: usize) -> String {
    let root = "../../";
    let mut body = String::new();
    match &run.info {
        Ok(info) => {
            let _ = write!(
                body,
                "<dl><dt>folder</dt><dd>{}</dd><dt>suite</dt><dd>{}</dd><dt>command</dt><dd><code>{}</code></dd><dt>started</dt><dd>{}</dd><dt>finished</dt><dd>{}</dd><dt>harness</dt><dd>{} ({})</dd><dt>repeats / jobs / seed</dt><dd>{} / {} / {}</dd><dt>host</dt><dd>{} {} ({} CPUs)</dd></dl>",
                escape(&run.folder.display().to_string()),
                escape(&info.suite.name),
                escape(&info.command_line.join(" ")),
                escape(&info.started_at),
                escape(info.finished_at.as_deref().unwrap_or("not finished")),
                escape(&info.harness.version),
                escape(&info.harness.git_commit),
                info.repeats,
                info.jobs,
                opt(info.seed),
                escape(&info.host.os),
                escape(&info.host.arch),
                info.host.cpus,
            );
        }
        Err(error) => {
            let _ = write!(body, "<p class=\"err\">run.json: {}</p>", escape(error));
        }
    }
    let _ = write!(
        body,
        "<p><a href=\"charts.html\">Charts</a> (the HTML report of <code>missions-bench report</code>)</p>"
    );
    // Pairings: counts and tokens over their mission runs.
    let mut pairings: BTreeMap<&str, [u64; 6]> = BTreeMap::new();
    for mission in &run.missions {
        let entry = pairings.entry(&mission.key.pairing).or_default();
        entry[0] += 1;
        if mission.status_text() == "passed" {
            entry[1] += 1;
        }
        if let Some((passed, total)) = mission.acceptance {
            entry[2] += passed as u64;
            entry[3] += total as u64;
        }
        entry[4] += mission.input_tokens;
        entry[5] += mission.output_tokens;
    }
    body.push_str("<h2>Pairings</h2><table><thead><tr><th>pairing</th><th>mission runs</th><th>passed</th><th>acceptance tests passed</th><th>input tokens</th><th>output tokens</th></tr></thead><tbody>");
    for (pairing, c) in &pairings {
        let _ = write!(
            body,
            "<tr><td><a href=\"p/{}.html\">{}</a></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} / {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            pairing_file(pairing),
            escape(pairing),
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5]
        );
    }
    body.push_str("</tbody></table><h2>Mission runs</h2>");
    body.push_str(&mission_table(run, i, root, |_| true));
    body.push_str(&errors_section(&run.damaged));
    if run.damaged_unlisted > 0 {
        let _ = write!(
            body,
            "<p class=\"err\">and {} more damaged lines of `{}`.</p>",
            run.damaged_unlisted,
            escape(&run.journal.display().to_string())
        );
    }
    layout(
        &format!("Run {}", run.run_id()),
        root,
        &[(run_href(root, i), run.run_id())],
        &body,
    )
}

/// The mission runs `keep` selects, one row each, linked to their pages.
fn mission_table(
    run: &RunIndex,
    i: usize,
    root: &str,
    keep: impl Fn(&MissionRun) -> bool,
) -> String {
    let mut body = String::from("<table><thead><tr><th>mission</th><th>pairing</th><th>repeat</th><th>status</th><th>acceptance</th><th>agent runs</th><th>turns</th><th>input tokens</th><th>output tokens</th><th>duration</th></tr></thead><tbody>");
    for mission in run.missions.iter().filter(|m| keep(m)) {
        let status = mission.status_text();
        let halt = mission
            .halt_reason
            .map(|r| format!(" ({})", r.as_str()))
            .unwrap_or_default();
        let _ = write!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td class=\"n\">{}</td><td class=\"{status}\">{status}{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            mission_href(root, i, &mission.slug),
            escape(mission.key.mission.as_str()),
            escape(&mission.key.pairing),
            mission.key.repeat,
            escape(&halt),
            mission
                .acceptance
                .map_or_else(|| "–".to_string(), |(p, t)| format!("{p} / {t}")),
            mission.agent_runs,
            mission.turns,
            mission.input_tokens,
            mission.output_tokens,
            mission.duration_ms.map_or_else(|| "–".to_string(), millis),
        );
    }
    body.push_str("</tbody></table>");
    body
}

/// A pairing's name as a file name: what `MissionKey::slug` makes of it.
pub(super) fn pairing_file(pairing: &str) -> String {
    // Every pairing its own file: `a+b` and `a_b` must not meet.
    pairing
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("~{b:02X}")
            }
        })
        .collect()
}

/// One pairing's mission runs in a run.
pub(super) fn pairing_page(run: &RunIndex, i: usize, file: &str) -> Reply {
    let root = "../../../";
    let missions: Vec<&MissionRun> = run
        .missions
        .iter()
        .filter(|m| pairing_file(&m.key.pairing) == file)
        .collect();
    let Some(first) = missions.first() else {
        return Reply::NotFound(format!("no pairing `{file}` in this report"));
    };
    let pairing = first.key.pairing.clone();
    let passed = missions
        .iter()
        .filter(|m| m.status_text() == "passed")
        .count();
    let body = format!(
        "<p>{passed} of {} mission runs passed.</p>{}",
        missions.len(),
        mission_table(run, i, root, |m| m.key.pairing == pairing)
    );
    Reply::Html(layout(
        &format!("Pairing {pairing}"),
        root,
        &[
            (run_href(root, i), run.run_id()),
            (format!("{root}r/{i}/p/{file}.html"), pairing.clone()),
        ],
        &body,
    ))
}

pub(super) fn charts_page(run: &RunIndex) -> String {
    let title = format!("missions-bench: {}", run.run_id());
    match crate::report::read_tables(&run.folder) {
        Ok(tables) => crate::report::html::render(
            &[tables],
            std::slice::from_ref(&run.folder),
            &run.folder.join("charts.html"),
            &title,
        ),
        Err(error) => layout(
            &title,
            "../../",
            &[],
            &format!(
                "<p class=\"err\">The charts need the run's Parquet tables, which could not be read: {}. A run writes them when it ends (<code>missions-bench merge</code> for shards).</p>",
                escape(&error.to_string())
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// A mission run.

/// An agent run as the journal tells it.
#[derive(Default)]
struct AgentInfo {
    parent: Option<u32>,
    role: String,
    model: String,
    provider: String,
    task: String,
    milestone: Option<String>,
    feature: Option<String>,
    round: Option<u32>,
    seed: Option<u64>,
    temperature: Option<f64>,
    outcome: Option<String>,
    turns: Option<u32>,
    duration_ms: Option<f64>,
    summary: String,
    checkpoint: Option<String>,
    /// The recorded run it was served from (counterfactual replay).
    replayed_from: Option<String>,
    input_tokens: u64,
    output_tokens: u64,
}

fn agents(events: &[(u32, EventRecord)]) -> BTreeMap<u32, AgentInfo> {
    let mut agents: BTreeMap<u32, AgentInfo> = BTreeMap::new();
    for (_, record) in events {
        match &record.event {
            Event::AgentStarted {
                run,
                parent,
                role,
                model,
                provider,
                task,
                milestone,
                feature,
                round,
                seed,
                temperature,
            } => {
                let agent = agents.entry(*run).or_default();
                agent.parent = *parent;
                agent.role = role.to_string();
                agent.model = model.clone();
                agent.provider = provider.clone();
                agent.task = task.clone();
                agent.milestone = milestone.as_ref().map(|m| m.as_str().to_string());
                agent.feature = feature.as_ref().map(|f| f.as_str().to_string());
                agent.round = *round;
                agent.seed = *seed;
                agent.temperature = *temperature;
            }
            Event::Turn { run, usage, .. } => {
                let agent = agents.entry(*run).or_default();
                agent.input_tokens += usage.input_tokens.unwrap_or(0);
                agent.output_tokens += usage.output_tokens.unwrap_or(0);
            }
            Event::AgentFinished {
                run,
                outcome,
                turns,
                duration_ms,
                summary,
            } => {
                let agent = agents.entry(*run).or_default();
                agent.outcome = Some(outcome.as_str().to_string());
                agent.turns = Some(*turns);
                agent.duration_ms = Some(*duration_ms);
                agent.summary = summary.clone();
            }
            Event::AgentCheckpoint { run, commit, .. } => {
                agents.entry(*run).or_default().checkpoint = Some(commit.clone());
            }
            Event::AgentReplayed {
                run,
                recording,
                recorded_run,
            } => {
                agents.entry(*run).or_default().replayed_from = Some(crate::events::replay_place(
                    recording,
                    Some(*recorded_run),
                    None,
                ));
            }
            _ => {}
        }
    }
    agents
}

fn agent_row(root: &str, i: usize, slug: &str, run: u32, agent: &AgentInfo) -> String {
    let outcome = agent.outcome.as_deref().unwrap_or("unfinished");
    let class = if outcome == "finished" { "ok" } else { "err" };
    format!(
        "<tr><td><a href=\"{}\">{run:03}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"{class}\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} / {}</td><td class=\"n\">{}</td><td>{}</td></tr>",
        agent_href(root, i, slug, run),
        opt(agent.parent),
        escape(&agent.role),
        match &agent.replayed_from {
            Some(from) => format!(
                "{} <span class=\"note\">(served from {})</span>",
                escape(&agent.model),
                escape(from)
            ),
            None => escape(&agent.model),
        },
        escape(&agent.task),
        escape(agent.milestone.as_deref().unwrap_or("")),
        escape(agent.feature.as_deref().unwrap_or("")),
        opt(agent.round),
        escape(outcome),
        opt(agent.turns),
        agent.input_tokens,
        agent.output_tokens,
        agent.duration_ms.map_or_else(|| "–".to_string(), millis),
        escape(&agent.summary),
    )
}

const AGENT_HEAD: &str = "<table><thead><tr><th>run</th><th>parent</th><th>role</th><th>model</th><th>task</th><th>milestone</th><th>feature</th><th>round</th><th>ended</th><th>turns</th><th>tokens in / out</th><th>duration</th><th>summary</th></tr></thead><tbody>";

/// Evidence a verdict or check cites, by id: its path in the report folder, kind and page.
type EvidenceMap = BTreeMap<String, (String, String, String)>;

fn evidence_html(root: &str, i: usize, ids: &[String], evidence: &EvidenceMap) -> String {
    let mut out = String::new();
    for id in ids {
        match evidence.get(id) {
            Some((path, kind, url)) if kind == "screenshot" => {
                let href = file_href(root, i, path);
                // The caption is the image's size once the browser decoded it.
                let _ = write!(
                    out,
                    "<figure><a href=\"{href}\"><img src=\"{href}\" alt=\"screenshot {}\" onload=\"this.title=this.naturalWidth+'x'+this.naturalHeight;this.parentNode.nextSibling.textContent+=' ('+this.title+')'\"></a><figcaption>{} {}</figcaption></figure>",
                    escape(id),
                    escape(id),
                    escape(url)
                );
            }
            Some((path, kind, _)) => {
                let _ = write!(
                    out,
                    "<div><a href=\"{}\">{} ({})</a></div>",
                    file_href(root, i, path),
                    escape(id),
                    escape(kind)
                );
            }
            None => {
                let _ = write!(
                    out,
                    "<div class=\"err\">{}: cited, but no file was saved under this id</div>",
                    escape(id)
                );
            }
        }
    }
    out
}

pub(super) fn mission_page(run: &RunIndex, i: usize, mission: &MissionRun) -> String {
    let root = "../../../../";
    let slug = mission.slug.as_str();
    let (events, mut errors) = run.events(mission);
    let agents = agents(&events);
    let mut evidence: EvidenceMap = BTreeMap::new();
    let mut body = String::new();
    let status = mission.status_text();
    let _ = write!(
        body,
        "<dl><dt>mission</dt><dd>{}</dd><dt>pairing</dt><dd>{}</dd><dt>repeat</dt><dd>{}</dd><dt>status</dt><dd class=\"{status}\">{status} {}</dd><dt>detail</dt><dd>{}</dd><dt>duration</dt><dd>{}</dd><dt>acceptance</dt><dd>{}</dd>",
        escape(mission.key.mission.as_str()),
        escape(&mission.key.pairing),
        mission.key.repeat,
        escape(mission.halt_reason.map_or("", |r| r.as_str())),
        escape(&mission.detail),
        mission.duration_ms.map_or_else(|| "–".to_string(), millis),
        mission
            .acceptance
            .map_or_else(|| "not run".to_string(), |(p, t)| format!("{p} of {t} tests passed")),
    );
    let mut milestones: Vec<(String, String)> = Vec::new();
    let mut assertions: BTreeMap<String, String> = BTreeMap::new();
    // (milestone, round) in the order they first appear, and what each holds.
    let mut rounds: Vec<(String, u32)> = Vec::new();
    let mut round_html: BTreeMap<(String, u32), String> = BTreeMap::new();
    let mut round_result: BTreeMap<(String, u32), (bool, u32)> = BTreeMap::new();
    let mut ground = String::new();
    let mut closed: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (_, record) in &events {
        if let Event::EvidenceSaved {
            id,
            kind,
            path,
            url,
            ..
        } = &record.event
        {
            evidence.insert(
                id.clone(),
                (path.clone(), kind.as_str().to_string(), url.clone()),
            );
        }
        if let Event::FindingsClosed { ids, superseded_by } = &record.event {
            for id in ids {
                closed.insert(id.clone(), superseded_by.clone());
            }
        }
    }
    let note_round = |rounds: &mut Vec<(String, u32)>, milestone: &str, round: u32| {
        let key = (milestone.to_string(), round);
        if !rounds.contains(&key) {
            rounds.push(key);
        }
    };
    for (_, record) in &events {
        match &record.event {
            Event::MissionStarted {
                models,
                difficulty,
                language,
                tags,
                ..
            } => {
                let roles: Vec<String> = models
                    .iter()
                    .map(|(role, model)| format!("{role}: {} ({})", model.name, model.provider))
                    .collect();
                let _ = write!(
                    body,
                    "<dt>models</dt><dd>{}</dd><dt>difficulty / language / tags</dt><dd>{} / {} / {}</dd>",
                    escape(&roles.join(", ")),
                    escape(difficulty.as_deref().unwrap_or("–")),
                    escape(language.as_deref().unwrap_or("–")),
                    escape(&tags.join(", "))
                );
            }
            Event::ContractWritten {
                milestones: written,
                assertions: contract,
                ..
            } => {
                milestones = written
                    .iter()
                    .map(|m| (m.id.as_str().to_string(), m.title.clone()))
                    .collect();
                assertions = contract
                    .iter()
                    .map(|a| (a.id.as_str().to_string(), a.description.clone()))
                    .collect();
            }
            Event::AgentStarted {
                run: number,
                milestone: Some(milestone),
                round: Some(round),
                ..
            } => {
                note_round(&mut rounds, milestone.as_str(), *round);
                if let Some(agent) = agents.get(number) {
                    round_html
                        .entry((milestone.as_str().to_string(), *round))
                        .or_default()
                        .push_str(&agent_row(root, i, slug, *number, agent));
                }
            }
            Event::MilestoneRound {
                milestone,
                round,
                passed,
                open_blocking,
            } => {
                note_round(&mut rounds, milestone.as_str(), *round);
                round_result.insert(
                    (milestone.as_str().to_string(), *round),
                    (*passed, *open_blocking),
                );
            }
            _ => {}
        }
    }
    body.push_str("</dl>");

    // Verdicts, checks and findings per round.
    let mut verdicts: BTreeMap<(String, u32), String> = BTreeMap::new();
    let mut findings: BTreeMap<(String, u32), String> = BTreeMap::new();
    for (_, record) in &events {
        match &record.event {
            Event::VerdictReported {
                run: number,
                milestone,
                round,
                assertion,
                status,
                evidence: text,
                evidence_ids,
            } => {
                let status = label(status);
                let _ = write!(
                    verdicts
                        .entry((milestone.as_str().to_string(), *round))
                        .or_default(),
                    "<tr><td>{}</td><td>{}</td><td><a href=\"{}\">{number:03}</a></td><td class=\"{}\">{}</td><td><pre>{}</pre>{}</td></tr>",
                    escape(assertion),
                    escape(assertions.get(assertion).map_or("", String::as_str)),
                    agent_href(root, i, slug, *number),
                    escape(&status),
                    escape(&status),
                    escape(text),
                    evidence_html(root, i, evidence_ids, &evidence)
                );
            }
            Event::MechanicalCheck {
                milestone,
                round,
                assertion,
                passed,
                exit_code,
                timed_out,
                duration_ms,
                evidence_ids,
            } => {
                let verdict = if *passed { "pass" } else { "fail" };
                let _ = write!(
                    verdicts
                        .entry((milestone.as_str().to_string(), *round))
                        .or_default(),
                    "<tr><td>{}</td><td>{}</td><td>harness check</td><td class=\"{verdict}\">{verdict}</td><td>exit code {}{}, {}{}</td></tr>",
                    escape(assertion),
                    escape(assertions.get(assertion).map_or("", String::as_str)),
                    opt(*exit_code),
                    if *timed_out { ", timed out" } else { "" },
                    millis(*duration_ms),
                    evidence_html(root, i, evidence_ids, &evidence)
                );
            }
            Event::FindingRaised { run, finding } => {
                let state = match closed.get(&finding.id) {
                    Some(Some(by)) => format!("superseded by {by}"),
                    Some(None) => "closed".to_string(),
                    None => "open".to_string(),
                };
                let _ = write!(
                    findings
                        .entry((finding.milestone.as_str().to_string(), finding.round))
                        .or_default(),
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><strong>{}</strong><pre>{}</pre></td><td>{}</td></tr>",
                    escape(&finding.id),
                    run.map_or_else(
                        || "harness".to_string(),
                        |r| format!("<a href=\"{}\">{r:03}</a>", agent_href(root, i, slug, r))
                    ),
                    escape(&label(&finding.source)),
                    escape(&label(&finding.severity)),
                    escape(finding.feature.as_ref().map_or("", |f| f.as_str())),
                    escape(finding.assertion.as_ref().map_or("", |a| a.as_str())),
                    escape(&finding.title),
                    escape(&finding.detail),
                    escape(&state)
                );
            }
            _ => {}
        }
    }
    body.push_str("<h2>Milestones and rounds</h2>");
    if milestones.is_empty() && rounds.is_empty() {
        body.push_str("<p class=\"note\">No contract was written and no round ran.</p>");
    }
    let mut milestone_ids: Vec<(String, String)> = milestones.clone();
    for (milestone, _) in &rounds {
        if !milestone_ids.iter().any(|(id, _)| id == milestone) {
            milestone_ids.push((milestone.clone(), String::new()));
        }
    }
    for (milestone, title) in &milestone_ids {
        let _ = write!(
            body,
            "<h3>Milestone {}: {}</h3>",
            escape(milestone),
            escape(title)
        );
        for (_, round) in rounds.iter().filter(|(m, _)| m == milestone) {
            let key = (milestone.clone(), *round);
            let result = match round_result.get(&key) {
                Some((true, _)) => "<span class=\"passed\">passed</span>".to_string(),
                Some((false, open)) => {
                    format!("<span class=\"failed\">failed</span>, {open} blocking findings open")
                }
                None => "<span class=\"unfinished\">not finished</span>".to_string(),
            };
            let _ = write!(body, "<h4>Round {round}: {result}</h4>");
            if let Some(rows) = round_html.get(&key) {
                let _ = write!(body, "{AGENT_HEAD}{rows}</tbody></table>");
            }
            if let Some(rows) = verdicts.get(&key) {
                let _ = write!(body, "<table><thead><tr><th>assertion</th><th>behaviour</th><th>by</th><th>verdict</th><th>evidence</th></tr></thead><tbody>{rows}</tbody></table>");
            }
            if let Some(rows) = findings.get(&key) {
                let _ = write!(body, "<table><thead><tr><th>finding</th><th>raised by</th><th>source</th><th>severity</th><th>feature</th><th>assertion</th><th>what</th><th>state</th></tr></thead><tbody>{rows}</tbody></table>");
            }
        }
    }

    body.push_str("<h2>Agent runs</h2>");
    body.push_str(AGENT_HEAD);
    for (number, agent) in &agents {
        body.push_str(&agent_row(root, i, slug, *number, agent));
    }
    body.push_str("</tbody></table>");

    for (_, record) in &events {
        match &record.event {
            Event::MissionHalted { reason, detail } => {
                let _ = write!(
                    ground,
                    "<p class=\"err\">halted: {} — {}</p>",
                    reason.as_str(),
                    escape(detail)
                );
            }
            Event::AcceptanceSealed {
                runner,
                left_out,
                ran_as_is,
                tampered,
            } => {
                let _ = write!(
                    ground,
                    "<p>Sealed acceptance ({}): {} paths left out{}.</p>",
                    escape(runner),
                    left_out.len(),
                    if *ran_as_is {
                        ", also run on the workspace as the agents left it"
                    } else {
                        ""
                    }
                );
                if let Some(tampered) = tampered {
                    let _ = write!(
                        ground,
                        "<p class=\"err\">Tampered: {}</p>",
                        escape(&tampered.summary())
                    );
                }
            }
            Event::AcceptanceFinished {
                tests,
                exit_code,
                timed_out,
                duration_ms,
                error,
            } => {
                let _ = write!(
                    ground,
                    "<p>Acceptance: exit code {}{}, {}{}</p><table><thead><tr><th>test</th><th>milestone</th><th>outcome</th></tr></thead><tbody>",
                    opt(*exit_code),
                    if *timed_out { ", timed out" } else { "" },
                    millis(*duration_ms),
                    error
                        .as_ref()
                        .map(|e| format!(" — <span class=\"err\">{}</span>", escape(e)))
                        .unwrap_or_default()
                );
                for test in tests {
                    let outcome = label(&test.status);
                    let _ = write!(
                        ground,
                        "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                        escape(&test.id),
                        escape(test.milestone.as_ref().map_or("", |m| m.as_str())),
                        escape(&outcome),
                        escape(&outcome)
                    );
                }
                ground.push_str("</tbody></table>");
            }
            Event::CoverageMeasured { percent, error, .. } => {
                let _ = write!(
                    ground,
                    "<p>Coverage: {}{}</p>",
                    percent.map_or_else(|| "–".to_string(), |p| format!("{p:.1}%")),
                    error
                        .as_ref()
                        .map(|e| format!(" ({})", escape(e)))
                        .unwrap_or_default()
                );
            }
            Event::MutationMeasured {
                score,
                killed,
                survived,
                error,
                ..
            } => {
                let _ = write!(
                    ground,
                    "<p>Mutation score: {} ({killed} killed, {survived} survived){}</p>",
                    score.map_or_else(|| "–".to_string(), |s| format!("{:.0}%", s * 100.0)),
                    error
                        .as_ref()
                        .map(|e| format!(" ({})", escape(e)))
                        .unwrap_or_default()
                );
            }
            Event::LinesCounted {
                source_files,
                source_lines,
                test_files,
                test_lines,
            } => {
                let _ = write!(
                    ground,
                    "<p>Lines: {source_lines} in {source_files} source files, {test_lines} in {test_files} test files.</p>"
                );
            }
            _ => {}
        }
    }
    if !ground.is_empty() {
        let _ = write!(body, "<h2>Ground truth</h2>{ground}");
    }
    body.push_str(&journal_notes(root, i, slug, &events));

    body.push_str("<h2 id=\"diff\">Final diff</h2>");
    let diff = format!("diffs/{slug}.patch");
    body.push_str(&diff_section(run, i, root, &diff));
    errors.truncate(100);
    body.push_str(&errors_section(&errors));
    layout(
        &format!(
            "{} [{}] repeat {}",
            mission.key.mission, mission.key.pairing, mission.key.repeat
        ),
        root,
        &[
            (run_href(root, i), run.run_id()),
            (mission_href(root, i, slug), mission.slug.clone()),
        ],
        &body,
    )
}

/// Features planned, questions to the user, plan violations, retries, notices outside a turn,
/// paths the record skipped: the rest of the journal a person looks at when a mission went wrong.
fn journal_notes(root: &str, i: usize, slug: &str, events: &[(u32, EventRecord)]) -> String {
    let by = |run: u32| {
        format!(
            "<a href=\"{}\">{run:03}</a>",
            agent_href(root, i, slug, run)
        )
    };
    let mut rows = String::new();
    for (line, record) in events {
        let (what, run, text) = match &record.event {
            Event::FeaturesPlanned {
                run,
                after_round,
                features,
            } => {
                let listed: Vec<String> = features
                    .iter()
                    .map(|f| format!("{} ({}): {}", f.id.as_str(), f.milestone.as_str(), f.title))
                    .collect();
                let when = after_round.map_or_else(
                    || "initial plan".to_string(),
                    |r| format!("fixes after round {r}"),
                );
                (
                    "features planned",
                    Some(*run),
                    format!("{when}: {}", listed.join("; ")),
                )
            }
            Event::UserAsked {
                run,
                question,
                answered,
            } => (
                "asked the user",
                Some(*run),
                format!(
                    "{question} ({})",
                    if *answered { "answered" } else { "no answer" }
                ),
            ),
            Event::PlanViolation {
                run,
                tool,
                violations,
            } => (
                "plan violation",
                Some(*run),
                format!("{tool}: {}", violations.join("; ")),
            ),
            Event::ModelRetried {
                run,
                turn,
                attempt,
                reason,
                ..
            } => (
                "model call retried",
                Some(*run),
                format!("turn {turn}, attempt {attempt}: {reason}"),
            ),
            Event::Sandbox {
                run,
                turn: None,
                tool,
                kind,
                detail,
            } => ("notice", *run, format!("{tool} {}: {detail}", label(kind))),
            Event::PathsSkipped { during, paths } => {
                let listed: Vec<String> = paths
                    .iter()
                    .take(20)
                    .map(|p| format!("{} ({})", p.path, p.reason))
                    .collect();
                (
                    "paths skipped",
                    None,
                    format!("during {during}: {}", listed.join("; ")),
                )
            }
            Event::CleanupFailed { path, error } => {
                ("cleanup failed", None, format!("{path}: {error}"))
            }
            Event::ReplayDiverged {
                run,
                recording,
                recorded_run,
                turn,
                detail,
                then,
            } => {
                let place = crate::events::replay_place(recording, *recorded_run, *turn);
                (
                    "replay diverged",
                    Some(*run),
                    format!("from {place}: {detail} (then: {then})"),
                )
            }
            _ => continue,
        };
        let _ = write!(
            rows,
            "<tr><td class=\"n\">{line}</td><td>{what}</td><td>{}</td><td>{}</td></tr>",
            run.map_or_else(String::new, by),
            escape(&text)
        );
    }
    if rows.is_empty() {
        return String::new();
    }
    format!("<h2>From the journal</h2><table><thead><tr><th>line</th><th>what</th><th>run</th><th>detail</th></tr></thead><tbody>{rows}</tbody></table>")
}

/// A patch file of the report folder, shown with its lines marked, and linked.
fn diff_section(run: &RunIndex, i: usize, root: &str, relative: &str) -> String {
    let names: Vec<&str> = relative.split('/').collect();
    let path = match resolve_inside(&run.folder, &names) {
        Ok(path) => path,
        Err(_) => {
            return format!(
                "<p class=\"note\">No diff in the report folder (<code>{}</code>).</p>",
                escape(relative)
            )
        }
    };
    // Only what the page shows is read: a diff can be far larger.
    let read = std::fs::File::open(&path).and_then(|file| {
        let size = file.metadata()?.len();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, SHOWN_BYTES as u64 + 1),
            &mut bytes,
        )?;
        Ok((size, bytes))
    });
    match read {
        Ok((size, bytes)) => {
            let text = String::from_utf8_lossy(&bytes);
            if text.is_empty() {
                return "<p class=\"note\">The diff is empty: nothing changed.</p>".to_string();
            }
            format!(
                "<p><a href=\"{}\">{}</a> ({size} bytes)</p>{}",
                file_href(root, i, relative),
                escape(relative),
                diff_html(&text)
            )
        }
        Err(e) => format!(
            "<p class=\"err\">cannot read `{}`: {}</p>",
            escape(&path.display().to_string()),
            escape(&e.to_string())
        ),
    }
}

fn diff_html(text: &str) -> String {
    let (text, cut) = shown(text);
    let mut out = String::from("<pre class=\"diff\">");
    for line in text.lines() {
        let class =
            if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff ") {
                "h"
            } else if line.starts_with('+') {
                "a"
            } else if line.starts_with('-') {
                "d"
            } else if line.starts_with("@@") {
                "h"
            } else {
                ""
            };
        let _ = writeln!(out, "<span class=\"{class}\">{}</span>", escape(line));
    }
    out.push_str("</pre>");
    if cut {
        out.push_str("<p class=\"note\">Cut here; the whole diff is in the file linked above.</p>");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// An agent run and its turns.

/// What the journal says of one turn: the `turn` event, then the tool calls and notices.
#[derive(Default)]
struct TurnRecord {
    usage_timing: Option<Event>,
    tools: Vec<Event>,
    notices: Vec<Event>,
}

fn turn_records(events: &[(u32, EventRecord)], agent: u32) -> BTreeMap<u32, TurnRecord> {
    let mut turns: BTreeMap<u32, TurnRecord> = BTreeMap::new();
    for (_, record) in events {
        match &record.event {
            Event::Turn { run, turn, .. } if *run == agent => {
                turns.entry(*turn).or_default().usage_timing = Some(record.event.clone());
            }
            Event::ToolCalled { run, turn, .. } if *run == agent => {
                turns
                    .entry(*turn)
                    .or_default()
                    .tools
                    .push(record.event.clone());
            }
            Event::Sandbox {
                run: Some(run),
                turn: Some(turn),
                ..
            } if *run == agent => {
                turns
                    .entry(*turn)
                    .or_default()
                    .notices
                    .push(record.event.clone());
            }
            _ => {}
        }
    }
    turns
}

fn usage_line(record: Option<&TurnRecord>) -> String {
    let Some(Event::Turn {
        context_messages,
        usage,
        cost_usd,
        timing,
        tool_calls,
        stop,
        retries,
        ..
    }) = record.and_then(|r| r.usage_timing.as_ref())
    else {
        return "<p class=\"meta\">No usage or timing in the journal for this turn.</p>"
            .to_string();
    };
    // Estimated counts of a provider that generates nothing (oracle, nop) make no speed.
    let tokens_per_s = match (usage.output_tokens, timing.latency_ms) {
        (Some(out), latency) if latency > 0.0 && usage.source.as_str() != "estimate" => {
            format!("{:.1}", out as f64 / (latency / 1000.0))
        }
        _ => "–".to_string(),
    };
    format!(
        "<p class=\"meta\">input {} tokens (cache read {}, cache write {}), output {} (reasoning {}), {} · latency {}, time to first token {}, {} output tokens/s overall, prefill {} tokens at {} tokens/s, decode {} tokens/s · {} context messages, {} tool calls, stop {}{}{}</p>",
        opt(usage.input_tokens),
        opt(usage.cache_read_tokens),
        opt(usage.cache_write_tokens),
        opt(usage.output_tokens),
        opt(usage.reasoning_tokens),
        usage.source.as_str(),
        millis(timing.latency_ms),
        timing.ttft_ms.map_or_else(|| "–".to_string(), millis),
        tokens_per_s,
        opt(timing.prefill_tokens),
        rate(timing.prefill_tokens_per_s),
        rate(timing.decode_tokens_per_s),
        context_messages,
        tool_calls,
        escape(stop.as_str()),
        cost_usd.map(|c| format!(", ${c:.4}")).unwrap_or_default(),
        if *retries > 0 {
            format!(", {retries} retries")
        } else {
            String::new()
        }
    )
}

/// Arguments as indented JSON when they parse, else as written.
fn arguments_text(arguments: &str) -> String {
    serde_json::from_str::<serde_json::Value>(arguments)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| arguments.to_string())
}

fn text_block(text: &str, raw_href: &str) -> String {
    let (text, cut) = shown(text);
    let mut out = format!("<pre>{}</pre>", escape(text));
    if cut {
        let _ = write!(
            out,
            "<p class=\"note\">Cut here; the whole text is in <a href=\"{raw_href}\">the transcript file</a>.</p>"
        );
    }
    out
}

fn render_turn(turn: &Turn, record: Option<&TurnRecord>, raw_href: &str, link: &str) -> String {
    let mut out = format!(
        "<section class=\"turn\" id=\"t{n}\"><h3><a href=\"{link}\">Turn {n}</a></h3>{}",
        usage_line(record),
        n = turn.number
    );
    let tool_events: &[Event] = record.map_or(&[], |r| r.tools.as_slice());
    let results: Vec<&MessageLine> = turn.messages.iter().filter(|m| m.role == "tool").collect();
    let mut matched: Vec<bool> = vec![false; results.len()];
    let mut call_index = 0usize;
    for message in &turn.messages {
        match message.role.as_str() {
            "tool" => {}
            "system" => {
                let _ = write!(
                    out,
                    "<details class=\"msg system\"><summary>system prompt ({} characters)</summary>{}</details>",
                    message.content.chars().count(),
                    text_block(&message.content, raw_href)
                );
            }
            role => {
                let _ = write!(
                    out,
                    "<div class=\"msg {}\"><div class=\"role\">{}</div>",
                    if role == "assistant" {
                        "assistant"
                    } else {
                        "user"
                    },
                    escape(role)
                );
                if !message.content.is_empty() {
                    out.push_str(&text_block(&message.content, raw_href));
                }
                for call in &message.tool_calls {
                    let status = match tool_events.get(call_index) {
                        Some(Event::ToolCalled {
                            tool,
                            status,
                            duration_ms,
                            exit_code,
                            timed_out,
                            ..
                        }) if *tool == call.name => format!(
                            " · {} in {}{}{}",
                            escape(&label(status)),
                            millis(*duration_ms),
                            exit_code
                                .map(|c| format!(", exit code {c}"))
                                .unwrap_or_default(),
                            if *timed_out { ", timed out" } else { "" }
                        ),
                        _ => String::new(),
                    };
                    call_index += 1;
                    let _ = write!(
                        out,
                        "<div class=\"call\"><div><span class=\"tool\">{}</span> <code>{}</code>{}{}</div><pre class=\"args\">{}</pre>",
                        escape(&call.name),
                        escape(&call.id),
                        if call.recovered {
                            " · <em>recovered by the harness</em>"
                        } else {
                            ""
                        },
                        status,
                        escape(&arguments_text(&call.arguments))
                    );
                    let found = results
                        .iter()
                        .position(|r| r.tool_call_id.as_deref() == Some(call.id.as_str()));
                    match found {
                        Some(position) => {
                            matched[position] = true;
                            let result = results[position];
                            let _ = write!(
                                out,
                                "<div class=\"result{}\"><div class=\"role\">result{}</div>{}</div>",
                                if result.is_error { " err" } else { "" },
                                if result.is_error { " (error)" } else { "" },
                                text_block(&result.content, raw_href)
                            );
                        }
                        None => out.push_str(
                            "<p class=\"note\">No result was recorded for this call.</p>",
                        ),
                    }
                    out.push_str("</div>");
                }
                out.push_str("</div>");
            }
        }
    }
    for (result, _) in results.iter().zip(&matched).filter(|(_, m)| !**m) {
        let _ = write!(
            out,
            "<div class=\"msg\"><div class=\"role\">result of {} for call <code>{}</code>, which this turn did not make</div>{}</div>",
            escape(result.tool_name.as_deref().unwrap_or("?")),
            escape(result.tool_call_id.as_deref().unwrap_or("")),
            text_block(&result.content, raw_href)
        );
    }
    if let Some(record) = record {
        for notice in &record.notices {
            if let Event::Sandbox {
                tool, kind, detail, ..
            } = notice
            {
                let _ = write!(
                    out,
                    "<p class=\"meta err\">{} {}: {}</p>",
                    escape(tool),
                    escape(&label(kind)),
                    escape(detail)
                );
            }
        }
    }
    out.push_str("</section>");
    out
}

/// An agent run's transcript path relative to the report folder.
fn transcript_relative(slug: &str, number: u32, role: &str) -> String {
    format!("transcripts/{slug}/{number:03}-{role}.jsonl")
}

/// What an agent run's page and its turns' pages share.
struct AgentView {
    info: AgentInfo,
    events: Vec<(u32, EventRecord)>,
    errors: Vec<String>,
    transcript: Result<Transcript, String>,
    transcript_href: String,
}

fn agent_view(
    run: &RunIndex,
    i: usize,
    mission: &MissionRun,
    number: u32,
    root: &str,
) -> Option<AgentView> {
    let (events, errors) = run.events(mission);
    let mut agents = agents(&events);
    let info = agents.remove(&number).filter(|a| !a.role.is_empty())?;
    let relative = transcript_relative(&mission.slug, number, &info.role);
    let names: Vec<&str> = relative.split('/').collect();
    let transcript = match resolve_inside(&run.folder, &names) {
        Ok(path) => transcript::read(&path),
        Err(_) => Err(format!("no transcript `{relative}` in the report folder")),
    };
    Some(AgentView {
        info,
        events,
        errors,
        transcript,
        transcript_href: file_href(root, i, &relative),
    })
}

/// The turn numbers of an agent run's transcript (for the static writer).
pub(super) fn agent_turns(run: &RunIndex, mission: &MissionRun, number: u32) -> Vec<u32> {
    match agent_view(run, 0, mission, number, "") {
        Some(AgentView {
            transcript: Ok(transcript),
            ..
        }) => transcript.turns.iter().map(|t| t.number).collect(),
        _ => Vec::new(),
    }
}

/// The agent runs of a mission run, by number (for the static writer).
pub(super) fn agent_numbers(run: &RunIndex, mission: &MissionRun) -> Vec<u32> {
    let (events, _) = run.events(mission);
    agents(&events)
        .into_iter()
        .filter(|(_, a)| !a.role.is_empty())
        .map(|(n, _)| n)
        .collect()
}

/// Report-relative paths of the files a mission run's pages link to: its diff, its evidence and
/// its transcripts (for the static writer).
pub(super) fn linked_files(run: &RunIndex, mission: &MissionRun) -> Vec<String> {
    let (events, _) = run.events(mission);
    let mut files = vec![format!("diffs/{}.patch", mission.slug)];
    for (_, record) in &events {
        match &record.event {
            Event::EvidenceSaved { path, .. } => files.push(path.clone()),
            Event::AgentStarted { run, role, .. } => {
                files.push(transcript_relative(&mission.slug, *run, role.as_str()))
            }
            _ => {}
        }
    }
    files
}

/// The diff of one agent run: from the report's checkpoint repository (runs recorded before
/// every report kept one have none), else a pointer to the mission's final diff.
fn agent_diff(
    run: &RunIndex,
    mission: &MissionRun,
    info: &AgentInfo,
    root: &str,
    i: usize,
) -> String {
    let repository = run
        .folder
        .join("checkpoints")
        .join(format!("{}.git", mission.slug));
    let final_link = format!(
        "<a href=\"{}#diff\">the mission's final diff</a>",
        mission_href(root, i, &mission.slug)
    );
    let Some(commit) = &info.checkpoint else {
        return format!("<p class=\"note\">This agent run has no checkpoint (subagents and runs that did not end have none); see {final_link}.</p>");
    };
    if !repository.is_dir() {
        return format!("<p class=\"note\">This report has no checkpoint repository for this mission run (runs recorded before reports kept them, or a folder copied without <code>checkpoints/</code>). See {final_link}.</p>");
    }
    match checkpoint_diff(&repository, commit) {
        Ok(diff) if diff.trim().is_empty() => {
            "<p class=\"note\">This agent run changed no file.</p>".to_string()
        }
        Ok(diff) => format!(
            "<p class=\"note\">The workspace after this run (checkpoint <code>{}</code>) against the one before it.</p>{}",
            escape(commit),
            diff_html(&diff)
        ),
        Err(error) => format!(
            "<p class=\"err\">{}</p><p class=\"note\">See {final_link}.</p>",
            escape(&error)
        ),
    }
}

/// `git diff-tree -p` of a checkpoint against its parent, in the report's checkpoint repository,
/// with no configuration, attributes or external diff programs but git's own.
fn checkpoint_diff(repository: &Path, commit: &str) -> Result<String, String> {
    if commit.is_empty() || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("checkpoint `{commit}` is not a commit id"));
    }
    let output = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repository)
        // No attributes at all: not the repository's, not the commit's own tree.
        .arg("--attr-source=4b825dc642cb6eb9a060e54bf8d69288fbee4904") // git's empty tree
        .args([
            "-c",
            "core.attributesFile=/dev/null",
            "diff-tree",
            "-p",
            "-r",
            "--root",
            "--no-ext-diff",
            "--no-textconv",
            "--no-color",
            "--no-commit-id",
            commit,
            "--",
            ".",
            ":(exclude).mission",
        ])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git on `{}`: {e}", repository.display()))?;
    if !output.status.success() {
        return Err(format!(
            "git could not show checkpoint {commit} of `{}`: {}",
            repository.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn agent_header(
    info: &AgentInfo,
    number: u32,
    transcript: &Result<Transcript, String>,
    transcript_href: &str,
) -> String {
    let mut out = format!(
        "<dl><dt>run</dt><dd>{number:03} (parent {})</dd><dt>role</dt><dd>{}</dd><dt>model</dt><dd>{} ({})</dd><dt>task</dt><dd>{}</dd><dt>milestone / feature / round</dt><dd>{} / {} / {}</dd><dt>seed / temperature</dt><dd>{} / {}</dd><dt>ended</dt><dd>{} after {} turns, {}</dd><dt>summary</dt><dd>{}</dd><dt>tokens in / out</dt><dd>{} / {}</dd><dt>transcript</dt><dd><a href=\"{transcript_href}\">raw JSON lines</a></dd>",
        opt(info.parent),
        escape(&info.role),
        escape(&info.model),
        escape(&info.provider),
        escape(&info.task),
        escape(info.milestone.as_deref().unwrap_or("–")),
        escape(info.feature.as_deref().unwrap_or("–")),
        opt(info.round),
        opt(info.seed),
        opt(info.temperature),
        escape(info.outcome.as_deref().unwrap_or("not finished")),
        opt(info.turns),
        info.duration_ms.map_or_else(|| "–".to_string(), millis),
        escape(&info.summary),
        info.input_tokens,
        info.output_tokens,
    );
    if let Ok(transcript) = transcript {
        let tools: Vec<String> = transcript
            .tools
            .iter()
            .map(|t| {
                format!(
                    "<span title=\"{}\">{}</span>",
                    escape(&t.description),
                    escape(&t.name)
                )
            })
            .collect();
        let _ = write!(out, "<dt>tools offered</dt><dd>{}</dd>", tools.join(", "));
        if let Some((outcome, turns)) = &transcript.end {
            let _ = write!(
                out,
                "<dt>transcript end</dt><dd>{} after {turns} turns</dd>",
                escape(outcome)
            );
        }
    }
    out.push_str("</dl>");
    out
}

pub(super) fn agent_page(run: &RunIndex, i: usize, mission: &MissionRun, number: u32) -> Reply {
    let root = "../../../../";
    let Some(view) = agent_view(run, i, mission, number, root) else {
        return Reply::NotFound(format!("no agent run {number} in `{}`", mission.slug));
    };
    let slug = mission.slug.as_str();
    let mut body = agent_header(&view.info, number, &view.transcript, &view.transcript_href);
    let _ = write!(
        body,
        "<h2>Diff</h2>{}",
        agent_diff(run, mission, &view.info, root, i)
    );
    let records = turn_records(&view.events, number);
    body.push_str("<h2>Turns</h2><table><thead><tr><th>turn</th><th>input</th><th>cache read</th><th>output</th><th>latency</th><th>ttft</th><th>decode tokens/s</th><th>tool calls</th><th>stop</th></tr></thead><tbody>");
    for (turn, record) in &records {
        if let Some(Event::Turn {
            usage,
            timing,
            stop,
            ..
        }) = &record.usage_timing
        {
            let tools: Vec<String> = record
                .tools
                .iter()
                .filter_map(|e| match e {
                    Event::ToolCalled { tool, .. } => Some(tool.clone()),
                    _ => None,
                })
                .collect();
            let _ = write!(
                body,
                "<tr><td><a href=\"{}\">{turn}</a></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                turn_href(root, i, slug, number, *turn),
                opt(usage.input_tokens),
                opt(usage.cache_read_tokens),
                opt(usage.output_tokens),
                millis(timing.latency_ms),
                timing.ttft_ms.map_or_else(|| "–".to_string(), millis),
                rate(timing.decode_tokens_per_s),
                escape(&tools.join(", ")),
                escape(stop.as_str()),
            );
        }
    }
    body.push_str("</tbody></table><h2>Conversation</h2>");
    let mut errors = view.errors;
    match &view.transcript {
        Ok(transcript) => {
            for turn in &transcript.turns {
                body.push_str(&render_turn(
                    turn,
                    records.get(&turn.number),
                    &view.transcript_href,
                    &turn_href(root, i, slug, number, turn.number),
                ));
            }
            errors.extend(transcript.errors.iter().cloned());
        }
        Err(error) => {
            let _ = write!(body, "<p class=\"err\">{}</p>", escape(error));
        }
    }
    body.push_str(&errors_section(&errors));
    Reply::Html(layout(
        &format!("{slug} run {number:03} ({})", view.info.role),
        root,
        &[
            (run_href(root, i), run.run_id()),
            (mission_href(root, i, slug), mission.slug.clone()),
            (
                agent_href(root, i, slug, number),
                format!("{number:03} {}", view.info.role),
            ),
        ],
        &body,
    ))
}

pub(super) fn turn_page(
    run: &RunIndex,
    i: usize,
    mission: &MissionRun,
    number: u32,
    turn: u32,
) -> Reply {
    let root = "../../../../../";
    let Some(view) = agent_view(run, i, mission, number, root) else {
        return Reply::NotFound(format!("no agent run {number} in `{}`", mission.slug));
    };
    let transcript = match &view.transcript {
        Ok(transcript) => transcript,
        Err(error) => return Reply::NotFound(error.clone()),
    };
    let Some(position) = transcript.turns.iter().position(|t| t.number == turn) else {
        return Reply::NotFound(format!("agent run {number} has no turn {turn}"));
    };
    let slug = mission.slug.as_str();
    let records = turn_records(&view.events, number);
    let mut body = format!(
        "<p class=\"meta\">{} · {} · task {}</p><p>",
        escape(&view.info.role),
        escape(&view.info.model),
        escape(&view.info.task)
    );
    if position > 0 {
        let previous = transcript.turns[position - 1].number;
        let _ = write!(
            body,
            "<a href=\"{}\" rel=\"prev\">previous turn</a> ",
            turn_href(root, i, slug, number, previous)
        );
    }
    if let Some(next) = transcript.turns.get(position + 1) {
        let _ = write!(
            body,
            "<a href=\"{}\" rel=\"next\">next turn</a>",
            turn_href(root, i, slug, number, next.number)
        );
    }
    body.push_str("</p>");
    body.push_str(&render_turn(
        &transcript.turns[position],
        records.get(&turn),
        &view.transcript_href,
        &turn_href(root, i, slug, number, turn),
    ));
    Reply::Html(layout(
        &format!("{slug} run {number:03} turn {turn}"),
        root,
        &[
            (run_href(root, i), run.run_id()),
            (mission_href(root, i, slug), mission.slug.clone()),
            (
                agent_href(root, i, slug, number),
                format!("{number:03} {}", view.info.role),
            ),
            (
                turn_href(root, i, slug, number, turn),
                format!("turn {turn}"),
            ),
        ],
        &body,
    ))
}

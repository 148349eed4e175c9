//! One self-contained HTML file for people who would rather look than read: inline SVG charts
//! (no script, no external file) of pass rate against cost with the Pareto front, rounds to pass
//! per milestone, tokens and cache-read share by role, trajectory lengths per role, tool calls by
//! role (valid, recovered, malformed), the per-mission table, and the evidence the verdicts
//! cite beside them (`evidence.rs`: screenshots embedded as `data:` URIs).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::compare::{breakdown, compare, rounds_to_pass, Dimension, PairingSummary};
use super::evidence::{self, EmbedLimits};
use super::text::{escape, percent};
use crate::metrics::{MilestoneRow, MissionRow, Tables};
use crate::spec::Role;

const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 48.0;

fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A round upper bound for an axis and its tick step.
fn nice_max(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.25);
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0] {
        let step = step * magnitude;
        if max / step <= 5.0 {
            return ((max / step).ceil() * step, step);
        }
    }
    (max, max / 4.0)
}

fn label(value: f64) -> String {
    if value.abs() >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value.abs() >= 1e3 {
        format!("{:.0}k", value / 1e3)
    } else if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// An SVG with a y axis from 0 to `y_max` and a title; `body` draws inside the plot area.
fn frame(
    title: &str,
    y_label: &str,
    y_max: f64,
    as_percent: bool,
    body: &str,
    x_labels: &str,
) -> String {
    let (y_top, step) = if as_percent {
        (1.0, 0.25)
    } else {
        nice_max(y_max)
    };
    let plot_h = HEIGHT - TOP - BOTTOM;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">\n<title>{}</title>\n",
        escape(title),
        escape(title)
    );
    let mut tick = 0.0;
    while tick <= y_top + 1e-9 {
        let y = TOP + plot_h * (1.0 - tick / y_top);
        let text = if as_percent {
            percent(tick)
        } else {
            label(tick)
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{text}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
        tick += step;
    }
    let _ = writeln!(
        svg,
        "<text x=\"14\" y=\"{:.1}\" font-size=\"11\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">{}</text>",
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(y_label)
    );
    svg.push_str(body);
    svg.push_str(x_labels);
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>",
        WIDTH - RIGHT,
        HEIGHT - BOTTOM,
        HEIGHT - BOTTOM
    );
    svg.push_str("</svg>\n");
    svg
}

fn y_of(value: f64, y_top: f64) -> f64 {
    TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - value / y_top)
}

/// Groups of bars: one group per label, one bar per series.
/// Bars per group and series; where a bar has no value, `mark` may write a word on the axis
/// instead (a milestone that never passed has no rounds to pass, and says so).
fn grouped_bars(
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[String],
    value: impl Fn(usize, usize) -> Option<f64>,
    mark: impl Fn(usize, usize) -> Option<String>,
    as_percent: bool,
) -> String {
    let max = (0..groups.len())
        .flat_map(|g| (0..series.len()).map(move |s| (g, s)))
        .filter_map(|(g, s)| value(g, s))
        .fold(0.0, f64::max);
    let y_top = if as_percent { 1.0 } else { nice_max(max).0 };
    let plot_w = WIDTH - LEFT - RIGHT;
    let group_w = plot_w / groups.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    let mut body = String::new();
    let mut labels = String::new();
    for (g, group) in groups.iter().enumerate() {
        let x0 = LEFT + g as f64 * group_w + group_w * 0.1;
        for (s, name) in series.iter().enumerate() {
            let Some(v) = value(g, s) else {
                if let Some(text) = mark(g, s) {
                    let x = x0 + s as f64 * bar_w + bar_w / 2.0;
                    let y = HEIGHT - BOTTOM - 4.0;
                    let _ = writeln!(
                        body,
                        "<text class=\"mark\" x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"9\" fill=\"{}\" transform=\"rotate(-90 {x:.1} {y:.1})\">{}<title>{} / {}: {}</title></text>",
                        color(s),
                        escape(&text),
                        escape(group),
                        escape(name),
                        escape(&text)
                    );
                }
                continue;
            };
            let y = y_of(v, y_top);
            let _ = writeln!(
                body,
                "<rect class=\"bar\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} / {}: {}</title></rect>",
                x0 + s as f64 * bar_w,
                bar_w.max(1.0) - 1.0,
                (HEIGHT - BOTTOM - y).max(0.0),
                color(s),
                escape(group),
                escape(name),
                if as_percent { percent(v) } else { label(v) }
            );
        }
        labels.push_str(&group_label(x0 + group_w * 0.4, group));
    }
    if (0..groups.len())
        .all(|g| (0..series.len()).all(|s| value(g, s).is_none() && mark(g, s).is_none()))
    {
        let _ = writeln!(
            body,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#777\">no values reported</text>",
            LEFT + plot_w / 2.0,
            TOP + (HEIGHT - TOP - BOTTOM) / 2.0
        );
    }
    let mut svg = frame(title, y_label, max, as_percent, &body, &labels);
    svg.push_str(&legend(series));
    svg
}

/// A label under a group; `mission/milestone` goes on two lines.
fn group_label(x: f64, text: &str) -> String {
    let lines: Vec<&str> = text.splitn(2, '/').collect();
    let mut out = format!(
        "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">",
        HEIGHT - BOTTOM + 14.0
    );
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            "<tspan x=\"{x:.1}\" dy=\"{}\">{}{}</tspan>",
            if i == 0 { 0 } else { 12 },
            escape(line),
            if i + 1 < lines.len() { "/" } else { "" }
        );
    }
    out.push_str("</text>\n");
    out
}

fn legend(series: &[String]) -> String {
    let mut out = String::from("<p class=\"legend\">");
    for (i, name) in series.iter().enumerate() {
        let _ = write!(
            out,
            "<span><i style=\"background:{}\"></i>{}</span> ",
            color(i),
            escape(name)
        );
    }
    out.push_str("</p>\n");
    out
}

/// Pass rate against cost per mission (tokens when no price is known), with the Pareto front:
/// the pairings no other pairing beats on both.
fn pareto_chart(summaries: &[PairingSummary]) -> String {
    let use_cost = summaries.iter().all(|s| s.mean_cost_usd.is_some());
    let cost = |s: &PairingSummary| {
        if use_cost {
            s.mean_cost_usd.unwrap_or(0.0)
        } else {
            s.mean_tokens()
        }
    };
    let x_max = nice_max(summaries.iter().map(cost).fold(0.0, f64::max) * 1.1).0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let x_of = |v: f64| LEFT + plot_w * (v / x_max);
    let mut front: Vec<&PairingSummary> = summaries
        .iter()
        .filter(|s| {
            !summaries.iter().any(|o| {
                (cost(o) <= cost(s) && o.pass_rate >= s.pass_rate)
                    && (cost(o) < cost(s) || o.pass_rate > s.pass_rate)
            })
        })
        .collect();
    front.sort_by(|a, b| cost(a).total_cmp(&cost(b)));
    let mut body = String::new();
    if front.len() > 1 {
        let points: Vec<String> = front
            .iter()
            .map(|s| format!("{:.1},{:.1}", x_of(cost(s)), y_of(s.pass_rate, 1.0)))
            .collect();
        let _ = writeln!(
            body,
            "<polyline class=\"front\" points=\"{}\" fill=\"none\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>",
            points.join(" ")
        );
    }
    for (i, s) in summaries.iter().enumerate() {
        let (x, y) = (x_of(cost(s)), y_of(s.pass_rate, 1.0));
        if let Some(ci) = s.pass_rate_ci {
            let _ = writeln!(
                body,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\"/>",
                y_of(ci.low, 1.0),
                y_of(ci.high, 1.0),
                color(i)
            );
        }
        let on_front = front.iter().any(|f| f.pairing == s.pairing);
        let _ = writeln!(
            body,
            "<circle class=\"point\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"6\" fill=\"{}\" stroke=\"{}\" stroke-width=\"2\"><title>{}: pass {:.0}%, {}</title></circle><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"{}\">{}</text>",
            color(i),
            if on_front { "#000" } else { "none" },
            escape(&s.pairing),
            s.pass_rate * 100.0,
            if use_cost { format!("${:.3}", cost(s)) } else { format!("{} tokens", label(cost(s))) },
            if x > LEFT + plot_w * 0.7 { x - 9.0 } else { x + 9.0 },
            y - 8.0,
            if x > LEFT + plot_w * 0.7 { "end" } else { "start" },
            escape(&s.pairing)
        );
    }
    let mut x_labels = String::new();
    let (_, step) = nice_max(x_max);
    let mut tick = 0.0;
    while tick <= x_max + 1e-9 {
        let _ = writeln!(
            x_labels,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x_of(tick),
            HEIGHT - BOTTOM + 16.0,
            if use_cost {
                format!("${tick:.2}")
            } else {
                label(tick)
            }
        );
        tick += step;
    }
    let _ = writeln!(
        x_labels,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 8.0,
        if use_cost {
            "mean cost per mission (USD)"
        } else {
            "mean tokens per mission (no prices known)"
        }
    );
    frame(
        "Pass rate against cost, with the Pareto front",
        "missions passed",
        1.0,
        true,
        &body,
        &x_labels,
    )
}

/// Box plots of turns per agent run, one per role and pairing.
fn trajectory_chart(tables: &[Tables], pairings: &[String]) -> String {
    let mut lengths: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for run in tables.iter().flat_map(|t| &t.runs) {
        lengths
            .entry((run.role.clone(), run.pairing.clone()))
            .or_default()
            .push(f64::from(run.turns));
    }
    let roles: Vec<String> = Role::ALL
        .iter()
        .filter(|r| lengths.keys().any(|(role, _)| role == r.as_str()))
        .map(|r| r.to_string())
        .collect();
    let max = lengths.values().flatten().copied().fold(0.0, f64::max);
    let y_top = nice_max(max).0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let group_w = plot_w / roles.len().max(1) as f64;
    let box_w = (group_w * 0.8) / pairings.len().max(1) as f64;
    let mut body = String::new();
    let mut labels = String::new();
    for (g, role) in roles.iter().enumerate() {
        let x0 = LEFT + g as f64 * group_w + group_w * 0.1;
        for (p, pairing) in pairings.iter().enumerate() {
            let Some(values) = lengths.get(&(role.clone(), pairing.clone())) else {
                continue;
            };
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let q = |f: f64| sorted[((sorted.len() - 1) as f64 * f).round() as usize];
            let (lo, q1, med, q3, hi) = (
                sorted[0],
                q(0.25),
                q(0.5),
                q(0.75),
                sorted[sorted.len() - 1],
            );
            let x = x0 + p as f64 * box_w;
            let mid = x + box_w / 2.0;
            let _ = writeln!(
                body,
                "<g class=\"box\"><title>{} / {}: {} runs, median {med} turns (min {lo}, max {hi})</title><line x1=\"{mid:.1}\" x2=\"{mid:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#555\"/><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" stroke=\"#333\"/><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#000\" stroke-width=\"2\"/></g>",
                escape(role),
                escape(pairing),
                sorted.len(),
                y_of(lo, y_top),
                y_of(hi, y_top),
                x + 2.0,
                y_of(q3, y_top),
                (box_w - 4.0).max(1.0),
                (y_of(q1, y_top) - y_of(q3, y_top)).max(1.0),
                color(p),
                x + 2.0,
                x + box_w - 2.0,
                y_of(med, y_top),
                y_of(med, y_top)
            );
        }
        labels.push_str(&group_label(x0 + group_w * 0.4, role));
    }
    let mut svg = frame(
        "Trajectory length: turns per agent run, by role",
        "turns",
        max,
        false,
        &body,
        &labels,
    );
    svg.push_str(&legend(pairings));
    svg
}

/// Tool calls by role and pairing: valid as written, recovered by the harness, malformed.
fn tool_call_table(summaries: &[PairingSummary]) -> String {
    let mut out = String::from("<table><thead><tr><th>pairing</th><th>role</th><th>tool calls</th><th>valid</th><th>recovered</th><th>malformed</th></tr></thead><tbody>\n");
    for s in summaries {
        for (role, c) in &s.tool_calls_by_role {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}% ({})</td><td>{:.0}% ({})</td><td>{:.0}% ({})</td></tr>",
                escape(&s.pairing),
                escape(role),
                c.calls,
                c.valid_share * 100.0,
                c.valid,
                c.recovered_share * 100.0,
                c.recovered,
                c.malformed_share * 100.0,
                c.malformed
            );
        }
    }
    out.push_str("</tbody></table>\n");
    out
}

/// Every measure of the headline table, per value of `dimension` and pairing: a pass-rate chart
/// and a table. Nothing when the missions all share one value.
fn breakdown_section(tables: &[Tables], dimension: Dimension, pairings: &[String]) -> String {
    let groups = breakdown(tables, dimension);
    if groups.len() < 2 {
        return String::new();
    }
    let values: Vec<String> = groups
        .iter()
        .map(|g| format!("{} ({})", g.value, g.missions.len()))
        .collect();
    let summary = |g: usize, s: usize| groups[g].pairings.iter().find(|p| p.pairing == pairings[s]);
    let mut out = format!("<h2>By {}</h2>\n", dimension.as_str());
    out.push_str(&grouped_bars(
        &format!("Pass rate by {} (distinct missions)", dimension.as_str()),
        "pass rate",
        &values,
        pairings,
        |g, s| summary(g, s).map(|p| p.pass_rate),
        |_, _| None,
        true,
    ));
    let _ = writeln!(
        out,
        "<table><thead><tr><th>{}</th><th>pairing</th><th>mission runs</th><th>pass</th><th>95% CI</th><th>acceptance</th><th>milestones</th><th>rounds to pass</th><th>fixes</th><th>tokens</th><th>wall</th><th>coverage</th><th>false green</th><th>false red</th><th>errors</th></tr></thead><tbody>",
        dimension.as_str()
    );
    let share = |v: Option<f64>| v.map(percent).unwrap_or_else(|| "-".into());
    for group in &groups {
        for s in &group.pairings {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{:.1} s</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&group.value),
                escape(&s.pairing),
                s.missions,
                percent(s.pass_rate),
                s.pass_rate_ci
                    .map(|ci| format!("{:.0}–{:.0}%", ci.low * 100.0, ci.high * 100.0))
                    .unwrap_or_else(|| "-".into()),
                share(s.acceptance_share),
                share(s.milestones_passed_share),
                match (s.mean_rounds_to_pass, s.milestones_passed_share) {
                    (Some(r), _) => format!("{r:.2}"),
                    // Milestones, none of them passed.
                    (None, Some(_)) => "not passed".to_string(),
                    (None, None) => "-".to_string(),
                },
                s.fix_features_per_mission,
                label(s.mean_tokens()),
                s.mean_wall_s,
                s.mean_coverage_pct
                    .map(|c| format!("{c:.0}%"))
                    .unwrap_or_else(|| "-".into()),
                s.false_green,
                s.false_red,
                s.infra_errors
            );
        }
    }
    out.push_str("</tbody></table>\n");
    out
}

fn mission_table(tables: &[Tables]) -> String {
    let mut out = String::from("<table><thead><tr><th>mission</th><th>pairing</th><th>repeat</th><th>status</th><th>difficulty</th><th>language</th><th>halt</th><th>acceptance</th><th>milestones</th><th>rounds</th><th>fixes</th><th>agent runs</th><th>tokens</th><th>cost</th><th>coverage</th><th>mutation score</th><th>wall</th></tr></thead><tbody>\n");
    for m in tables.iter().flat_map(|t| &t.missions) {
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} s</td></tr>",
            escape(&m.status),
            escape(&m.mission),
            escape(&m.pairing),
            m.repeat,
            escape(&m.status),
            escape(m.difficulty.as_deref().unwrap_or("-")),
            escape(m.language.as_deref().unwrap_or("-")),
            escape(m.halt_reason.as_deref().unwrap_or("")),
            m.acceptance_passed,
            m.acceptance_total,
            if m.ground_truth_tampered {
                format!(
                    " <strong title=\"{}\">tampered</strong>",
                    escape(m.tamper_evidence.as_deref().unwrap_or(""))
                )
            } else {
                String::new()
            },
            m.milestones_passed,
            m.milestones_total,
            rounds_cell(m),
            m.fix_features,
            m.agent_runs,
            label((m.input_tokens.unwrap_or(0) + m.output_tokens.unwrap_or(0)) as f64),
            m.cost_usd.map(|c| format!("${c:.3}")).unwrap_or_else(|| "-".into()),
            m.coverage_pct.map(|c| format!("{c:.0}%")).unwrap_or_else(|| "-".into()),
            escape(&super::compare::mutation_label(m)),
            m.wall_ms / 1000.0
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

/// A mission run's rounds to pass: the largest first-passing round, and how many of its
/// milestones never passed ("not passed" when none did).
fn rounds_cell(m: &MissionRow) -> String {
    let unpassed = m.milestones_total.saturating_sub(m.milestones_passed);
    match (m.rounds_to_pass_max, unpassed) {
        (_, 0) if m.milestones_total == 0 => "-".to_string(),
        (Some(r), 0) => r.to_string(),
        (Some(r), n) => format!("{r}, {n} not passed"),
        (None, _) => "not passed".to_string(),
    }
}

/// The paths of final workspaces that a copy or the record could not take, per mission run;
/// nothing when there are none.
fn skipped_paths(tables: &[Tables]) -> String {
    let missions: Vec<_> = tables
        .iter()
        .flat_map(|t| &t.missions)
        .filter(|m| m.paths_skipped > 0)
        .collect();
    if missions.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h2>Paths left out</h2>\n<p>Files of the final workspace that the acceptance or coverage copy or the record could not take (fifos, sockets, devices, unreadable entries), and why.</p>\n<table><thead><tr><th>mission</th><th>pairing</th><th>repeat</th><th>path (where): why</th></tr></thead><tbody>\n");
    for m in missions {
        for line in m.paths_skipped_detail.lines() {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&m.mission),
                escape(&m.pairing),
                m.repeat,
                escape(line)
            );
        }
    }
    out.push_str("</tbody></table>\n");
    out
}

/// The whole report for the runs in `tables`. `folders[i]` is the report folder of `tables[i]`
/// (its evidence files are read from there); `html_file` is where the report will be written,
/// which the links to evidence files are relative to.
pub fn render(tables: &[Tables], folders: &[PathBuf], html_file: &Path, title: &str) -> String {
    let summaries = compare(tables);
    let pairings: Vec<String> = summaries.iter().map(|s| s.pairing.clone()).collect();
    // Rounds to pass per milestone: the first passing round, averaged over the mission runs
    // that passed it. A milestone no mission run passed is marked "not passed".
    let mut rounds: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut milestone_order: BTreeSet<(String, String)> = BTreeSet::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for pairing in &pairings {
        let rows: Vec<&MilestoneRow> = tables
            .iter()
            .flat_map(|t| &t.milestones)
            .filter(|m| &m.pairing == pairing)
            .collect();
        for row in &rows {
            milestone_order.insert((row.mission.clone(), row.milestone.clone()));
            seen.insert((
                format!("{}/{}", row.mission, row.milestone),
                pairing.clone(),
            ));
        }
        for ((_, _, mission, _, milestone), r) in rounds_to_pass(rows.iter().copied()) {
            rounds
                .entry((format!("{mission}/{milestone}"), pairing.clone()))
                .or_default()
                .push(f64::from(r));
        }
    }
    let milestones: Vec<String> = milestone_order
        .iter()
        .map(|(m, s)| format!("{m}/{s}"))
        .collect();
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let rounds_chart = grouped_bars(
        "Rounds to pass, per milestone",
        "rounds",
        &milestones,
        &pairings,
        |g, s| {
            rounds
                .get(&(milestones[g].clone(), pairings[s].clone()))
                .map(mean)
        },
        |g, s| {
            let key = (milestones[g].clone(), pairings[s].clone());
            (seen.contains(&key) && !rounds.contains_key(&key)).then(|| "not passed".to_string())
        },
        false,
    );
    let roles: Vec<String> = Role::ALL.iter().map(|r| r.to_string()).collect();
    let tokens_chart = grouped_bars(
        "Tokens per mission, by role",
        "tokens",
        &pairings,
        &roles,
        |g, s| summaries[g].tokens_by_role.get(&roles[s]).copied(),
        |_, _| None,
        false,
    );
    let cache_chart = grouped_bars(
        "Cache-read share of input tokens, by role",
        "cached input",
        &pairings,
        &roles,
        |g, s| {
            summaries[g]
                .cache_read_share_by_role
                .get(&roles[s])
                .copied()
        },
        |_, _| None,
        true,
    );
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}h1{{font-size:20px}}h2{{font-size:16px;margin-top:28px}}.chart{{background:#fff;border:1px solid #eee}}.legend span{{margin-right:12px;font-size:12px}}.legend i{{display:inline-block;width:10px;height:10px;margin-right:4px}}table{{border-collapse:collapse;font-size:12px;display:block;max-width:100%;overflow-x:auto}}td,th{{border:1px solid #ddd;padding:3px 6px;text-align:right}}td:first-child,td:nth-child(2),th{{text-align:left}}tr.passed td:nth-child(4){{color:#2a7}}tr.failed td:nth-child(4),tr.halted td:nth-child(4),tr.error td:nth-child(4){{color:#c33}}td.evidence{{text-align:left}}figure.evidence{{display:inline-block;margin:2px 6px 2px 0;vertical-align:top;font-size:11px}}figure.evidence img{{max-width:240px;max-height:160px;border:1px solid #ccc}}figure.missing{{color:#c33}}</style></head><body>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    let _ = writeln!(
        html,
        "<p>{} pairings, {} mission runs. Error bars: 95% bootstrap interval of the pass rate, resampling missions.</p>",
        summaries.len(),
        summaries.iter().map(|s| s.missions).sum::<u64>()
    );
    html.push_str("<h2>Pass rate and cost</h2>\n");
    html.push_str(&pareto_chart(&summaries));
    html.push_str("<h2>Rounds to pass</h2>\n");
    html.push_str(&rounds_chart);
    html.push_str("<h2>Tokens by role</h2>\n");
    html.push_str(&tokens_chart);
    html.push_str("<h2>Cache reads</h2>\n");
    html.push_str(&cache_chart);
    html.push_str("<h2>Trajectory lengths</h2>\n");
    html.push_str(&trajectory_chart(tables, &pairings));
    html.push_str("<h2>Tool calls by role</h2>\n<p>Valid: in the model's own tool-call format. Recovered: written another way (a fenced block, a bare object, Python inside the JSON) and recovered by the harness. Malformed: unreadable arguments or an unknown tool.</p>\n");
    html.push_str(&tool_call_table(&summaries));
    html.push_str(&breakdown_section(tables, Dimension::Difficulty, &pairings));
    html.push_str(&breakdown_section(tables, Dimension::Language, &pairings));
    html.push_str("<h2>Missions</h2>\n");
    html.push_str(&mission_table(tables));
    let html_dir = match html_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    html.push_str(&evidence::section(
        tables,
        folders,
        html_dir,
        EmbedLimits::DEFAULT,
    ));
    html.push_str(&skipped_paths(tables));
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_that_never_passed_say_so_in_the_table_and_the_chart() {
        use crate::events::Event;
        use crate::spec::{Milestone, MilestoneId};
        let milestone = |id: &str| Milestone {
            id: MilestoneId::new(id),
            title: id.to_string(),
            description: String::new(),
        };
        let round = |id: &str, round: u32, passed: bool| Event::MilestoneRound {
            milestone: MilestoneId::new(id),
            round,
            passed,
            open_blocking: u32::from(!passed),
        };
        // m1 passes in round 2; m2 never passes.
        let records = crate::metrics::tests::mission_records(vec![
            Event::ContractWritten {
                run: 1,
                milestones: vec![milestone("m1"), milestone("m2")],
                assertions: Vec::new(),
            },
            round("m1", 1, false),
            round("m1", 2, true),
            round("m2", 1, false),
            round("m2", 2, false),
        ]);
        let tables = crate::metrics::fold("run", &records);
        let row = &tables.missions[0];
        assert_eq!((row.milestones_total, row.milestones_passed), (2, 1));
        assert_eq!(rounds_cell(row), "2, 1 not passed");
        let mut none = row.clone();
        (none.milestones_passed, none.rounds_to_pass_max) = (0, None);
        assert_eq!(rounds_cell(&none), "not passed");

        let html = render(
            std::slice::from_ref(&tables),
            &[],
            Path::new("report.html"),
            "rounds",
        );
        assert!(html.contains("<td>2, 1 not passed</td>"), "{html}");
        // The chart has m1's bar and m2's mark, each named in its tooltip.
        assert!(
            html.contains("<title>greet/m1 / oracle: 2</title></rect>"),
            "{html}"
        );
        assert!(
            html.contains(">not passed<title>greet/m2 / oracle: not passed</title></text>"),
            "{html}"
        );
    }

    #[test]
    fn skipped_paths_are_listed_only_when_there_are_some() {
        let records =
            crate::metrics::tests::mission_records(vec![crate::events::Event::PathsSkipped {
                during: "acceptance".into(),
                paths: vec![crate::events::SkippedPath {
                    path: "pipe".into(),
                    reason: "a named pipe (fifo)".into(),
                }],
            }]);
        let mut tables = crate::metrics::fold("run", &records);
        let html = skipped_paths(std::slice::from_ref(&tables));
        assert!(
            html.contains("<td>pipe (acceptance): a named pipe (fifo)</td>"),
            "{html}"
        );
        tables.missions[0].paths_skipped = 0;
        assert!(skipped_paths(std::slice::from_ref(&tables)).is_empty());
    }

    #[test]
    fn breakdowns_appear_when_the_missions_span_more_than_one_value() {
        let records = crate::metrics::tests::mission_records(Vec::new());
        let one = crate::metrics::fold("run", &records);
        let html = render(
            std::slice::from_ref(&one),
            &[],
            Path::new("report.html"),
            "one mission",
        );
        assert!(!html.contains("<h2>By difficulty</h2>"), "{html}");
        assert!(html.contains("<td>micro</td><td>python</td>"), "{html}");

        // A second mission run, of another difficulty and the same language.
        let mut two = one.clone();
        let mut other = one.missions[0].clone();
        other.mission = "other".into();
        other.difficulty = Some("large".into());
        other.status = "failed".into();
        two.missions.push(other);
        let html = render(
            std::slice::from_ref(&two),
            &[],
            Path::new("report.html"),
            "two missions",
        );
        assert!(html.contains("<h2>By difficulty</h2>"), "{html}");
        assert!(html.contains("Pass rate by difficulty"), "{html}");
        assert!(!html.contains("<h2>By language</h2>"), "{html}");
        let micro = html.find("<tr><td>micro</td>").expect("a micro row");
        let large = html.find("<tr><td>large</td>").expect("a large row");
        assert!(micro < large, "the ladder's order");
        let row = &html[large..large + html[large..].find("</tr>").unwrap()];
        assert!(row.contains("<td>0%</td>"), "{row}");
    }

    #[test]
    fn the_report_embeds_cited_screenshots_and_says_what_is_missing() {
        use base64::Engine;
        let (dir, tables) = super::super::evidence::tests::report_folder();
        let html = render(
            std::slice::from_ref(&tables),
            &[dir.path().to_path_buf()],
            &dir.path().join("report.html"),
            "evidence",
        );
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(super::super::evidence::tests::PNG);
        assert!(html.contains("<h2>Evidence</h2>"));
        assert!(html.contains(&format!("src=\"data:image/png;base64,{encoded}\"")));
        assert!(html.contains("missing: the file is not in the report folder"));
        assert!(html.trim_end().ends_with("</html>"));
        // Without evidence there is no section.
        let html = render(&[], &[], Path::new("report.html"), "none");
        assert!(!html.contains("<h2>Evidence</h2>"));
    }

    #[test]
    fn axis_bounds_are_round() {
        assert_eq!(nice_max(0.0), (1.0, 0.25));
        assert_eq!(nice_max(7.0).0, 8.0);
        assert_eq!(nice_max(113_400.0), (125_000.0, 25_000.0));
        assert_eq!(label(113_400.0), "113k");
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}

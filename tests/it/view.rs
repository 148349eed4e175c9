//! `missions-bench view` in a real headless Chromium: a tiny-suite report (with a screenshot, a
//! hostile transcript and a damaged journal line added) served on 127.0.0.1 and written as static
//! pages; the pages from the runs down to a turn, tool calls, a screenshot and diffs, search;
//! raw HTTP requests that try to leave the report folder; the listener's address; and a
//! generated report of 1,000 mission runs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use missions_bench::events::{read_events, Event, EventRecord};
use missions_bench::view::{server, Mode, Reply, Viewer};
use serde_json::{json, Value};

use crate::common::{repo, run_tiny};
use crate::synthetic_report;

/// The hostile tool result appended to a transcript: it must render as text.
const HOSTILE: &str =
    "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">";

/// The tiny suite's report, made once for this test binary, with what the tests look for.
struct Fixture {
    report: PathBuf,
    /// The mission run the additions went to, e.g. `greet.oracle.r0`.
    slug: String,
    /// A worker's agent run of that mission run (it has a checkpoint: the run kept them).
    worker: u32,
    /// The first tool call of the orchestrator's transcript (run 1): its name and its first
    /// argument as the page writes it (`"key": "value"`).
    tool: String,
    argument: String,
    /// The line of the journal that is not an event.
    damaged_line: usize,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(make_fixture)
}

fn make_fixture() -> Fixture {
    let base =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("view-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let out = base.join("reports");
    let work = base.join("work");
    let report = PathBuf::from(run_tiny(
        &base,
        &out,
        &["--work-dir", work.to_str().unwrap()],
    ));
    let events = read_events(&report.join("events.jsonl")).unwrap();
    let key = events
        .iter()
        .find_map(|r| r.mission.clone())
        .expect("a mission run");
    let slug = key.slug();
    let mission_events: Vec<&EventRecord> = events
        .iter()
        .filter(|r| r.mission.as_ref() == Some(&key))
        .collect();
    let worker = mission_events
        .iter()
        .find_map(|r| match &r.event {
            Event::AgentStarted { run, role, .. } if role.as_str() == "worker" => Some(*run),
            _ => None,
        })
        .expect("a worker run");
    let (milestone, round) = mission_events
        .iter()
        .find_map(|r| match &r.event {
            Event::MilestoneRound {
                milestone, round, ..
            } => Some((milestone.as_str().to_string(), *round)),
            _ => None,
        })
        .expect("a milestone round");
    assert!(
        report
            .join("checkpoints")
            .join(format!("{slug}.git"))
            .is_dir(),
        "the report keeps the checkpoints"
    );

    // A screenshot the user tester saved and cited, a line that is not an event, and a verdict
    // with hostile evidence text.
    let evidence = report.join("evidence").join(&slug);
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::copy(
        repo().join("tests/fixtures/view/screenshot.png"),
        evidence.join("shot.png"),
    )
    .unwrap();
    let secret = base.join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET outside the report").unwrap();
    std::os::unix::fs::symlink(&secret, evidence.join("escape.png")).unwrap();
    let journal_text = std::fs::read_to_string(report.join("events.jsonl")).unwrap();
    let damaged_line = journal_text.lines().count() + 2;
    let mission = serde_json::to_value(&key).unwrap();
    let record = |seq: usize, event: Value| {
        json!({"v": 1, "seq": 100_000 + seq, "time_ms": 0, "mission": mission, "event": event})
            .to_string()
    };
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(report.join("events.jsonl"))
        .unwrap();
    writeln!(
        journal,
        "{}\nthis line is not an event\n{}",
        record(
            0,
            json!({"type": "evidence_saved", "run": worker, "id": "shot-1", "kind": "screenshot", "path": format!("evidence/{slug}/shot.png"), "url": "http://127.0.0.1:9/", "bytes": 75})
        ),
        record(
            1,
            json!({"type": "verdict_reported", "run": worker, "milestone": milestone, "round": round, "assertion": "A1", "status": "pass", "evidence": HOSTILE, "evidence_ids": ["shot-1"]})
        ),
    )
    .unwrap();

    // The orchestrator's transcript: its first tool call, and a hostile call and result appended.
    let transcript = report
        .join("transcripts")
        .join(&slug)
        .join("001-orchestrator.jsonl");
    let text = std::fs::read_to_string(&transcript).unwrap();
    let (tool, argument) = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l["tool_calls"].as_array().cloned())
        .flatten()
        .find_map(|call| {
            let arguments: Value = serde_json::from_str(call["arguments"].as_str()?).ok()?;
            let (key, value) = arguments
                .as_object()?
                .iter()
                .find(|(_, v)| v.as_str().is_some_and(|s| !s.contains('\n')))?;
            let value = serde_json::to_string(value).ok()?;
            Some((
                call["name"].as_str()?.to_string(),
                html_text(&format!("\"{key}\": {value}")),
            ))
        })
        .expect("a tool call with a string argument");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&transcript)
        .unwrap();
    writeln!(
        file,
        "{}\n{}",
        json!({"type": "message", "role": "assistant", "content": "<b>bold?</b>", "tool_calls": [{"id": "hostile-1", "name": "run_command", "arguments": "{\"command\": \"echo <script>alert(1)</script>\"}"}]}),
        json!({"type": "message", "role": "tool", "content": HOSTILE, "tool_call_id": "hostile-1", "tool_name": "run_command"}),
    )
    .unwrap();
    Fixture {
        report,
        slug,
        worker,
        tool,
        argument,
        damaged_line,
    }
}

/// `text` as Chromium serializes a text node: `&`, `<`, `>` escaped, quotes as they are.
fn html_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A viewer served on its own runtime, for as long as this lives.
struct Served {
    address: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.address)
    }
}

fn serve(folders: &[PathBuf]) -> Served {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let viewer = Arc::new(Viewer::open(folders).unwrap());
    let listener = runtime.block_on(server::bind(0)).unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(server::serve(listener, viewer));
    Served {
        address,
        _runtime: runtime,
    }
}

fn chromium() -> PathBuf {
    missions_bench::tools::browser::find_program(&std::env::var("PATH").unwrap_or_default())
        .unwrap_or_else(|| {
            panic!("no Chromium on PATH (install the `chromium` package; .ci/run does)")
        })
}

/// The page's DOM after it loaded (images decoded, inline scripts run), from a fresh headless
/// Chromium.
fn dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-extensions",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(dom.contains("missions-bench"), "{url} did not load: {dom}");
    dom
}

/// The first link whose address ends with `suffix`, resolved against the page's `url`.
fn follow(url: &str, dom: &str, suffix: &str) -> String {
    let href = dom
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.split('#').next().unwrap_or("").ends_with(suffix))
        .unwrap_or_else(|| panic!("no link ending in {suffix} on {url}"));
    resolve(url, &href.replace("&amp;", "&"))
}

/// `href` resolved against `base` as a browser does, `..` included.
fn resolve(base: &str, href: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut names: Vec<&str> = path.split('/').collect();
    names.pop();
    for name in href.split('/') {
        match name {
            ".." => {
                names.pop();
            }
            "." => {}
            name => names.push(name),
        }
    }
    format!("{scheme}://{host}/{}", names.join("/"))
}

#[test]
fn pages_lead_from_the_runs_down_to_a_turn_with_its_tool_calls() {
    let f = fixture();
    let served = serve(std::slice::from_ref(&f.report));
    let index = served.url("index.html");
    let runs = dom(&index);
    let run_url = follow(&index, &runs, "r/0/index.html");
    let run = dom(&run_url);
    assert!(run.contains("Mission runs"), "{run}");
    let pairing_url = follow(&run_url, &run, "p/oracle.html");
    let pairing = dom(&pairing_url);
    assert!(pairing.contains("Pairing oracle"), "{pairing}");
    let mission_url = follow(&pairing_url, &pairing, &format!("m/{}/index.html", f.slug));
    let mission = dom(&mission_url);
    assert!(mission.contains("Milestones and rounds"), "{mission}");
    assert!(mission.contains("Agent runs"), "{mission}");

    let agent_url = follow(&mission_url, &mission, "/001.html");
    let agent = dom(&agent_url);
    assert!(
        agent.contains(&format!("<span class=\"tool\">{}</span>", f.tool)),
        "the tool call {} is not on {agent_url}",
        f.tool
    );
    assert!(
        agent.contains(&f.argument),
        "the argument {} is not on {agent_url}",
        f.argument
    );
    assert!(agent.contains("tokens/s"), "no timing on {agent_url}");

    let turn_url = follow(&agent_url, &agent, "/001/1.html");
    let turn = dom(&turn_url);
    assert!(turn.contains("Turn 1"), "{turn}");
    assert!(turn.contains("latency"), "{turn}");
    let next = follow(&turn_url, &turn, "/001/2.html");
    assert!(dom(&next).contains("Turn 2"));
}

#[test]
fn a_screenshot_and_the_diffs_display() {
    let f = fixture();
    let served = serve(std::slice::from_ref(&f.report));
    let mission_url = served.url(&format!("r/0/m/{}/index.html", f.slug));
    let mission = dom(&mission_url);
    // The image's onload sets its title from its decoded size: 7x5 is the fixture's.
    let image = mission
        .split("<img ")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .expect("an image on the mission page");
    assert!(image.contains("title=\"7x5\""), "{image}");
    assert!(mission.contains("Final diff"), "{mission}");
    assert!(mission.contains("+++ b/"), "no diff text on {mission_url}");

    let worker = dom(&served.url(&format!("r/0/m/{}/{:03}.html", f.slug, f.worker)));
    assert!(
        worker.contains("against the one before it") && worker.contains("+++ b/"),
        "the worker's own diff is missing: {worker}"
    );
}

#[test]
fn hostile_text_from_the_record_renders_as_text() {
    let f = fixture();
    let served = serve(std::slice::from_ref(&f.report));
    let agent_url = served.url(&format!("r/0/m/{}/001.html", f.slug));
    let agent = dom(&agent_url);
    let last_turn = agent
        .split("id=\"t")
        .last()
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let turn = dom(&served.url(&format!("r/0/m/{}/001/{last_turn}.html", f.slug)));
    let mission = dom(&served.url(&format!("r/0/m/{}/index.html", f.slug)));
    for page in [&agent, &turn, &mission] {
        assert!(page.contains(&html_text(HOSTILE)), "{page}");
        assert!(!page.contains("<title>pwned</title>"), "{page}");
        assert!(!page.contains("<script>document"), "{page}");
    }
    assert!(turn.contains("echo &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(turn.contains("&lt;b&gt;bold?&lt;/b&gt;"));
}

#[test]
fn search_finds_a_string_and_links_to_its_turn() {
    let f = fixture();
    let served = serve(std::slice::from_ref(&f.report));
    let search_url = served.url("search.html?q=PWNED");
    let results = dom(&search_url);
    assert!(results.contains("result"), "{results}");
    // The first result's link: the first link after the table head.
    let table = results.split("<tbody>").nth(1).expect("a results table");
    let turn_url = follow(&search_url, table, ".html");
    assert!(turn_url.contains("/001/"), "{turn_url}");
    let turn = dom(&turn_url);
    assert!(turn.contains("pwned"), "{turn}");

    let none = dom(&served.url("search.html?q=nothing+says+this+xyzzy"));
    assert!(none.contains("0 results"), "{none}");
}

/// One raw HTTP/1.1 request (a browser would normalize the path); the status and the body.
fn raw_get(address: SocketAddr, method: &str, target: &str) -> (u16, String) {
    raw_request(address, method, target, "127.0.0.1")
}

/// [`raw_get`] with the `Host` header given.
fn raw_request(address: SocketAddr, method: &str, target: &str, host: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let reply = String::from_utf8_lossy(&bytes).into_owned();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply}"));
    (status, reply)
}

#[test]
fn paths_outside_the_report_folder_are_refused() {
    let f = fixture();
    let served = serve(std::slice::from_ref(&f.report));
    let depth = "../".repeat(f.report.components().count() + 2);
    let refused = [
        "/r/0/../../../../../../etc/passwd".to_string(),
        format!("/r/0/{depth}etc/passwd"),
        "/r/0/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd".to_string(),
        "/r/0/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd".to_string(),
        "/r/0/..%2f..%2f..%2fetc/passwd".to_string(),
        "/r/0//etc/passwd".to_string(),
        "//etc/passwd".to_string(),
        format!("/r/0/{}", f.report.join("run.json").display()),
        format!("/r/0/evidence/{}/escape.png", f.slug),
    ];
    for target in &refused {
        let (status, reply) = raw_get(served.address, "GET", target);
        assert_eq!(status, 403, "{target} was not refused: {reply}");
        assert!(!reply.contains("root:"), "{target}: {reply}");
        assert!(!reply.contains("TOP-SECRET"), "{target}: {reply}");
    }
    // Paths that name no file of the folder are simply not found.
    for target in ["/etc/passwd", "/r/1/index.html", "/r/0/no-such-file"] {
        let (status, reply) = raw_get(served.address, "GET", target);
        assert_eq!(status, 404, "{target}: {reply}");
    }
    // The folder's own files are served, images as images and nothing as a page.
    let (status, reply) = raw_get(
        served.address,
        "GET",
        &format!("/r/0/evidence/{}/shot.png", f.slug),
    );
    assert_eq!(status, 200, "{reply}");
    assert!(reply.to_lowercase().contains("content-type: image/png"));
    let (status, reply) = raw_get(served.address, "GET", "/r/0/run.json");
    assert_eq!(status, 200, "{reply}");
    assert!(reply.to_lowercase().contains("content-type: text/plain"));
    // Read-only.
    for method in ["POST", "PUT", "DELETE"] {
        let (status, reply) = raw_get(served.address, method, "/index.html");
        assert_eq!(status, 405, "{method}: {reply}");
    }
    let (status, reply) = raw_get(served.address, "HEAD", "/index.html");
    assert_eq!(status, 200, "{reply}");
    assert!(!reply.contains("<html"), "{reply}");
    // A page of another site whose name was pointed at 127.0.0.1 (DNS rebinding) sends its
    // own name: refused. Loopback names, with or without the port, are answered.
    let port = served.address.port();
    let (status, reply) = raw_request(
        served.address,
        "GET",
        "/index.html",
        &format!("rebound.example:{port}"),
    );
    assert_eq!(status, 403, "{reply}");
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let (status, reply) = raw_request(served.address, "GET", "/index.html", &host);
        assert_eq!(status, 200, "{host}: {reply}");
    }
}

/// This machine's address on its default route, if it has one.
fn outside_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn the_listener_is_bound_to_loopback_only() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime.block_on(server::bind(0)).unwrap();
    let address = listener.local_addr().unwrap();
    assert_eq!(address.ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_ne!(address.port(), 0);
    assert!(TcpStream::connect(address).is_ok());
    if let Some(ip) = outside_address() {
        assert!(
            TcpStream::connect((ip, address.port())).is_err(),
            "the viewer answers on {ip}"
        );
    }
}

#[test]
fn static_pages_load_from_file_urls() {
    let f = fixture();
    let viewer = Viewer::open(std::slice::from_ref(&f.report)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let site = missions_bench::view::write_static(&viewer, dir.path()).unwrap();
    assert!(site.pages > 5, "{site:?}");
    let index = format!("file://{}/index.html", dir.path().display());
    let runs = dom(&index);
    let run_url = follow(&index, &runs, "r/0/index.html");
    let run = dom(&run_url);
    let mission_url = follow(&run_url, &run, &format!("m/{}/index.html", f.slug));
    let mission = dom(&mission_url);
    assert!(mission.contains("title=\"7x5\""), "{mission}");
    assert!(mission.contains("+++ b/"), "{mission}");
    let agent_url = follow(&mission_url, &mission, "/001.html");
    let agent = dom(&agent_url);
    assert!(agent.contains(&format!("<span class=\"tool\">{}</span>", f.tool)));
    let turn = dom(&follow(&agent_url, &agent, "/001/1.html"));
    assert!(turn.contains("Turn 1"));
    let search = dom(&format!("file://{}/search.html", dir.path().display()));
    assert!(search.contains("Search needs the server"), "{search}");
    // No page reaches outside the folder it was written to.
    let escaped = dir
        .path()
        .join(format!("r/0/evidence/{}/escape.png", f.slug));
    assert!(!escaped.exists());
}

#[test]
fn a_damaged_journal_line_is_named_and_the_rest_is_served() {
    let f = fixture();
    let viewer = Viewer::open(std::slice::from_ref(&f.report)).unwrap();
    let Reply::Html(run) = viewer.get("/r/0/index.html", None, Mode::Server) else {
        panic!("no run page");
    };
    assert!(
        run.contains(&format!("events.jsonl` line {}", f.damaged_line)),
        "{run}"
    );
    assert!(run.contains(&format!("m/{}/index.html", f.slug)), "{run}");
    let Reply::Html(mission) =
        viewer.get(&format!("/r/0/m/{}/index.html", f.slug), None, Mode::Server)
    else {
        panic!("no mission page");
    };
    assert!(mission.contains("shot-1"), "{mission}");
}

#[test]
fn a_report_of_a_thousand_mission_runs_serves_its_pages() {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("view-1000");
    synthetic_report::write(&dir, 1000, 20);
    let viewer = Viewer::open(std::slice::from_ref(&dir)).unwrap();
    let run = &viewer.runs()[0];
    assert_eq!(run.missions.len(), 1000);
    assert!(run.damaged.is_empty(), "{:?}", run.damaged);
    assert!(run.missions.iter().all(|m| m.acceptance == Some((1, 2))));
    let html = |path: &str| match viewer.get(path, None, Mode::Server) {
        Reply::Html(html) => html,
        other => panic!("{path}: {other:?}"),
    };
    let run_page = html("/r/0/index.html");
    assert_eq!(run_page.matches("/index.html\">m").count(), 1000);
    let mission = html("/r/0/m/m0999.worker-small.r0/index.html");
    assert!(mission.contains("1 of 2 tests passed"), "{mission}");
    let agent = html("/r/0/m/m0999.worker-small.r0/001.html");
    assert_eq!(agent.matches("<section class=\"turn\"").count(), 20);
    let turn = html("/r/0/m/m0999.worker-small.r0/001/20.html");
    assert!(turn.contains(synthetic_report::NEEDLE), "{turn}");
    assert!(turn.contains("decode 55.0 tokens/s"), "{turn}");
    let query = format!("q={}", synthetic_report::NEEDLE);
    let Reply::Html(search) = viewer.get("/search.html", Some(&query), Mode::Server) else {
        panic!("no search page");
    };
    assert!(search.contains("1 result "), "{search}");
    assert!(
        search.contains("r/0/m/m0999.worker-small.r0/001/20.html"),
        "{search}"
    );
    served_first_page(&dir);
}

#[test]
fn the_binary_serves_at_the_address_it_prints_and_names_a_folder_that_is_no_report() {
    use std::io::BufRead;
    let f = fixture();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_missions-bench"))
        .args(["view", f.report.to_str().unwrap(), "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let (status, reply) = raw_get(address, "GET", &format!("/r/0/m/{}/index.html", f.slug));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(address.ip().is_loopback(), "{line}");
    assert_eq!(status, 200, "{reply}");

    let empty = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_missions-bench"))
        .args(["view", empty.path().to_str().unwrap(), "--port", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "`{}` is not a report folder",
            empty.path().display()
        )),
        "{stderr}"
    );
}

/// The same report over HTTP: the first page comes back from the server.
fn served_first_page(dir: &Path) {
    let served = serve(&[dir.to_path_buf()]);
    let (status, reply) = raw_get(served.address, "GET", "/r/0/index.html");
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("m0999"));
}

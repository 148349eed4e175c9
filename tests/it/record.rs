//! The record is complete and copies never break the verdict, through whole missions with a
//! scripted hostile worker over the OpenAI protocol:
//! - hidden: a worker that writes `.gitignore` = `*`, `.gitattributes` with `* -diff` and a
//!   nested repository (and a file 1,000 folders deep) still has every file in the final patch,
//!   in the line counts, and back in its workspace, byte for byte, when its killed mission
//!   resumes;
//! - broken: folders 1,500 levels deep, links to outside, to themselves and in a loop, a fifo,
//!   a socket and names with a newline or invalid UTF-8 leave the mission judged, and the paths
//!   the copies could not take are listed.

use std::path::Path;
use std::sync::Arc;

use missions_bench::events::{read_events, Event};
use missions_bench::report::read_tables;
use missions_bench::spec::Role;
use serde_json::json;

use crate::remote_mission::{greet, Hold, Relay};
use crate::resume::Greet;

/// The report folder's one final patch.
fn final_patch(report: &Path) -> String {
    let patches: Vec<_> = std::fs::read_dir(report.join("diffs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    String::from_utf8_lossy(&std::fs::read(&patches[0]).unwrap()).into_owned()
}

/// Files and non-blank added lines per path in a patch of files that all started absent.
fn added_lines(patch: &str) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = Vec::new();
    for line in patch.lines() {
        if let Some(path) = line.strip_prefix("+++ b/") {
            files.push((path.to_string(), 0));
        } else if let Some(added) = line.strip_prefix('+') {
            if !added.starts_with("++") && !added.trim().is_empty() {
                if let Some(last) = files.last_mut() {
                    last.1 += 1;
                }
            }
        }
    }
    files
}

fn run_command(command: &str) -> (String, String) {
    (
        "run_command".to_string(),
        json!({ "command": command }).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_cannot_hide_its_files_from_the_record() {
    let greet_run = Greet::start().await;
    let hide = run_command(
        "printf '*\\n' > .gitignore && printf '* -diff text eol=crlf\\n' > .gitattributes \
         && printf 'echo hidden words\\necho more hidden\\n' > hidden.sh \
         && git init -q sub && printf 'echo nested file\\n' > sub/inner.sh \
         && git -C sub -c user.name=w -c user.email=w@localhost add -A \
         && git -C sub -c user.name=w -c user.email=w@localhost commit -qm nested \
         && ls sub/.git/HEAD",
    );
    let deep = run_command(
        "python3 -c \"$(cat <<'EOF'
import os
d = os.open('.', os.O_RDONLY)
for _ in range(1000):
    os.mkdir('deep', dir_fd=d)
    n = os.open('deep', os.O_RDONLY, dir_fd=d)
    os.close(d)
    d = n
f = os.open('bottom.txt', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d)
os.write(f, b'deep at the bottom\\n')
EOF
)\"",
    );
    // Killed as milestone m2's worker starts: m1's worker, review and user test finished, so the
    // resumed mission restores the workspace from their checkpoints.
    let hold = Hold {
        role: Role::Worker,
        nth: 2,
        turn: 0,
    };
    let relay = greet_run.set(
        Relay::new(greet(), None)
            .with_hostile_worker(vec![vec![hide, deep]])
            .holding(Some(hold)),
    );
    let out = greet_run.path("killed");
    greet_run
        .kill_when(&["--out", out.to_str().unwrap()], || relay.held())
        .await;
    let report = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (resumed, _) = greet_run.run(&["--resume", report.to_str().unwrap()]).await;
    assert_eq!(resumed, report);

    let tables = read_tables(&report).unwrap();
    let mission = &tables.missions[0];
    assert_eq!(mission.status, "passed", "{mission:?}");
    let patch = final_patch(&report);
    for (path, content) in [
        (".gitignore", "+*"),
        (".gitattributes", "+* -diff text eol=crlf"),
        ("hidden.sh", "+echo more hidden"),
        ("sub/inner.sh", "+echo nested file"),
        ("greet.sh", "+"),
    ] {
        let header = format!("+++ b/{path}\n");
        let at = patch
            .find(&header)
            .unwrap_or_else(|| panic!("no {path} in the patch:\n{patch}"));
        let section = &patch[at + header.len()..];
        let section = &section[..section.find("diff --git").unwrap_or(section.len())];
        assert!(section.contains(content), "{path}: {section}");
        // Restored as written: no line-ending conversion from the attributes.
        assert!(!section.contains('\r'), "{path}: {section}");
    }
    // The nested repository is recorded under its encoded name, its files as text.
    assert!(patch.contains("+++ b/sub/.git~/HEAD\n"), "{patch}");
    assert!(!patch.contains("Binary files"), "{patch}");
    // Restored deeper than PATH_MAX.
    assert!(
        patch.contains("+deep at the bottom"),
        "the deep file is missing"
    );

    // Line counts take the hidden files: source is `**/*.sh` outside tests/.
    let sources: Vec<(String, u64)> = added_lines(&patch)
        .into_iter()
        .filter(|(path, _)| path.ends_with(".sh") && !path.starts_with("tests/"))
        .collect();
    assert!(sources.iter().any(|(p, _)| p == "hidden.sh"), "{sources:?}");
    assert_eq!(mission.files_src, sources.len() as u64, "{sources:?}");
    assert_eq!(
        mission.lines_src,
        sources.iter().map(|(_, n)| n).sum::<u64>(),
        "{sources:?}"
    );
    assert_eq!(mission.paths_skipped, 0, "{}", mission.paths_skipped_detail);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_cannot_break_the_copies_that_judge_it() {
    use crate::common::tiny_suite;
    use crate::http_server::ScriptedServer;
    use crate::remote_mission::{run_remote_with, Protocol};

    let script = r#"
import os, socket
d = os.open('.', os.O_RDONLY)
for _ in range(1500):
    os.mkdir('deep', dir_fd=d)
    n = os.open('deep', os.O_RDONLY, dir_fd=d)
    os.close(d)
    d = n
f = os.open('bottom.txt', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d)
os.write(f, b'at the bottom\n')
os.symlink('/etc/passwd', 'to_outside')
os.symlink('to_itself', 'to_itself')
os.symlink('loop_b', 'loop_a')
os.symlink('loop_a', 'loop_b')
os.mkfifo('pipe')
socket.socket(socket.AF_UNIX).bind('sock')
open('line\nbreak.txt', 'w').write('a newline in the name\n')
open(b'bad\xff.txt', 'wb').write(b'invalid utf-8 in the name\n')
print('broken')
"#;
    let break_it = run_command(&format!("python3 -c \"$(cat <<'EOF'\n{script}\nEOF\n)\""));
    let relay = Arc::new(Relay::new(greet(), None).with_hostile_worker(vec![vec![break_it]]));
    let handler = relay.clone();
    let server = ScriptedServer::start(move |request, index| handler.answer(request, index)).await;
    let out = tempfile::tempdir().unwrap();
    let report = run_remote_with(&server, Protocol::OpenAi, 0, out.path(), &tiny_suite(), "").await;

    // Judged, and the honest outcome: the oracle did the features.
    let mission = &report.tables.missions[0];
    assert_eq!(mission.status, "passed", "{mission:?}");
    assert!(mission.acceptance_total > 0, "{mission:?}");
    assert_eq!(mission.acceptance_passed, mission.acceptance_total);
    assert!(mission.coverage_pct.is_some(), "{mission:?}");

    // The fifo and the socket are listed, with why; everything else was taken.
    let events = read_events(&report.dir.join("events.jsonl")).unwrap();
    let skipped: Vec<(String, Vec<String>)> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::PathsSkipped { during, paths } => Some((
                during.clone(),
                paths.iter().map(|p| p.path.clone()).collect(),
            )),
            _ => None,
        })
        .collect();
    for during in ["acceptance", "coverage", "record"] {
        let paths = skipped
            .iter()
            .find(|(d, _)| d == during)
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        assert_eq!(paths, ["pipe", "sock"], "{during}: {skipped:?}");
    }
    assert_eq!(mission.paths_skipped, 2, "{mission:?}");
    assert!(
        mission
            .paths_skipped_detail
            .contains("pipe (acceptance): a named pipe"),
        "{}",
        mission.paths_skipped_detail
    );

    // The record took the rest: the deep file, the links as links, the odd names.
    let patch = final_patch(&report.dir);
    assert!(patch.contains("+at the bottom"), "the deep file is missing");
    assert!(
        patch.contains("deep/deep/deep/"),
        "the deep path is missing"
    );
    for link in ["to_outside", "to_itself", "loop_a", "loop_b"] {
        assert!(
            patch.contains(&format!("+++ b/{link}\n")),
            "{link} is missing"
        );
    }
    assert!(patch.contains("+/etc/passwd"));
    assert!(
        patch.contains("\"b/line\\nbreak.txt\""),
        "the newline name is missing"
    );
    assert!(
        patch.contains("\"b/bad\\377.txt\""),
        "the invalid UTF-8 name is missing"
    );
}

//! Commands die with their whole process group: on a timeout, and when the command ends while
//! its background children still run. Their environment holds nothing of the harness's.

use std::time::Duration;

use missions_bench::tools::{run_shell, CommandEnv};

fn env(timeout_ms: u64) -> CommandEnv {
    CommandEnv {
        vars: vec![("PATH".into(), "/usr/bin:/bin".into())],
        timeout: Duration::from_millis(timeout_ms),
        max_output_bytes: 4096,
        sandbox: None,
        stop: None,
    }
}

/// Processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(marker) {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[tokio::test]
async fn a_timeout_kills_the_whole_tree() {
    let dir = tempfile::tempdir().unwrap();
    // Two levels of children, one of them in the background, all sleeping far past the timeout.
    let command = "sleep 987001 & sh -c 'sleep 987001 & sleep 987001' & sleep 987001";
    let output = run_shell(command, dir.path(), &env(500)).await.unwrap();
    assert!(output.timed_out);
    assert_eq!(output.exit_code, None);
    assert!(output.observation().starts_with("killed: timed out"));
    assert_eq!(processes_with("987001"), Vec::<String>::new());
}

#[tokio::test]
async fn background_children_die_when_the_command_ends() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_shell("sleep 987002 & echo started", dir.path(), &env(20_000))
        .await
        .unwrap();
    assert_eq!(output.exit_code, Some(0));
    // Had the sleep kept the pipes open, the output would be the marker for an unreadable pipe.
    assert_eq!(output.stdout, "started\n");
    assert_eq!(processes_with("987002"), Vec::<String>::new());
}

#[tokio::test]
async fn the_harness_environment_does_not_leak() {
    let dir = tempfile::tempdir().unwrap();
    // The test process itself has HOME, PATH and more; the command sees only what it is given.
    let output = run_shell(
        "echo \"home=$HOME cargo=$CARGO_MANIFEST_DIR\"",
        dir.path(),
        &env(5000),
    )
    .await
    .unwrap();
    assert_eq!(output.stdout, "home= cargo=\n");
}

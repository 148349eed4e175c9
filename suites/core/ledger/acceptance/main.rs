//! Hidden acceptance tests of the `ledger` command-line tool, one module per milestone.

mod m1;
mod m2;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// What one run of `ledger` gave back.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

fn finish(output: Output) -> Run {
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A ledger file of its own in the temporary directory, removed when dropped.
pub struct LedgerFile(pub PathBuf);

impl LedgerFile {
    pub fn new(text: &str) -> LedgerFile {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("ledger-acceptance-{}-{n}.ledger", std::process::id()));
        std::fs::write(&path, text).expect("write the test ledger");
        LedgerFile(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("temporary path is UTF-8")
    }
}

impl Drop for LedgerFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `ledger` with `args`, standard input closed.
pub fn ledger(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ledger");
    finish(output)
}

/// Runs `ledger` with `args` and `input` on standard input.
pub fn ledger_stdin(args: &[&str], input: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ledger");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // The program may exit without reading everything; that shows in its output, not here.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    finish(child.wait_with_output().expect("wait for ledger"))
}

/// Writes `text` to a ledger file and runs `ledger COMMAND FILE EXTRA...`.
pub fn on_file(command: &str, text: &str, extra: &[&str]) -> Run {
    let file = LedgerFile::new(text);
    let mut args = vec![command, file.path()];
    args.extend_from_slice(extra);
    ledger(&args)
}

/// Asserts a successful run with exactly `expected` on standard output.
pub fn assert_output(run: &Run, expected: &str) {
    assert_eq!(run.code, Some(0), "exit status; stderr: {}", run.stderr);
    assert_eq!(run.stdout, expected, "stdout");
}

/// Asserts a malformed-ledger failure: exit 1, nothing on stdout, stderr starts `line N: `.
pub fn assert_bad_line(run: &Run, line: usize) {
    assert_eq!(run.code, Some(1), "exit status; stdout: {}", run.stdout);
    assert_eq!(run.stdout, "", "stdout must be empty");
    let prefix = format!("line {line}: ");
    assert!(run.stderr.starts_with(&prefix), "stderr should start with {prefix:?}: {:?}", run.stderr);
}

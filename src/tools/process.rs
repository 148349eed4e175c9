//! Running shell commands for agents and checks: own session and process group, cleared
//! environment, no stdin, a timeout that kills the whole group, an output cap that keeps head and
//! tail, and, with a [`Sandbox`], confinement and resource limits (see `sandbox`).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::notice::{Notice, NoticeKind};
use super::sandbox::{ExitFacts, Sandbox};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// How long pipes are drained after the process group is gone (a process that left the group may
/// hold them open).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// What a command may see and use.
#[derive(Debug, Clone)]
pub struct CommandEnv {
    /// The complete environment; nothing of the harness's own leaks through.
    pub vars: Vec<(String, String)>,
    pub timeout: Duration,
    /// Bytes kept per stream; the middle of longer output is dropped.
    pub max_output_bytes: usize,
    /// Confinement and limits; `None` runs the command with the host's view (set-up commands).
    pub sandbox: Option<Arc<Sandbox>>,
    /// The run's stop request: a running command is killed when it comes.
    pub stop: Option<Arc<crate::stop::StopSignal>>,
}

/// How often a sandboxed command's disk use is checked while it runs.
const DISK_WATCH: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutput {
    /// `None` when the process was killed by a signal.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// Killed because the run was stopped.
    pub interrupted: bool,
    pub stdout: String,
    pub stderr: String,
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
    pub duration: Duration,
    /// Timeouts, truncation, limits hit and denials, in the order the observation lists them.
    pub notices: Vec<Notice>,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    pub fn dropped_bytes(&self) -> u64 {
        self.stdout_dropped + self.stderr_dropped
    }

    /// The text a model sees. Its first line is always `exit_code: N` or `killed: ...`; a line per
    /// limit hit, denial or truncation follows.
    pub fn observation(&self) -> String {
        let mut text = String::new();
        // Without an exit code the first `killed:` notice heads the text: a timeout (always first)
        // or the limit that killed the command.
        let mut first_kill = None;
        if self.interrupted {
            text.push_str("killed: the run was interrupted\n");
        } else if let Some(code) = self.exit_code {
            text.push_str(&format!("exit_code: {code}\n"));
        } else if let Some(index) = self
            .notices
            .iter()
            .position(|n| n.detail.starts_with("killed:"))
        {
            text.push_str(&self.notices[index].detail);
            text.push('\n');
            first_kill = Some(index);
        } else {
            text.push_str(&format!("killed: signal {}\n", self.signal.unwrap_or(0)));
        }
        for (index, notice) in self.notices.iter().enumerate() {
            if Some(index) != first_kill {
                text.push_str(&notice.detail);
                text.push('\n');
            }
        }
        text.push_str("--- stdout ---\n");
        text.push_str(&self.stdout);
        if !self.stdout.is_empty() && !self.stdout.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("--- stderr ---\n");
        text.push_str(&self.stderr);
        text
    }
}

/// Closes every descriptor from `first` on, in a child before `exec`: whatever the harness itself
/// inherited without close-on-exec (a pipe of whoever started it) never reaches a command. A
/// kernel without `close_range` (before 5.9) leaves them open.
pub(super) fn close_from(first: u32) {
    // SAFETY: close_range with integer arguments; it touches no memory of ours.
    unsafe {
        libc::syscall(libc::SYS_close_range, first, u32::MAX, 0);
    }
}

/// `program` to run in `cwd` with exactly the environment's variables, no stdin, its output
/// piped, and killed when its handle is dropped.
pub(super) fn command_in(program: &Path, cwd: &Path, env: &CommandEnv) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(cwd)
        .env_clear()
        .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `command` with `sh -c` in `cwd`.
pub async fn run_shell(
    command: &str,
    cwd: &Path,
    env: &CommandEnv,
) -> std::io::Result<CommandOutput> {
    let started = Instant::now();
    let mut jail = match &env.sandbox {
        Some(sandbox) => Some(sandbox.jail(cwd)?),
        None => None,
    };
    let setup = jail.as_mut().and_then(|j| j.take_setup());
    let mut shell = command_in(Path::new("/bin/sh"), cwd, env);
    shell.arg("-c").arg(command);
    // SAFETY: the closure makes system calls only (setsid, then the sandbox's, which work on data
    // prepared before the fork) and allocates nothing.
    unsafe {
        shell.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(setup) = &setup {
                setup.apply()?;
            }
            close_from(3);
            Ok(())
        });
    }
    let mut child = shell.spawn()?;
    let group = child.id().map(|pid| pid as i32);
    let stdout = child
        .stdout
        .take()
        .map(|pipe| tokio::spawn(read_capped(pipe, env.max_output_bytes)));
    let stderr = child
        .stderr
        .take()
        .map(|pipe| tokio::spawn(read_capped(pipe, env.max_output_bytes)));

    let watch = async {
        match &jail {
            Some(jail) => jail.watch(DISK_WATCH).await,
            None => std::future::pending().await,
        }
    };
    let interrupt = async {
        match &env.stop {
            Some(stop) => stop.stopped().await,
            None => std::future::pending().await,
        }
    };
    let (status, timed_out, stopped, interrupted) = tokio::select! {
        status = child.wait() => (Some(status?), false, None, false),
        _ = tokio::time::sleep(env.timeout) => (None, true, None, false),
        stop = watch => (None, false, Some(stop), false),
        _ = interrupt => (None, false, None, true),
    };
    // Background children die with the command: they would otherwise outlive it and keep the
    // pipes open.
    if let Some(group) = group {
        kill_group(group);
    }
    if let Some(jail) = &jail {
        jail.kill_remaining().await;
    }
    let status = match status {
        Some(status) => status,
        None => child.wait().await?,
    };
    let (stdout, stdout_dropped) = collect(stdout).await;
    let (stderr, stderr_dropped) = collect(stderr).await;
    use std::os::unix::process::ExitStatusExt;
    let exit_code = if timed_out || stopped.is_some() || interrupted {
        None
    } else {
        status.code()
    };
    let mut notices = Vec::new();
    if timed_out {
        notices.push(Notice::new(
            NoticeKind::Timeout,
            format!(
                "killed: timed out after {} s (the whole process group was killed)",
                env.timeout.as_secs()
            ),
        ));
    }
    if let Some(jail) = jail {
        let facts = ExitFacts {
            exit_code,
            signal: status.signal(),
            text: format!("{stdout}\n{stderr}").to_lowercase(),
        };
        notices.extend(jail.finish(stopped, &facts).await);
    }
    let dropped = stdout_dropped + stderr_dropped;
    if dropped > 0 {
        notices.push(Notice::new(
            NoticeKind::OutputTruncated,
            format!("truncated: {dropped} bytes of output dropped (head and tail kept)"),
        ));
    }
    Ok(CommandOutput {
        exit_code,
        signal: status.signal(),
        timed_out,
        interrupted,
        stdout,
        stderr,
        stdout_dropped,
        stderr_dropped,
        duration: started.elapsed(),
        notices,
    })
}

fn kill_group(group: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created for the child; it
    // touches no memory of ours. An error (ESRCH: the group is already gone) is expected.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

async fn collect(task: Option<tokio::task::JoinHandle<(String, u64)>>) -> (String, u64) {
    let Some(mut task) = task else {
        return (String::new(), 0);
    };
    match tokio::time::timeout(DRAIN_GRACE, &mut task).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => (String::new(), 0),
        Err(_) => {
            task.abort();
            (
                "[output unavailable: a process outside the command's group kept the pipe open]\n"
                    .to_string(),
                0,
            )
        }
    }
}

/// Keeps the first and last `cap / 2` bytes of a stream and counts what fell in between.
async fn read_capped(mut pipe: impl AsyncRead + Unpin, cap: usize) -> (String, u64) {
    let half = cap / 2;
    let mut head: Vec<u8> = Vec::new();
    let mut tail: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
    let mut dropped: u64 = 0;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = &buffer[..n];
        if head.len() < half {
            let take = (half - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        tail.extend(chunk);
        let excess = tail.len().saturating_sub(cap - half);
        if excess > 0 {
            tail.drain(..excess);
            dropped += excess as u64;
        }
    }
    let mut text = String::from_utf8_lossy(&head).into_owned();
    if dropped > 0 {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("[... {dropped} bytes dropped ...]\n"));
    }
    text.push_str(&String::from_utf8_lossy(tail.make_contiguous()));
    (text, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(timeout: Duration, cap: usize) -> CommandEnv {
        CommandEnv {
            vars: vec![("PATH".into(), "/usr/bin:/bin".into())],
            timeout,
            max_output_bytes: cap,
            sandbox: None,
            stop: None,
        }
    }

    #[tokio::test]
    async fn output_and_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let output = run_shell(
            "echo hi; echo err >&2; exit 3",
            dir.path(),
            &env(Duration::from_secs(10), 1024),
        )
        .await
        .unwrap();
        assert_eq!(output.exit_code, Some(3));
        assert_eq!(output.stdout, "hi\n");
        assert_eq!(output.stderr, "err\n");
        assert!(output
            .observation()
            .starts_with("exit_code: 3\n--- stdout ---\nhi\n"));
    }

    #[tokio::test]
    async fn descriptors_the_harness_inherited_never_reach_a_command() {
        let dir = tempfile::tempdir().unwrap();
        // A descriptor without close-on-exec, as a parent of the harness may leave one.
        // SAFETY: open(2) on a constant path; the descriptor is closed below.
        let leaked = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
        assert!(leaked > 2);
        let output = run_shell(
            "ls /proc/self/fd",
            dir.path(),
            &env(Duration::from_secs(10), 4096),
        )
        .await
        .unwrap();
        // SAFETY: the descriptor opened above.
        unsafe { libc::close(leaked) };
        let open: Vec<i32> = output
            .stdout
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        // Standard input, output and error, and the folder `ls` itself reads.
        assert_eq!(open, [0, 1, 2, 3], "{}", output.stdout);
        assert_ne!(leaked, 3, "the test's descriptor must be another number");
    }

    #[tokio::test]
    async fn environment_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let output = run_shell("env", dir.path(), &env(Duration::from_secs(10), 4096))
            .await
            .unwrap();
        let names: Vec<&str> = output
            .stdout
            .lines()
            .filter_map(|l| l.split('=').next())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| ["PATH", "PWD", "SHLVL", "_", "OLDPWD"].contains(n)),
            "{names:?}"
        );
    }

    #[tokio::test]
    async fn long_output_keeps_head_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let output = run_shell(
            "seq 1 100000",
            dir.path(),
            &env(Duration::from_secs(10), 100),
        )
        .await
        .unwrap();
        assert!(output.stdout.starts_with("1\n2\n3\n"));
        assert!(output.stdout.ends_with("99999\n100000\n"));
        assert!(output.stdout_dropped > 500_000);
        assert!(output.stdout.contains(&format!(
            "[... {} bytes dropped ...]",
            output.stdout_dropped
        )));
    }
}

//! Processes that outlive the call that starts them: a server under test, a browser. Each runs in
//! its own session and process group, jailed like any command (its own control group), with the
//! command environment; its output is kept up to a cap while it runs. Stopping one kills its
//! whole group and control group, and so does dropping it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;

use super::notice::Notice;
use super::process::{close_from, command_in, CommandEnv};
use super::sandbox::{ExitFacts, Jail};

/// The first bytes of a background process's output (stdout and stderr together).
#[derive(Debug, Default)]
struct Output {
    kept: Vec<u8>,
    dropped: u64,
}

/// A running background process.
#[derive(Debug)]
pub struct Background {
    child: Child,
    group: Option<i32>,
    jail: Option<Jail>,
    output: Arc<Mutex<Output>>,
}

/// A descriptor the child gets at a fixed number (the browser's protocol pipes on 3 and 4).
pub struct Inherit {
    pub fd: OwnedFd,
    pub at: i32,
}

impl Background {
    /// Starts `program` with `args` in `cwd`, confined by the environment's sandbox; each of
    /// `inherit` is the child's descriptor `at`. Keeps up to `cap` bytes of output.
    pub fn spawn(
        program: &Path,
        args: &[String],
        cwd: &Path,
        env: &CommandEnv,
        inherit: Vec<Inherit>,
        cap: usize,
    ) -> std::io::Result<Background> {
        let mut jail = match &env.sandbox {
            Some(sandbox) => Some(sandbox.jail(cwd)?),
            None => None,
        };
        let setup = jail.as_mut().and_then(|j| j.take_setup());
        // Each descriptor is first moved above the numbers it will take, so that no `dup2` in
        // the child overwrites a descriptor still to be placed.
        let mut moved = Vec::with_capacity(inherit.len());
        for Inherit { fd, at } in inherit {
            // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own returns a new one we then own.
            let high = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 64) };
            if high < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `high` is a fresh descriptor owned by nobody else.
            moved.push((
                unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(high) },
                at,
            ));
        }
        let places: Vec<(i32, i32)> = moved.iter().map(|(fd, at)| (fd.as_raw_fd(), *at)).collect();
        // Everything else from 3 on is closed in the child: the numbers between the placed ones,
        // and all above them.
        let above = places
            .iter()
            .map(|&(_, at)| at + 1)
            .max()
            .unwrap_or(3)
            .max(3);
        let gaps: Vec<i32> = (3..above)
            .filter(|n| !places.iter().any(|&(_, at)| at == *n))
            .collect();
        let mut command = command_in(program, cwd, env);
        command.args(args);
        // SAFETY: the closure makes system calls only (setsid, the sandbox's, which work on data
        // prepared before the fork, then dup2) and allocates nothing.
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The sandbox's own descriptors (control group, namespaces, ruleset) may have the
                // numbers the child's descriptors take: it uses them first.
                if let Some(setup) = &setup {
                    setup.apply()?;
                }
                for &(fd, at) in &places {
                    // dup2 leaves the new descriptor open across exec.
                    if libc::dup2(fd, at) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for &gap in &gaps {
                    libc::close(gap);
                }
                close_from(above as u32);
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        // The child has its copies; the parent's close here.
        drop(moved);
        let group = child.id().map(|pid| pid as i32);
        let output = Arc::new(Mutex::new(Output::default()));
        if let Some(pipe) = child.stdout.take() {
            tokio::spawn(keep(pipe, Arc::clone(&output), cap));
        }
        if let Some(pipe) = child.stderr.take() {
            tokio::spawn(keep(pipe, Arc::clone(&output), cap));
        }
        Ok(Background {
            child,
            group,
            jail,
            output,
        })
    }

    /// What it printed so far (the first bytes, up to the cap).
    pub fn output(&self) -> String {
        match self.output.lock() {
            Ok(output) => {
                let mut text = String::from_utf8_lossy(&output.kept).into_owned();
                if output.dropped > 0 {
                    text.push_str(&format!(
                        "\n[... {} more bytes not kept ...]\n",
                        output.dropped
                    ));
                }
                text
            }
            Err(_) => String::new(),
        }
    }

    /// The exit status, once it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The process id of its leader.
    pub fn pid(&self) -> Option<i32> {
        self.group
    }

    /// Kills it with its whole group and control group, and says which limits it hit and what
    /// the sandbox refused it.
    pub async fn stop(mut self) -> Vec<Notice> {
        if let Some(group) = self.group.take() {
            kill_group(group);
        }
        let jail = self.jail.take();
        if let Some(jail) = &jail {
            jail.kill_remaining().await;
        }
        let status = self.child.wait().await.ok();
        let Some(jail) = jail else {
            return Vec::new();
        };
        use std::os::unix::process::ExitStatusExt;
        let facts = ExitFacts {
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            // The output of a killed server is not evidence of a denial.
            text: String::new(),
        };
        jail.finish(None, &facts).await
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            kill_group(group);
        }
        // Dropping the jail kills what is left in its control group.
    }
}

fn kill_group(group: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group created for the child; an
    // error (ESRCH: the group is already gone) is expected.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

async fn keep(mut pipe: impl AsyncRead + Unpin, output: Arc<Mutex<Output>>, cap: usize) {
    let mut buffer = vec![0u8; 8 * 1024];
    loop {
        let n = match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let Ok(mut output) = output.lock() else {
            break;
        };
        let room = cap.saturating_sub(output.kept.len()).min(n);
        output.kept.extend_from_slice(&buffer[..room]);
        output.dropped += (n - room) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn env() -> CommandEnv {
        CommandEnv {
            vars: vec![("PATH".into(), "/usr/bin:/bin".into())],
            timeout: Duration::from_secs(10),
            max_output_bytes: 1024,
            sandbox: None,
            stop: None,
        }
    }

    fn alive(pid: i32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    #[tokio::test]
    async fn stopping_kills_the_whole_group_and_output_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let script = format!(
            "sleep 300 & echo $! > {p}; sleep 300 & echo $! >> {p}; yes | head -c 5000; wait",
            p = pids.display()
        );
        let background = Background::spawn(
            Path::new("/bin/sh"),
            &["-c".to_string(), script],
            dir.path(),
            &env(),
            Vec::new(),
            100,
        )
        .unwrap();
        let mut children = Vec::new();
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let text = std::fs::read_to_string(&pids).unwrap_or_default();
            children = text.lines().filter_map(|l| l.parse::<i32>().ok()).collect();
            if children.len() == 2 && background.output().contains("more bytes") {
                break;
            }
        }
        assert_eq!(children.len(), 2);
        assert!(children.iter().all(|&pid| alive(pid)));
        let output = background.output();
        assert!(output.starts_with(&"y\n".repeat(50)), "{output}");
        assert!(
            output.contains("[... 4900 more bytes not kept ...]"),
            "{output}"
        );
        background.stop().await;
        // Killed children are reaped by init soon after.
        for _ in 0..100 {
            if children.iter().all(|&pid| !alive(pid)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(children.iter().all(|&pid| !alive(pid)), "{children:?}");
    }

    #[tokio::test]
    async fn inherited_descriptors_arrive_at_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let mut fds = [0; 2];
        // SAFETY: a two-element array for pipe2.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fresh descriptors from pipe2.
        let (read, write) = unsafe {
            use std::os::fd::FromRawFd;
            (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
        };
        let mut background = Background::spawn(
            Path::new("/bin/sh"),
            &[
                "-c".to_string(),
                "echo through-four >&4; ls /proc/self/fd | tr '\\n' ' ' >&4".to_string(),
            ],
            dir.path(),
            &env(),
            vec![Inherit { fd: write, at: 4 }],
            100,
        )
        .unwrap();
        let mut text = String::new();
        use std::io::Read;
        std::fs::File::from(read).read_to_string(&mut text).unwrap();
        // Only 0, 1, 2, the placed 4, and the folder `ls` reads (3, closed before it opened it).
        assert_eq!(text, "through-four\n0 1 2 3 4 ");
        for _ in 0..100 {
            if background.exited().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(background.exited().is_some_and(|s| s.success()));
    }
}

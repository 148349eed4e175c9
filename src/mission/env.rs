//! The suite environments: setup commands run once into a cache directory keyed by their hash
//! (core: a Python venv with pytest and coverage; named ones for Node and Rust missions), reused
//! by later runs and parallel runs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::events::{Emitter, Event};
use crate::spec::hash::{hash_bytes, short};
use crate::spec::mission::MissionSpec;
use crate::spec::suite::{EnvironmentSpec, Suite};
use crate::tools::{run_shell, CommandEnv};

/// Longest a single setup command may take (installing packages over a slow link).
const SETUP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Bumped when the way environments are built changes, so old caches are not reused.
const LAYOUT_VERSION: &str = "env-v1";

/// A ready environment: what agents, checks and acceptance tests run with.
#[derive(Debug, Clone)]
pub struct PreparedEnvironment {
    pub hash: String,
    /// The cache folder, when the suite has setup commands.
    pub dir: Option<PathBuf>,
    /// Folders put in front of the PATH.
    pub path_entries: Vec<String>,
    pub vars: Vec<(String, String)>,
    pub reused: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    #[error("cannot prepare the environment cache `{path}`")]
    Cache {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("environment setup command failed: `{command}` ({status}); log: {log}\n{tail}")]
    Command {
        command: String,
        status: String,
        log: String,
        tail: String,
    },
}

/// The key of an environment: its settings and the layout version.
pub fn environment_hash(spec: &EnvironmentSpec) -> String {
    let text = format!(
        "{LAYOUT_VERSION}\n{:?}\n{:?}\n{:?}",
        spec.setup, spec.path, spec.vars
    );
    hash_bytes(text.as_bytes())
}

/// The key of a suite's environments as run.json records it: the default environment's own
/// hash when the suite names no others, so runs of older suites stay comparable.
pub fn suite_environment_hash(suite: &Suite) -> String {
    let default = environment_hash(&suite.file.environment);
    if suite.file.environments.is_empty() {
        return default;
    }
    let mut text = default;
    for (name, spec) in &suite.file.environments {
        text.push_str(&format!("\n{name}={}", environment_hash(spec)));
    }
    hash_bytes(text.as_bytes())
}

/// Every environment a run's missions use, each prepared once (or why it could not be).
#[derive(Debug, Clone)]
pub struct Environments {
    default: Result<PreparedEnvironment, String>,
    named: BTreeMap<String, Result<PreparedEnvironment, String>>,
}

impl Environments {
    /// One environment for every mission (tests and tools that run a mission alone).
    pub fn single(environment: Result<PreparedEnvironment, String>) -> Environments {
        Environments {
            default: environment,
            named: BTreeMap::new(),
        }
    }

    /// Prepares the environments `missions` use, each once: the default one first when a
    /// mission uses it, then the named ones in name order.
    pub async fn prepare<'a>(
        suite: &Suite,
        missions: impl IntoIterator<Item = &'a MissionSpec>,
        cache_root: &Path,
        host_env: &[(String, String)],
        emitter: &Emitter,
    ) -> Environments {
        let uses: Vec<Option<&str>> = missions
            .into_iter()
            .map(|m| m.file.environment.as_deref())
            .collect();
        let default = if uses.contains(&None) {
            prepare_environment(&suite.file.environment, cache_root, host_env, emitter)
                .await
                .map_err(|e| e.to_string())
        } else {
            Err("the suite's default environment was not prepared for this run".to_string())
        };
        let mut named = BTreeMap::new();
        let mut wanted: Vec<&str> = uses.into_iter().flatten().collect();
        wanted.sort_unstable();
        wanted.dedup();
        for name in wanted {
            let Some(spec) = suite.file.environments.get(name) else {
                continue;
            };
            let prepared = prepare_environment(spec, cache_root, host_env, emitter)
                .await
                .map_err(|e| format!("environment `{name}`: {e}"));
            named.insert(name.to_string(), prepared);
        }
        Environments { default, named }
    }

    /// The environment `mission` runs in, or why there is none.
    pub fn of(&self, mission: &MissionSpec) -> Result<&PreparedEnvironment, String> {
        let result = match mission.file.environment.as_deref() {
            None => &self.default,
            Some(name) => match self.named.get(name) {
                Some(result) => result,
                None => {
                    return Err(format!(
                        "the mission's environment `{name}` was not prepared for this run"
                    ))
                }
            },
        };
        result.as_ref().map_err(Clone::clone)
    }
}

/// Builds the environment, or reuses the cached one. `host_env` is what setup commands run
/// with (a filtered copy of the harness's environment: they install packages).
pub async fn prepare_environment(
    spec: &EnvironmentSpec,
    cache_root: &Path,
    host_env: &[(String, String)],
    emitter: &Emitter,
) -> Result<PreparedEnvironment, EnvironmentError> {
    let started = Instant::now();
    let hash = environment_hash(spec);
    let result = build(spec, cache_root, host_env, &hash).await;
    match &result {
        Ok(prepared) => emitter.emit(Event::EnvironmentReady {
            hash: hash.clone(),
            reused: prepared.reused,
            duration_ms: crate::model::millis(started.elapsed()),
        }),
        Err(error) => emitter.emit(Event::EnvironmentFailed {
            hash: hash.clone(),
            message: error.to_string(),
        }),
    }
    result
}

async fn build(
    spec: &EnvironmentSpec,
    cache_root: &Path,
    host_env: &[(String, String)],
    hash: &str,
) -> Result<PreparedEnvironment, EnvironmentError> {
    let mut prepared = PreparedEnvironment {
        hash: hash.to_string(),
        dir: None,
        path_entries: spec.path.clone(),
        vars: spec
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        reused: true,
    };
    if spec.setup.is_empty()
        && !spec
            .path
            .iter()
            .chain(spec.vars.values())
            .any(|v| v.contains("{env}"))
    {
        return Ok(prepared);
    }
    let envs = cache_root.join("envs");
    let cache_error = |path: &Path| {
        let path = path.display().to_string();
        move |source| EnvironmentError::Cache { path, source }
    };
    std::fs::create_dir_all(&envs).map_err(cache_error(&envs))?;
    let dir = envs.join(short(hash));
    let lock_path = envs.join(format!("{}.lock", short(hash)));
    let lock = std::fs::File::create(&lock_path).map_err(cache_error(&lock_path))?;
    // Another run may be building the same environment: wait for it rather than race it.
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
        .await
        .map_err(|e| EnvironmentError::Cache {
            path: lock_path.display().to_string(),
            source: std::io::Error::other(e),
        })?
        .map_err(cache_error(&envs))?;
    let substitute = |value: &str| value.replace("{env}", &dir.display().to_string());
    prepared.path_entries = spec.path.iter().map(|p| substitute(p)).collect();
    prepared.vars = spec
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), substitute(v)))
        .collect();
    prepared.dir = Some(dir.clone());
    let ready = dir.join(".ready");
    if ready.is_file() {
        drop(lock);
        return Ok(prepared);
    }
    prepared.reused = false;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(cache_error(&dir))?;
    }
    std::fs::create_dir_all(&dir).map_err(cache_error(&dir))?;
    let log_path = dir.join("setup.log");
    let mut log = std::fs::File::create(&log_path).map_err(cache_error(&log_path))?;
    let command_env = CommandEnv {
        vars: host_env.to_vec(),
        timeout: SETUP_TIMEOUT,
        max_output_bytes: 256 * 1024,
        // Set-up installs the suite's tools and needs the network; it is the suite's own command.
        sandbox: None,
        stop: None,
    };
    for command in &spec.setup {
        let command = substitute(command);
        let output = run_shell(&command, &dir, &command_env)
            .await
            .map_err(cache_error(&dir))?;
        let _ = writeln!(log, "$ {command}\n{}\n{}", output.stdout, output.stderr);
        if !output.success() {
            let status = match (output.timed_out, output.exit_code) {
                (true, _) => format!("timed out after {} s", SETUP_TIMEOUT.as_secs()),
                (false, Some(code)) => format!("exit code {code}"),
                (false, None) => "killed by a signal".to_string(),
            };
            let tail: String = output
                .stderr
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(EnvironmentError::Command {
                command,
                status,
                log: log_path.display().to_string(),
                tail,
            });
        }
    }
    std::fs::write(&ready, hash).map_err(cache_error(&ready))?;
    drop(lock);
    Ok(prepared)
}

impl PreparedEnvironment {
    /// The complete environment of a command run for a mission: PATH from the suite
    /// environment in front of `base_path`, a private HOME and TMPDIR, the suite's variables.
    pub fn command_vars(&self, base_path: &str, home: &Path, tmp: &Path) -> Vec<(String, String)> {
        let mut path: Vec<String> = self.path_entries.clone();
        path.extend(
            base_path
                .split(':')
                .filter(|p| !p.is_empty())
                .map(str::to_string),
        );
        let mut vars = vec![
            ("PATH".to_string(), path.join(":")),
            ("HOME".to_string(), home.display().to_string()),
            ("TMPDIR".to_string(), tmp.display().to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ];
        vars.extend(self.vars.iter().cloned());
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::MemorySink;
    use std::sync::Arc;

    #[tokio::test]
    async fn built_once_then_reused() {
        let cache = tempfile::tempdir().unwrap();
        let spec = EnvironmentSpec {
            setup: vec!["mkdir -p {env}/bin && printf '#!/bin/sh\\necho tool-ok\\n' > {env}/bin/tool && chmod +x {env}/bin/tool".into()],
            path: vec!["{env}/bin".into()],
            vars: [("MARK".to_string(), "{env}/mark".to_string())].into_iter().collect(),
        };
        let sink = Arc::new(MemorySink::default());
        let emitter = Emitter::new(vec![sink.clone()]);
        let host = vec![("PATH".to_string(), "/usr/bin:/bin".to_string())];
        let first = prepare_environment(&spec, cache.path(), &host, &emitter)
            .await
            .unwrap();
        assert!(!first.reused);
        let dir = first.dir.clone().unwrap();
        assert!(dir.join("bin/tool").is_file());
        assert_eq!(
            first.vars,
            vec![("MARK".to_string(), format!("{}/mark", dir.display()))]
        );
        let second = prepare_environment(&spec, cache.path(), &host, &emitter)
            .await
            .unwrap();
        assert!(second.reused);
        assert_eq!(second.dir, first.dir);
        let vars = second.command_vars("/usr/bin:/bin", Path::new("/h"), Path::new("/t"));
        assert_eq!(
            vars[0],
            (
                "PATH".to_string(),
                format!("{}/bin:/usr/bin:/bin", dir.display())
            )
        );
        assert_eq!(sink.records.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_failing_command_is_an_error_with_its_output() {
        let cache = tempfile::tempdir().unwrap();
        let spec = EnvironmentSpec {
            setup: vec!["echo broken >&2; exit 7".into()],
            path: vec![],
            vars: Default::default(),
        };
        let emitter = Emitter::new(vec![]);
        let error = prepare_environment(
            &spec,
            cache.path(),
            &[("PATH".into(), "/usr/bin:/bin".into())],
            &emitter,
        )
        .await
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("exit code 7") && message.contains("broken"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn only_the_named_environments_missions_use_are_built() {
        let suites = tempfile::tempdir().unwrap();
        let suite_dir = suites.path().join("s");
        let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
        crate::fsutil::copy_tree(&tiny, &suite_dir, &[]).unwrap();
        let toml = suite_dir.join("suite.toml");
        let text = std::fs::read_to_string(&toml).unwrap();
        std::fs::write(
            &toml,
            format!("{text}\n[environments.used]\nsetup = [\"echo used > {{env}}/mark\"]\n\n[environments.unused]\nsetup = [\"exit 3\"]\n\n[environments.broken]\nsetup = [\"exit 4\"]\n"),
        )
        .unwrap();
        let mission = suite_dir.join("greet/mission.toml");
        let text = std::fs::read_to_string(&mission).unwrap();
        std::fs::write(
            &mission,
            text.replacen("tags = [", "environment = \"used\"\ntags = [", 1),
        )
        .unwrap();
        let suite = crate::spec::suite::load_suite(&suite_dir).unwrap();
        let greet = suite
            .missions
            .iter()
            .find(|m| m.id().as_str() == "greet")
            .unwrap();
        let weak = suite
            .missions
            .iter()
            .find(|m| m.id().as_str() == "weak")
            .unwrap();
        let cache = tempfile::tempdir().unwrap();
        let sink = Arc::new(MemorySink::default());
        let emitter = Emitter::new(vec![sink.clone()]);
        let host = vec![("PATH".to_string(), "/usr/bin:/bin".to_string())];
        let environments =
            Environments::prepare(&suite, suite.missions.iter(), cache.path(), &host, &emitter)
                .await;
        let used = environments.of(greet).unwrap();
        assert!(used.dir.as_ref().unwrap().join("mark").is_file());
        let default = environments.of(weak).unwrap();
        assert_eq!(
            default.dir, None,
            "the tiny suite's default environment has no setup"
        );
        // The default and `used` were prepared; `unused` and `broken` never ran.
        {
            let events = sink.records.lock().unwrap();
            assert_eq!(events.len(), 2);
            assert!(events
                .iter()
                .all(|r| matches!(r.event, Event::EnvironmentReady { .. })));
        }

        // A mission whose environment failed gets why, with the environment's name.
        let mut broken = greet.clone();
        broken.file.environment = Some("broken".into());
        let environments =
            Environments::prepare(&suite, [&broken], cache.path(), &host, &emitter).await;
        let error = environments.of(&broken).unwrap_err();
        assert!(
            error.starts_with("environment `broken`: ") && error.contains("exit code 4"),
            "{error}"
        );
        // One it never prepared says so, the default included: only `broken` was asked for.
        assert!(environments
            .of(greet)
            .unwrap_err()
            .contains("`used` was not prepared"));
        assert!(environments
            .of(weak)
            .unwrap_err()
            .contains("default environment was not prepared"));
    }
}

//! Importers: other benchmarks' task folders turned into suites of missions. `exercism.rs` reads
//! an Exercism track's practice exercises (one milestone each, the layout of the Aider polyglot
//! benchmark); `harbor.rs` reads Harbor / Terminal-Bench 2 task folders. An importer only writes
//! files, and proves what it wrote by loading it as a suite (`spec::suite::load_suite`); every
//! problem names the upstream file it came from.

pub mod exercism;
pub mod harbor;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::spec::suite::load_suite;
use crate::spec::SpecErrors;

/// Why an import could not be done at all. A single task that cannot be converted is not an
/// error: it is listed among [`ImportReport::skipped`] with the reason.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{}`: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write `{}`: {source}", .path.display())]
    Write { path: PathBuf, source: io::Error },
    /// An upstream file that is not what the importer expects.
    #[error("`{}`: {message}", .path.display())]
    Source { path: PathBuf, message: String },
    #[error("`{}` already exists and is not empty; import into a new folder", .path.display())]
    OutNotEmpty { path: PathBuf },
    #[error("nothing was imported:\n{}", .skipped.iter().map(|s| format!("  {s}")).collect::<Vec<_>>().join("\n"))]
    NothingImported { skipped: Vec<Skipped> },
    /// What the importer wrote does not load as a suite: a fault of the importer, reported with
    /// the upstream folder of each mission at fault.
    #[error("the imported suite `{}` does not load:\n{}", .suite.display(), .problems.join("\n"))]
    Invalid {
        suite: PathBuf,
        problems: Vec<String>,
    },
}

/// An upstream task left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub source: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source.display(), self.reason)
    }
}

/// A mission that was written but needs what the harness does not build (a Docker image,
/// system packages): it lies in its own suite, [`ImportReport::set_aside_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    pub mission: String,
    pub source: PathBuf,
    /// What it needs, one line each.
    pub needs: Vec<String>,
}

/// What an import wrote.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// The suite of missions that run here, when there is one.
    pub suite_dir: Option<PathBuf>,
    /// Its missions, by id.
    pub missions: Vec<String>,
    /// The suite of missions that need an environment the harness does not build.
    pub set_aside_dir: Option<PathBuf>,
    pub set_aside: Vec<SetAside>,
    pub skipped: Vec<Skipped>,
    /// Notes about imported missions the user should read (paths rewritten, versions
    /// substituted), by mission.
    pub notes: Vec<(String, String)>,
}

/// The Python environment of imported suites: the core suite's, so that its cache is shared.
pub(crate) const PYTHON_SETUP: [&str; 2] = [
    "python3 -m venv {env}/venv",
    "{env}/venv/bin/python -m pip install --quiet pytest==8.3.4 coverage==7.6.10",
];

/// `[environment]` with the Python environment, and a `pip install` of `extra` when not empty.
pub(crate) fn python_environment(extra: &[String]) -> String {
    let mut setup: Vec<String> = PYTHON_SETUP.iter().map(|s| s.to_string()).collect();
    if !extra.is_empty() {
        setup.push(format!(
            "{{env}}/venv/bin/python -m pip install --quiet {}",
            extra.join(" ")
        ));
    }
    let lines: Vec<String> = setup
        .iter()
        .map(|command| format!("  {},\n", toml_string(command)))
        .collect();
    format!(
        "[environment]\nsetup = [\n{}]\npath = [\"{{env}}/venv/bin\"]\nvars = {{ PYTHONDONTWRITEBYTECODE = \"1\" }}\n",
        lines.concat()
    )
}

/// A TOML basic string.
pub(crate) fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML string for text of several lines: a literal multi-line string when the text allows
/// one (readable in the file), else a basic string.
pub(crate) fn toml_text(text: &str) -> String {
    let fits_literal = !text.contains("'''")
        && !text.ends_with('\'')
        && text
            .chars()
            .all(|c| c == '\n' || c == '\t' || !c.is_control());
    if fits_literal {
        format!("'''\n{text}'''")
    } else {
        toml_string(text)
    }
}

pub(crate) fn read_text(path: &Path) -> Result<String, ImportError> {
    std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `content` to `path`, creating its folders.
pub(crate) fn write(path: &Path, content: impl AsRef<[u8]>) -> Result<(), ImportError> {
    let wrote = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, content));
    wrote.map_err(|source| ImportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn create_dir(path: &Path) -> Result<(), ImportError> {
    std::fs::create_dir_all(path).map_err(|source| ImportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Refuses an output folder that holds anything: an import never mixes with older files.
pub(crate) fn check_out_dir(out: &Path) -> Result<(), ImportError> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(ImportError::OutNotEmpty {
                path: out.to_path_buf(),
            }),
        },
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ImportError::Read {
            path: out.to_path_buf(),
            source,
        }),
    }
}

/// Loads the suite written at `suite`; a problem is reported with the upstream folder of the
/// mission it is about (`sources`: mission id -> upstream folder).
pub(crate) fn validate(
    suite: &Path,
    sources: &BTreeMap<String, PathBuf>,
) -> Result<(), ImportError> {
    load_suite(suite)
        .map(|_| ())
        .map_err(|SpecErrors(errors)| ImportError::Invalid {
            suite: suite.to_path_buf(),
            problems: errors
                .iter()
                .map(
                    |error| match error.mission.as_ref().and_then(|m| sources.get(m)) {
                        Some(source) => format!("  imported from `{}`: {error}", source.display()),
                        None => format!("  {error}"),
                    },
                )
                .collect(),
        })
}

/// The name of a folder, as text.
pub(crate) fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_become_toml_that_reads_back() {
        for text in [
            "plain\n",
            "it's\n",
            "ends with '",
            "has ''' inside",
            "tab\tand \u{7} bell",
        ] {
            let document = format!("x = {}\n", toml_text(text));
            let value: toml::Table = toml::from_str(&document).unwrap();
            assert_eq!(value["x"].as_str(), Some(text), "{document}");
        }
    }

    #[test]
    fn the_environment_adds_extra_packages_after_the_core_ones() {
        let plain = python_environment(&[]);
        assert!(plain.contains("pytest==8.3.4 coverage==7.6.10"));
        assert_eq!(plain.matches("pip install").count(), 1);
        let extra = python_environment(&["numpy==2.1.0".to_string()]);
        assert!(extra.contains("pip install --quiet numpy==2.1.0"));
        let table: toml::Table = toml::from_str(&extra).unwrap();
        assert_eq!(table["environment"]["setup"].as_array().unwrap().len(), 3);
    }
}

//! Role prompts: Markdown files embedded in the binary, optionally replaced per suite by
//! `<suite>/prompts/<name>.md`, and hashed into the run's fingerprint.

use std::collections::BTreeMap;
use std::path::Path;

use crate::spec::hash::hash_bytes;
use crate::spec::SpecError;

/// The prompt names, one per role and phase.
pub const PROMPT_NAMES: [&str; 6] = [
    "orchestrator",
    "orchestrator_fix",
    "worker",
    "scrutiny",
    "user_testing",
    "subagent",
];

fn embedded(name: &str) -> &'static str {
    match name {
        "orchestrator" => include_str!("prompts/orchestrator.md"),
        "orchestrator_fix" => include_str!("prompts/orchestrator_fix.md"),
        "worker" => include_str!("prompts/worker.md"),
        "scrutiny" => include_str!("prompts/scrutiny.md"),
        "user_testing" => include_str!("prompts/user_testing.md"),
        _ => include_str!("prompts/subagent.md"),
    }
}

#[derive(Debug, Clone)]
pub struct Prompts {
    texts: BTreeMap<&'static str, String>,
    /// Names replaced by the suite.
    pub overridden: Vec<String>,
}

impl Prompts {
    pub fn embedded() -> Prompts {
        Prompts {
            texts: PROMPT_NAMES
                .iter()
                .map(|n| (*n, embedded(n).to_string()))
                .collect(),
            overridden: Vec::new(),
        }
    }

    /// The embedded prompts with the suite's replacements; an unknown file in `prompts/` is an
    /// error (a misspelt name would otherwise be silently ignored).
    pub fn for_suite(suite_dir: &Path) -> Result<Prompts, SpecError> {
        let mut prompts = Prompts::embedded();
        let dir = suite_dir.join("prompts");
        if !dir.is_dir() {
            return Ok(prompts);
        }
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| SpecError::new(&dir, format!("cannot list prompts: {e}")))?;
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let Some(name) = PROMPT_NAMES.iter().find(|n| **n == stem) else {
                return Err(SpecError::new(
                    &path,
                    format!(
                        "not a prompt name; prompts are: {}",
                        PROMPT_NAMES.map(|n| format!("{n}.md")).join(", ")
                    ),
                ));
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| SpecError::new(&path, format!("cannot read: {e}")))?;
            prompts.texts.insert(name, text);
            prompts.overridden.push(name.to_string());
        }
        Ok(prompts)
    }

    pub fn get(&self, name: &str) -> &str {
        self.texts.get(name).map(String::as_str).unwrap_or_default()
    }

    /// Hash of every prompt, by name.
    pub fn hashes(&self) -> BTreeMap<String, String> {
        self.texts
            .iter()
            .map(|(name, text)| (name.to_string(), hash_bytes(text.as_bytes())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_can_replace_prompts() {
        let suite = tempfile::tempdir().unwrap();
        assert_eq!(
            Prompts::for_suite(suite.path()).unwrap().hashes(),
            Prompts::embedded().hashes()
        );
        std::fs::create_dir(suite.path().join("prompts")).unwrap();
        std::fs::write(suite.path().join("prompts/worker.md"), "Be brief.").unwrap();
        let prompts = Prompts::for_suite(suite.path()).unwrap();
        assert_eq!(prompts.get("worker"), "Be brief.");
        assert_ne!(
            prompts.hashes()["worker"],
            Prompts::embedded().hashes()["worker"]
        );
        std::fs::write(suite.path().join("prompts/wroker.md"), "typo").unwrap();
        assert!(Prompts::for_suite(suite.path())
            .unwrap_err()
            .message
            .contains("not a prompt name"));
    }
}

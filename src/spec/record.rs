//! The harness's own rules of what a workspace's record leaves out: `.git/` at the top (the
//! harness's repository) and the caches a suite declares (`[record] caches` in `suite.toml`).
//! Checkpoints, diffs and line counts follow these rules and never the workspace's own
//! `.gitignore`, `.gitattributes` or git configuration, which the agents can write.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;

/// Caches left out when a suite declares none: what Python, Node and Rust tools regenerate.
pub const DEFAULT_CACHES: [&str; 7] = [
    "__pycache__/",
    "*.pyc",
    ".pytest_cache/",
    ".coverage",
    ".coverage.*",
    "node_modules/",
    "target/",
];

/// `[record]` of `suite.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RecordSpec {
    /// Patterns of paths that tools regenerate, in the form of `.gitignore` lines without `!`:
    /// a trailing `/` matches folders only; a pattern without another `/` matches a name at
    /// any depth; one with a `/` matches the path from the workspace's top.
    #[serde(default = "default_caches")]
    pub caches: Vec<String>,
}

impl Default for RecordSpec {
    fn default() -> RecordSpec {
        RecordSpec {
            caches: default_caches(),
        }
    }
}

fn default_caches() -> Vec<String> {
    DEFAULT_CACHES.iter().map(|c| c.to_string()).collect()
}

#[derive(Debug, Clone)]
struct Rule {
    folders_only: bool,
    /// Matched against the whole path rather than the last name.
    anchored: bool,
    glob: GlobMatcher,
}

/// The compiled rules of what the record leaves out.
#[derive(Debug, Clone)]
pub struct RecordRules {
    patterns: Vec<String>,
    rules: Vec<Rule>,
}

impl Default for RecordRules {
    fn default() -> RecordRules {
        // The default patterns are known to compile.
        RecordRules::new(&default_caches()).unwrap_or(RecordRules {
            patterns: Vec::new(),
            rules: Vec::new(),
        })
    }
}

impl RecordRules {
    /// Compiles cache patterns; the message names the pattern that is wrong.
    pub fn new(patterns: &[String]) -> Result<RecordRules, String> {
        let mut rules = Vec::new();
        for pattern in patterns {
            let trimmed = pattern.trim();
            if trimmed.is_empty() {
                return Err("a cache pattern must not be empty".to_string());
            }
            if trimmed.starts_with('!') {
                return Err(format!(
                    "`{pattern}`: negated patterns (`!`) are not supported; list only what to leave out"
                ));
            }
            let folders_only = trimmed.ends_with('/');
            let body = trimmed.trim_end_matches('/');
            let anchored = body.contains('/');
            let body = body.trim_start_matches('/');
            if body.is_empty() {
                return Err(format!("`{pattern}` names no path"));
            }
            let glob = GlobBuilder::new(body)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("invalid pattern `{pattern}`: {e}"))?
                .compile_matcher();
            rules.push(Rule {
                folders_only,
                anchored,
                glob,
            });
        }
        Ok(RecordRules {
            patterns: patterns.to_vec(),
            rules,
        })
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether the record leaves out `path` (below the workspace, raw bytes separated by `/`):
    /// the harness's `.git` at the top, or a declared cache.
    pub fn leaves_out(&self, path: &[u8], is_dir: bool) -> bool {
        if path == b".git" {
            return true;
        }
        let name = path.rsplit(|b| *b == b'/').next().unwrap_or(path);
        self.rules.iter().any(|rule| {
            if rule.folders_only && !is_dir {
                return false;
            }
            let candidate = if rule.anchored { path } else { name };
            rule.glob.is_match(Path::new(OsStr::from_bytes(candidate)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(patterns: &[&str]) -> RecordRules {
        RecordRules::new(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn caches_match_like_gitignore_lines() {
        let defaults = RecordRules::default();
        assert!(defaults.leaves_out(b".git", true));
        assert!(!defaults.leaves_out(b"sub/.git", true));
        assert!(defaults.leaves_out(b"pkg/__pycache__", true));
        assert!(!defaults.leaves_out(b"pkg/__pycache__", false));
        assert!(defaults.leaves_out(b"a/b/c.pyc", false));
        assert!(defaults.leaves_out(b".coverage.host.1", false));
        assert!(!defaults.leaves_out(b"wordfreq.py", false));
        assert!(!defaults.leaves_out(b".gitignore", false));

        let anchored = rules(&["/build/", "docs/*.html"]);
        assert!(anchored.leaves_out(b"build", true));
        assert!(!anchored.leaves_out(b"src/build", true));
        assert!(anchored.leaves_out(b"docs/index.html", false));
        assert!(!anchored.leaves_out(b"docs/api/index.html", false));
        assert!(!anchored.leaves_out(b"bad\xff.html", false));
    }

    #[test]
    fn bad_patterns_are_named() {
        let negated = RecordRules::new(&["!keep".to_string()]).unwrap_err();
        assert!(negated.contains("`!keep`"), "{negated}");
        assert!(RecordRules::new(&[" ".to_string()]).is_err());
        let broken = RecordRules::new(&["a[".to_string()]).unwrap_err();
        assert!(broken.contains("`a[`"), "{broken}");
    }
}

//! Glob patterns for workspace paths (`[lines]`) and acceptance test ids (`[acceptance.milestones]`).

use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// A set of glob patterns. For paths `*` stops at `/` and `**` crosses folders; for test ids `*`
/// matches anything.
#[derive(Debug, Clone)]
pub struct Globs {
    patterns: Vec<String>,
    set: GlobSet,
}

impl Globs {
    pub fn for_paths(patterns: &[String]) -> Result<Globs, String> {
        Globs::build(patterns, true)
    }

    pub fn for_ids(patterns: &[String]) -> Result<Globs, String> {
        Globs::build(patterns, false)
    }

    fn build(patterns: &[String], literal_separator: bool) -> Result<Globs, String> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let glob = GlobBuilder::new(pattern)
                .literal_separator(literal_separator)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("invalid glob `{pattern}`: {e}"))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| format!("invalid globs: {e}"))?;
        Ok(Globs {
            patterns: patterns.to_vec(),
            set,
        })
    }

    pub fn is_match(&self, candidate: impl AsRef<Path>) -> bool {
        self.set.is_match(candidate)
    }

    pub fn is_match_str(&self, candidate: &str) -> bool {
        self.set.is_match(candidate)
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(patterns: &[&str]) -> Globs {
        Globs::for_paths(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn path_globs_cross_folders_only_with_double_star() {
        let python = globs(&["**/*.py"]);
        assert!(python.is_match("a.py"));
        assert!(python.is_match("pkg/sub/a.py"));
        assert!(!python.is_match("a.txt"));
        let top = globs(&["*.py"]);
        assert!(top.is_match("a.py"));
        assert!(!top.is_match("pkg/a.py"));
        let tests = globs(&["tests/**"]);
        assert!(tests.is_match("tests/test_a.py"));
        assert!(tests.is_match("tests/data/x.txt"));
    }

    #[test]
    fn id_globs_match_across_dots() {
        let ids = Globs::for_ids(&["acceptance.test_m1_*".to_string()]).unwrap();
        assert!(ids.is_match_str("acceptance.test_m1_cli::test_counts"));
        assert!(!ids.is_match_str("acceptance.test_m2_cli::test_counts"));
    }

    #[test]
    fn bad_globs_are_errors() {
        assert!(Globs::for_paths(&["a[".to_string()]).is_err());
    }
}

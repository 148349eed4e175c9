//! The mission's externalized state under `.mission/` of the workspace: contract, features,
//! library, findings and handoffs. Agents start fresh and read it from there; the runtime keeps
//! the same state in memory.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::spec::{Contract, Feature, FeaturePlan, Finding};

#[derive(Debug, Default)]
struct Inner {
    contract: Contract,
    features: Vec<Feature>,
    library: String,
}

#[derive(Debug)]
pub struct MissionState {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

/// A worker's handoff: the arguments of its `finish`, saved under `.mission/handoffs/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    pub summary: String,
    pub tests_run: Vec<String>,
    #[serde(default)]
    pub notes: String,
}

fn toml_text<T: serde::Serialize>(value: &T) -> io::Result<String> {
    toml::to_string_pretty(value).map_err(io::Error::other)
}

impl MissionState {
    pub fn new(workspace: &Path) -> io::Result<MissionState> {
        let dir = workspace.join(".mission");
        std::fs::create_dir_all(dir.join("findings"))?;
        std::fs::create_dir_all(dir.join("handoffs"))?;
        Ok(MissionState {
            dir,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// Reads the contract, features and library back from `.mission/` (after the workspace was
    /// reset to a checkpoint). A missing file is an empty one.
    pub fn reload(&self) -> io::Result<()> {
        let read = |name: &str| match std::fs::read_to_string(self.dir.join(name)) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(e),
        };
        let contract: Contract = toml::from_str(&read("contract.toml")?)
            .map_err(|e| io::Error::other(format!("contract.toml: {e}")))?;
        let plan: FeaturePlan = toml::from_str(&read("features.toml")?)
            .map_err(|e| io::Error::other(format!("features.toml: {e}")))?;
        let library = read("library.md")?;
        std::fs::create_dir_all(self.dir.join("findings"))?;
        std::fs::create_dir_all(self.dir.join("handoffs"))?;
        let mut inner = self.lock();
        inner.contract = contract;
        inner.features = plan.features;
        inner.library = library;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of plain data.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn contract(&self) -> Contract {
        self.lock().contract.clone()
    }

    pub fn features(&self) -> Vec<Feature> {
        self.lock().features.clone()
    }

    pub fn library(&self) -> String {
        self.lock().library.clone()
    }

    pub fn write_contract(&self, contract: &Contract) -> io::Result<()> {
        std::fs::write(self.dir.join("contract.toml"), toml_text(contract)?)?;
        // A new contract clears the features planned for the old one.
        match std::fs::remove_file(self.dir.join("features.toml")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut inner = self.lock();
        inner.contract = contract.clone();
        inner.features.clear();
        Ok(())
    }

    pub fn write_features(&self, features: &[Feature]) -> io::Result<()> {
        let plan = FeaturePlan {
            features: features.to_vec(),
        };
        std::fs::write(self.dir.join("features.toml"), toml_text(&plan)?)?;
        self.lock().features = features.to_vec();
        Ok(())
    }

    /// Appends fix features to the plan.
    pub fn add_features(&self, fixes: &[Feature]) -> io::Result<()> {
        let mut features = self.features();
        features.extend(fixes.iter().cloned());
        self.write_features(&features)
    }

    pub fn write_library(&self, library: &str) -> io::Result<()> {
        std::fs::write(self.dir.join("library.md"), library)?;
        self.lock().library = library.to_string();
        Ok(())
    }

    /// Appends validators' notes to the library.
    pub fn append_library_notes(&self, notes: &[String]) -> io::Result<()> {
        if notes.is_empty() {
            return Ok(());
        }
        let mut library = self.library();
        if !library.contains("## Notes from validation") {
            library.push_str("\n\n## Notes from validation\n");
        }
        for note in notes {
            library.push_str(&format!("- {}\n", note.trim()));
        }
        self.write_library(&library)
    }

    pub fn write_finding(&self, finding: &Finding) -> io::Result<()> {
        let mut text = format!(
            "# {}: {}\n\n- milestone: {}\n- round: {}\n- severity: {}\n- source: {}\n",
            finding.id,
            finding.title,
            finding.milestone,
            finding.round,
            finding.severity,
            finding.source.as_str()
        );
        if let Some(feature) = &finding.feature {
            text.push_str(&format!("- feature: {feature}\n"));
        }
        text.push_str(&format!("\n{}\n", finding.detail));
        std::fs::write(
            self.dir.join("findings").join(format!("{}.md", finding.id)),
            text,
        )
    }

    pub fn write_handoff(
        &self,
        feature: &Feature,
        outcome: &str,
        handoff: Option<&Handoff>,
        blocked: Option<&str>,
    ) -> io::Result<()> {
        let mut text = format!(
            "# Handoff of {}: {}\n\n- outcome: {outcome}\n",
            feature.id, feature.title
        );
        if let Some(reason) = blocked {
            text.push_str(&format!("- blocked: {reason}\n"));
        }
        if let Some(handoff) = handoff {
            text.push_str(&format!(
                "\n## Summary\n{}\n\n## Tests run\n",
                handoff.summary
            ));
            for test in &handoff.tests_run {
                text.push_str(&format!("- `{test}`\n"));
            }
            text.push_str(&format!("\n## Notes\n{}\n", handoff.notes));
        }
        std::fs::write(
            self.dir.join("handoffs").join(format!("{}.md", feature.id)),
            text,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{FindingSource, Severity};

    #[test]
    fn a_finding_file_reads_as_prose() {
        let workspace = tempfile::tempdir().unwrap();
        let state = MissionState::new(workspace.path()).unwrap();
        let finding = Finding {
            id: "F1-m1-r1".to_string(),
            milestone: "m1".into(),
            round: 1,
            feature: Some("f1".into()),
            assertion: None,
            source: FindingSource::Mechanical,
            severity: Severity::Blocking,
            title: "assertion `A1` fails its command check".to_string(),
            detail: "`sh greet.sh`: expected exit 0".to_string(),
        };
        state.write_finding(&finding).unwrap();
        let text = std::fs::read_to_string(state.dir.join("findings").join("F1-m1-r1.md")).unwrap();
        assert_eq!(
            text,
            "# F1-m1-r1: assertion `A1` fails its command check\n\n- milestone: m1\n- round: 1\n- severity: blocking\n- source: mechanical\n- feature: f1\n\n`sh greet.sh`: expected exit 0\n"
        );
    }
}

//! `view --static DIR`: the server's pages written as files, with the report files they link to
//! (diffs, evidence, transcripts) copied beside them, so the folder opens from `file://`. Search
//! is the one page that cannot work without the server; its page says so.

use std::path::{Path, PathBuf};

use super::pages;
use super::{Mode, Reply, ViewError, Viewer};

/// What the static writer wrote.
#[derive(Debug, Default)]
pub struct StaticSite {
    pub pages: usize,
    pub files: usize,
    /// Pages that could not be made (a mission's agent run without a transcript, …), with why;
    /// the rest are written.
    pub missing: Vec<String>,
}

/// Writes every page of `viewer` under `dir` (created if needed).
pub fn write_static(viewer: &Viewer, dir: &Path) -> Result<StaticSite, ViewError> {
    let mut site = StaticSite::default();
    let mut writer = Writer {
        viewer,
        dir,
        site: &mut site,
    };
    writer.page("index.html")?;
    writer.page("search.html")?;
    for (i, run) in viewer.runs().iter().enumerate() {
        writer.page(&format!("r/{i}/index.html"))?;
        writer.page(&format!("r/{i}/charts.html"))?;
        let mut pairings: Vec<String> = run
            .missions
            .iter()
            .map(|m| pages::pairing_file(&m.key.pairing))
            .collect();
        pairings.sort();
        pairings.dedup();
        for pairing in pairings {
            writer.page(&format!("r/{i}/p/{pairing}.html"))?;
        }
        for mission in &run.missions {
            let base = format!("r/{i}/m/{}", crate::report::percent_encode(&mission.slug));
            writer.page(&format!("{base}/index.html"))?;
            for agent in pages::agent_numbers(run, mission) {
                writer.page(&format!("{base}/{agent:03}.html"))?;
                for turn in pages::agent_turns(run, mission, agent) {
                    writer.page(&format!("{base}/{agent:03}/{turn}.html"))?;
                }
            }
            for relative in pages::linked_files(run, mission) {
                let names: Vec<String> = relative
                    .split('/')
                    .map(crate::report::percent_encode)
                    .collect();
                writer.file(&format!("r/{i}/{}", names.join("/")))?;
            }
        }
    }
    Ok(site)
}

struct Writer<'a> {
    viewer: &'a Viewer,
    dir: &'a Path,
    site: &'a mut StaticSite,
}

impl Writer<'_> {
    /// The page at `address` (as a link writes it), written to the file of that name.
    fn page(&mut self, address: &str) -> Result<(), ViewError> {
        match self.viewer.get(&format!("/{address}"), None, Mode::Static) {
            Reply::Html(html) => {
                self.write(address, html.as_bytes())?;
                self.site.pages += 1;
            }
            Reply::NotFound(why) | Reply::Forbidden(why) => self.site.missing.push(why),
            Reply::File { .. } => {}
        }
        Ok(())
    }

    /// The report file at `address` copied, when there is one (a mission without a diff has
    /// none).
    fn file(&mut self, address: &str) -> Result<(), ViewError> {
        if let Reply::File { path, .. } =
            self.viewer.get(&format!("/{address}"), None, Mode::Static)
        {
            let bytes = std::fs::read(&path).map_err(|source| ViewError::Read {
                path: path.display().to_string(),
                source,
            })?;
            self.write(address, &bytes)?;
            self.site.files += 1;
        }
        Ok(())
    }

    fn write(&self, address: &str, bytes: &[u8]) -> Result<(), ViewError> {
        let mut path = PathBuf::from(self.dir);
        for name in address.split('/') {
            // Addresses are the viewer's own, each name percent-encoded as links write it.
            path.push(super::percent_decode(name).unwrap_or_else(|| name.to_string()));
        }
        let failed = |source| ViewError::Write {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        std::fs::write(&path, bytes).map_err(failed)
    }
}

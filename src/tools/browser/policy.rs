//! Which addresses the browser may load: `http`/`https` on loopback (`127.0.0.1`, `localhost`,
//! `[::1]`), `file://` beneath the workspace, and `about:blank` and the page's own `data:` and
//! `blob:` resources. Everything else is refused before the browser sees it and recorded as a
//! sandbox denial.

use std::path::{Component, Path, PathBuf};

use crate::tools::{Notice, NoticeKind};

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub url: String,
    pub reason: String,
    pub kind: NoticeKind,
}

impl Refusal {
    pub fn notice(&self) -> Notice {
        Notice::new(
            self.kind,
            format!(
                "denied: the browser may not load `{}`: {}",
                self.url, self.reason
            ),
        )
    }
}

/// The addresses one mission's browser may load.
#[derive(Debug, Clone)]
pub struct UrlPolicy {
    workspace: PathBuf,
}

impl UrlPolicy {
    pub fn new(workspace: &Path) -> UrlPolicy {
        UrlPolicy {
            workspace: workspace.to_path_buf(),
        }
    }

    /// Whether a top-level address the agent asked for may be opened.
    pub fn check(&self, url: &str) -> Result<(), Refusal> {
        let refuse = |reason: &str, kind: NoticeKind| {
            Err(Refusal {
                url: cut(url),
                reason: reason.to_string(),
                kind,
            })
        };
        let Some((scheme, rest)) = url.split_once(':') else {
            return refuse(
                "it is not an absolute address (write `http://127.0.0.1:PORT/...`)",
                NoticeKind::NetworkDenied,
            );
        };
        match scheme.to_ascii_lowercase().as_str() {
            "http" | "https" | "ws" | "wss" => match host_of(rest) {
                Some(host) if is_loopback(&host) => Ok(()),
                Some(host) => refuse(
                    &format!("`{host}` is not loopback; the browser reaches 127.0.0.1 only"),
                    NoticeKind::NetworkDenied,
                ),
                None => refuse("it names no host", NoticeKind::NetworkDenied),
            },
            "file" => match file_path(rest) {
                Some(path) if self.inside_workspace(&path) => Ok(()),
                _ => refuse(
                    "files outside the workspace cannot be opened",
                    NoticeKind::PathRefused,
                ),
            },
            "about" if rest == "blank" => Ok(()),
            _ => refuse(
                "only http and https on 127.0.0.1 and files in the workspace can be opened",
                NoticeKind::NetworkDenied,
            ),
        }
    }

    /// Whether a resource the page itself loads may be fetched: what [`UrlPolicy::check`]
    /// allows, and the page's own `data:` and `blob:` resources.
    pub fn check_resource(&self, url: &str) -> Result<(), Refusal> {
        let lower = url.get(..5).unwrap_or("").to_ascii_lowercase();
        if lower == "data:" || lower == "blob:" {
            return Ok(());
        }
        self.check(url)
    }

    fn inside_workspace(&self, path: &Path) -> bool {
        // `..` is resolved by hand: the file may not exist yet, and links are the sandbox's
        // business (Landlock confines what the browser reads).
        let mut normal = PathBuf::new();
        for component in path.components() {
            match component {
                Component::RootDir => normal.push("/"),
                Component::ParentDir => {
                    normal.pop();
                }
                Component::Normal(part) => normal.push(part),
                Component::CurDir | Component::Prefix(_) => {}
            }
        }
        normal.starts_with(&self.workspace)
    }
}

/// The host of `//host[:port]/...`, lowercased, without brackets or credentials.
fn host_of(rest: &str) -> Option<String> {
    let authority = rest.strip_prefix("//")?;
    let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials before `@` would let `http://127.0.0.1@evil.example/` through a naive check.
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1" || host == "::1"
}

/// The path of `file:///path` (percent escapes decoded); `None` for a remote file host.
fn file_path(rest: &str) -> Option<PathBuf> {
    let path = rest.strip_prefix("//")?;
    let path = match path.strip_prefix("localhost") {
        Some(after) => after,
        None => path,
    };
    if !path.starts_with('/') {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    Some(PathBuf::from(percent_decode(path)?))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn cut(url: &str) -> String {
    match url.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &url[..end]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_workspace_files_are_allowed_and_nothing_else() {
        let policy = UrlPolicy::new(Path::new("/m/workspace"));
        for ok in [
            "http://127.0.0.1:8801/",
            "HTTP://LOCALHOST:3000/x?y#z",
            "https://[::1]:9/",
            "file:///m/workspace/static/index.html",
            "file://localhost/m/workspace/a%20b.html",
            "about:blank",
        ] {
            assert_eq!(policy.check(ok), Ok(()), "{ok}");
        }
        let refused = |url: &str| policy.check(url).unwrap_err();
        for (url, kind) in [
            ("http://example.com/", NoticeKind::NetworkDenied),
            ("http://127.0.0.1@evil.example/", NoticeKind::NetworkDenied),
            ("http://127.0.0.1.evil.example/", NoticeKind::NetworkDenied),
            ("http://10.0.0.1:80/", NoticeKind::NetworkDenied),
            ("http://[::ffff:7f00:1]/", NoticeKind::NetworkDenied),
            ("file:///etc/passwd", NoticeKind::PathRefused),
            (
                "file:///m/workspace/../home/.ssh/id",
                NoticeKind::PathRefused,
            ),
            (
                "file:///m/workspace%2F..%2F..%2Fetc/passwd",
                NoticeKind::PathRefused,
            ),
            ("file://server/share/x", NoticeKind::PathRefused),
            ("chrome://settings", NoticeKind::NetworkDenied),
            ("javascript:alert(1)", NoticeKind::NetworkDenied),
            ("127.0.0.1:8801", NoticeKind::NetworkDenied),
        ] {
            let refusal = refused(url);
            assert_eq!(refusal.kind, kind, "{url}");
            assert!(refusal.notice().detail.starts_with("denied: "), "{url}");
        }
        assert_eq!(policy.check_resource("data:image/png;base64,AA"), Ok(()));
        assert!(policy.check("data:text/html,<h1>x</h1>").is_err());
    }
}

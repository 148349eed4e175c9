//! Search across transcripts, on the server: every transcript of every report folder is read line
//! by line (never whole), case-insensitively, until [`MAX_RESULTS`] matches; each result links to
//! its turn. Written as a static folder, the page says that search needs the server.

use std::fmt::Write;
use std::io::{BufRead, BufReader};

use super::pages::turn_href;
use super::transcript::{turn_of, MessageLine};
use super::{percent_decode, Mode, Viewer};
use crate::report::text::escape;

/// Results shown at most; the search stops there.
pub const MAX_RESULTS: usize = 100;

/// Characters of context shown either side of a match.
const CONTEXT: usize = 80;

/// One match: where it is and the text around it.
pub struct Hit {
    pub run: usize,
    pub slug: String,
    pub agent: u32,
    pub role: String,
    pub turn: u32,
    /// `assistant`, `tool result of run_command`, `call to write_file`, …
    pub place: String,
    pub before: String,
    pub matched: String,
    pub after: String,
}

/// The `q` parameter of a query string, decoded (`+` is a space).
pub fn query_text(query: Option<&str>) -> String {
    query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("q="))
        .and_then(|value| percent_decode(&value.replace('+', " ")))
        .unwrap_or_default()
}

pub(super) fn page(viewer: &Viewer, query: Option<&str>, mode: Mode) -> String {
    let text = query_text(query);
    let mut body = format!(
        "<form action=\"search.html\" method=\"get\"><input name=\"q\" value=\"{}\" size=\"40\"> <button>search</button></form>",
        escape(&text)
    );
    if mode == Mode::Static {
        body.push_str("<p class=\"note\">Search needs the server: this folder was written by <code>missions-bench view --static</code>, and a static page cannot read the transcripts. Run <code>missions-bench view &lt;report folders&gt;</code> to search them.</p>");
        return super::pages::layout_page("Search", &body);
    }
    if text.trim().is_empty() {
        body.push_str("<p class=\"note\">Searches every transcript's messages, tool calls and tool results, case-insensitively.</p>");
        return super::pages::layout_page("Search", &body);
    }
    let (hits, errors) = search(viewer, &text);
    let _ = write!(
        body,
        "<p>{} result{} for <mark>{}</mark>{}.</p><table><thead><tr><th>mission run</th><th>agent run</th><th>turn</th><th>where</th><th>text</th></tr></thead><tbody>",
        hits.len(),
        if hits.len() == 1 { "" } else { "s" },
        escape(&text),
        if hits.len() >= MAX_RESULTS {
            format!(" (the first {MAX_RESULTS}; the search stopped there)")
        } else {
            String::new()
        }
    );
    for hit in &hits {
        let href = turn_href("", hit.run, &hit.slug, hit.agent, hit.turn);
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{:03} {}</td><td><a href=\"{href}\">turn {}</a></td><td>{}</td><td class=\"hit\">{}<mark>{}</mark>{}</td></tr>",
            escape(&hit.slug),
            hit.agent,
            escape(&hit.role),
            hit.turn,
            escape(&hit.place),
            escape(&hit.before),
            escape(&hit.matched),
            escape(&hit.after)
        );
    }
    body.push_str("</tbody></table>");
    for error in &errors {
        let _ = write!(body, "<p class=\"err\">{}</p>", escape(error));
    }
    super::pages::layout_page("Search", &body)
}

/// Every match of `text` in the transcripts, in report, mission run and agent run order, up to
/// [`MAX_RESULTS`]; and the files that could not be read.
pub fn search(viewer: &Viewer, text: &str) -> (Vec<Hit>, Vec<String>) {
    let needle = text.to_lowercase();
    let mut hits = Vec::new();
    let mut errors = Vec::new();
    // A needle with characters JSON escapes cannot be looked for in the raw line.
    let prefilter = !needle.contains(['"', '\\']) && !needle.chars().any(char::is_control);
    for (run_index, run) in viewer.runs().iter().enumerate() {
        for mission in &run.missions {
            let folder = run.folder.join("transcripts").join(&mission.slug);
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            let mut files: Vec<(u32, String, std::path::PathBuf)> = entries
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let stem = name.strip_suffix(".jsonl")?;
                    let (number, role) = stem.split_once('-')?;
                    Some((number.parse().ok()?, role.to_string(), entry.path()))
                })
                .collect();
            files.sort();
            for (agent, role, path) in files {
                let file = match std::fs::File::open(&path) {
                    Ok(file) => file,
                    Err(e) => {
                        errors.push(format!("cannot read `{}`: {e}", path.display()));
                        continue;
                    }
                };
                let mut assistants = 0u32;
                for line in BufReader::new(file).split(b'\n') {
                    let Ok(line) = line else { break };
                    let is_assistant = contains(&line, br#""role":"assistant""#);
                    let candidate = !prefilter
                        || String::from_utf8_lossy(&line)
                            .to_lowercase()
                            .contains(&needle);
                    if candidate {
                        if let Ok(message) = serde_json::from_slice::<MessageLine>(&line) {
                            let turn = turn_of(&message.role, assistants);
                            for (place, field) in fields(&message) {
                                if let Some(hit) = find(&field, &needle) {
                                    hits.push(Hit {
                                        run: run_index,
                                        slug: mission.slug.clone(),
                                        agent,
                                        role: role.clone(),
                                        turn,
                                        place,
                                        before: hit.0,
                                        matched: hit.1,
                                        after: hit.2,
                                    });
                                    if hits.len() >= MAX_RESULTS {
                                        return (hits, errors);
                                    }
                                }
                            }
                        }
                    }
                    if is_assistant {
                        assistants += 1;
                    }
                }
            }
        }
    }
    (hits, errors)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The texts of a message a person searches: its content, each call's name and arguments.
fn fields(message: &MessageLine) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let place = match (&message.role[..], &message.tool_name) {
        ("tool", Some(tool)) => format!("result of {tool}"),
        (role, _) => role.to_string(),
    };
    fields.push((place, message.content.clone()));
    for call in &message.tool_calls {
        fields.push((
            format!("call to {}", call.name),
            format!("{} {}", call.name, call.arguments),
        ));
    }
    fields
}

/// The first case-insensitive match of `needle` (lowercase) in `text`, with context.
fn find(text: &str, needle: &str) -> Option<(String, String, String)> {
    let lower = text.to_lowercase();
    let at = lower.find(needle)?;
    // Lowercasing keeps byte offsets for most text; where it does not, show the start.
    let (start, end) = if lower.len() == text.len()
        && text.is_char_boundary(at)
        && text.is_char_boundary(at + needle.len())
    {
        (at, at + needle.len())
    } else {
        (0, 0)
    };
    let mut from = start.saturating_sub(CONTEXT);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (end + CONTEXT).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    Some((
        text[from..start].to_string(),
        text[start..end].to_string(),
        text[end..to].to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_decoded_and_matches_keep_their_context() {
        assert_eq!(query_text(Some("x=1&q=a+b%3Cc")), "a b<c");
        assert_eq!(query_text(None), "");
        let (before, matched, after) = find("say Hello World", "hello").unwrap();
        assert_eq!(
            (before.as_str(), matched.as_str(), after.as_str()),
            ("say ", "Hello", " World")
        );
        assert!(find("nothing", "x").is_none());
        // Lowercasing that changes lengths still finds the message.
        assert!(find("İstanbul hello", "hello").is_some());
    }
}

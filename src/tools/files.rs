//! The workspace tools: read, list, search, write and edit files, and run commands.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use walkdir::WalkDir;

use std::io::{BufRead, Read};

use super::notice::{Notice, NoticeKind};
use super::process::{run_shell, CommandEnv};
use super::registry::{tool_spec, CallResult, Registry, Tool};
use super::workspace::Workspace;
use super::{ToolDetail, ToolErrorKind, ToolReply, ToolSpec};

/// Largest file `read_file` returns whole; longer files are cut with a marker.
const MAX_READ_BYTES: usize = 256 * 1024;
/// Bytes looked at to tell a binary file (one with a NUL byte).
const BINARY_PROBE: usize = 8192;
/// Longest line `read_file` returns whole in a line range.
const MAX_LINE_BYTES: usize = 8192;
/// Files larger than this are skipped by `search_files`.
const MAX_SEARCH_FILE_BYTES: u64 = 4 << 20;
const MAX_LIST_ENTRIES: usize = 2000;
const MAX_SEARCH_MATCHES: usize = 200;
/// The longest timeout a model may ask for, as a multiple of the suite's.
const MAX_TIMEOUT_FACTOR: u32 = 4;

#[derive(Debug, Clone)]
pub struct WorkspaceTools {
    pub workspace: Workspace,
    pub command_env: CommandEnv,
}

// Field doc comments are the descriptions the model sees in each tool's schema.

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadArgs {
    /// path relative to the workspace root
    path: String,
    #[schemars(range(min = 1))]
    start_line: Option<usize>,
    #[schemars(range(min = 1))]
    end_line: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// folder relative to the workspace root; default .
    #[serde(default = "dot")]
    path: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// regular expression (Rust regex syntax)
    pattern: String,
    /// folder relative to the workspace root; default .
    #[serde(default = "dot")]
    path: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteArgs {
    /// path relative to the workspace root
    path: String,
    content: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditArgs {
    path: String,
    old_text: String,
    new_text: String,
    #[serde(default)]
    replace_all: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    command: String,
    /// optional, up to four times the default
    #[schemars(range(min = 1))]
    timeout_s: Option<u64>,
}

/// A context that holds the workspace tools (a role's context does).
pub trait WorkspaceAccess: Send {
    fn workspace_tools(&self) -> &WorkspaceTools;
}

impl WorkspaceAccess for WorkspaceTools {
    fn workspace_tools(&self) -> &WorkspaceTools {
        self
    }
}

/// A borrowed set of workspace tools serves as a context too: calling them needs no copy.
impl WorkspaceAccess for &WorkspaceTools {
    fn workspace_tools(&self) -> &WorkspaceTools {
        self
    }
}

/// Declares a workspace tool: its handler type, name, description, arguments and method.
macro_rules! workspace_tool {
    ($(#[$doc:meta])* $handler:ident, $name:literal, $args:ty, $description:expr, $method:ident $(, $awaited:ident)?) => {
        $(#[$doc])*
        pub struct $handler;

        #[async_trait]
        impl<C: WorkspaceAccess> Tool<C> for $handler {
            type Args = $args;

            fn name(&self) -> &'static str {
                $name
            }

            fn description(&self) -> &'static str {
                $description
            }

            async fn handle(&self, context: &mut C, args: $args) -> CallResult {
                Ok(context.workspace_tools().$method(args)$(.$awaited)?)
            }
        }
    };
}

workspace_tool!(
    /// `read_file`: a text file or a line range of it.
    ReadFile,
    "read_file",
    ReadArgs,
    "Read a text file of the workspace. Optional 1-based start_line/end_line select a range.",
    read_file
);
workspace_tool!(
    /// `list_files`: the files under a folder.
    ListFiles,
    "list_files",
    ListArgs,
    "List the files under a folder of the workspace (recursively, without .git).",
    list_files
);
workspace_tool!(
    /// `search_files`: a regular expression over the text files under a folder.
    SearchFiles,
    "search_files",
    SearchArgs,
    "Search the text files under a folder for a regular expression; prints path:line: text.",
    search_files
);
workspace_tool!(
    /// `write_file`: create or overwrite a file.
    WriteFile,
    "write_file",
    WriteArgs,
    "Create or overwrite a file of the workspace with the given content (folders are created).",
    write_file
);
workspace_tool!(
    /// `edit_file`: replace text in a file.
    EditFile,
    "edit_file",
    EditArgs,
    "Replace old_text with new_text in a file. old_text must occur exactly once unless replace_all is true.",
    edit_file
);
workspace_tool!(
    /// `run_command`: a shell command in the workspace root.
    RunCommand,
    "run_command",
    RunArgs,
    "Run a shell command (sh -c) in the workspace root, without stdin. Background processes are killed when \
     the command ends, so start, use and stop a server within one command. The reply starts with \
     `exit_code: N` or `killed: ...`, then stdout and stderr; long output keeps its head and tail.",
    run_command,
    await
);

fn dot() -> String {
    ".".to_string()
}

fn refused(error: impl std::fmt::Display) -> ToolReply {
    let text = error.to_string();
    ToolReply::error(ToolErrorKind::Refused, text.clone())
        .with_notices(vec![Notice::new(NoticeKind::PathRefused, text)])
}

/// A file refused or cut for its kind or size.
fn capped(kind: ToolErrorKind, text: String) -> ToolReply {
    ToolReply::error(kind, text.clone())
        .with_notices(vec![Notice::new(NoticeKind::ReadCapped, text)])
}

enum OpenError {
    /// What it is instead: `a folder`, `a named pipe`, ...
    NotRegular(&'static str),
    Io(std::io::Error),
}

/// Opens a regular file without blocking on a pipe or device, and returns its size.
fn open_regular(path: &Path) -> Result<(std::fs::File, u64), OpenError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(OpenError::Io)?;
    let metadata = file.metadata().map_err(OpenError::Io)?;
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        return Ok((file, metadata.len()));
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a file"
    };
    Err(OpenError::NotRegular(what))
}

/// Lines `start..=end` (1-based) of a stream, reading no further than needed; long lines and a
/// long range are cut.
fn read_lines(
    stream: &mut impl std::io::BufRead,
    start: usize,
    end: usize,
) -> std::io::Result<(String, Option<String>)> {
    let mut out = String::new();
    let mut line = Vec::new();
    let mut number = 0usize;
    let mut long_lines = 0usize;
    loop {
        line.clear();
        let n = (&mut *stream)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let overlong = !line.ends_with(b"\n") && n > MAX_LINE_BYTES;
        if overlong {
            // Skip the rest of the line without holding it.
            stream.skip_until(b'\n')?;
        }
        number += 1;
        if number < start {
            continue;
        }
        if number > end {
            break;
        }
        let mut text = String::from_utf8_lossy(&line).into_owned();
        if overlong {
            let mut cut_at = MAX_LINE_BYTES.min(text.len());
            while !text.is_char_boundary(cut_at) {
                cut_at -= 1;
            }
            text.truncate(cut_at);
            text.push_str(" [... line cut ...]");
            long_lines += 1;
        }
        let text = text.trim_end_matches('\n');
        out.push_str(text);
        out.push('\n');
        if out.len() > MAX_READ_BYTES {
            return Ok((
                out,
                Some(format!(
                    "[... range cut at {MAX_READ_BYTES} bytes after line {number}; read a smaller range ...]"
                )),
            ));
        }
    }
    let cut = (long_lines > 0)
        .then(|| format!("[... {long_lines} line(s) longer than {MAX_LINE_BYTES} bytes cut ...]"));
    Ok((out, cut))
}

fn failed(error: impl std::fmt::Display) -> ToolReply {
    ToolReply::error(ToolErrorKind::Failed, error.to_string())
}

impl WorkspaceTools {
    pub fn read_spec() -> ToolSpec {
        tool_spec::<WorkspaceTools, _>(&ReadFile)
    }

    pub fn list_spec() -> ToolSpec {
        tool_spec::<WorkspaceTools, _>(&ListFiles)
    }

    pub fn search_spec() -> ToolSpec {
        tool_spec::<WorkspaceTools, _>(&SearchFiles)
    }

    pub fn write_spec() -> ToolSpec {
        tool_spec::<WorkspaceTools, _>(&WriteFile)
    }

    pub fn edit_spec() -> ToolSpec {
        tool_spec::<WorkspaceTools, _>(&EditFile)
    }

    pub fn run_spec() -> ToolSpec {
        tool_spec::<WorkspaceTools, _>(&RunCommand)
    }

    /// All six workspace tools, over any context that holds them.
    pub fn registry<C: WorkspaceAccess>() -> Registry<C> {
        Registry::new()
            .with(ReadFile)
            .with(ListFiles)
            .with(SearchFiles)
            .with(WriteFile)
            .with(EditFile)
            .with(RunCommand)
    }

    /// Calls a workspace tool by name; `None` when `name` is not one.
    pub async fn call(&self, name: &str, arguments: Value) -> Option<ToolReply> {
        let registry = WorkspaceTools::registry::<&WorkspaceTools>();
        if !registry.contains(name) {
            return None;
        }
        // Workspace tools answer every failure to the model; they have no harness failure.
        Some(
            registry
                .dispatch(&mut &*self, name, arguments)
                .await
                .unwrap_or_else(|fatal| ToolReply::error(ToolErrorKind::Failed, fatal.message)),
        )
    }

    fn read_file(&self, args: ReadArgs) -> ToolReply {
        let path = match self.workspace.resolve(&args.path) {
            Ok(path) => path,
            Err(refusal) => return refused(refusal),
        };
        let (file, total) = match open_regular(&path) {
            Ok(opened) => opened,
            Err(OpenError::NotRegular(what)) => {
                return capped(
                    ToolErrorKind::Refused,
                    format!(
                        "`{}` is {what}, not a regular file; it is not read",
                        args.path
                    ),
                )
            }
            Err(OpenError::Io(e)) => return failed(format!("cannot read `{}`: {e}", args.path)),
        };
        let mut reader = std::io::BufReader::new(file);
        let mut head = Vec::new();
        if let Err(e) = (&mut reader)
            .take(BINARY_PROBE as u64)
            .read_to_end(&mut head)
        {
            return failed(format!("cannot read `{}`: {e}", args.path));
        }
        if head.contains(&0) {
            return capped(
                ToolErrorKind::Failed,
                format!(
                    "`{}` is a binary file ({total} bytes); it is not shown",
                    args.path
                ),
            );
        }
        let mut stream = std::io::Cursor::new(head).chain(reader);
        let (content, cut) = match (args.start_line, args.end_line) {
            (None, None) => {
                let mut bytes = Vec::new();
                if let Err(e) = (&mut stream)
                    .take(MAX_READ_BYTES as u64)
                    .read_to_end(&mut bytes)
                {
                    return failed(format!("cannot read `{}`: {e}", args.path));
                }
                let cut = (total > MAX_READ_BYTES as u64).then(|| {
                    format!(
                        "[... file cut at {MAX_READ_BYTES} of {total} bytes; read a line range ...]"
                    )
                });
                (String::from_utf8_lossy(&bytes).into_owned(), cut)
            }
            (start, end) => {
                let start = start.unwrap_or(1).max(1);
                let end = end.unwrap_or(usize::MAX);
                match read_lines(&mut stream, start, end) {
                    Ok(result) => result,
                    Err(e) => return failed(format!("cannot read `{}`: {e}", args.path)),
                }
            }
        };
        match cut {
            None => ToolReply::ok(content),
            Some(marker) => {
                let mut content = content;
                if !content.is_empty() && !content.ends_with('\n') {
                    content.push('\n');
                }
                content.push_str(&marker);
                content.push('\n');
                ToolReply::ok(content)
                    .with_notices(vec![Notice::new(NoticeKind::ReadCapped, marker)])
            }
        }
    }

    fn list_files(&self, args: ListArgs) -> ToolReply {
        let dir = match self.workspace.resolve(&args.path) {
            Ok(dir) => dir,
            Err(refusal) => return refused(refusal),
        };
        if !dir.is_dir() {
            return failed(format!("`{}` is not a folder", args.path));
        }
        let mut lines = Vec::new();
        let walker = WalkDir::new(&dir)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git");
        for entry in walker.flatten() {
            if entry.depth() == 0 {
                continue;
            }
            let Some(relative) = self.workspace.relative(entry.path()) else {
                continue;
            };
            let suffix = if entry.file_type().is_dir() { "/" } else { "" };
            lines.push(format!("{}{suffix}", relative.display()));
            if lines.len() >= MAX_LIST_ENTRIES {
                lines.push(format!(
                    "[... listing cut at {MAX_LIST_ENTRIES} entries ...]"
                ));
                break;
            }
        }
        if lines.is_empty() {
            return ToolReply::ok("(empty)");
        }
        ToolReply::ok(lines.join("\n"))
    }

    fn search_files(&self, args: SearchArgs) -> ToolReply {
        let regex = match regex::Regex::new(&args.pattern) {
            Ok(regex) => regex,
            Err(e) => {
                return ToolReply::error(
                    ToolErrorKind::InvalidArguments,
                    format!("invalid pattern: {e}"),
                )
            }
        };
        let dir = match self.workspace.resolve(&args.path) {
            Ok(dir) => dir,
            Err(refusal) => return refused(refusal),
        };
        let mut matches = Vec::new();
        let walker = WalkDir::new(&dir)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git");
        let mut skipped = 0usize;
        'files: for entry in walker.flatten().filter(|e| e.file_type().is_file()) {
            if entry
                .metadata()
                .is_ok_and(|m| m.len() > MAX_SEARCH_FILE_BYTES)
            {
                skipped += 1;
                continue;
            }
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let relative = self
                .workspace
                .relative(entry.path())
                .unwrap_or(Path::new("?"))
                .display()
                .to_string();
            for (number, line) in text.lines().enumerate() {
                if regex.is_match(line) {
                    matches.push(format!("{relative}:{}: {line}", number + 1));
                    if matches.len() >= MAX_SEARCH_MATCHES {
                        matches.push(format!("[... cut at {MAX_SEARCH_MATCHES} matches ...]"));
                        break 'files;
                    }
                }
            }
        }
        let mut notices = Vec::new();
        if skipped > 0 {
            let line = format!(
                "[{skipped} file(s) larger than {} MiB not searched]",
                MAX_SEARCH_FILE_BYTES >> 20
            );
            matches.push(line.clone());
            notices.push(Notice::new(NoticeKind::ReadCapped, line));
        }
        if matches.is_empty() {
            return ToolReply::ok("no matches");
        }
        ToolReply::ok(matches.join("\n")).with_notices(notices)
    }

    fn write_file(&self, args: WriteArgs) -> ToolReply {
        let path = match self.workspace.resolve_for_write(&args.path) {
            Ok(path) => path,
            Err(refusal) => return refused(refusal),
        };
        if path.is_dir() {
            return failed(format!("`{}` is a folder", args.path));
        }
        // A new file counts against the sandbox's file quota, as it would for a command.
        if path.symlink_metadata().is_err() {
            if let Some(notice) = self
                .command_env
                .sandbox
                .as_ref()
                .and_then(|sandbox| sandbox.file_refusal())
            {
                return ToolReply::error(ToolErrorKind::Refused, notice.detail.clone())
                    .with_notices(vec![notice]);
            }
        }
        if let Some(parent) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                return failed(format!("cannot create the folder of `{}`: {e}", args.path));
            }
        }
        if let Err(e) = std::fs::write(&path, &args.content) {
            return failed(format!("cannot write `{}`: {e}", args.path));
        }
        let relative = self
            .workspace
            .relative(&path)
            .map(|p| p.display().to_string())
            .unwrap_or(args.path);
        ToolReply::ok(format!("wrote {} bytes to {relative}", args.content.len())).with_detail(
            ToolDetail::FileWrite {
                path: relative,
                bytes: args.content.len() as u64,
            },
        )
    }

    fn edit_file(&self, args: EditArgs) -> ToolReply {
        if args.old_text.is_empty() {
            return ToolReply::error(
                ToolErrorKind::InvalidArguments,
                "old_text must not be empty; use write_file to create a file",
            );
        }
        let path = match self.workspace.resolve_for_write(&args.path) {
            Ok(path) => path,
            Err(refusal) => return refused(refusal),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => return failed(format!("cannot read `{}`: {e}", args.path)),
        };
        let count = text.matches(&args.old_text).count();
        let edited = match (count, args.replace_all) {
            (0, _) => return failed(format!("old_text does not occur in `{}`", args.path)),
            (1, _) | (_, true) => text.replace(&args.old_text, &args.new_text),
            (n, false) => {
                return failed(format!(
                    "old_text occurs {n} times in `{}`; give more context or set replace_all",
                    args.path
                ))
            }
        };
        if let Err(e) = std::fs::write(&path, &edited) {
            return failed(format!("cannot write `{}`: {e}", args.path));
        }
        let relative = self
            .workspace
            .relative(&path)
            .map(|p| p.display().to_string())
            .unwrap_or(args.path);
        ToolReply::ok(format!("replaced {count} occurrence(s) in {relative}")).with_detail(
            ToolDetail::FileWrite {
                path: relative,
                bytes: edited.len() as u64,
            },
        )
    }

    async fn run_command(&self, args: RunArgs) -> ToolReply {
        if args.command.trim().is_empty() {
            return ToolReply::error(ToolErrorKind::InvalidArguments, "command must not be empty");
        }
        let mut env = self.command_env.clone();
        if let Some(seconds) = args.timeout_s {
            env.timeout = Duration::from_secs(seconds.max(1))
                .min(self.command_env.timeout * MAX_TIMEOUT_FACTOR);
        }
        match run_shell(&args.command, self.workspace.root(), &env).await {
            Ok(output) => ToolReply::ok(output.observation())
                .with_notices(output.notices.clone())
                .with_detail(ToolDetail::Command {
                    command: args.command,
                    exit_code: output.exit_code,
                    timed_out: output.timed_out,
                    dropped_bytes: output.dropped_bytes(),
                    duration_ms: crate::model::millis(output.duration),
                }),
            Err(e) => failed(format!("cannot start the command: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools(dir: &Path) -> WorkspaceTools {
        WorkspaceTools {
            workspace: Workspace::new(dir).unwrap(),
            command_env: CommandEnv {
                vars: vec![("PATH".into(), "/usr/bin:/bin".into())],
                timeout: Duration::from_secs(10),
                max_output_bytes: 4096,
                sandbox: None,
                stop: None,
            },
        }
    }

    #[tokio::test]
    async fn write_edit_read_list_search() {
        let dir = tempfile::tempdir().unwrap();
        let tools = tools(dir.path());
        let reply = tools
            .call(
                "write_file",
                json!({"path": "pkg/a.py", "content": "x = 1\ny = 2\n"}),
            )
            .await
            .unwrap();
        assert_eq!(reply.error, None, "{}", reply.content);
        assert_eq!(
            reply.detail,
            ToolDetail::FileWrite {
                path: "pkg/a.py".into(),
                bytes: 12
            }
        );
        let reply = tools
            .call(
                "edit_file",
                json!({"path": "pkg/a.py", "old_text": "y = 2", "new_text": "y = 3"}),
            )
            .await
            .unwrap();
        assert_eq!(reply.error, None, "{}", reply.content);
        let reply = tools
            .call("read_file", json!({"path": "pkg/a.py", "start_line": 2}))
            .await
            .unwrap();
        assert_eq!(reply.content, "y = 3\n");
        let reply = tools.call("list_files", json!({})).await.unwrap();
        assert_eq!(reply.content, "pkg/\npkg/a.py");
        let reply = tools
            .call("search_files", json!({"pattern": "y = \\d"}))
            .await
            .unwrap();
        assert_eq!(reply.content, "pkg/a.py:2: y = 3");
        let reply = tools
            .call(
                "edit_file",
                json!({"path": "pkg/a.py", "old_text": "nothing", "new_text": ""}),
            )
            .await
            .unwrap();
        assert_eq!(reply.error, Some(ToolErrorKind::Failed));
    }

    #[tokio::test]
    async fn bad_arguments_and_escapes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let tools = tools(dir.path());
        let reply = tools
            .call("write_file", json!({"path": "a"}))
            .await
            .unwrap();
        assert_eq!(reply.error, Some(ToolErrorKind::InvalidArguments));
        let reply = tools
            .call("write_file", json!({"path": "../a", "content": ""}))
            .await
            .unwrap();
        assert_eq!(reply.error, Some(ToolErrorKind::Refused));
        let reply = tools
            .call("read_file", json!({"path": "/etc/hostname"}))
            .await
            .unwrap();
        assert_eq!(reply.error, Some(ToolErrorKind::Refused));
        assert!(tools.call("no_such_tool", json!({})).await.is_none());
    }

    #[tokio::test]
    async fn commands_report_exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        let tools = tools(dir.path());
        let reply = tools
            .call("run_command", json!({"command": "echo hello; exit 4"}))
            .await
            .unwrap();
        assert!(
            reply
                .content
                .starts_with("exit_code: 4\n--- stdout ---\nhello\n"),
            "{}",
            reply.content
        );
        assert!(matches!(
            reply.detail,
            ToolDetail::Command {
                exit_code: Some(4),
                timed_out: false,
                ..
            }
        ));
    }
}

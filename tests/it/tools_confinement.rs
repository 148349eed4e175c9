//! File tools stay inside the workspace: absolute paths, `..`, symbolic links that lead out and
//! harness state are refused, and nothing outside changes.

use missions_bench::tools::{ToolErrorKind, WorkspaceTools};
use serde_json::json;

use crate::common::plain_tools;

struct Fixture {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    tools: WorkspaceTools,
    outside: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let workspace = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "do not touch").unwrap();
    std::fs::create_dir(workspace.path().join(".git")).unwrap();
    std::fs::create_dir(workspace.path().join(".mission")).unwrap();
    std::fs::write(workspace.path().join(".mission/contract.toml"), "# state").unwrap();
    std::os::unix::fs::symlink(outside.path(), workspace.path().join("escape_dir")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        workspace.path().join("escape_file"),
    )
    .unwrap();
    let tools = plain_tools(workspace.path());
    let outside_path = outside.path().to_path_buf();
    Fixture {
        _dirs: (workspace, outside),
        tools,
        outside: outside_path,
    }
}

#[tokio::test]
async fn escapes_are_refused_and_nothing_outside_changes() {
    let f = fixture();
    let secret = f.outside.join("secret.txt");
    let attempts = [
        ("read_file", json!({"path": secret.display().to_string()})),
        ("read_file", json!({"path": "../secret.txt"})),
        ("read_file", json!({"path": "escape_dir/secret.txt"})),
        ("read_file", json!({"path": "escape_file"})),
        (
            "write_file",
            json!({"path": secret.display().to_string(), "content": "x"}),
        ),
        (
            "write_file",
            json!({"path": "a/../../secret.txt", "content": "x"}),
        ),
        (
            "write_file",
            json!({"path": "escape_dir/new.txt", "content": "x"}),
        ),
        ("write_file", json!({"path": "escape_file", "content": "x"})),
        ("write_file", json!({"path": ".git/config", "content": "x"})),
        (
            "write_file",
            json!({"path": ".mission/contract.toml", "content": "x"}),
        ),
        (
            "edit_file",
            json!({"path": "escape_file", "old_text": "do", "new_text": "did"}),
        ),
        ("list_files", json!({"path": "escape_dir"})),
        ("list_files", json!({"path": "/etc"})),
        (
            "search_files",
            json!({"pattern": "touch", "path": "escape_dir"}),
        ),
    ];
    for (tool, arguments) in attempts {
        let reply = f.tools.call(tool, arguments.clone()).await.unwrap();
        assert_eq!(
            reply.error,
            Some(ToolErrorKind::Refused),
            "{tool} {arguments}: {}",
            reply.content
        );
        assert!(
            !reply.content.contains("do not touch"),
            "{tool} {arguments} leaked the file"
        );
    }
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "do not touch");
    assert_eq!(std::fs::read_dir(&f.outside).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_to_string(f.tools.workspace.root().join(".mission/contract.toml")).unwrap(),
        "# state"
    );
    // Harness state can still be read.
    let reply = f
        .tools
        .call("read_file", json!({"path": ".mission/contract.toml"}))
        .await
        .unwrap();
    assert_eq!((reply.error, reply.content.as_str()), (None, "# state"));
}

#[tokio::test]
async fn malformed_arguments_are_errors_for_the_model() {
    let f = fixture();
    for (tool, arguments) in [
        ("write_file", json!({"path": "a.txt"})),
        ("write_file", json!({"path": 3, "content": "x"})),
        ("read_file", json!({"path": "a.txt", "surprise": true})),
        ("run_command", json!({"command": ""})),
        ("search_files", json!({"pattern": "("})),
    ] {
        let reply = f.tools.call(tool, arguments.clone()).await.unwrap();
        assert_eq!(
            reply.error,
            Some(ToolErrorKind::InvalidArguments),
            "{tool} {arguments}: {}",
            reply.content
        );
    }
}

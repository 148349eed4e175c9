//! `import harbor`: Harbor / Terminal-Bench 2 task folders as missions. `instruction.md` becomes
//! the goal; `tests/` the hidden acceptance, run by its `test.sh`, whose reward file is the
//! report (`results = "reward"`); `solution/` the oracle's reference, which its feature's test
//! command runs (`solve.sh`); `task.toml`'s timeouts the acceptance timeout and the wall-time
//! budget; the files `environment/Dockerfile` copies into the working directory the workspace.
//!
//! Harbor runs a task in a container whose working directory is `/app`, with the tests at
//! `/tests` and the reward under `/logs/verifier`. Here the workspace root is `/app`: those
//! paths are rewritten relative to it in every text file imported (`/app/x` -> `x`, `/tests` ->
//! `acceptance`, `/logs` -> `.harbor-logs`, `/solution` -> `.harbor-solution`). The verifier's
//! own installs (apt, uv, pip) are taken out of the scripts: its Python packages go to the
//! suite's environment (built once, with the network, before any mission), `uvx ... pytest`
//! becomes the environment's `pytest`. What the harness does not build (a Docker image, system
//! packages, services the image starts) sets the task aside, written in full in its own suite
//! `needs-environment/` with a note saying what it needs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{
    check_out_dir, create_dir, folder_name, python_environment, read_bytes, read_text, toml_string,
    toml_text, validate, write, ImportError, ImportReport, SetAside, Skipped,
};
use crate::spec::ids::check_id;

/// What `import harbor` is asked.
#[derive(Debug, Clone)]
pub struct HarborImport {
    /// Task folders (each with `task.toml`, `instruction.md`, `tests/test.sh`).
    pub tasks: Vec<PathBuf>,
    /// The suite folder to write (new or empty).
    pub out: PathBuf,
    /// Where the tasks come from (repository and revision), written into NOTICE.md when given.
    pub origin: Option<String>,
}

/// The folder of the suite of set-aside tasks, inside the output folder.
pub const SET_ASIDE_FOLDER: &str = "needs-environment";

/// Where the reward file and the verifier's logs go, relative to the workspace copy.
const LOGS: &str = ".harbor-logs";
/// Where the reference solution's files go in the oracle's workspace.
const SOLUTION: &str = ".harbor-solution";
/// Where a task's skills (`[environment] skills_dir`) go in the workspace.
const SKILLS: &str = "skills";

/// System packages every machine that runs the harness has (it needs Python and a shell); an
/// apt install of anything else sets the task aside. `curl` is only ever installed to fetch uv.
const SYSTEM_PROVIDED: [&str; 10] = [
    "python3",
    "python3-pip",
    "python3-venv",
    "python-is-python3",
    "bash",
    "coreutils",
    "curl",
    "ca-certificates",
    "grep",
    "sed",
];

/// Python packages the suite's environment has already (pytest-json-ctrf only writes the CTRF
/// report the rewritten command no longer asks for).
const PYTHON_PROVIDED: [&str; 3] = ["pytest", "pytest-json-ctrf", "coverage"];

/// The pytest of the suite's environment, named when a task pins another.
const PYTEST_VERSION: &str = "8.3.4";

/// Imports the task folders into a new suite at `request.out`.
pub fn import_harbor(request: &HarborImport) -> Result<ImportReport, ImportError> {
    check_out_dir(&request.out)?;
    let mut report = ImportReport::default();
    let mut runnable = Vec::new();
    let mut set_aside = Vec::new();
    let mut ids = BTreeSet::new();
    for dir in &request.tasks {
        match plan_task(dir)? {
            Err(reason) => report.skipped.push(Skipped {
                source: dir.clone(),
                reason,
            }),
            Ok(plan) if !ids.insert(plan.id.clone()) => report.skipped.push(Skipped {
                source: dir.clone(),
                reason: format!("a task named `{}` was imported already", plan.id),
            }),
            Ok(plan) => {
                for note in &plan.notes {
                    report.notes.push((plan.id.clone(), note.clone()));
                }
                if plan.needs.is_empty() {
                    runnable.push(plan);
                } else {
                    set_aside.push(plan);
                }
            }
        }
    }
    if runnable.is_empty() && set_aside.is_empty() {
        return Err(ImportError::NothingImported {
            skipped: report.skipped,
        });
    }
    let name = {
        let folder = folder_name(&request.out);
        if check_id(&folder).is_ok() {
            folder
        } else {
            "harbor".to_string()
        }
    };
    if !runnable.is_empty() {
        write_suite(request, &request.out, &name, &runnable)?;
        report.missions = runnable.iter().map(|p| p.id.clone()).collect();
        report.suite_dir = Some(request.out.clone());
    }
    if !set_aside.is_empty() {
        let dir = request.out.join(SET_ASIDE_FOLDER);
        write_suite(
            request,
            &dir,
            &format!("{name}-{SET_ASIDE_FOLDER}"),
            &set_aside,
        )?;
        report.set_aside = set_aside
            .iter()
            .map(|p| SetAside {
                mission: p.id.clone(),
                source: p.source.clone(),
                needs: p.needs.clone(),
            })
            .collect();
        report.set_aside_dir = Some(dir);
    }
    Ok(report)
}

/// One task, read and rewritten: everything its mission is written from.
#[derive(Debug)]
struct TaskPlan {
    id: String,
    source: PathBuf,
    title: String,
    difficulty: &'static str,
    tags: Vec<String>,
    goal: String,
    workspace: Vec<(String, Vec<u8>)>,
    acceptance: Vec<(String, Vec<u8>)>,
    solution: Vec<(String, Vec<u8>)>,
    verifier_timeout_s: Option<u64>,
    agent_timeout_s: Option<u64>,
    reward_file: &'static str,
    runs_pytest: bool,
    packages: Vec<String>,
    needs: Vec<String>,
    notes: Vec<String>,
    /// Files the instruction and the tests both name, the probe of the contract's assertion.
    deliverables: Vec<String>,
}

/// How Harbor's fixed folders map here.
struct PathMap {
    app: String,
    skills: Option<String>,
}

impl PathMap {
    /// `(absolute root, replacement)`, the replacement relative to the workspace root; the
    /// empty replacement is the root itself.
    fn roots(&self) -> Vec<(String, &'static str)> {
        let mut roots = vec![
            (self.app.clone(), ""),
            ("/tests".to_string(), "acceptance"),
            ("/logs".to_string(), LOGS),
            ("/solution".to_string(), SOLUTION),
        ];
        if let Some(skills) = &self.skills {
            roots.push((skills.clone(), SKILLS));
        }
        // The longest root first, so that `/app/sub` is never taken for `/app`.
        roots.sort_by_key(|(root, _)| std::cmp::Reverse(root.len()));
        roots
    }

    fn rewrite(&self, text: &str) -> String {
        rewrite_paths(text, &self.roots())
    }
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Replaces the absolute `roots` in `text` by their relative places: `/app/x` -> `x`, `/app` ->
/// `.`, `/tests/x` -> `acceptance/x`. A root counts only as a whole path: not inside a longer
/// name (`/apps`), not after another path's characters (`$HOME/app`, `https://x/app`).
fn rewrite_paths(text: &str, roots: &[(String, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut previous: Option<char> = None;
    'scan: while let Some(c) = rest.chars().next() {
        let at_boundary =
            previous.is_none_or(|p| !(is_path_char(p) || matches!(p, '/' | '$' | '}' | '~' | ':')));
        if c == '/' && at_boundary {
            for (root, replacement) in roots {
                let Some(after) = rest.strip_prefix(root.as_str()) else {
                    continue;
                };
                let next = after.chars().next();
                if next.is_some_and(is_path_char) {
                    continue;
                }
                let (emitted, consumed) = match (next, replacement.is_empty()) {
                    (Some('/'), true) => {
                        let followed = after[1..].chars().next().is_some_and(is_path_char);
                        (if followed { "" } else { "./" }.to_string(), root.len() + 1)
                    }
                    (_, true) => (".".to_string(), root.len()),
                    (_, false) => (replacement.to_string(), root.len()),
                };
                out.push_str(&emitted);
                rest = &rest[consumed..];
                previous = Some('/');
                continue 'scan;
            }
        }
        out.push(c);
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// What a script became, and what it asked for that the harness provides another way.
#[derive(Debug, Default, PartialEq)]
struct Script {
    text: String,
    packages: Vec<String>,
    needs: Vec<String>,
    notes: Vec<String>,
    runs_pytest: bool,
}

/// A package requirement's name (`numpy==2.1` -> `numpy`).
fn package_name(requirement: &str) -> String {
    requirement
        .split(['=', '<', '>', '!', '~', '[', ';', ' ', '@'])
        .next()
        .unwrap_or(requirement)
        .to_ascii_lowercase()
        .replace('_', "-")
}

fn unquote(word: &str) -> String {
    word.trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// Takes the verifier's or solution's own installs out of a shell script (its paths already
/// rewritten): apt and uv installs, the uv installer and its `source`, virtual environments; `uvx
/// ... pytest` and `uv run pytest` become the environment's `pytest`. Python packages installed
/// are collected for the suite's environment, system packages the harness lacks and other
/// downloads are needs.
fn rewrite_script(text: &str) -> Script {
    let mut script = Script::default();
    let mut logical = String::new();
    let mut out_lines: Vec<String> = Vec::new();
    let mut pending: Vec<&str> = Vec::new();
    for line in text.lines() {
        pending.push(line);
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            logical.push_str(head);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let whole = std::mem::take(&mut logical);
        let kept = rewrite_line(&whole, &mut script);
        match kept {
            Some(line) if line == whole => out_lines.extend(pending.iter().map(|l| l.to_string())),
            Some(line) => out_lines.push(line),
            None => {}
        }
        pending.clear();
    }
    if !logical.is_empty() {
        if let Some(line) = rewrite_line(&logical, &mut script) {
            out_lines.push(line);
        }
    }
    // Taken-out lines leave their blank neighbours behind: one blank line is kept of a run.
    out_lines.dedup_by(|a, b| a.trim().is_empty() && b.trim().is_empty());
    script.text = out_lines.join("\n") + "\n";
    script.packages.sort();
    script.packages.dedup();
    script
}

/// One logical line: `None` when every command of it was taken out.
fn rewrite_line(line: &str, script: &mut Script) -> Option<String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Some(line.to_string());
    }
    let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
    let commands: Vec<&str> = trimmed.split("&&").map(str::trim).collect();
    let mut kept = Vec::new();
    let mut changed = false;
    for command in &commands {
        match rewrite_command(command, script) {
            Command::Keep => kept.push(command.to_string()),
            Command::Replace(new) => {
                kept.push(new);
                changed = true;
            }
            Command::Drop => changed = true,
        }
    }
    if !changed {
        return Some(line.to_string());
    }
    if kept.is_empty() {
        return None;
    }
    Some(format!("{indent}{}", kept.join(" && ")))
}

enum Command {
    Keep,
    Replace(String),
    Drop,
}

fn rewrite_command(command: &str, script: &mut Script) -> Command {
    let words: Vec<&str> = command.split_whitespace().collect();
    // `VAR=value` assignments and `sudo` before the program.
    let start = words
        .iter()
        .position(|w| (w.starts_with('-') || !w.contains('=')) && *w != "sudo")
        .unwrap_or(words.len());
    let words = &words[start..];
    let Some(&program) = words.first() else {
        return Command::Keep;
    };
    let args = &words[1..];
    let operands = |from: &[&str]| -> Vec<String> {
        from.iter()
            .filter(|w| !w.starts_with('-'))
            .map(|w| unquote(w))
            .collect()
    };
    match program {
        "apt-get" | "apt" => {
            let mut rest = args.iter().skip_while(|w| w.starts_with('-'));
            if rest.next() == Some(&"install") {
                let packages: Vec<String> = operands(&rest.copied().collect::<Vec<_>>())
                    .into_iter()
                    .filter(|p| !SYSTEM_PROVIDED.contains(&p.as_str()))
                    .collect();
                if !packages.is_empty() {
                    script
                        .needs
                        .push(format!("system packages: {}", packages.join(", ")));
                }
            }
            Command::Drop
        }
        "rm" if command.contains("/var/lib/apt/lists") => Command::Drop,
        "curl" | "wget" if command.contains("astral.sh/uv") => Command::Drop,
        "curl" | "wget" => {
            script
                .needs
                .push(format!("the network: `{}`", command.trim()));
            Command::Keep
        }
        "source" | "."
            if args.first().is_some_and(|a| {
                a.contains(".local/bin/env")
                    || a.contains("bin/activate")
                    || a.contains("cargo/env")
            }) =>
        {
            Command::Drop
        }
        "uv" if matches!(args.first(), Some(&"venv") | Some(&"init")) => Command::Drop,
        "uv" if matches!(args.first(), Some(&"add")) => {
            take_packages(script, operands(&args[1..]));
            Command::Drop
        }
        "uv" if args.first() == Some(&"pip") && args.get(1) == Some(&"install") => {
            pip_install(script, &args[2..]);
            Command::Drop
        }
        "pip" | "pip3" if args.first() == Some(&"install") => {
            pip_install(script, &args[1..]);
            Command::Drop
        }
        "python" | "python3" if args.starts_with(&["-m", "pip", "install"]) => {
            pip_install(script, &args[3..]);
            Command::Drop
        }
        "uvx" => run_tool(script, args),
        "uv" if args.first() == Some(&"run") => run_tool(script, &args[1..]),
        "uv" if args.starts_with(&["tool", "run"]) => run_tool(script, &args[2..]),
        "pytest" => {
            script.runs_pytest = true;
            Command::Keep
        }
        "python" | "python3" if args.starts_with(&["-m", "pytest"]) => {
            script.runs_pytest = true;
            Command::Keep
        }
        _ => Command::Keep,
    }
}

fn pip_install(script: &mut Script, args: &[&str]) {
    let mut packages = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match *word {
            "-r" | "--requirement" | "-e" | "--editable" => {
                let file = words.next().copied().unwrap_or_default();
                script
                    .needs
                    .push(format!("packages from `{file}` installed at run time"));
            }
            "-i" | "--index-url" | "--extra-index-url" | "-f" | "--find-links" => {
                words.next();
            }
            flag if flag.starts_with('-') => {}
            package => packages.push(unquote(package)),
        }
    }
    take_packages(script, packages);
}

/// Keeps `packages` for the environment, except the ones it has; a pinned pytest other than
/// the environment's is noted.
fn take_packages(script: &mut Script, packages: Vec<String>) {
    for package in packages {
        let name = package_name(&package);
        if PYTHON_PROVIDED.contains(&name.as_str()) {
            if name == "pytest" && package.contains("==") && !package.ends_with(PYTEST_VERSION) {
                let note = format!(
                    "the verifier asks for `{package}`; the suite's environment has pytest {PYTEST_VERSION}"
                );
                if !script.notes.contains(&note) {
                    script.notes.push(note);
                }
            }
            continue;
        }
        script.packages.push(package);
    }
}

/// `uvx [options] tool args...`: the tool from the environment, its `--with` packages for it.
fn run_tool(script: &mut Script, args: &[&str]) -> Command {
    let mut words = args.iter();
    let mut packages = Vec::new();
    let mut tool: Vec<String> = Vec::new();
    while let Some(word) = words.next() {
        match *word {
            "-w" | "--with" | "--from" => {
                if let Some(package) = words.next() {
                    packages.push(unquote(package));
                }
            }
            "-p" | "--python" => {
                if let Some(version) = words.next() {
                    script.notes.push(format!(
                        "the verifier asks for Python {version}; it runs with the environment's python3"
                    ));
                }
            }
            flag if flag.starts_with("--with=") || flag.starts_with("--from=") => {
                packages.push(unquote(flag.split_once('=').map_or("", |(_, p)| p)));
            }
            flag if flag.starts_with("--python=") => {}
            flag if flag.starts_with('-') => {}
            first => {
                tool.push(first.to_string());
                tool.extend(words.by_ref().map(|w| w.to_string()));
            }
        }
    }
    let Some(program) = tool.first().cloned() else {
        return Command::Keep;
    };
    if program != "pytest" {
        packages.push(program.clone());
    } else {
        script.runs_pytest = true;
    }
    take_packages(script, packages);
    let mut kept: Vec<String> = Vec::new();
    let mut rest = tool.into_iter();
    while let Some(word) = rest.next() {
        if word == "--ctrf" {
            rest.next();
        } else if !word.starts_with("--ctrf=") {
            kept.push(word);
        }
    }
    Command::Replace(kept.join(" "))
}

/// What the Dockerfile asks for: files copied into the working directory (or the skills
/// folder), the working directory, Python packages, and what the harness cannot give.
#[derive(Debug, Default)]
struct Image {
    workdir: Option<String>,
    /// `(source below environment/, destination)` of each COPY.
    copies: Vec<(String, String)>,
    packages: Vec<String>,
    needs: Vec<String>,
}

fn read_dockerfile(text: &str, skills_dir: Option<&str>) -> Image {
    let mut image = Image::default();
    let mut logical = String::new();
    let mut instructions = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if logical.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                logical.push_str(head);
                logical.push(' ');
            }
            None => {
                logical.push_str(trimmed);
                instructions.push(std::mem::take(&mut logical));
            }
        }
    }
    if !logical.is_empty() {
        instructions.push(logical);
    }
    for instruction in instructions {
        let (keyword, rest) = instruction
            .split_once(char::is_whitespace)
            .unwrap_or((instruction.as_str(), ""));
        let rest = rest.trim();
        match keyword.to_ascii_uppercase().as_str() {
            "FROM" | "LABEL" | "ARG" | "EXPOSE" | "USER" | "MAINTAINER" | "SHELL" => {}
            "WORKDIR" => image.workdir = Some(rest.trim_end_matches('/').to_string()),
            "COPY" | "ADD" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                if words.iter().any(|w| w.starts_with("--from")) || words.len() < 2 {
                    image.needs.push(format!("the image's `{instruction}`"));
                    continue;
                }
                let operands: Vec<&str> = words
                    .iter()
                    .filter(|w| !w.starts_with("--"))
                    .copied()
                    .collect();
                let Some((destination, sources)) = operands.split_last() else {
                    continue;
                };
                for source in sources {
                    if source.contains("://") {
                        image.needs.push(format!("the image's `{instruction}`"));
                    } else {
                        image.copies.push((
                            source.trim_end_matches('/').to_string(),
                            destination.to_string(),
                        ));
                    }
                }
            }
            "RUN" => {
                let mut script = Script::default();
                for command in rest.split("&&").flat_map(|c| c.split(';')) {
                    match rewrite_command(command.trim(), &mut script) {
                        Command::Drop => {}
                        _ if command.trim().starts_with("chmod") => {}
                        _ => script
                            .needs
                            .push(format!("the image's `RUN {}`", command.trim())),
                    }
                }
                image.packages.extend(script.packages);
                image.needs.extend(script.needs);
            }
            "CMD"
                if matches!(
                    rest,
                    "[\"bash\"]" | "[\"sh\"]" | "bash" | "sh" | "[\"/bin/bash\"]"
                ) => {}
            "ENV" => image
                .needs
                .push(format!("the image's environment variables (`ENV {rest}`)")),
            _ => image.needs.push(format!("the image's `{instruction}`")),
        }
    }
    // A COPY outside the working directory and the skills folder is a file of the image.
    let workdir = image.workdir.clone().unwrap_or_else(|| "/app".to_string());
    let mut copies = Vec::new();
    for (source, destination) in std::mem::take(&mut image.copies) {
        let inside =
            |root: &str| destination == root || destination.starts_with(&format!("{root}/"));
        let relative_destination = !destination.starts_with('/');
        if relative_destination || inside(&workdir) || skills_dir.is_some_and(inside) {
            copies.push((source, destination));
        } else {
            image.needs.push(format!(
                "the image's file `{destination}` (copied from `{source}`)"
            ));
        }
    }
    image.copies = copies;
    image
}

/// A text file gets its paths rewritten; anything else is copied as it is.
fn rewritten(content: Vec<u8>, paths: &PathMap) -> Vec<u8> {
    match String::from_utf8(content) {
        Ok(text) => paths.rewrite(&text).into_bytes(),
        Err(error) => error.into_bytes(),
    }
}

/// Every file under `dir`, as `(path below dir, content)`, in path order.
fn files_under(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, ImportError> {
    let mut files = Vec::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| ImportError::Read {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        if entry.file_type().is_file() {
            let relative = entry
                .path()
                .strip_prefix(dir)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .to_string();
            files.push((relative, read_bytes(entry.path())?));
        }
    }
    Ok(files)
}

fn seconds(table: &toml::Table, section: &str, key: &str) -> Option<u64> {
    let value = table.get(section)?.get(key)?;
    let seconds = value
        .as_float()
        .or_else(|| value.as_integer().map(|i| i as f64))?;
    (seconds > 0.0).then(|| seconds.ceil() as u64)
}

fn mission_id(folder: &str) -> String {
    let id: String = folder
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let id = id.trim_start_matches('.').to_string();
    if id.is_empty() {
        "task".to_string()
    } else {
        id.chars().take(64).collect()
    }
}

/// Reads a task folder. `Ok(Err(reason))`: it cannot become a mission, and why.
fn plan_task(dir: &Path) -> Result<Result<TaskPlan, String>, ImportError> {
    let task_toml = dir.join("task.toml");
    if !task_toml.is_file() {
        return Ok(Err("no task.toml: not a Harbor task folder".to_string()));
    }
    let config: toml::Table =
        toml::from_str(&read_text(&task_toml)?).map_err(|e| ImportError::Source {
            path: task_toml.clone(),
            message: format!("not valid TOML: {}", e.message()),
        })?;
    if config.contains_key("steps") {
        return Ok(Err(
            "a multi-step task (`[[steps]]`): each step would be a milestone with its own verifier, which the importer does not build yet".to_string(),
        ));
    }
    let instruction_path = dir.join("instruction.md");
    let test_sh = dir.join("tests/test.sh");
    let solve_sh = dir.join("solution/solve.sh");
    for (path, what) in [
        (&instruction_path, "the instruction"),
        (&test_sh, "the verifier"),
        (&solve_sh, "the reference solution the oracle replays"),
    ] {
        if !path.is_file() {
            return Ok(Err(format!(
                "no {} ({what})",
                path.strip_prefix(dir).unwrap_or(path).display()
            )));
        }
    }
    let environment = config.get("environment");
    let skills_dir = environment
        .and_then(|e| e.get("skills_dir"))
        .and_then(|v| v.as_str())
        .map(|s| s.trim_end_matches('/').to_string());
    let mut needs = Vec::new();
    let mut notes = Vec::new();
    if let Some(image) = environment
        .and_then(|e| e.get("docker_image"))
        .and_then(|v| v.as_str())
    {
        needs.push(format!("the prebuilt Docker image `{image}`"));
    }
    let environment_dir = dir.join("environment");
    for compose in ["docker-compose.yaml", "docker-compose.yml", "compose.yaml"] {
        if environment_dir.join(compose).is_file() {
            needs.push(format!("several containers (`environment/{compose}`)"));
        }
    }
    let dockerfile = environment_dir.join("Dockerfile");
    let image = if dockerfile.is_file() {
        read_dockerfile(&read_text(&dockerfile)?, skills_dir.as_deref())
    } else {
        Image::default()
    };
    needs.extend(image.needs.iter().cloned());
    let app = environment
        .and_then(|e| e.get("workdir"))
        .and_then(|v| v.as_str())
        .map(|s| s.trim_end_matches('/').to_string())
        .or(image.workdir.clone())
        .unwrap_or_else(|| "/app".to_string());
    let paths = PathMap {
        app: app.clone(),
        skills: skills_dir.clone(),
    };

    let mut workspace = Vec::new();
    for (source, destination) in &image.copies {
        let from = environment_dir.join(source);
        let target = if destination.starts_with('/') {
            paths.rewrite(destination)
        } else {
            destination.clone()
        };
        let target = target
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if from.is_dir() {
            for (relative, content) in files_under(&from)? {
                // `COPY . /app` takes the build context, whose recipe is no file of the task's.
                if matches!(
                    relative.as_str(),
                    "Dockerfile" | "docker-compose.yaml" | "docker-compose.yml" | "compose.yaml"
                ) {
                    continue;
                }
                let path = if target.is_empty() || target == "." {
                    relative
                } else {
                    format!("{target}/{relative}")
                };
                workspace.push((path, rewritten(content, &paths)));
            }
        } else if from.is_file() {
            let path = if target.is_empty() || target == "." || destination.ends_with('/') {
                let name = folder_name(&from);
                if target.is_empty() || target == "." {
                    name
                } else {
                    format!("{target}/{name}")
                }
            } else {
                target
            };
            workspace.push((path, rewritten(read_bytes(&from)?, &paths)));
        } else {
            needs.push(format!(
                "`environment/{source}`, which the Dockerfile copies but the task folder lacks"
            ));
        }
    }

    let test_script = rewrite_script(&paths.rewrite(&read_text(&test_sh)?));
    let solve_script = rewrite_script(&paths.rewrite(&read_text(&solve_sh)?));
    let mut packages: Vec<String> = image.packages.clone();
    for script in [&test_script, &solve_script] {
        packages.extend(script.packages.iter().cloned());
        needs.extend(script.needs.iter().cloned());
        for note in &script.notes {
            if !notes.contains(note) {
                notes.push(note.clone());
            }
        }
    }
    packages.sort();
    packages.dedup();
    if environment
        .and_then(|e| e.get("allow_internet"))
        .and_then(|v| v.as_bool())
        == Some(true)
    {
        notes.push("the task allows the agent the internet; missions here have none".to_string());
    }

    let mut acceptance = Vec::new();
    let mut test_texts = String::new();
    for (relative, content) in files_under(&dir.join("tests"))? {
        if relative == "test.sh" {
            acceptance.push((relative, test_script.text.clone().into_bytes()));
            continue;
        }
        if let Ok(text) = std::str::from_utf8(&content) {
            test_texts.push_str(text);
            test_texts.push('\n');
        }
        acceptance.push((relative, rewritten(content, &paths)));
    }
    let mut solution = Vec::new();
    for (relative, content) in files_under(&dir.join("solution"))? {
        let content = if relative == "solve.sh" {
            solve_script.text.clone().into_bytes()
        } else {
            rewritten(content, &paths)
        };
        solution.push((format!("{SOLUTION}/{relative}"), content));
    }
    let reward_file = if test_script
        .text
        .contains(&format!("{LOGS}/verifier/reward.json"))
    {
        "reward.json"
    } else {
        "reward.txt"
    };
    let instruction = read_text(&instruction_path)?;
    let deliverables = deliverables(&instruction, &test_texts, &app, &workspace);
    let mut goal = paths.rewrite(&instruction).trim_end().to_string();
    goal.push_str(&format!(
        "\n\n---\n\nThe task's working directory `{app}` is the root of this workspace: every path above is relative to it.\n"
    ));
    if skills_dir.is_some()
        && workspace
            .iter()
            .any(|(p, _)| p.starts_with(&format!("{SKILLS}/")))
    {
        goal.push_str(&format!(
            "Your skills are in `{SKILLS}/`: one folder per skill, whose `SKILL.md` says what it does and how.\n"
        ));
    }
    let folder = folder_name(dir);
    let title = instruction
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| folder.clone());
    let metadata = config.get("metadata");
    let difficulty = match metadata
        .and_then(|m| m.get("difficulty"))
        .and_then(|v| v.as_str())
    {
        Some("hard") => "large",
        Some("medium") => "medium",
        _ => "small",
    };
    let mut tags = vec!["harbor".to_string()];
    if let Some(category) = metadata
        .and_then(|m| m.get("category"))
        .and_then(|v| v.as_str())
    {
        tags.push(category.to_string());
    }
    for tag in metadata
        .and_then(|m| m.get("tags"))
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
    {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    }
    if !needs.is_empty() {
        tags.push(SET_ASIDE_FOLDER.to_string());
    }
    Ok(Ok(TaskPlan {
        id: mission_id(&folder),
        source: dir.to_path_buf(),
        title,
        difficulty,
        tags,
        goal,
        workspace,
        acceptance,
        solution,
        verifier_timeout_s: seconds(&config, "verifier", "timeout_sec"),
        agent_timeout_s: seconds(&config, "agent", "timeout_sec"),
        reward_file,
        runs_pytest: test_script.runs_pytest,
        packages,
        needs,
        notes,
        deliverables,
    }))
}

/// The workspace files the instruction and the tests both name (`/app/x` in both), left out
/// those the task starts with: what the agents must make.
fn deliverables(
    instruction: &str,
    tests: &str,
    app: &str,
    workspace: &[(String, Vec<u8>)],
) -> Vec<String> {
    let named = |text: &str| -> BTreeSet<String> {
        let prefix = format!("{app}/");
        let mut found = BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find(&prefix) {
            let after = &rest[at + prefix.len()..];
            let path: String = after
                .chars()
                .take_while(|c| is_path_char(*c) || *c == '/')
                .collect();
            let path = path.trim_end_matches(['.', '/']).to_string();
            if !path.is_empty() {
                found.insert(path);
            }
            rest = after;
        }
        found
    };
    named(tests)
        .into_iter()
        .filter(|p| mentions(instruction, p) && !workspace.iter().any(|(w, _)| w == p))
        .take(5)
        .collect()
}

/// Whether `text` names the path `relative` as a whole (`out.txt`, `/app/out.txt`; not
/// `stdout.txt`).
fn mentions(text: &str, relative: &str) -> bool {
    text.match_indices(relative).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + relative.len()..].chars().next();
        // A full stop may end the sentence the name ends.
        !before.is_some_and(is_path_char) && !after.is_some_and(|c| is_path_char(c) && c != '.')
    })
}

fn shell_quote(word: &str) -> String {
    if word.chars().all(|c| is_path_char(c) || c == '/') {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

fn write_mission(plan: &TaskPlan, dir: &Path, origin: Option<&str>) -> Result<(), ImportError> {
    create_dir(&dir.join("workspace"))?;
    for (path, content) in &plan.workspace {
        write(&dir.join("workspace").join(path), content)?;
    }
    for (path, content) in &plan.acceptance {
        write(&dir.join("acceptance").join(path), content)?;
    }
    for (path, content) in &plan.solution {
        write(&dir.join("solution/f1").join(path), content)?;
    }
    let mut goal = plan.goal.clone();
    if !plan.needs.is_empty() {
        goal.push_str(&format!(
            "\n> Needs an environment this harness does not build: {}.\n",
            plan.needs.join("; ")
        ));
    }
    write(&dir.join("goal.md"), goal)?;
    write(&dir.join("answers.md"), super::exercism::IMPORTED_ANSWERS)?;

    let tags: Vec<String> = plan.tags.iter().map(|t| toml_string(t)).collect();
    let mut mission = format!(
        "id = {id}\ntitle = {title}\ndifficulty = \"{difficulty}\"\nlanguage = \"shell\"\ntags = [{tags}]\n",
        id = toml_string(&plan.id),
        title = toml_string(&plan.title),
        difficulty = plan.difficulty,
        tags = tags.join(", "),
    );
    for need in &plan.needs {
        mission.push_str(&format!("# needs: {need}\n"));
    }
    let report = format!("{LOGS}/verifier/{}", plan.reward_file);
    mission.push_str(&format!(
        "\n[acceptance]\n# The task's own verifier (tests/test.sh, its installs taken out), which writes Harbor's reward file.\ncommand = {command}\nresults = \"reward\"\nreport = {report}\ninto = \"acceptance\"\ntimeout_s = {timeout}\nrunner = \"command\"\n",
        command = toml_string(&format!("mkdir -p {LOGS}/verifier && bash acceptance/test.sh")),
        report = toml_string(&report),
        timeout = plan.verifier_timeout_s.unwrap_or(600),
    ));
    if plan.runs_pytest {
        // Harbor's tests sit outside the working directory; here they sit below it, where
        // pytest would read the agents' configuration and plugins.
        mission.push_str(
            "leave_out = [\"conftest.py\", \"**/conftest.py\", \"pytest.ini\", \".pytest.ini\", \"tox.ini\", \"sitecustomize.py\", \"usercustomize.py\", \"**/*.pth\"]\n",
        );
    }
    mission.push_str(
        "\n[acceptance.milestones]\n# One case per reward (`reward`, or each key of reward.json).\nm1 = [\"*\"]\n\n[lines]\nsource = [\"**/*\"]\n",
    );
    if let Some(seconds) = plan.agent_timeout_s {
        mission.push_str(&format!(
            "\n[budget]\n# The task's agent timeout.\nmax_wall_time_s = {seconds}\n"
        ));
    }
    write(&dir.join("mission.toml"), mission)?;

    let (probe, probe_description) = if plan.deliverables.is_empty() {
        (
            "true".to_string(),
            "Nothing the harness checks before the task's hidden verifier runs after the mission"
                .to_string(),
        )
    } else {
        (
            plan.deliverables
                .iter()
                .map(|p| format!("test -e {}", shell_quote(p)))
                .collect::<Vec<_>>()
                .join(" && "),
            format!(
                "The files the task asks for exist: {}",
                plan.deliverables
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    let library = format!(
        "# {id}: notes for workers\n\n- A terminal task: do what the instruction asks in the workspace, whose root is the task's working directory.\n- The task's verifier is hidden and runs after the mission; it checks the files and programs the instruction names.\n",
        id = plan.id
    );
    let contract = format!(
        "library = {library}\n\n[[milestone]]\nid = \"m1\"\ntitle = {title}\ndescription = \"What the instruction asks is done, and the task's verifier gives the full reward.\"\n\n[[assertion]]\nid = \"A1\"\nmilestone = \"m1\"\ndescription = {description}\nverify = \"command\"\ncommand = {probe}\nexpect_exit = 0\nevidence = \"the command's exit code\"\n\n[[feature]]\nid = \"f1\"\nmilestone = \"m1\"\ntitle = {title}\ndescription = {feature}\nfulfils = [\"A1\"]\n# The oracle replays the task's reference solution: it writes `{SOLUTION}/` and runs it here.\ntest_command = {test_command}\n",
        library = toml_text(&library),
        title = toml_string(&plan.title),
        description = toml_string(&probe_description),
        probe = toml_string(&probe),
        feature = toml_text(&plan.goal),
        test_command = toml_string(&format!("bash {SOLUTION}/solve.sh")),
    );
    write(&dir.join("contract.toml"), contract)?;

    let mut notice = format!(
        "# Notice\n\nImported with `missions-bench import harbor` from the Harbor task folder `{}`{}.\nIts license is the upstream repository's; see `LICENSE` beside the suite when the import copied one, else the upstream repository.\n",
        folder_name(&plan.source),
        origin.map(|o| format!(" ({o})")).unwrap_or_default(),
    );
    if !plan.notes.is_empty() || !plan.needs.is_empty() {
        notice.push_str("\n## What changed on the way\n\n");
        for note in &plan.notes {
            notice.push_str(&format!("- {note}\n"));
        }
        for need in &plan.needs {
            notice.push_str(&format!("- needs {need}\n"));
        }
    }
    write(&dir.join("NOTICE.md"), notice)
}

fn write_suite(
    request: &HarborImport,
    dir: &Path,
    name: &str,
    plans: &[TaskPlan],
) -> Result<(), ImportError> {
    let mut sources = BTreeMap::new();
    for plan in plans {
        write_mission(plan, &dir.join(&plan.id), request.origin.as_deref())?;
        sources.insert(plan.id.clone(), plan.source.clone());
    }
    let packages: Vec<String> = plans
        .iter()
        .flat_map(|p| p.packages.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let set_aside = plans.iter().any(|p| !p.needs.is_empty());
    let description = if set_aside {
        "Harbor tasks that need an environment this harness does not build (see each mission's NOTICE.md and `# needs:` lines); imported by `missions-bench import harbor`"
    } else {
        "Harbor / Terminal-Bench tasks; imported by `missions-bench import harbor`"
    };
    let suite = format!(
        "name = {name}\ndescription = {description}\n\n{environment}\n[defaults]\nrepeats = 1\ncommand_timeout_s = 120\nmax_output_bytes = 32768\n",
        name = toml_string(name),
        description = toml_string(description),
        environment = python_environment(&packages),
    );
    write(&dir.join("suite.toml"), suite)?;
    // The license of the tasks' repository, when it sits above them.
    if let Some(license) = plans
        .iter()
        .filter_map(|p| {
            p.source
                .ancestors()
                .skip(1)
                .map(|a| a.join("LICENSE"))
                .find(|l| l.is_file())
        })
        .next()
    {
        write(&dir.join("LICENSE"), read_bytes(&license)?)?;
    }
    validate(dir, &sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> PathMap {
        PathMap {
            app: "/app".to_string(),
            skills: Some("/skills".to_string()),
        }
    }

    #[test]
    fn harbor_paths_become_relative_to_the_workspace() {
        let paths = app();
        assert_eq!(
            paths.rewrite("Path(\"/app/hello.txt\")"),
            "Path(\"hello.txt\")"
        );
        assert_eq!(
            paths.rewrite("sys.path.insert(0, \"/app\")"),
            "sys.path.insert(0, \".\")"
        );
        assert_eq!(paths.rewrite("cd /app/ && ls"), "cd ./ && ls");
        assert_eq!(
            paths.rewrite("pytest /tests/test_state.py > /logs/verifier/reward.txt"),
            "pytest acceptance/test_state.py > .harbor-logs/verifier/reward.txt"
        );
        assert_eq!(
            paths.rewrite("cat /skills/x/SKILL.md"),
            "cat skills/x/SKILL.md"
        );
        for untouched in [
            "/apps/x",
            "$HOME/app/x",
            "https://astral.sh/app",
            "/usr/app",
            "/testsuite",
        ] {
            assert_eq!(paths.rewrite(untouched), untouched);
        }
    }

    #[test]
    fn the_verifier_template_loses_its_installs() {
        let script = rewrite_script(
            "#!/bin/bash\n\napt-get update\napt-get install -y curl\n\ncurl -LsSf https://astral.sh/uv/0.9.7/install.sh | sh\n\nsource $HOME/.local/bin/env\n\nuvx \\\n  -p 3.13 \\\n  --with pytest==8.4.1 \\\n  -w pytest-json-ctrf==0.3.5 \\\n  -w numpy==2.1.0 \\\n  pytest --ctrf .harbor-logs/verifier/ctrf.json acceptance/test_state.py -rA\n\nif [ $? -eq 0 ]; then\n  echo 1 > .harbor-logs/verifier/reward.txt\nfi\n",
        );
        assert_eq!(
            script.text,
            "#!/bin/bash\n\npytest acceptance/test_state.py -rA\n\nif [ $? -eq 0 ]; then\n  echo 1 > .harbor-logs/verifier/reward.txt\nfi\n"
        );
        assert_eq!(script.packages, ["numpy==2.1.0"]);
        assert!(script.needs.is_empty(), "{:?}", script.needs);
        assert!(script.runs_pytest);
        assert_eq!(script.notes.len(), 2, "{:?}", script.notes);
    }

    #[test]
    fn installs_the_harness_cannot_give_are_needs() {
        let script = rewrite_script(
            "apt-get update && apt-get install -y gcc jq\npip install requests -r req.txt\ncurl -o x https://example.com/x\n",
        );
        assert_eq!(script.packages, ["requests"]);
        assert_eq!(script.needs.len(), 3, "{:?}", script.needs);
        assert_eq!(script.text, "curl -o x https://example.com/x\n");
    }

    #[test]
    fn a_plain_image_needs_nothing_and_copies_into_the_workspace() {
        let image = read_dockerfile(
            "FROM ubuntu:24.04\nRUN apt-get update && apt-get install -y python3 \\\n  && rm -rf /var/lib/apt/lists/*\nCOPY data.csv /app/data.csv\nCOPY skills/ /skills/\nRUN pip install numpy==2.1.0\nWORKDIR /app\n",
            Some("/skills"),
        );
        assert!(image.needs.is_empty(), "{:?}", image.needs);
        assert_eq!(image.packages, ["numpy==2.1.0"]);
        assert_eq!(
            image.copies,
            [
                ("data.csv".to_string(), "/app/data.csv".to_string()),
                ("skills".to_string(), "/skills/".to_string())
            ]
        );
    }

    #[test]
    fn an_image_with_services_and_system_files_is_needed() {
        let image = read_dockerfile(
            "FROM ubuntu:24.04\nCOPY entrypoint.sh /entrypoint.sh\nENV A=1\nRUN make install\nENTRYPOINT [\"/entrypoint.sh\"]\nWORKDIR /app\n",
            None,
        );
        assert_eq!(image.needs.len(), 4, "{:?}", image.needs);
    }

    #[test]
    fn deliverables_are_named_by_instruction_and_tests() {
        let found = deliverables(
            "Write `/app/out.txt` and report.md from /app/in.txt, not stdout.log.",
            "Path('/app/out.txt'); Path('/app/in.txt'); Path('/app/other'); '/app/report.md'; '/app/out.log'",
            "/app",
            &[("in.txt".to_string(), Vec::new())],
        );
        assert_eq!(found, ["out.txt", "report.md"]);
    }

    #[test]
    fn folder_names_become_ids() {
        assert_eq!(mission_id("simple-task"), "simple-task");
        assert_eq!(mission_id("a b/c"), "a-b-c");
        assert_eq!(mission_id(".x"), "x");
    }
}

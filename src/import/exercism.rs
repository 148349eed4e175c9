//! `import exercism`: an Exercism track's practice exercises as one-milestone missions, the
//! layout of the Aider polyglot benchmark. `.docs/` becomes `goal.md`; `.meta/config.json` names
//! the files: the stub becomes `workspace/`, the example `solution/`, and the tests both the
//! hidden `acceptance/` and a visible copy in the workspace (Exercism hands students the tests,
//! and Aider's benchmark runs them for the model; the verdict comes from the pristine hidden
//! copy, whatever the agents do to theirs). The contract has one assertion per test file: the
//! visible copy passes. Python only so far; a track is one [`Track`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{
    check_out_dir, create_dir, folder_name, python_environment, read_bytes, read_text, toml_string,
    toml_text, validate, write, ImportError, ImportReport, Skipped,
};

/// What `import exercism` is asked.
#[derive(Debug, Clone)]
pub struct ExercismImport {
    /// The track's folder (a checkout of `exercism/<track>`: `config.json`, `exercises/practice/`).
    pub track: PathBuf,
    /// The suite folder to write (new or empty).
    pub out: PathBuf,
    /// Only these exercises (slugs); every practice exercise when empty.
    pub only: Vec<String>,
    /// The upstream revision the track folder holds, written into NOTICE.md when given.
    pub revision: Option<String>,
}

/// The track's `config.json`, the parts read.
#[derive(Debug, Deserialize)]
struct TrackConfig {
    slug: String,
    #[serde(default)]
    language: String,
    exercises: TrackExercises,
}

#[derive(Debug, Deserialize)]
struct TrackExercises {
    #[serde(default)]
    practice: Vec<TrackExercise>,
}

#[derive(Debug, Deserialize)]
struct TrackExercise {
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    difficulty: u32,
    #[serde(default)]
    status: Option<String>,
}

/// An exercise's `.meta/config.json`, the parts read.
#[derive(Debug, Deserialize)]
struct ExerciseConfig {
    files: ExerciseFiles,
    #[serde(default)]
    blurb: String,
}

#[derive(Debug, Deserialize)]
struct ExerciseFiles {
    #[serde(default)]
    solution: Vec<String>,
    #[serde(default)]
    test: Vec<String>,
    #[serde(default)]
    example: Vec<String>,
    /// Files students get beside the stub (read-only helpers).
    #[serde(default)]
    editor: Vec<String>,
}

/// `answers.md` of an imported mission: the exercise's instructions are all the user says.
pub(super) const IMPORTED_ANSWERS: &str = "# What the simulated user answers\n\nThe imported task's instructions (goal.md) are all the user has to say: every question gets\n\"no preference\".\n";

/// How a track's exercises run: what the harness needs to know per language.
struct Track {
    language: &'static str,
    /// Whether a file of the exercise's `test` list holds tests (not a helper module).
    is_test_file: fn(&str) -> bool,
    /// The command that runs one visible test file in the workspace.
    test_command: fn(&str) -> String,
    /// `mission.toml` below `language`/`tags`, given the test files.
    mission_tables: fn(&[String]) -> String,
    environment: fn() -> String,
}

const PYTHON: Track = Track {
    language: "python",
    is_test_file: |name| {
        let base = name.rsplit('/').next().unwrap_or(name);
        base.ends_with("_test.py")
            || (base.starts_with("test_") && base.ends_with(".py") && base != "test_utils.py")
    },
    test_command: |file| format!("python -m pytest -q -p no:cacheprovider {file}"),
    mission_tables: python_mission_tables,
    environment: || python_environment(&[]),
};

fn track_for(slug: &str) -> Option<&'static Track> {
    match slug {
        "python" => Some(&PYTHON),
        _ => None,
    }
}

fn python_mission_tables(test_files: &[String]) -> String {
    let mut tests: Vec<String> = test_files.iter().map(|f| toml_string(f)).collect();
    for glob in ["tests/**", "**/test_*.py", "**/*_test.py"] {
        tests.push(toml_string(glob));
    }
    format!(
        r#"[acceptance]
# The hidden copy of the exercise's tests; pytest names them `acceptance.<module>.<Class>::<test>`.
command = "python -m pytest -q -p no:cacheprovider acceptance --junitxml=.acceptance-junit.xml"
results = "junit"
report = ".acceptance-junit.xml"
into = "acceptance"
timeout_s = 300

[acceptance.milestones]
m1 = ["acceptance.*"]

[coverage]
command = "python -m coverage run --source=. --omit='*_test.py,test_*.py,tests/*' -m pytest -q -p no:cacheprovider && python -m coverage json -q -o .coverage.json"
format = "coverage-json"
report = ".coverage.json"
timeout_s = 300

[lines]
source = ["**/*.py"]
tests = [{}]
"#,
        tests.join(", ")
    )
}

/// Imports the track's practice exercises into a new suite at `request.out`.
pub fn import_exercism(request: &ExercismImport) -> Result<ImportReport, ImportError> {
    let config_path = request.track.join("config.json");
    let config: TrackConfig =
        serde_json::from_str(&read_text(&config_path)?).map_err(|e| ImportError::Source {
            path: config_path.clone(),
            message: format!("not an Exercism track configuration: {e}"),
        })?;
    let track = track_for(&config.slug).ok_or_else(|| ImportError::Source {
        path: config_path.clone(),
        message: format!(
            "the `{}` track cannot be imported yet; tracks that can: python",
            config.slug
        ),
    })?;
    let practice = request.track.join("exercises/practice");
    let mut known: BTreeMap<&str, &TrackExercise> = BTreeMap::new();
    for exercise in &config.exercises.practice {
        known.insert(exercise.slug.as_str(), exercise);
    }
    let unknown: Vec<&String> = request
        .only
        .iter()
        .filter(|slug| !known.contains_key(slug.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(ImportError::Source {
            path: config_path,
            message: format!(
                "no practice exercise {} in the track",
                unknown
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    check_out_dir(&request.out)?;

    let mut report = ImportReport::default();
    let mut sources = BTreeMap::new();
    for exercise in &config.exercises.practice {
        if !request.only.is_empty() && !request.only.contains(&exercise.slug) {
            continue;
        }
        let source = practice.join(&exercise.slug);
        if request.only.is_empty() && exercise.status.as_deref() == Some("deprecated") {
            report.skipped.push(Skipped {
                source,
                reason: "deprecated in the track".to_string(),
            });
            continue;
        }
        match plan_exercise(track, exercise, &source)? {
            Ok(plan) => {
                write_mission(track, &plan, &request.out.join(&exercise.slug))?;
                report.missions.push(exercise.slug.clone());
                sources.insert(exercise.slug.clone(), source);
            }
            Err(reason) => report.skipped.push(Skipped { source, reason }),
        }
    }
    if report.missions.is_empty() {
        return Err(ImportError::NothingImported {
            skipped: report.skipped,
        });
    }
    write_suite_files(request, &config, track, &report, &sources)?;
    validate(&request.out, &sources)?;
    report.suite_dir = Some(request.out.clone());
    Ok(report)
}

/// One exercise, read and checked: everything its mission is written from.
struct ExercisePlan {
    slug: String,
    title: String,
    difficulty: &'static str,
    blurb: String,
    goal_docs: String,
    /// Workspace-relative path -> content, for the stub, helpers and the visible tests.
    workspace: Vec<(String, Vec<u8>)>,
    tests: Vec<(String, Vec<u8>)>,
    /// Solution file (the stub's path) -> the example's content.
    solution: Vec<(String, Vec<u8>)>,
    stubs: Vec<String>,
    test_files: Vec<String>,
}

/// Reads an exercise. `Ok(Err(reason))`: it cannot become a mission, and why.
fn plan_exercise(
    track: &Track,
    exercise: &TrackExercise,
    dir: &Path,
) -> Result<Result<ExercisePlan, String>, ImportError> {
    let config_path = dir.join(".meta/config.json");
    if !config_path.is_file() {
        return Ok(Err("no .meta/config.json".to_string()));
    }
    let config: ExerciseConfig =
        serde_json::from_str(&read_text(&config_path)?).map_err(|e| ImportError::Source {
            path: config_path.clone(),
            message: format!("not an exercise configuration: {e}"),
        })?;
    let files = &config.files;
    if files.solution.is_empty() || files.example.len() != files.solution.len() {
        return Ok(Err(format!(
            "{} solution file(s) and {} example file(s): the example cannot be matched to the stub",
            files.solution.len(),
            files.example.len()
        )));
    }
    let test_files: Vec<String> = files
        .test
        .iter()
        .filter(|f| (track.is_test_file)(f))
        .cloned()
        .collect();
    if test_files.is_empty() {
        return Ok(Err(
            "no test file in .meta/config.json's `files.test`".to_string()
        ));
    }
    for name in files
        .solution
        .iter()
        .chain(&files.test)
        .chain(&files.editor)
        .chain(&files.example)
    {
        if !is_plain_relative(name) {
            return Ok(Err(format!(
                "the file name `{name}` leaves the exercise folder"
            )));
        }
    }
    let read = |name: &String| -> Result<(String, Vec<u8>), ImportError> {
        Ok((name.clone(), read_bytes(&dir.join(name))?))
    };
    let mut workspace = Vec::new();
    for name in files
        .solution
        .iter()
        .chain(&files.editor)
        .chain(&files.test)
    {
        workspace.push(read(name)?);
    }
    let tests = files.test.iter().map(read).collect::<Result<Vec<_>, _>>()?;
    let mut solution = Vec::new();
    for (stub, example) in files.solution.iter().zip(&files.example) {
        solution.push((stub.clone(), read_bytes(&dir.join(example))?));
    }
    let mut goal_docs = String::new();
    for doc in [
        "introduction.md",
        "instructions.md",
        "instructions.append.md",
    ] {
        let path = dir.join(".docs").join(doc);
        if path.is_file() {
            let text = read_text(&path)?;
            goal_docs.push_str(text.trim_end());
            goal_docs.push_str("\n\n");
        }
    }
    if goal_docs.is_empty() {
        return Ok(Err("no .docs/instructions.md".to_string()));
    }
    let title = if exercise.name.is_empty() {
        exercise.slug.clone()
    } else {
        exercise.name.clone()
    };
    Ok(Ok(ExercisePlan {
        slug: exercise.slug.clone(),
        title,
        difficulty: difficulty_of(exercise.difficulty),
        blurb: config.blurb.trim().to_string(),
        goal_docs,
        workspace,
        tests,
        solution,
        stubs: files.solution.clone(),
        test_files,
    }))
}

/// A path inside the exercise: relative, without `..`.
fn is_plain_relative(name: &str) -> bool {
    let path = Path::new(name);
    !name.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Exercism's difficulty (1-10) in the harness's words. Every exercise is one module and one
/// milestone, so none is larger than medium.
fn difficulty_of(difficulty: u32) -> &'static str {
    match difficulty {
        0..=3 => "micro",
        4..=6 => "small",
        _ => "medium",
    }
}

fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_mission(track: &Track, plan: &ExercisePlan, dir: &Path) -> Result<(), ImportError> {
    for (name, content) in &plan.workspace {
        write(&dir.join("workspace").join(name), content)?;
    }
    for (name, content) in &plan.tests {
        write(&dir.join("acceptance").join(name), content)?;
    }
    for (name, content) in &plan.solution {
        write(&dir.join("solution/f1").join(name), content)?;
    }
    let stubs = backticked(&plan.stubs);
    let tests = backticked(&plan.test_files);
    let run_all = (track.test_command)(&plan.test_files.join(" "));
    let goal = format!(
        "# {title}\n\n{docs}## Your files\n\nWrite your solution in {stubs} (the stub is in the workspace). \
The tests are in {tests}; run them with `{run_all}`. Keep the names of the existing functions and \
classes: the tests use them. Use only the standard library.\n",
        title = plan.title,
        docs = plan.goal_docs,
    );
    write(&dir.join("goal.md"), goal)?;
    write(&dir.join("answers.md"), IMPORTED_ANSWERS)?;

    let mission = format!(
        "id = {id}\ntitle = {title}\ndifficulty = \"{difficulty}\"\nlanguage = \"{language}\"\ntags = [\"exercism\", \"exercism-{language}\"]\n\n{tables}",
        id = toml_string(&plan.slug),
        title = toml_string(&plan.title),
        difficulty = plan.difficulty,
        language = track.language,
        tables = (track.mission_tables)(&plan.test_files),
    );
    write(&dir.join("mission.toml"), mission)?;

    let summary = if plan.blurb.is_empty() {
        format!("The exercise `{}` is solved.", plan.slug)
    } else {
        plan.blurb.clone()
    };
    let library = format!(
        "# {slug}: notes for workers\n\n- Write the solution in {stubs} at the workspace root, replacing the stub's bodies; \
keep the names of its functions and classes, since the tests import them.\n- The tests are {tests} \
(an Exercism exercise's tests): `{run_all}`. Do not edit them; they are checked as given.\n- Standard \
library only; Python 3.11.\n",
        slug = plan.slug,
    );
    let mut contract = format!(
        "library = {library}\n\n[[milestone]]\nid = \"m1\"\ntitle = {title}\ndescription = {description}\n",
        library = toml_text(&library),
        title = toml_string(&plan.title),
        description = toml_string(&format!("{summary} The exercise's tests pass.")),
    );
    let mut assertion_ids = Vec::new();
    for (i, file) in plan.test_files.iter().enumerate() {
        let id = format!("T{}", i + 1);
        contract.push_str(&format!(
            "\n[[assertion]]\nid = \"{id}\"\nmilestone = \"m1\"\ndescription = {description}\nverify = \"command\"\ncommand = {command}\nexpect_exit = 0\nevidence = \"pytest's summary line\"\n",
            description = toml_string(&format!("Every test of `{file}` passes")),
            command = toml_string(&(track.test_command)(file)),
        ));
        assertion_ids.push(format!("\"{id}\""));
    }
    contract.push_str(&format!(
        "\n[[feature]]\nid = \"f1\"\nmilestone = \"m1\"\ntitle = {title}\ndescription = {description}\nfulfils = [{fulfils}]\ntest_command = {test_command}\n",
        title = toml_string(&format!("Solve {}", plan.title)),
        description = toml_text(&format!(
            "{summary}\n\nWrite the solution in {stubs}, keeping the stub's names, until the tests ({tests}) pass. \
What the user asks, in full:\n\n{docs}",
            docs = plan.goal_docs.trim_end(),
        )),
        fulfils = assertion_ids.join(", "),
        test_command = toml_string(&run_all),
    ));
    write(&dir.join("contract.toml"), contract)?;
    create_dir(&dir.join("workspace"))?;
    Ok(())
}

fn write_suite_files(
    request: &ExercismImport,
    config: &TrackConfig,
    track: &Track,
    report: &ImportReport,
    sources: &BTreeMap<String, PathBuf>,
) -> Result<(), ImportError> {
    let language = if config.language.is_empty() {
        config.slug.clone()
    } else {
        config.language.clone()
    };
    let name = folder_name(&request.out);
    let suite = format!(
        "name = {name}\ndescription = {description}\n\n{environment}\n[defaults]\nrepeats = 1\ncommand_timeout_s = 120\nmax_output_bytes = 32768\n\n[defaults.budget]\nmax_rounds = 3\nmax_turns = 80\nmax_tokens = 4000000\nmax_wall_time_s = 3600\n",
        name = toml_string(if name.is_empty() { "exercism" } else { &name }),
        description = toml_string(&format!(
            "Exercism {language} practice exercises, one milestone each (the layout of the Aider polyglot benchmark); imported by `missions-bench import exercism`"
        )),
        environment = (track.environment)(),
    );
    write(&request.out.join("suite.toml"), suite)?;
    let license = request.track.join("LICENSE");
    let license_note = if license.is_file() {
        write(&request.out.join("LICENSE"), read_bytes(&license)?)?;
        "Its license is in `LICENSE`, copied from the track; it covers every file of the missions' `workspace/`, `acceptance/`, `solution/` and the text of `goal.md`.".to_string()
    } else {
        "The track folder had no LICENSE file; see the upstream repository for its terms."
            .to_string()
    };
    let revision = request
        .revision
        .as_deref()
        .map_or_else(|| "not recorded".to_string(), |r| format!("`{r}`"));
    let mut notice = format!(
        "# Notice\n\nThese missions were imported from Exercism's {language} track \
(https://github.com/exercism/{slug}, revision {revision}) with `missions-bench import exercism`. \
{license_note}\n\n| mission | upstream exercise |\n|---|---|\n",
        slug = config.slug,
    );
    let mut missions = report.missions.clone();
    missions.sort();
    for mission in &missions {
        if let Some(source) = sources.get(mission) {
            let upstream = source
                .strip_prefix(&request.track)
                .unwrap_or(source)
                .display()
                .to_string();
            notice.push_str(&format!("| `{mission}` | `{upstream}` |\n"));
        }
    }
    write(&request.out.join("NOTICE.md"), notice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_test_files_are_told_from_helpers() {
        assert!((PYTHON.is_test_file)("bob_test.py"));
        assert!((PYTHON.is_test_file)("test_bob.py"));
        assert!(!(PYTHON.is_test_file)("test_utils.py"));
        assert!(!(PYTHON.is_test_file)("bob.py"));
    }

    #[test]
    fn names_that_leave_the_exercise_are_refused() {
        assert!(is_plain_relative("bob.py"));
        assert!(is_plain_relative("sub/bob.py"));
        assert!(!is_plain_relative("../bob.py"));
        assert!(!is_plain_relative("/etc/passwd"));
        assert!(!is_plain_relative(""));
    }

    #[test]
    fn difficulty_follows_exercism_scale() {
        assert_eq!(difficulty_of(1), "micro");
        assert_eq!(difficulty_of(5), "small");
        assert_eq!(difficulty_of(9), "medium");
    }
}

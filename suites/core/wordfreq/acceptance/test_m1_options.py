"""Hidden acceptance tests, milestone m1: --top and --ignore-case."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "wordfreq.py"


@pytest.fixture(autouse=True)
def _script_exists():
    assert SCRIPT.is_file(), "wordfreq.py is missing at the repository root"

TEXT = "red blue Red green BLUE red yellow blue red green\n"


def wordfreq(*args, stdin=""):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        input=stdin.encode("utf-8"),
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=30,
    )


def lines(result):
    return result.stdout.decode("utf-8").splitlines()


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "colours.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_top_limits_the_output(text_file):
    result = wordfreq("--top", "2", text_file)
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["red 3", "blue 2"]


def test_short_top_option():
    result = wordfreq("-n", "1", stdin=TEXT)
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["red 3"]


def test_top_larger_than_vocabulary_prints_everything(text_file):
    result = wordfreq("--top", "100", text_file)
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["red 3", "blue 2", "green 2", "BLUE 1", "Red 1", "yellow 1"]


def test_ignore_case_lowercases_before_counting(text_file):
    result = wordfreq("--ignore-case", text_file)
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["red 4", "blue 3", "green 2", "yellow 1"]


def test_short_ignore_case_combined_with_top():
    result = wordfreq("-i", "--top", "2", stdin=TEXT)
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["red 4", "blue 3"]


def test_ignore_case_lowercases_accented_words():
    result = wordfreq("-i", stdin="CAFÉ café Café\n")
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["café 3"]


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_invalid_top_is_a_usage_error(text_file, value):
    result = wordfreq("--top", value, text_file)
    assert result.returncode == 2
    assert result.stdout == b""

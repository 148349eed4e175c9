"""Hidden acceptance tests, milestone m1: counting words from a file or standard input."""

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


def test_counts_a_file_most_frequent_first(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("apple banana apple cherry banana apple\n", encoding="utf-8")
    result = wordfreq(path)
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["apple 3", "banana 2", "cherry 1"]


def test_ties_are_alphabetical(tmp_path):
    path = tmp_path / "ties.txt"
    path.write_text("pear fig kiwi fig pear apple kiwi\n", encoding="utf-8")
    result = wordfreq(path)
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["fig 2", "kiwi 2", "pear 2", "apple 1"]


def test_reads_standard_input_without_a_file():
    result = wordfreq(stdin="one two two three three three\n")
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["three 3", "two 2", "one 1"]


def test_dash_means_standard_input():
    result = wordfreq("-", stdin="echo echo\n")
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["echo 2"]


def test_punctuation_separates_words_and_inner_apostrophes_stay():
    text = "Don't panic -- don't! 'quoted' well-known snake_case O'Brien, O'Brien."
    result = wordfreq(stdin=text)
    assert result.returncode == 0, result.stderr
    assert lines(result) == [
        "O'Brien 2",
        "Don't 1",
        "case 1",
        "don't 1",
        "known 1",
        "panic 1",
        "quoted 1",
        "snake 1",
        "well 1",
    ]


def test_accented_letters_and_numbers_are_words():
    result = wordfreq(stdin="café 2024 café, crème-brûlée 2024 2024\n")
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["2024 3", "café 2", "brûlée 1", "crème 1"]


def test_case_sensitive_by_default():
    result = wordfreq(stdin="The the THE the\n")
    assert result.returncode == 0, result.stderr
    assert lines(result) == ["the 2", "THE 1", "The 1"]


def test_utf8_file_with_sample_text():
    result = wordfreq(ROOT / "samples" / "fox.txt")
    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[:4] == ["dog 4", "the 4", "The 3", "fox 3"]
    assert "doesn't 1" in out
    assert "didn't 1" in out
    assert "Quick 1" in out and "quick 1" in out
    assert all(len(line.split(" ")) == 2 for line in out)


def test_empty_input_prints_nothing():
    result = wordfreq(stdin="")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""


def test_missing_file_exits_2_with_message_on_stderr(tmp_path):
    missing = tmp_path / "no-such-file.txt"
    result = wordfreq(missing)
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"no-such-file.txt" in result.stderr

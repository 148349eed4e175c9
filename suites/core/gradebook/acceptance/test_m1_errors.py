"""Hidden acceptance tests, milestone m1: bad rows and unreadable files."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "gradebook.py"
HEADER = "student,assignment,score,max\n"


@pytest.fixture(autouse=True)
def _script_exists():
    assert SCRIPT.is_file(), "gradebook.py is missing at the repository root"


def gradebook(*args):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=30,
    )
    return result.returncode, result.stdout.decode("utf-8"), result.stderr.decode("utf-8")


def write(tmp_path, text, name="scores.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def reported_lines(err):
    return [int(number) for number in re.findall(r"\bline (\d+):", err)]


def check_bad(tmp_path, body, expected_lines):
    code, out, err = gradebook("report", write(tmp_path, HEADER + body))
    assert code == 2
    assert out == ""
    assert reported_lines(err) == expected_lines, err
    return err


def test_missing_field(tmp_path):
    check_bad(tmp_path, "Ada,hw1,9,10\nAda,hw2,8\n", [3])


def test_empty_field(tmp_path):
    check_bad(tmp_path, "Ada,hw1,9,10\nAda,hw2,,10\nBen,hw1,5,10\n", [3])
    check_bad(tmp_path, ",hw1,9,10\n", [2])


def test_non_numeric_score_or_max(tmp_path):
    check_bad(tmp_path, "Ada,hw1,nine,10\nAda,hw2,9,ten\nAda,hw3,9,10\n", [2, 3])


def test_score_greater_than_max(tmp_path):
    check_bad(tmp_path, "Ada,hw1,10,10\nAda,hw2,11,10\n", [3])


def test_negative_score_and_zero_max(tmp_path):
    check_bad(tmp_path, "Ada,hw1,-1,10\nAda,hw2,0,0\nAda,hw3,0,10\n", [2, 3])


def test_every_bad_row_is_reported_counting_blank_lines(tmp_path):
    body = "Ada,hw1,9,10\nAda,hw2,,10\n\nBen,hw1,x,10\nBen,hw2,5,10\n\nCy,hw1,12,10\n"
    err = check_bad(tmp_path, body, [3, 5, 8])
    assert len([line for line in err.splitlines() if line.strip()]) == 3, err


def test_missing_file_names_it(tmp_path):
    code, out, err = gradebook("report", tmp_path / "no-such-scores.csv")
    assert code == 2
    assert out == ""
    assert "no-such-scores.csv" in err

"""Hidden acceptance tests, milestone m2: export --format json|csv."""

import csv
import json
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


BODY = "Zed,exam,667,2000\nAda Lovelace,hw1,9,10\n\"Hopper, Grace\",hw1,17,80\nAda Lovelace,hw2,9,10\n"


def export(tmp_path, fmt, body=BODY, *extra):
    return gradebook("export", "--format", fmt, write(tmp_path, HEADER + body), *extra)


def test_json_is_a_list_of_students_sorted_by_name(tmp_path):
    code, out, err = export(tmp_path, "json")
    assert code == 0, err
    data = json.loads(out)
    assert data == [
        {"student": "Ada Lovelace", "percentage": 90.0, "grade": "A"},
        {"student": "Hopper, Grace", "percentage": 21.3, "grade": "F"},
        {"student": "Zed", "percentage": 33.4, "grade": "F"},
    ]


def test_json_percentage_is_a_number(tmp_path):
    code, out, err = export(tmp_path, "json")
    assert code == 0, err
    for record in json.loads(out):
        assert isinstance(record["percentage"], (int, float)), record
        assert not isinstance(record["percentage"], bool)


def test_csv_has_a_header_and_one_decimal(tmp_path):
    code, out, err = export(tmp_path, "csv")
    assert code == 0, err
    assert list(csv.reader(out.splitlines())) == [
        ["student", "percentage", "grade"],
        ["Ada Lovelace", "90.0", "A"],
        ["Hopper, Grace", "21.3", "F"],
        ["Zed", "33.4", "F"],
    ]


def test_export_uses_weights(tmp_path):
    weights = write(
        tmp_path,
        "category,weight\nhomework,40\nexams,60\nassignment,category\nhw1,homework\nfinal,exams\n",
        "weights.csv",
    )
    body = "Ada,hw1,10,10\nAda,final,50,100\n"
    code, out, err = export(tmp_path, "json", body, "--weights", weights)
    assert code == 0, err
    assert json.loads(out) == [{"student": "Ada", "percentage": 70.0, "grade": "C"}]
    code, out, err = export(tmp_path, "csv", body, "--weights", weights)
    assert code == 0, err
    assert list(csv.reader(out.splitlines())) == [["student", "percentage", "grade"], ["Ada", "70.0", "C"]]


def test_no_students(tmp_path):
    code, out, err = export(tmp_path, "json", "")
    assert code == 0, err
    assert json.loads(out) == []
    code, out, err = export(tmp_path, "csv", "")
    assert code == 0, err
    assert list(csv.reader(out.splitlines())) == [["student", "percentage", "grade"]]


def test_bad_rows_stop_the_export(tmp_path):
    for fmt in ("json", "csv"):
        code, out, err = export(tmp_path, fmt, "Ada,hw1,9,10\nAda,hw2,11,10\n")
        assert code == 2, fmt
        assert out == ""
        assert re.findall(r"\bline (\d+):", err) == ["3"], err


def test_format_is_required_and_checked(tmp_path):
    scores = write(tmp_path, HEADER + "Ada,hw1,9,10\n")
    code, out, err = gradebook("export", "--format", "csv", scores)
    assert code == 0, err
    for args in (["export", scores], ["export", "--format", "xml", scores]):
        code, out, err = gradebook(*args)
        assert code == 2, args
        assert out == ""

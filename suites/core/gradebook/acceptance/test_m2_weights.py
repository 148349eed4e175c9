"""Hidden acceptance tests, milestone m2: category weights (--weights)."""

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


WEIGHTS = (
    "category,weight\nhomework,40\nexams,60\n\n"
    "assignment,category\nhw1,homework\nhw2,homework\nmidterm,exams\nfinal,exams\nquiz9,homework\n"
)


def weighted(tmp_path, body, weights=WEIGHTS):
    scores = write(tmp_path, HEADER + body)
    return gradebook("report", scores, "--weights", write(tmp_path, weights, "weights.csv"))


def test_weighted_percentage(tmp_path):
    # homework 100%, exams 75/150 = 50%: 0.4 * 100 + 0.6 * 50 = 70.0 (unweighted: 55.9)
    body = "Ada,hw1,10,10\nAda,hw2,10,10\nAda,midterm,25,50\nAda,final,50,100\n"
    code, out, err = weighted(tmp_path, body)
    assert code == 0, err
    assert out.splitlines() == ["Ada: 70.0% C"]
    scores = tmp_path / "scores.csv"
    code, out, err = gradebook("report", "--weights", tmp_path / "weights.csv", scores)
    assert code == 0, err
    assert out.splitlines() == ["Ada: 70.0% C"]


def test_weights_are_relative(tmp_path):
    weights = WEIGHTS.replace("homework,40", "homework,2").replace("exams,60", "exams,3")
    body = "Ada,hw1,10,10\nAda,final,50,100\nBen,hw2,5,10\nBen,midterm,50,50\n"
    code, out, err = weighted(tmp_path, body, weights)
    assert code == 0, err
    assert out.splitlines() == ["Ada: 70.0% C", "Ben: 80.0% B"]


def test_category_percentage_is_total_over_total(tmp_path):
    # homework 10/12 = 83.33%, exams 100%: 0.4 * 83.33 + 60 = 93.3
    body = "Ada,hw1,1,2\nAda,hw2,9,10\nAda,midterm,50,50\n"
    code, out, err = weighted(tmp_path, body)
    assert code == 0, err
    assert out.splitlines() == ["Ada: 93.3% A"]


def test_categories_without_scores_are_left_out(tmp_path):
    body = "Ben,hw1,8,10\nCy,final,65,100\n"
    code, out, err = weighted(tmp_path, body)
    assert code == 0, err
    assert out.splitlines() == ["Ben: 80.0% B", "Cy: 65.0% D"]


def test_rounds_once_at_the_end(tmp_path):
    # (66.666...% + 25%) / 2 = 45.83 -> 45.8 (rounding the categories first gives 45.9)
    weights = WEIGHTS.replace("homework,40", "homework,1").replace("exams,60", "exams,1")
    code, out, err = weighted(tmp_path, "Dee,hw1,2,3\nDee,final,2,8\n", weights)
    assert code == 0, err
    assert out.splitlines() == ["Dee: 45.8% F"]


def test_assignment_without_category_is_a_bad_row(tmp_path):
    code, out, err = weighted(tmp_path, "Ada,hw1,9,10\nAda,lab1,5,10\n")
    assert code == 2
    assert out == ""
    assert re.findall(r"\bline (\d+):", err) == ["3"], err
    assert "lab1" in err


def test_unknown_category_in_weights_file(tmp_path):
    weights = WEIGHTS + "lab1,labs\n"
    code, out, err = weighted(tmp_path, "Ada,hw1,9,10\n", weights)
    assert code == 2
    assert out == ""
    assert "weights line 11:" in err


def test_weight_must_be_a_positive_number(tmp_path):
    for bad in ("lots", "0", "-5"):
        weights = WEIGHTS.replace("exams,60", f"exams,{bad}")
        code, out, err = weighted(tmp_path, "Ada,hw1,9,10\n", weights)
        assert code == 2, bad
        assert out == ""
        assert "weights line 3:" in err, err


def test_missing_weights_file_names_it(tmp_path):
    scores = write(tmp_path, HEADER + "Ada,hw1,9,10\n")
    code, out, err = gradebook("report", scores, "--weights", write(tmp_path, WEIGHTS, "weights.csv"))
    assert (code, out) == (0, "Ada: 90.0% A\n"), err
    code, out, err = gradebook("report", scores, "--weights", tmp_path / "no-weights.csv")
    assert code == 2
    assert out == ""
    assert "no-weights.csv" in err

"""Hidden acceptance tests, milestone m1: the report of percentages and letter grades."""

import os
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


def report(tmp_path, body):
    return gradebook("report", write(tmp_path, HEADER + body))


def test_one_line_per_student_sorted_by_name(tmp_path):
    code, out, err = report(
        tmp_path,
        "Grace Hopper,hw1,9,10\nAda Lovelace,hw1,8,10\nGrace Hopper,hw2,10,10\nAda Lovelace,hw2,9,10\n",
    )
    assert code == 0, err
    assert out.splitlines() == ["Ada Lovelace: 85.0% B", "Grace Hopper: 95.0% A"]


def test_sort_is_plain_string_order(tmp_path):
    code, out, err = report(tmp_path, "bob,hw,5,10\nCarol,hw,7,10\nAlice,hw,10,10\n")
    assert code == 0, err
    assert out.splitlines() == ["Alice: 100.0% A", "Carol: 70.0% C", "bob: 50.0% F"]


def test_percentage_is_total_score_over_total_max(tmp_path):
    # 10 of 12 points is 83.3%, not the mean of 50% and 90%.
    code, out, err = report(tmp_path, "Ada,quiz,1,2\nAda,exam,9,10\n")
    assert code == 0, err
    assert out.splitlines() == ["Ada: 83.3% B"]


def test_rounds_half_up_to_one_decimal(tmp_path):
    # 17/80 = 21.25% and 667/2000 = 33.35% (33.349999... as a float)
    code, out, err = report(tmp_path, "Yan,hw,17,80\nZed,exam,667,2000\n")
    assert code == 0, err
    assert out.splitlines() == ["Yan: 21.3% F", "Zed: 33.4% F"]


def test_always_one_decimal(tmp_path):
    code, out, err = report(tmp_path, "Ann,hw,10,10\nBea,hw,9,10\nCal,hw,0,10\n")
    assert code == 0, err
    assert out.splitlines() == ["Ann: 100.0% A", "Bea: 90.0% A", "Cal: 0.0% F"]


def test_letter_grade_cut_offs(tmp_path):
    body = "".join(
        f"{name},exam,{score},1000\n"
        for name, score in [
            ("s1", 900), ("s2", 899), ("s3", 800), ("s4", 799),
            ("s5", 700), ("s6", 699), ("s7", 600), ("s8", 599),
        ]
    )
    code, out, err = report(tmp_path, body)
    assert code == 0, err
    assert out.splitlines() == [
        "s1: 90.0% A", "s2: 89.9% B", "s3: 80.0% B", "s4: 79.9% C",
        "s5: 70.0% C", "s6: 69.9% D", "s7: 60.0% D", "s8: 59.9% F",
    ]


def test_grade_comes_from_the_rounded_percentage(tmp_path):
    # 1799/2000 = 89.95% -> 90.0% -> A
    code, out, err = report(tmp_path, "Zoe,final,1799,2000\n")
    assert code == 0, err
    assert out.splitlines() == ["Zoe: 90.0% A"]


def test_decimal_scores(tmp_path):
    code, out, err = report(tmp_path, "Ada,hw1,7.5,10\nAda,hw2,8.25,10\n")
    assert code == 0, err
    assert out.splitlines() == ["Ada: 78.8% C"]


def test_spaces_blank_lines_and_quoted_names(tmp_path):
    body = '\n Ada Lovelace , hw1 , 9 , 10 \n\n"Hopper, Grace",hw1,8,10\n\n'
    code, out, err = report(tmp_path, body)
    assert code == 0, err
    assert out.splitlines() == ["Ada Lovelace: 90.0% A", "Hopper, Grace: 80.0% B"]


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + HEADER + "Ada,hw1,7,10\n").encode("utf-8"))
    code, out, err = gradebook("report", path)
    assert code == 0, err
    assert out.splitlines() == ["Ada: 70.0% C"]


def test_header_only_prints_nothing(tmp_path):
    code, out, err = report(tmp_path, "")
    assert (code, out) == (0, "")

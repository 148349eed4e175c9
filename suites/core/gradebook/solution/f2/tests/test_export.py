import csv
import io
import json

import pytest

import gradebook

HEADER = "student,assignment,score,max\n"
BODY = 'Zed,exam,667,2000\nAda,hw1,9,10\n"Hopper, Grace",hw1,17,80\n'


def export(tmp_path, capsys, fmt, body=BODY, extra=()):
    path = tmp_path / "scores.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    code = gradebook.main(["export", "--format", fmt, str(path), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_json(tmp_path, capsys):
    code, out, err = export(tmp_path, capsys, "json")
    assert (code, err) == (0, "")
    assert json.loads(out) == [
        {"student": "Ada", "percentage": 90.0, "grade": "A"},
        {"student": "Hopper, Grace", "percentage": 21.3, "grade": "F"},
        {"student": "Zed", "percentage": 33.4, "grade": "F"},
    ]


def test_export_csv(tmp_path, capsys):
    code, out, err = export(tmp_path, capsys, "csv")
    assert (code, err) == (0, "")
    assert out == 'student,percentage,grade\nAda,90.0,A\n"Hopper, Grace",21.3,F\nZed,33.4,F\n'


def test_export_with_weights(tmp_path, capsys):
    weights = tmp_path / "weights.csv"
    weights.write_text("category,weight\nhw,1\nexams,3\nassignment,category\nhw1,hw\nexam,exams\n")
    code, out, _ = export(tmp_path, capsys, "csv", "Ada,hw1,10,10\nAda,exam,1,2\n", ["--weights", str(weights)])
    assert code == 0
    assert out == "student,percentage,grade\nAda,62.5,D\n"


def test_export_nothing(tmp_path, capsys):
    assert export(tmp_path, capsys, "json", "")[:2] == (0, "[]\n")
    assert export(tmp_path, capsys, "csv", "")[:2] == (0, "student,percentage,grade\n")


def test_export_bad_rows(tmp_path, capsys):
    code, out, err = export(tmp_path, capsys, "json", "Ada,hw1,11,10\n")
    assert (code, out) == (2, "")
    assert err == "line 2: score 11 is greater than max 10\n"


@pytest.mark.parametrize("argv", [["export", "x.csv"], ["export", "--format", "xml", "x.csv"]])
def test_format_is_required(argv, capsys):
    with pytest.raises(SystemExit) as excinfo:
        gradebook.main(argv)
    assert excinfo.value.code == 2
    assert capsys.readouterr().out == ""

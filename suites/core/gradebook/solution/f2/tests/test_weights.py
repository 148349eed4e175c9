import io
from decimal import Decimal
from fractions import Fraction

import pytest

import gradebook

HEADER = "student,assignment,score,max\n"
WEIGHTS = (
    "category,weight\nhomework,40\nexams,60\n\n"
    "assignment,category\nhw1,homework\nhw2,homework\nmidterm,exams\nfinal,exams\n"
)


def write(tmp_path, text, name):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(tmp_path, capsys, body, weights=WEIGHTS):
    scores = write(tmp_path, HEADER + body, "scores.csv")
    code = gradebook.main(["report", scores, "--weights", write(tmp_path, weights, "weights.csv")])
    out, err = capsys.readouterr()
    return code, out, err


def test_read_weights_tables():
    weights = gradebook.read_weights(io.StringIO(WEIGHTS))
    assert weights.categories == {"homework": Decimal(40), "exams": Decimal(60)}
    assert weights.assignments == {
        "hw1": "homework", "hw2": "homework", "midterm": "exams", "final": "exams",
    }


def test_read_weights_without_blank_line_and_with_decimals():
    text = "category,weight\nlabs,0.5\nassignment,category\nlab1,labs\n"
    weights = gradebook.read_weights(io.StringIO(text))
    assert weights.categories == {"labs": Decimal("0.5")}
    assert weights.assignments == {"lab1": "labs"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "weights line 1: expected header category,weight"),
        ("cat,weight\n", "weights line 1: expected header category,weight"),
        ("category,weight\nhw,10\n", "weights line 3: expected header assignment,category"),
        ("category,weight\nhw,lots\nassignment,category\n", "weights line 2: weight 'lots' is not a positive number"),
        ("category,weight\nhw,0\nassignment,category\n", "weights line 2: weight '0' is not a positive number"),
        ("category,weight\nhw,1\nhw,2\nassignment,category\n", "weights line 3: category 'hw' is listed twice"),
        ("category,weight\nhw,1\nassignment,category\nhw1,labs\n", "weights line 4: unknown category 'labs'"),
        ("category,weight\nhw,1\nassignment,category\nhw1,hw\nhw1,hw\n", "weights line 5: assignment 'hw1' is listed twice"),
        ("category,weight\nhw,1,2\nassignment,category\n", "weights line 2: expected 2 fields: category,weight"),
    ],
)
def test_read_weights_problems(text, message):
    with pytest.raises(gradebook.GradebookError) as excinfo:
        gradebook.read_weights(io.StringIO(text))
    assert message in excinfo.value.messages


def test_weighted_mean_of_category_percentages(tmp_path, capsys):
    body = "Ada,hw1,10,10\nAda,hw2,10,10\nAda,midterm,25,50\nAda,final,50,100\n"
    code, out, err = run(tmp_path, capsys, body)
    assert (code, err) == (0, "")
    assert out == "Ada: 70.0% C\n"


def test_category_percentage_is_total_over_total(tmp_path, capsys):
    code, out, _ = run(tmp_path, capsys, "Ada,hw1,1,2\nAda,hw2,9,10\nAda,midterm,50,50\n")
    assert code == 0
    assert out == "Ada: 93.3% A\n"


def test_missing_category_is_left_out(tmp_path, capsys):
    code, out, _ = run(tmp_path, capsys, "Ben,hw1,8,10\nCy,final,65,100\n")
    assert code == 0
    assert out == "Ben: 80.0% B\nCy: 65.0% D\n"


def test_rounding_happens_once_at_the_end():
    weights = gradebook.Weights({"hw": Decimal(1), "exams": Decimal(1)}, {"a": "hw", "b": "exams"})
    rows = [
        gradebook.Row(2, "Dee", "a", Decimal(2), Decimal(3)),
        gradebook.Row(3, "Dee", "b", Decimal(2), Decimal(8)),
    ]
    assert gradebook.exact_percentage(rows, weights) == Fraction(275, 6)
    assert gradebook.results(rows, weights) == [("Dee", Decimal("45.8"), "F")]


def test_unmapped_assignment_is_a_bad_row(tmp_path, capsys):
    code, out, err = run(tmp_path, capsys, "Ada,hw1,9,10\nAda,lab1,5,10\n")
    assert (code, out) == (2, "")
    assert err == "line 3: assignment 'lab1' has no category in the weights file\n"


def test_weights_problems_are_reported(tmp_path, capsys):
    code, out, err = run(tmp_path, capsys, "Ada,hw1,9,10\n", WEIGHTS.replace("exams,60", "exams,x"))
    assert (code, out) == (2, "")
    assert "weights line 3: weight 'x' is not a positive number" in err


def test_missing_weights_file(tmp_path, capsys):
    scores = write(tmp_path, HEADER + "Ada,hw1,9,10\n", "scores.csv")
    code = gradebook.main(["report", scores, "--weights", str(tmp_path / "none.csv")])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "none.csv" in err

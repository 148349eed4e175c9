from decimal import Decimal
from fractions import Fraction

import pytest

import gradebook

HEADER = "student,assignment,score,max\n"


def write(tmp_path, text, name="scores.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(capsys, argv):
    code = gradebook.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "value, expected",
    [
        (Fraction(2125, 100), "21.3"),
        (Fraction(3335, 100), "33.4"),
        (Fraction(8995, 100), "90.0"),
        (Fraction(8994, 100), "89.9"),
        (Fraction(0), "0.0"),
        (Fraction(100), "100.0"),
    ],
)
def test_round_half_up(value, expected):
    assert f"{gradebook.round_half_up(value):.1f}" == expected


@pytest.mark.parametrize(
    "percentage, grade",
    [("100.0", "A"), ("90.0", "A"), ("89.9", "B"), ("80.0", "B"), ("79.9", "C"),
     ("70.0", "C"), ("69.9", "D"), ("60.0", "D"), ("59.9", "F"), ("0.0", "F")],
)
def test_letter_cutoffs(percentage, grade):
    assert gradebook.letter(Decimal(percentage)) == grade


def test_percentage_is_total_score_over_total_max(tmp_path, capsys):
    path = write(tmp_path, HEADER + "Ada,hw1,1,2\nAda,exam,9,10\n")
    code, out, err = run(capsys, ["report", path])
    assert (code, err) == (0, "")
    assert out == "Ada: 83.3% B\n"


def test_report_sorted_by_name_with_plain_string_order(tmp_path, capsys):
    path = write(tmp_path, HEADER + "bob,hw,5,10\nCarol,hw,7,10\nAlice,hw,10,10\n")
    code, out, _ = run(capsys, ["report", path])
    assert code == 0
    assert out == "Alice: 100.0% A\nCarol: 70.0% C\nbob: 50.0% F\n"


def test_grade_uses_rounded_percentage(tmp_path, capsys):
    path = write(tmp_path, HEADER + "Zoe,a,1799,2000\nYan,b,17,80\n")
    code, out, _ = run(capsys, ["report", path])
    assert code == 0
    assert out == "Yan: 21.3% F\nZoe: 90.0% A\n"


def test_decimals_whitespace_blank_lines_quotes_and_bom(tmp_path, capsys):
    text = "\ufeff" + HEADER + '\n"Lovelace, Ada", hw1 , 7.5 ,10 \n\n   \nLovelace,hw2,0,10\n'
    path = write(tmp_path, text)
    code, out, err = run(capsys, ["report", path])
    assert (code, err) == (0, "")
    assert out == "Lovelace: 0.0% F\nLovelace, Ada: 75.0% C\n"


def test_header_only_prints_nothing(tmp_path, capsys):
    path = write(tmp_path, HEADER)
    assert run(capsys, ["report", path]) == (0, "", "")


def test_bad_rows_are_all_reported_with_line_numbers(tmp_path, capsys):
    text = HEADER + "Ada,hw1,9,10\nAda,hw2,,10\nBen,hw1,ten,10\n\nCy,hw1,12,10\nCy,hw2,7\nDi,hw,-1,10\nDi,hw,1,0\nEd,hw,1,2,3\n"
    path = write(tmp_path, text)
    code, out, err = run(capsys, ["report", path])
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        "line 3: missing field 'score'",
        "line 4: score 'ten' is not a number",
        "line 6: score 12 is greater than max 10",
        "line 7: missing field 'max'",
        "line 8: score '-1' is not a number",
        "line 9: max must be greater than 0",
        "line 10: expected 4 fields, found 5",
    ]


def test_wrong_header_is_an_error(tmp_path, capsys):
    path = write(tmp_path, "name,assignment,score,max\nAda,hw1,9,10\n")
    code, out, err = run(capsys, ["report", path])
    assert (code, out) == (2, "")
    assert err.startswith("line 1: expected header")


def test_empty_file_is_an_error(tmp_path, capsys):
    path = write(tmp_path, "")
    code, out, err = run(capsys, ["report", path])
    assert (code, out) == (2, "")
    assert "line 1" in err


def test_missing_file_names_the_file(tmp_path, capsys):
    code, out, err = run(capsys, ["report", str(tmp_path / "nope.csv")])
    assert (code, out) == (2, "")
    assert "nope.csv" in err


def test_invalid_utf8_is_an_error(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(HEADER.encode() + b"\xff\xfe,hw,1,2\n")
    code, out, err = run(capsys, ["report", str(path)])
    assert (code, out) == (2, "")
    assert "bad.csv" in err


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as excinfo:
        gradebook.main([])
    assert excinfo.value.code == 2

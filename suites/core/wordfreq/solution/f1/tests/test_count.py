import io
import sys

import pytest

import wordfreq


def run(capsys, argv, stdin_text=None, monkeypatch=None):
    if stdin_text is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin_text))
    code = wordfreq.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_tokenize_splits_on_punctuation_and_keeps_inner_apostrophes():
    text = "Don't stop -- it's 'quoted', well-known snake_case O'Brien!"
    assert wordfreq.tokenize(text) == [
        "Don't", "stop", "it's", "quoted", "well", "known", "snake", "case", "O'Brien",
    ]


def test_tokenize_keeps_accents_and_numbers():
    assert wordfreq.tokenize("Café 2024: crème brûlée x2") == ["Café", "2024", "crème", "brûlée", "x2"]


def test_count_words_is_case_sensitive():
    counts = wordfreq.count_words("The the THE the")
    assert counts == {"the": 2, "The": 1, "THE": 1}


def test_ranked_orders_by_count_then_alphabetically():
    counts = {"pear": 2, "apple": 2, "fig": 5, "kiwi": 1}
    assert wordfreq.ranked(counts) == [("fig", 5), ("apple", 2), ("pear", 2), ("kiwi", 1)]


def test_main_counts_a_file(tmp_path, capsys):
    path = tmp_path / "in.txt"
    path.write_text("b a b c b a\n", encoding="utf-8")
    code, out, err = run(capsys, [str(path)])
    assert code == 0
    assert out == "b 3\na 2\nc 1\n"
    assert err == ""


def test_main_reads_stdin_without_argument(capsys, monkeypatch):
    code, out, _ = run(capsys, [], stdin_text="x y x\n", monkeypatch=monkeypatch)
    assert code == 0
    assert out == "x 2\ny 1\n"


def test_main_reads_stdin_for_dash(capsys, monkeypatch):
    code, out, _ = run(capsys, ["-"], stdin_text="z", monkeypatch=monkeypatch)
    assert code == 0
    assert out == "z 1\n"


def test_empty_input_prints_nothing(tmp_path, capsys):
    path = tmp_path / "empty.txt"
    path.write_text("", encoding="utf-8")
    code, out, _ = run(capsys, [str(path)])
    assert code == 0
    assert out == ""


def test_missing_file_exits_2_with_message(tmp_path, capsys):
    missing = tmp_path / "nope.txt"
    code, out, err = run(capsys, [str(missing)])
    assert code == 2
    assert out == ""
    assert "nope.txt" in err


def test_invalid_utf8_is_an_error(tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\xff\xfe\xfa")
    code, out, err = run(capsys, [str(path)])
    assert code == 2
    assert out == ""
    assert "bad.txt" in err


def test_unknown_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as excinfo:
        wordfreq.main(["--frobnicate"])
    assert excinfo.value.code == 2

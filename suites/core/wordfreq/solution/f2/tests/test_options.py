import pytest

import wordfreq


def run(capsys, argv):
    code = wordfreq.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("The the THE cat Cat dog dog dog bird\n", encoding="utf-8")
    return path


def test_count_words_ignore_case_lowercases():
    assert wordfreq.count_words("The the THE", ignore_case=True) == {"the": 3}


def test_ranked_top_limits_pairs():
    counts = {"a": 3, "b": 2, "c": 1}
    assert wordfreq.ranked(counts, top=2) == [("a", 3), ("b", 2)]
    assert wordfreq.ranked(counts, top=10) == [("a", 3), ("b", 2), ("c", 1)]


def test_top_option_limits_output(text_file, capsys):
    code, out, _ = run(capsys, ["--top", "2", str(text_file)])
    assert code == 0
    assert out == "dog 3\nCat 1\n"


def test_short_top_option(text_file, capsys):
    code, out, _ = run(capsys, ["-n", "1", str(text_file)])
    assert code == 0
    assert out == "dog 3\n"


def test_ignore_case_option(text_file, capsys):
    code, out, _ = run(capsys, ["--ignore-case", str(text_file)])
    assert code == 0
    assert out == "dog 3\nthe 3\ncat 2\nbird 1\n"


def test_short_ignore_case_with_top(text_file, capsys):
    code, out, _ = run(capsys, ["-i", "-n", "3", str(text_file)])
    assert code == 0
    assert out == "dog 3\nthe 3\ncat 2\n"


@pytest.mark.parametrize("value", ["0", "-1", "abc", "2.5"])
def test_invalid_top_is_a_usage_error(text_file, capsys, value):
    with pytest.raises(SystemExit) as excinfo:
        wordfreq.main(["--top", value, str(text_file)])
    assert excinfo.value.code == 2
    assert capsys.readouterr().out == ""

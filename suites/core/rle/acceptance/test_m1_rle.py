"""Hidden acceptance tests, milestone m1: run-length encode and decode."""

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def rle():
    assert (ROOT / "rle.py").is_file(), "rle.py is missing at the repository root"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module("rle")
    except Exception as exc:  # noqa: BLE001 - any import failure is a test failure
        pytest.fail(f"cannot import rle: {exc!r}")


def test_encode_example(rle):
    assert rle.encode("aaabccdddd") == "3ab2c4d"


def test_encode_without_runs_is_unchanged(rle):
    assert rle.encode("abcd") == "abcd"
    assert rle.encode("z") == "z"


def test_encode_multi_digit_run(rle):
    assert rle.encode("q" * 12 + "r" * 100) == "12q100r"


def test_encode_is_case_sensitive(rle):
    assert rle.encode("aAAa") == "a2Aa"


def test_encode_spaces_newlines_and_accents(rle):
    assert rle.encode("a   b\n\n\tééé") == "a3 b2\n\t3é"


def test_empty_string_both_ways(rle):
    assert rle.encode("") == ""
    assert rle.decode("") == ""


@pytest.mark.parametrize("text", ["0", "abc9"])
def test_encode_rejects_digits(rle, text):
    with pytest.raises(ValueError):
        rle.encode(text)


def test_decode_example(rle):
    assert rle.decode("3ab2c4d") == "aaabccdddd"


def test_decode_multi_digit_run(rle):
    assert rle.decode("12xy") == "x" * 12 + "y"
    assert rle.decode("100 ") == " " * 100


def test_decode_accepts_repeated_runs_of_the_same_character(rle):
    assert rle.decode("aa") == "aa"
    assert rle.decode("2a3a") == "aaaaa"


def test_round_trip(rle):
    texts = ["aaabccdddd", "Hello,  World!!\n", "crème brûlée ééé", "w" * 250 + "x" + "w" * 9, "\t\t \n"]
    for text in texts:
        assert rle.decode(rle.encode(text)) == text


@pytest.mark.parametrize("bad", ["5", "a12"])
def test_decode_rejects_length_without_character(rle, bad):
    with pytest.raises(ValueError):
        rle.decode(bad)


@pytest.mark.parametrize("bad", ["0a", "b1c", "05a", "x007y"])
def test_decode_rejects_lengths_zero_one_and_leading_zeros(rle, bad):
    with pytest.raises(ValueError):
        rle.decode(bad)

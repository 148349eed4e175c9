"""Hidden acceptance tests, milestone m1: ISBN-10 validation and conversion to ISBN-13."""

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def isbn():
    assert (ROOT / "isbn.py").is_file(), "isbn.py is missing at the repository root"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    sys.modules.pop("isbn", None)
    return importlib.import_module("isbn")


def test_valid_plain(isbn):
    for text in ["0306406152", "0198526636", "0131103628", "0000000000"]:
        assert isbn.is_valid(text) is True, text


def test_valid_with_hyphens(isbn):
    assert isbn.is_valid("0-306-40615-2") is True
    assert isbn.is_valid("0-19-852663-6") is True


def test_hyphens_anywhere_and_repeated(isbn):
    assert isbn.is_valid("-0306--406152-") is True


def test_final_x_is_ten(isbn):
    assert isbn.is_valid("080442957X") is True
    assert isbn.is_valid("0-9752298-0-X") is True


def test_lowercase_final_x(isbn):
    assert isbn.is_valid("080442957x") is True


def test_x_elsewhere_is_invalid(isbn):
    assert isbn.is_valid("08044295X7") is False
    assert isbn.is_valid("X") is False


def test_wrong_check_digit(isbn):
    for text in ["0306406151", "0306406153", "0198526637", "0804429579"]:
        assert isbn.is_valid(text) is False, text


def test_transposed_digits_are_caught(isbn):
    assert isbn.is_valid("0360406152") is False


def test_empty_and_only_hyphens(isbn):
    for text in ["", "-", "----------"]:
        assert isbn.is_valid(text) is False, text


def test_wrong_length(isbn):
    for text in ["030640615", "03064061522", "9780306406157"]:
        assert isbn.is_valid(text) is False, text


def test_spaces_are_invalid(isbn):
    for text in ["0 306 40615 2", " 0306406152", "0306406152\n"]:
        assert isbn.is_valid(text) is False, repr(text)


def test_other_separators_and_letters_are_invalid(isbn):
    for text in ["0.306.40615.2", "0\u2013306\u201340615\u20132", "03064O6152"]:
        assert isbn.is_valid(text) is False, repr(text)


def test_non_ascii_digits_are_invalid(isbn):
    assert isbn.is_valid("\u0660306406152") is False
    assert isbn.is_valid("\uff10306406152") is False


def test_to_isbn13(isbn):
    assert isbn.to_isbn13("0306406152") == "9780306406157"
    assert isbn.to_isbn13("0-19-852663-6") == "9780198526636"


def test_to_isbn13_from_x(isbn):
    assert isbn.to_isbn13("080442957X") == "9780804429573"
    assert isbn.to_isbn13("0-9752298-0-x") == "9780975229804"


def test_to_isbn13_check_digit_zero(isbn):
    assert isbn.to_isbn13("0010000038") == "9780010000030"
    assert isbn.to_isbn13("001000016X") == "9780010000160"


def test_to_isbn13_rejects_wrong_check_digit(isbn):
    with pytest.raises(ValueError):
        isbn.to_isbn13("0306406153")


def test_to_isbn13_rejects_malformed_input(isbn):
    for text in ["", "0 306406152", "9780306406157", "X306406152"]:
        with pytest.raises(ValueError):
            isbn.to_isbn13(text)

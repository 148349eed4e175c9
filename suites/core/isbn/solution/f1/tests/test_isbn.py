import pytest

import isbn


def test_plain_valid_isbn():
    assert isbn.is_valid("0306406152") is True


def test_hyphens_are_ignored_anywhere():
    assert isbn.is_valid("0-306-40615-2") is True
    assert isbn.is_valid("-03064-0615--2-") is True


def test_final_x_means_ten_in_either_case():
    assert isbn.is_valid("080442957X") is True
    assert isbn.is_valid("0-8044-2957-x") is True


def test_x_not_in_last_position_is_invalid():
    assert isbn.is_valid("X804429570") is False


def test_wrong_check_digit_is_invalid():
    assert isbn.is_valid("0306406153") is False


def test_wrong_length_is_invalid():
    assert isbn.is_valid("") is False
    assert isbn.is_valid("---") is False
    assert isbn.is_valid("030640615") is False
    assert isbn.is_valid("03064061522") is False


def test_spaces_and_other_characters_are_invalid():
    assert isbn.is_valid("0 306 40615 2") is False
    assert isbn.is_valid(" 0306406152") is False
    assert isbn.is_valid("0306406l52") is False


def test_non_ascii_digits_are_invalid():
    assert isbn.is_valid("０306406152") is False


def test_isbn13_is_not_a_valid_isbn10():
    assert isbn.is_valid("9780306406157") is False


def test_to_isbn13_plain_and_hyphenated():
    assert isbn.to_isbn13("0306406152") == "9780306406157"
    assert isbn.to_isbn13("0-306-40615-2") == "9780306406157"


def test_to_isbn13_drops_the_x_check_character():
    assert isbn.to_isbn13("080442957X") == "9780804429573"


def test_to_isbn13_other_books():
    assert isbn.to_isbn13("0131103628") == "9780131103627"
    assert isbn.to_isbn13("0-19-852663-6") == "9780198526636"


def test_to_isbn13_check_digit_zero():
    assert isbn.to_isbn13("0010000038") == "9780010000030"


def test_to_isbn13_rejects_invalid_input():
    with pytest.raises(ValueError, match="0306406153"):
        isbn.to_isbn13("0306406153")
    with pytest.raises(ValueError):
        isbn.to_isbn13("")

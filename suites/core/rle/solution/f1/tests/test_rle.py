import pytest

import rle


def test_encode_writes_length_before_character():
    assert rle.encode("aaabccdddd") == "3ab2c4d"


def test_encode_omits_length_of_single_characters():
    assert rle.encode("abc") == "abc"


def test_encode_multi_digit_runs_and_case():
    assert rle.encode("x" * 12 + "Aa") == "12xAa"


def test_encode_whitespace_and_accents():
    assert rle.encode("  \n\néééb") == "2 2\n3éb"


def test_empty_string():
    assert rle.encode("") == ""
    assert rle.decode("") == ""


def test_encode_rejects_digits():
    with pytest.raises(ValueError):
        rle.encode("ab1")


def test_decode_expands_runs():
    assert rle.decode("3ab2c4d") == "aaabccdddd"
    assert rle.decode("10z") == "z" * 10


def test_decode_accepts_non_canonical_runs():
    assert rle.decode("aa2a") == "aaaa"


def test_round_trip():
    for text in ["a", "aaabccdddd", "hello  world\n", "ééé x" * 3, "b" * 105]:
        assert rle.decode(rle.encode(text)) == text


@pytest.mark.parametrize("bad", ["3", "a12", "0a", "1a", "05a", "2a00"])
def test_decode_rejects_malformed(bad):
    with pytest.raises(ValueError):
        rle.decode(bad)

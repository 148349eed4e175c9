"""Run-length encoding of text: `encode("aaab") == "3ab"`, `decode("3ab") == "aaab"`.

A run is written as its length in decimal followed by the character; the length is left out for a
run of one character. Lengths use the ASCII digits 0-9, so a text containing them can't be encoded.
"""

DIGITS = "0123456789"


def encode(text):
    """Return the run-length encoding of `text`; ValueError if it contains a digit 0-9."""
    for ch in text:
        if ch in DIGITS:
            raise ValueError(f"cannot encode the digit {ch!r}")
    out = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and text[j] == text[i]:
            j += 1
        run = j - i
        out.append((str(run) if run > 1 else "") + text[i])
        i = j
    return "".join(out)


def decode(encoded):
    """Return the text whose encoding is `encoded`; ValueError if it is malformed."""
    out = []
    i = 0
    while i < len(encoded):
        j = i
        while j < len(encoded) and encoded[j] in DIGITS:
            j += 1
        if j == len(encoded):
            raise ValueError(f"length without a character at position {i}")
        if j > i:
            digits = encoded[i:j]
            if digits[0] == "0":
                raise ValueError(f"length {digits!r} has a leading zero or is zero")
            count = int(digits)
            if count < 2:
                raise ValueError("a single character is written without a length")
        else:
            count = 1
        out.append(encoded[j] * count)
        i = j + 1
    return "".join(out)

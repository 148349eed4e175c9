"""ISBN-10 validation and conversion to ISBN-13."""

DIGITS = "0123456789"


def _clean(isbn: str) -> str | None:
    """The ten characters of an ISBN-10 without hyphens, or None when the shape is wrong."""
    chars = isbn.replace("-", "").upper()
    if len(chars) != 10:
        return None
    if not all(c in DIGITS for c in chars[:9]):
        return None
    if chars[9] not in DIGITS and chars[9] != "X":
        return None
    return chars


def is_valid(isbn: str) -> bool:
    """True when `isbn` is a valid ISBN-10 (hyphens anywhere, final `X` meaning 10)."""
    chars = _clean(isbn)
    if chars is None:
        return False
    values = [10 if c == "X" else int(c) for c in chars]
    total = sum(weight * value for weight, value in zip(range(10, 0, -1), values))
    return total % 11 == 0


def to_isbn13(isbn10: str) -> str:
    """The ISBN-13 (13 digits, no hyphens) of a valid ISBN-10; ValueError otherwise."""
    if not is_valid(isbn10):
        raise ValueError(f"not a valid ISBN-10: {isbn10!r}")
    body = "978" + isbn10.replace("-", "")[:9]
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body))
    return body + str((10 - total % 10) % 10)

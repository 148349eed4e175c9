#!/usr/bin/env python3
"""wordfreq: count how often each word occurs in a text file or on standard input.

Usage: python wordfreq.py [-i] [-n N] [FILE]

Prints one `word count` line per distinct word, most frequent first; words with the same count
in alphabetical order. Without FILE (or with `-`) it reads standard input.
"""

import argparse
import re
import sys
from collections import Counter

# A word is a run of letters/digits; an apostrophe between two of them belongs to the word.
WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text):
    """Return the words of `text` in order of appearance."""
    return WORD_RE.findall(text)


def count_words(text, ignore_case=False):
    """Return a Counter mapping each word of `text` to its number of occurrences."""
    words = tokenize(text)
    if ignore_case:
        words = [word.lower() for word in words]
    return Counter(words)


def ranked(counts, top=None):
    """Return (word, count) pairs, most frequent first, ties in alphabetical order.

    With `top`, only the first `top` pairs.
    """
    pairs = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return pairs if top is None else pairs[:top]


def positive_int(value):
    """argparse type: a whole number >= 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return number


def read_text(path):
    """Read the whole input: standard input for None or '-', else the UTF-8 file at `path`."""
    if path is None or path == "-":
        if sys.stdin is None:
            return ""
        return sys.stdin.read()
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def build_parser():
    parser = argparse.ArgumentParser(
        prog="wordfreq",
        description="Count how often each word occurs in a text.",
    )
    parser.add_argument("file", nargs="?", help="UTF-8 text file to read (default or '-': standard input)")
    parser.add_argument(
        "-n", "--top", type=positive_int, metavar="N", help="show only the N most frequent words"
    )
    parser.add_argument(
        "-i", "--ignore-case", action="store_true", help="lower-case words before counting"
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        text = read_text(args.file)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"wordfreq: cannot read {args.file!r}: {reason}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"wordfreq: cannot read {args.file!r}: not valid UTF-8", file=sys.stderr)
        return 2
    for word, count in ranked(count_words(text, ignore_case=args.ignore_case), top=args.top):
        print(f"{word} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""wordfreq: count how often each word occurs in a text file or on standard input.

Usage: python wordfreq.py [FILE]

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


def count_words(text):
    """Return a Counter mapping each word of `text` to its number of occurrences."""
    return Counter(tokenize(text))


def ranked(counts):
    """Return (word, count) pairs, most frequent first, ties in alphabetical order."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


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
    for word, count in ranked(count_words(text)):
        print(f"{word} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

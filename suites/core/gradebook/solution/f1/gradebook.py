#!/usr/bin/env python3
"""gradebook: percentages and letter grades from a CSV file of student scores.

Usage: python gradebook.py report SCORES.csv

SCORES.csv has the header `student,assignment,score,max` and one row per graded piece of work.
`report` prints one `Name: 87.5% B` line per student, sorted by name. Bad rows are reported as
`line N: problem` on standard error (exit status 2, nothing on standard output).
"""

import argparse
import csv
import math
import re
import sys
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

HEADER = ["student", "assignment", "score", "max"]
NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# (lowest rounded percentage, letter), best first; anything below the last is an F.
CUTOFFS = [(Decimal("90"), "A"), (Decimal("80"), "B"), (Decimal("70"), "C"), (Decimal("60"), "D")]


class GradebookError(Exception):
    """One or more problems with an input file; `messages` holds one line per problem."""

    def __init__(self, messages):
        super().__init__("\n".join(messages))
        self.messages = list(messages)


@dataclass(frozen=True)
class Row:
    line: int
    student: str
    assignment: str
    score: Decimal
    max: Decimal


def parse_number(text):
    """Return `text` as a Decimal when it is digits with an optional decimal part, else None."""
    if NUMBER_RE.fullmatch(text):
        return Decimal(text)
    return None


def check_row(line, fields):
    """Return (Row, None) for a good data row, or (None, message) describing what is wrong."""
    if len(fields) > len(HEADER):
        return None, f"line {line}: expected {len(HEADER)} fields, found {len(fields)}"
    values = fields + [""] * (len(HEADER) - len(fields))
    for name, value in zip(HEADER, values):
        if value == "":
            return None, f"line {line}: missing field '{name}'"
    student, assignment, score_text, max_text = values
    score = parse_number(score_text)
    if score is None:
        return None, f"line {line}: score '{score_text}' is not a number"
    maximum = parse_number(max_text)
    if maximum is None:
        return None, f"line {line}: max '{max_text}' is not a number"
    if maximum == 0:
        return None, f"line {line}: max must be greater than 0"
    if score > maximum:
        return None, f"line {line}: score {score_text} is greater than max {max_text}"
    return Row(line, student, assignment, score, maximum), None


def read_scores(handle):
    """Read a scores CSV from an open text file; raise GradebookError listing every bad row."""
    reader = csv.reader(handle, skipinitialspace=True)
    rows, problems = [], []
    header_seen = False
    for fields in reader:
        fields = [field.strip() for field in fields]
        if not any(fields):
            continue
        if not header_seen:
            if fields != HEADER:
                raise GradebookError([f"line {reader.line_num}: expected header {','.join(HEADER)}"])
            header_seen = True
            continue
        row, problem = check_row(reader.line_num, fields)
        if problem:
            problems.append(problem)
        else:
            rows.append(row)
    if not header_seen:
        raise GradebookError([f"line 1: expected header {','.join(HEADER)}"])
    if problems:
        raise GradebookError(problems)
    return rows


def round_half_up(value):
    """Round a non-negative Fraction to one decimal, halves up, and return it as a Decimal."""
    tenths = math.floor(value * 10 + Fraction(1, 2))
    return Decimal(tenths) / 10


def letter(percentage):
    """The letter grade of a rounded percentage."""
    for lowest, grade in CUTOFFS:
        if percentage >= lowest:
            return grade
    return "F"


def percentages(rows):
    """Map each student to their rounded percentage: sum of scores over sum of maxima."""
    totals = {}
    for row in rows:
        score, maximum = totals.get(row.student, (Decimal(0), Decimal(0)))
        totals[row.student] = (score + row.score, maximum + row.max)
    return {
        student: round_half_up(Fraction(score) * 100 / Fraction(maximum))
        for student, (score, maximum) in totals.items()
    }


def results(rows):
    """(student, percentage, letter) for every student, sorted by name."""
    return [
        (student, percentage, letter(percentage))
        for student, percentage in sorted(percentages(rows).items())
    ]


def open_csv(path):
    """Open a UTF-8 CSV file (a byte-order mark is allowed) for csv.reader."""
    return open(path, encoding="utf-8-sig", newline="")


def load_scores(path):
    with open_csv(path) as handle:
        return read_scores(handle)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gradebook", description="Percentages and letter grades from a CSV of scores."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    report = commands.add_parser("report", help="print each student's percentage and letter grade")
    report.add_argument("scores", help="CSV file with the header student,assignment,score,max")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        rows = load_scores(args.scores)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"gradebook: cannot read {args.scores!r}: {reason}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"gradebook: cannot read {args.scores!r}: not valid UTF-8", file=sys.stderr)
        return 2
    except GradebookError as exc:
        for message in exc.messages:
            print(message, file=sys.stderr)
        return 2
    for student, percentage, grade in results(rows):
        print(f"{student}: {percentage:.1f}% {grade}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""gradebook: percentages and letter grades from a CSV file of student scores.

Usage:
  python gradebook.py report SCORES.csv [--weights WEIGHTS.csv]
  python gradebook.py export --format json|csv SCORES.csv [--weights WEIGHTS.csv]

SCORES.csv has the header `student,assignment,score,max` and one row per graded piece of work.
`report` prints one `Name: 87.5% B` line per student, sorted by name; `export` writes the same
results as JSON or CSV. Bad rows are reported as `line N: problem` on standard error (exit
status 2, nothing on standard output); problems in the weights file as `weights line N: problem`.

WEIGHTS.csv holds two tables one after the other: `category,weight` rows, then an
`assignment,category` header and rows mapping every assignment to its category. A student's
percentage is then the weighted mean of their category percentages over the categories they
have scores in.
"""

import argparse
import csv
import json
import math
import re
import sys
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

HEADER = ["student", "assignment", "score", "max"]
CATEGORY_HEADER = ["category", "weight"]
MAPPING_HEADER = ["assignment", "category"]
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


@dataclass(frozen=True)
class Weights:
    categories: dict  # category -> positive Decimal weight
    assignments: dict  # assignment -> category


def parse_number(text):
    """Return `text` as a Decimal when it is digits with an optional decimal part, else None."""
    if NUMBER_RE.fullmatch(text):
        return Decimal(text)
    return None


def csv_rows(handle):
    """Yield (line number, stripped fields) for every non-blank row of a CSV file."""
    reader = csv.reader(handle, skipinitialspace=True)
    for fields in reader:
        fields = [field.strip() for field in fields]
        if any(fields):
            yield reader.line_num, fields


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
    rows, problems = [], []
    header_seen = False
    for line, fields in csv_rows(handle):
        if not header_seen:
            if fields != HEADER:
                raise GradebookError([f"line {line}: expected header {','.join(HEADER)}"])
            header_seen = True
            continue
        row, problem = check_row(line, fields)
        if problem:
            problems.append(problem)
        else:
            rows.append(row)
    if not header_seen:
        raise GradebookError([f"line 1: expected header {','.join(HEADER)}"])
    if problems:
        raise GradebookError(problems)
    return rows


def read_weights(handle):
    """Read a weights CSV from an open text file; raise GradebookError listing every problem."""
    categories, assignments, problems = {}, {}, []
    declared = set()
    table = None
    last_line = 0
    for line, fields in csv_rows(handle):
        last_line = line
        if table is None:
            if fields != CATEGORY_HEADER:
                raise GradebookError([f"weights line {line}: expected header {','.join(CATEGORY_HEADER)}"])
            table = CATEGORY_HEADER
            continue
        if table is CATEGORY_HEADER and fields == MAPPING_HEADER:
            table = MAPPING_HEADER
            continue
        if len(fields) != 2 or not all(fields):
            problems.append(f"weights line {line}: expected 2 fields: {','.join(table)}")
            continue
        if table is CATEGORY_HEADER:
            name, weight_text = fields
            weight = parse_number(weight_text)
            if name in declared:
                problems.append(f"weights line {line}: category '{name}' is listed twice")
            elif weight is None or weight == 0:
                problems.append(f"weights line {line}: weight '{weight_text}' is not a positive number")
            else:
                categories[name] = weight
            declared.add(name)
        else:
            assignment, category = fields
            if category not in declared:
                problems.append(f"weights line {line}: unknown category '{category}'")
            elif assignment in assignments:
                problems.append(f"weights line {line}: assignment '{assignment}' is listed twice")
            else:
                assignments[assignment] = category
    if table is None:
        raise GradebookError([f"weights line 1: expected header {','.join(CATEGORY_HEADER)}"])
    if table is CATEGORY_HEADER:
        problems.append(f"weights line {last_line + 1}: expected header {','.join(MAPPING_HEADER)}")
    if problems:
        raise GradebookError(problems)
    return Weights(categories, assignments)


def check_mapped(rows, weights):
    """Raise GradebookError naming every row whose assignment has no category."""
    problems = [
        f"line {row.line}: assignment '{row.assignment}' has no category in the weights file"
        for row in rows
        if row.assignment not in weights.assignments
    ]
    if problems:
        raise GradebookError(problems)


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


def exact_percentage(rows, weights=None):
    """The unrounded percentage of one student's rows, as a Fraction.

    Without weights: sum of scores over sum of maxima. With weights: the weighted mean of the
    category percentages over the categories the rows touch (the weights are rescaled).
    """
    totals = {}
    for row in rows:
        key = None if weights is None else weights.assignments[row.assignment]
        score, maximum = totals.get(key, (Fraction(0), Fraction(0)))
        totals[key] = (score + Fraction(row.score), maximum + Fraction(row.max))
    if weights is None:
        score, maximum = totals[None]
        return score * 100 / maximum
    weighted = sum(
        Fraction(weights.categories[category]) * score * 100 / maximum
        for category, (score, maximum) in totals.items()
    )
    return weighted / sum(Fraction(weights.categories[category]) for category in totals)


def results(rows, weights=None):
    """(student, rounded percentage, letter) for every student, sorted by name."""
    by_student = {}
    for row in rows:
        by_student.setdefault(row.student, []).append(row)
    out = []
    for student in sorted(by_student):
        percentage = round_half_up(exact_percentage(by_student[student], weights))
        out.append((student, percentage, letter(percentage)))
    return out


def export_json(results_list):
    records = [
        {"student": student, "percentage": float(percentage), "grade": grade}
        for student, percentage, grade in results_list
    ]
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"


def export_csv(results_list, stream):
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["student", "percentage", "grade"])
    for student, percentage, grade in results_list:
        writer.writerow([student, f"{percentage:.1f}", grade])


def open_csv(path):
    """Open a UTF-8 CSV file (a byte-order mark is allowed) for csv.reader."""
    return open(path, encoding="utf-8-sig", newline="")


def load(path, reader):
    with open_csv(path) as handle:
        return reader(handle)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gradebook", description="Percentages and letter grades from a CSV of scores."
    )
    inputs = argparse.ArgumentParser(add_help=False)
    inputs.add_argument("scores", help="CSV file with the header student,assignment,score,max")
    inputs.add_argument(
        "--weights", metavar="WEIGHTS.csv", help="category weights and assignment categories"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "report", parents=[inputs], help="print each student's percentage and letter grade"
    )
    export = commands.add_parser("export", parents=[inputs], help="write the results as JSON or CSV")
    export.add_argument("--format", required=True, choices=["json", "csv"])
    return parser


def compute(args):
    """Read the input files named in `args` and return the results; raise on any problem."""
    weights = None
    if args.weights is not None:
        weights = load_file(args.weights, read_weights)
    rows = load_file(args.scores, read_scores)
    if weights is not None:
        check_mapped(rows, weights)
    return results(rows, weights)


def load_file(path, reader):
    try:
        return load(path, reader)
    except OSError as exc:
        raise GradebookError([f"gradebook: cannot read {path!r}: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise GradebookError([f"gradebook: cannot read {path!r}: not valid UTF-8"]) from None


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        results_list = compute(args)
    except GradebookError as exc:
        for message in exc.messages:
            print(message, file=sys.stderr)
        return 2
    if args.command == "report":
        for student, percentage, grade in results_list:
            print(f"{student}: {percentage:.1f}% {grade}")
    elif args.format == "json":
        sys.stdout.write(export_json(results_list))
    else:
        export_csv(results_list, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

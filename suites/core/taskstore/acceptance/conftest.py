"""Shared fixture of the hidden acceptance tests.

The module under test is imported inside a fixture, not at collection time, so a missing or broken
`taskstore` fails each test on its own (and every test still maps to its milestone).
"""

import importlib

import pytest


@pytest.fixture
def ts():
    """The workspace's `taskstore` module."""
    try:
        return importlib.import_module("taskstore")
    except Exception as exc:  # noqa: BLE001 - any import failure is a test failure
        pytest.fail(f"cannot import taskstore: {exc!r}")

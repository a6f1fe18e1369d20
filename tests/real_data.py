"""Where the tests' real data lives, and what happens when it is missing.

Locally a test whose real data is absent skips, saying what to install or place. Under CI
(`CI=true`) it fails instead: CI has `../shared/data` beside the clone and the dev extra's
data packages, so a missing file there is a broken set-up, not a reason to pass quietly.
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def in_ci():
    return os.environ.get("CI", "").lower() == "true"


def missing(reason):
    """Skips the test (fails it under `CI=true`) because real data is absent."""
    if in_ci():
        pytest.fail(f"CI=true and real test data is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def shared_file(*parts):
    """The path of a file of `../shared/data`; `missing()` when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        missing(f"{path} (shared real data) is absent")
    return path

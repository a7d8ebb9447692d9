"""Suite-wide test setup.

Makes the checkout under test importable by child processes too (the
``pronghorn`` executable, replica and engine servers), so a test always runs
this tree's code even when the venv's editable install points elsewhere.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
)

# The `pronghorn` executable of the venv running the tests (CLI tests run it).
PRONGHORN = str(Path(sys.executable).with_name("pronghorn"))

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.store_backends"]

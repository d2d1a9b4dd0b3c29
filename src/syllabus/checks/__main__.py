"""``python -m syllabus.checks [FILE ...]``: regenerate the table of checks in the docs."""

from __future__ import annotations

import sys

from syllabus.checks.catalog import update_doc

for target in sys.argv[1:] or ["docs/checks.md"]:
    print(f"{target}: {'updated' if update_doc(target) else 'up to date'}")

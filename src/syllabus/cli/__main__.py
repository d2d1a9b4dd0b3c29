"""``python -m syllabus.cli``."""

import sys

from syllabus.cli import main

sys.exit(main())

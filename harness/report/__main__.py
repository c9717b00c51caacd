"""``python -m harness.report report|gate|compare ...``."""

from __future__ import annotations

import sys

from harness.report._cli import main

sys.exit(main())

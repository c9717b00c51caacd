"""``python -m harness.cli``: the ``bakeoff`` command (how a run starts its report child)."""

from __future__ import annotations

import sys

from harness._children import watch_parent
from harness.cli import main

watch_parent()  # the report child of a run: stop when the run dies, however it dies
sys.exit(main())

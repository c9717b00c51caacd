"""The report step hands freed memory back to the OS (harness._memory): checked in a child process,
since the policy is process-wide."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """
import numpy as np, pyarrow as pa
from harness._memory import return_freed_memory

def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS")) / 1024

assert return_freed_memory() and return_freed_memory()  # once, then a no-op
assert pa.default_memory_pool().backend_name == "system", pa.default_memory_pool().backend_name
# a freed 3.2 MB array raises glibc's default threshold: the next ones come from the heap, whose space
# stays resident when they are freed under one still in use at its top
first = np.ones(400_000)
del first
blocks = [np.ones(400_000) for _ in range(200)]
high = rss_mb()
del blocks[:-1]
low = rss_mb()
print(round(high), round(low))
assert low < high - 400, (high, low)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_arrays_leave_the_resident_set() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], check=False, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr

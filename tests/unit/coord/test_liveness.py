"""pjob.coord.liveness: an agent's own start time is read from /proc without
psutil, and agrees with psutil's."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest
from pjob.coord import liveness

linux = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")


@linux
def test_proc_start_time_is_psutils():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])  # a name with spaces and )
    try:
        for pid in (os.getpid(), child.pid, 1):
            assert liveness.proc_start_time(pid) == psutil.Process(pid).create_time()
    finally:
        child.kill()
        child.wait()


def test_this_process_and_a_gone_one():
    host, pid, started = liveness.this_process()
    assert (host, pid) == (liveness._host(), os.getpid())
    assert started == psutil.Process().create_time()
    assert not liveness.is_gone(host, pid, started)
    assert liveness.is_gone(host, pid, started - 10)  # the pid was recycled
    assert liveness.proc_start_time(2**22 + 1) is None  # above pid_max: no such process
    assert liveness._start_time(2**22 + 1) == 0.0
    assert not liveness.is_gone("another-host", pid, started)


def test_psutil_not_imported_for_this_process():
    code = "import sys; from pjob.coord import liveness; liveness.this_process(); print('psutil' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("False" if os.path.exists("/proc/self/stat") else "True")

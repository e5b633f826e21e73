"""No process left behind: an external model's command that starts a grandchild (the README's `bash -c '... | ...'`
form) is ended whole, grandchild included, however its runner ends: kill -9, SIGTERM, SIGINT or the timeout."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow   # kills processes and waits for them to end

# The runner's side of one external cell (external_run.py's _run), in a process of its own that the test can kill.
RUNNER = """
import sys
from pathlib import Path
from docrobust.bench.external_run import _run
folder, timeout = Path(sys.argv[1]), float(sys.argv[2])
command = ["bash", "-c", f"sleep 300 & echo $! > {folder}/grandchild.pid; echo $$ > {folder}/child.pid; wait"]
status = _run(command, {"workdir": str(folder), "env": {}, "gpus": 0, "timeout": timeout}, [], folder / "log")
(folder / "status").write_text(repr(status))
"""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent's reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
@pytest.mark.parametrize("end", ["SIGKILL", "SIGTERM", "SIGINT", "timeout"])
def test_an_external_command_and_its_grandchild_end_with_the_runner(end, tmp_path):
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    timeout = 1.5 if end == "timeout" else 300
    runner = subprocess.Popen([sys.executable, str(script), str(tmp_path), str(timeout)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    pid_files = [tmp_path / "child.pid", tmp_path / "grandchild.pid"]
    while not all(p.is_file() and p.read_text().strip() for p in pid_files):
        assert runner.poll() is None, runner.stderr.read().decode()
        assert time.monotonic() < deadline, "the command did not start"
        time.sleep(0.05)
    child, grandchild = (int(p.read_text()) for p in pid_files)
    assert alive(child) and alive(grandchild)
    if end != "timeout":
        os.kill(runner.pid, getattr(signal, end))
    runner.wait(timeout=60)
    deadline = time.monotonic() + 10
    while alive(child) or alive(grandchild):
        assert time.monotonic() < deadline, f"after {end} of the runner, its command's processes are still running"
        time.sleep(0.05)
    if end == "timeout":
        assert (tmp_path / "status").read_text() == "None"  # _run's answer for a timeout

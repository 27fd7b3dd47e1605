"""A short pass of the coverage-guided fuzzer (tests/fuzz.py) on each target: no finding in about a minute
all told; `make fuzz` runs longer."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz import TARGETS

ROOT = Path(__file__).resolve().parents[1]
SECONDS = {"decode": 20, "options": 10, "request": 30}


@pytest.mark.parametrize("target", TARGETS)
def test_the_fuzzer_finds_nothing(target, tmp_path):
    pytest.importorskip("atheris", reason="requirements-dev.txt installs it")
    result = subprocess.run([sys.executable, "-m", "tests.fuzz", target, "--seconds", str(SECONDS[target]),
                             "--work", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    findings = sorted(p.name for p in (tmp_path / target).glob("crash-*"))
    assert result.returncode == 0 and not findings, (findings, result.stderr[-4000:])
    done = re.search(r"Done (\d+) runs", result.stderr)
    coverage = re.findall(r"cov: (\d+)", result.stderr)
    assert done and int(done.group(1)) > 100, result.stderr[-2000:]  # it ran, and ran many inputs
    assert coverage and int(coverage[-1]) > int(coverage[0]), "coverage grew beyond the seeds"

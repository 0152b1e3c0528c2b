"""Shared fixtures: where ../shared is, skipping cleanly when it is absent."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# ENERGYBENCH_SHARED overrides the location (e.g. a git worktree whose parent has no shared/).
SHARED_DIR = Path(os.environ.get("ENERGYBENCH_SHARED") or PROJECT_ROOT.parent / "shared")


def pytest_configure(config: pytest.Config) -> None:
    """The Ctrl-C tests need SIGINT deliverable, here and in the children they spawn (children
    inherit an ignored signal). A suite started in the background of a non-interactive shell
    (`cmd &` in a script, nohup) begins with SIGINT ignored; give it Python's default handler,
    as an interactive run has."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # resource locks of this session only (children inherit it): tests open fake ports such
    # as /dev/null, and another test session on the machine must not hold them
    if not os.environ.get("ENERGYBENCH_LOCK_DIR"):
        os.environ["ENERGYBENCH_LOCK_DIR"] = tempfile.mkdtemp(prefix="energybench-test-locks-")
    # runs apply the newest calibration record (run --calibration auto): never the user's own
    # store's, whose records could match a simulated meter's identity
    os.environ["ENERGYBENCH_CALIBRATION_DIR"] = tempfile.mkdtemp(prefix="energybench-test-cal-")


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason when it is absent."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (tests using ../shared need it beside the project root)")
    return path


@pytest.fixture
def shared_dir() -> Path:
    return shared_path()


@pytest.fixture
def real_results() -> Path:
    return shared_path("real-results")


@pytest.fixture
def mlperf_tiny() -> Path:
    return shared_path("mlperf-tiny")


@pytest.fixture
def virtual_lab():
    """A running VirtualLab (reference profile, energy build, kws01, stand-in model)."""
    from energybench.sim.lab import VirtualLab

    with VirtualLab("stm32l4r5-reference", mode="energy", workload="kws01") as lab:
        yield lab

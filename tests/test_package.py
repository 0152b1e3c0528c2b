"""The package skeleton: errors, data folders, CLI entry."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from energybench import errors
from energybench._data import data_dir


def test_errors_derive_from_builtins_and_pickle() -> None:
    exc = errors.InstrumentTimeoutError(
        "no reply to *IDN?", context="TCPIP::127.0.0.1::5025::SOCKET"
    )
    assert isinstance(exc, errors.TransportError)
    assert isinstance(exc, TimeoutError)
    assert isinstance(exc, OSError)
    exc.add_note("sent: *IDN?")
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is errors.InstrumentTimeoutError
    assert str(again) == "TCPIP::127.0.0.1::5025::SOCKET: no reply to *IDN?"
    assert exc.one_line().endswith("| sent: *IDN?")
    assert errors.UsageError("x").exit_code == 2
    assert issubclass(errors.ConfigError, ValueError)


@pytest.mark.parametrize("kind", ["instruments", "workloads", "calibration"])
def test_data_dirs_found_in_checkout(kind: str) -> None:
    assert data_dir(kind).is_dir()


def test_unknown_data_kind_is_a_config_error() -> None:
    with pytest.raises(errors.ConfigError, match="unknown data kind"):
        data_dir("nope")


def test_cli_version_and_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "energybench", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert out.stdout.startswith("energybench ")

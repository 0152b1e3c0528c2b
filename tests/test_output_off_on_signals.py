"""Outputs go off on every exit path of a process holding a supply: an exception, and SIGINT,
SIGTERM and SIGHUP under ``stop_signals()`` (the simulated N6705C runs here and shows the output
state on its timeline). Also: the stop signals become exceptions, a second one cannot cut the
cleanup short, an ignored signal stays ignored, and a signal during an exchange waits for it."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from lab_support import read_line

from energybench.errors import Terminated, stop_reason
from energybench.instruments.keysight_n6705c import KeysightN6705C
from energybench.instruments.scpi import SafetyLimits
from energybench.sim.instruments.keysight.keysight_n6705c import SimKeysightN6705C
from energybench.sim.physics.timeline import Timeline
from energybench.transport.interrupts import deferred_interrupt, stop_signals

LIMITS = SafetyLimits(max_voltage_v=3.3, max_current_a=0.1)

CHILD = textwrap.dedent(
    """
    import sys, time
    from energybench.errors import stop_reason
    from energybench.instruments.keysight_n6705c import KeysightN6705C
    from energybench.instruments.scpi import SafetyLimits
    from energybench.transport import stop_signals

    with stop_signals() as stops:
        try:
            with KeysightN6705C.open(sys.argv[1], SafetyLimits(3.3, 0.1)) as psu:
                psu.set_voltage(1.8)
                psu.set_current_limit(0.05)
                psu.set_output(True)
                print("output on", flush=True)
                time.sleep(60)
        except KeyboardInterrupt as exc:  # Terminated too
            print(stop_reason(exc), flush=True)
            sys.exit(128 + stops.received[0])
    """
)


@pytest.fixture
def supply_sim():
    timeline = Timeline(supply_voltage_v=0.0, output_on=False)
    sim = SimKeysightN6705C(timeline)
    sim.start()
    try:
        yield timeline, sim
    finally:
        sim.stop()


def _output_on(timeline: Timeline) -> bool:
    return timeline.supply_state(timeline.now_s)[1]


def test_output_off_after_an_exception(supply_sim) -> None:
    timeline, sim = supply_sim
    psu = KeysightN6705C.open(sim.resource, LIMITS)
    with pytest.raises(RuntimeError, match="boom"), psu:
        psu.set_voltage(1.8)
        psu.set_current_limit(0.05)
        psu.set_output(True)
        assert _output_on(timeline)
        raise RuntimeError("boom")
    assert not _output_on(timeline)


@pytest.mark.parametrize(
    ("signum", "said"),
    [
        (signal.SIGINT, "interrupted (Ctrl-C)"),
        (signal.SIGTERM, "terminated (SIGTERM)"),
        (signal.SIGHUP, "terminated (SIGHUP)"),
    ],
)
def test_output_off_after_a_stop_signal_in_a_subprocess(supply_sim, signum, said) -> None:
    timeline, sim = supply_sim
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, sim.resource],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert read_line(proc.stdout, 60.0, "the child").strip() == "output on"
        assert _output_on(timeline)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert not _output_on(timeline), err
    assert out.strip() == said, err
    assert proc.returncode == 128 + signum, err


def test_terminated_is_a_picklable_keyboard_interrupt() -> None:
    exc = pickle.loads(pickle.dumps(Terminated(signal.SIGHUP)))
    assert isinstance(exc, KeyboardInterrupt)
    assert (exc.signum, exc.signal_name, exc.exit_code) == (signal.SIGHUP, "SIGHUP", 129)
    assert stop_reason(exc) == "terminated (SIGHUP)"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_stop_signals_raise_terminated_and_restore_the_handlers(signum, code) -> None:
    before = signal.getsignal(signum)
    with pytest.raises(Terminated) as caught, stop_signals() as stops:
        signal.raise_signal(signum)
        time.sleep(1)  # not reached: the handler raises at the next bytecode
    assert caught.value.exit_code == code
    assert stops.received == [signum]
    assert signal.getsignal(signum) == before


def test_a_second_stop_signal_does_not_cut_the_cleanup_short(caplog) -> None:
    cleaned = False
    with pytest.raises(Terminated), stop_signals() as stops:
        try:
            signal.raise_signal(signal.SIGTERM)
        finally:
            signal.raise_signal(signal.SIGINT)  # the impatient user: logged, not raised
            cleaned = True
    assert cleaned
    assert stops.received == [signal.SIGTERM, signal.SIGINT]
    assert "finishing the shutdown first" in caplog.text


def test_an_ignored_signal_stays_ignored() -> None:
    """``nohup`` ignores SIGHUP: energybench must not turn it back on."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_signals():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            signal.raise_signal(signal.SIGHUP)  # ignored: nothing happens
            with deferred_interrupt():
                assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_during_an_exchange_waits_for_it(signum) -> None:
    finished = False
    with pytest.raises(Terminated), stop_signals(), deferred_interrupt():
        signal.raise_signal(signum)
        finished = True  # the exchange completes before the signal is delivered
    assert finished


_DEFAULT_SIGTERM_CHILD = textwrap.dedent(
    """
    import signal
    from energybench.transport.interrupts import deferred_interrupt

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with deferred_interrupt():
        signal.raise_signal(signal.SIGTERM)
        print("exchange complete", flush=True)
    print("not reached", flush=True)
    """
)


def test_a_held_sigterm_with_the_default_disposition_still_terminates() -> None:
    """Without stop_signals(), SIGTERM keeps its default action: after the exchange."""
    proc = subprocess.run(
        [sys.executable, "-c", _DEFAULT_SIGTERM_CHILD], capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.splitlines() == ["exchange complete"]
    assert proc.returncode == -signal.SIGTERM

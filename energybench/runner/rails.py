"""Several measured rails in one energy run (docs/rails.md): :class:`RailsMeasurer` measures
every window on the bench's meter and on each further rail while the DUT is driven once —
every rail's capture is armed, or its recording marked, before the drive, and each is analysed
after it.

- a further output of the bench's meter (N6705C output 2) is digitized in the main capture
  (same trigger, same sample ids): its energy is integrated between the main rail's edges and
  its samples written to ``capture_<window>_<rail>``;
- a rail with a meter of its own sees the DUT's timestamp line itself (on ``line``) and is
  measured by its own stream or triggered measurer, its files in ``rail_<name>/``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from energybench.acquisition.recording import write_capture
from energybench.analysis.window_analysis import integrate_edges
from energybench.errors import AnalysisError, ConfigError
from energybench.runner.bench_rails import RailConfig
from energybench.runner.instruments import BenchInstruments
from energybench.runner.measurer import Measured, Recording, T, WindowEnd, WindowId, run_drive

log = logging.getLogger(__name__)

RAIL_FOLDER = "rail_{}"  # a rail's own meter writes its files here, in the run folder


def rail_instruments(instruments: BenchInstruments, rail: RailConfig) -> BenchInstruments:
    """The rail's own meter seen as a bench of its own (its options, its line of the DUT's
    timestamp pin; no supply: the rail's meter does not power it)."""
    bench = instruments.bench
    meter = dataclasses.replace(
        bench.meter,
        driver=rail.driver or "",
        resource=rail.resource or "",
        channel=rail.channel,
        options=dict(rail.options),
    )
    sync = dataclasses.replace(bench.sync, line=rail.line or bench.sync.line)
    view = dataclasses.replace(bench, meter=meter, sync=sync, supply=None, rails=(), rail=rail.name)
    return BenchInstruments(
        view, meter=instruments.rail_meters[rail.name], meter_info=instruments.rail_infos[rail.name]
    )


class RailsMeasurer:
    """The bench's measurer plus one per further rail, over the same windows."""

    def __init__(
        self,
        main: Any,
        folder: Path,
        rails: tuple[RailConfig, ...],
        own: dict[str, Any],
        main_rail: str,
        meter_info: dict[str, str] | None = None,
    ) -> None:
        """``main``: the bench meter's measurer; ``own``: the measurer of each rail with a
        meter of its own, by rail name (the other rails are outputs of the bench's meter)."""
        self.main = main
        self.folder = folder
        self.rails = rails
        self.own = own
        self.main_rail = main_rail
        self.meter_info = meter_info or {}  # the bench meter's identity, in its rails' files
        self.stream_rate_hz = main.stream_rate_hz
        self.recordings: dict[str, Recording] = {}  # each own meter's, after stop()
        self._captures: list[str] = []  # files of the outputs digitized in the main capture
        self._unrecorded: list[str] = []

    def start(self) -> None:
        self.main.start()
        for measurer in self.own.values():
            measurer.start()

    def stop(self) -> Recording:
        for name, measurer in self.own.items():
            self.recordings[name] = measurer.stop()
        recording = self.main.stop()
        return dataclasses.replace(
            recording,
            captures=recording.captures + tuple(self._captures),
            unrecorded=recording.unrecorded + tuple(self._unrecorded),
        )

    def measure(
        self, drive: Callable[[], T], *, inferences: int, expected_s: float, window: WindowId
    ) -> Measured[T]:
        out, state = self.main.begin(expected_s)
        begun = {name: m.begin(expected_s) for name, m in self.own.items()}
        run_drive(drive, out)
        from_drive = list(out.problems)  # the DUT's problems are every rail's
        for name, (rail_out, rail_state) in begun.items():
            rail_out.activity, rail_out.dut_timeout = out.activity, out.dut_timeout
            rail_out.problems.extend(from_drive)
            out.rails[name] = self.own[name].finish(
                rail_out, rail_state, inferences=inferences, expected_s=expected_s, window=window
            )
        out = self.main.finish(
            out, state, inferences=inferences, expected_s=expected_s, window=window
        )
        for rail in self.rails:
            if rail.same_instrument:
                out.rails[rail.name] = self._output_rail(rail, out, from_drive, inferences, window)
        return out

    def _output_rail(
        self,
        rail: RailConfig,
        main: Measured,
        from_drive: list[str],
        inferences: int,
        window: WindowId,
    ) -> Measured:
        """An output digitized in the main capture: integrated between the main rail's edges
        (the same acquisition, so the same sample positions)."""
        out: Measured = Measured(main.activity, dut_timeout=main.dut_timeout)
        out.problems.extend(from_drive)
        out.current_range_a = rail.range_a
        trace = main.rail_traces.get(rail.channel)
        if trace is None:
            if not out.problems:
                out.problems.append(f"output {rail.channel} was not digitized")
            return out
        out.trace = trace
        metadata = {
            "kind": "energybench-rail-capture",
            "rail": rail.name,
            "output": rail.channel,
            "main_rail": self.main_rail,
            "main_capture": main.raw_file,
            "start_position": main.window.start_position if main.window else None,
            "stop_position": main.window.stop_position if main.window else None,
            "inferences": inferences,
            **window.metadata(),
            "meter": self.meter_info,
        }
        written = write_capture(trace, self.folder / f"capture_{window.tag}_{rail.name}", metadata)
        if written is None:
            self._unrecorded.append(f"{window.tag}_{rail.name}")
        else:
            out.raw_file = written.name
            self._captures.append(written.name)
        if main.window is None:
            if not out.problems:
                out.problems.append(f"no window on the {self.main_rail} rail")
            return out
        try:
            out.window = integrate_edges(
                trace, main.window.start_position, main.window.stop_position, inferences
            )
        except AnalysisError as exc:
            out.problems.append(f"{type(exc).__name__}: {exc}")
            return out
        out.start_s = main.start_s
        out.edge_source = f"{main.edge_source} (the {self.main_rail} rail's edges, same capture)"
        return out


def rails_measurer(
    main: Any,
    instruments: BenchInstruments,
    folder: Path,
    end: WindowEnd,
    plan: dict,
    choose: Callable[[BenchInstruments, Path, WindowEnd, dict], Any],
) -> RailsMeasurer:
    """The bench's further rails around its measurer ``main``; ``choose`` builds a measurer
    for a rail's own meter (the energy mode's choice by sync mode, in the rail's folder)."""
    bench = instruments.bench
    outputs = [r for r in bench.rails if r.same_instrument]
    if outputs and main.stream_rate_hz is not None:
        raise ConfigError(
            f"output {outputs[0].channel} of the bench's meter is digitized in its captures "
            'only, and this run streams: set [meter] options acquisition = "capture"',
            context=f"rails.{outputs[0].name}.channel",
        )
    own = {}
    for rail in bench.rails:
        if rail.same_instrument:
            continue
        rail_folder = folder / RAIL_FOLDER.format(rail.name)
        rail_folder.mkdir(parents=True, exist_ok=True)
        view = rail_instruments(instruments, rail)
        own[rail.name] = choose(view, rail_folder, end, {**plan, "rail": rail.name})
    return RailsMeasurer(main, folder, bench.rails, own, bench.rail, instruments.meter_info)

"""Energy mode: 5 windows on 5 different inputs, each >= 10 s with N scaled from a probe
window measured by the meter itself (no fixed table); the median energy per inference with its
expanded uncertainty (k=2), latency from the energy windows (duration/N) cross-checked against
the DUT's own timing where the firmware prints it. A window that fails (DUT timeout, missing
samples, edges that do not pair) is kept as invalid and re-run, at most ``max_attempts`` per
slot; a hung DUT is power-cycled when the bench's supply is ours, else the mode aborts."""

from __future__ import annotations

import dataclasses
import logging
import math
import statistics

from energybench.analysis.integrate import WindowResult
from energybench.calibration.budget import (
    find_profile,
    median_expanded_uncertainty,
    uncertainty_components,
    window_budget,
)
from energybench.errors import ConfigError, DutError, RunError
from energybench.runner.context import RunContext
from energybench.runner.dut_setup import DutSession
from energybench.runner.instruments import BenchInstruments
from energybench.runner.measure import (
    Measured,
    MeterFailure,
    StreamMeasurer,
    TriggeredMeasurer,
    record_capture,
)
from energybench.runner.mlc_format import EnergyWindow, energy_results_txt, not_valid_lines
from energybench.runner.performance import ModeAborted, check_alive, download, window_files
from energybench.runner.plots import plot_window
from energybench.runner.results import (
    MEASUREMENT_SETUP,
    UNCERTAINTY_COMPONENTS,
    ModeResult,
    WindowRecord,
)

log = logging.getLogger(__name__)

STREAM_SYNC = ("digital_channel", "event_marker")
TRIGGER_SYNC = ("hw_trigger_start", "hw_trigger_start_stop")
DUT_TIMING_TOLERANCE = 0.01  # relative, beyond the meter's edge resolution
PROBE_FRACTION = 10  # the probe runs this fraction of the workload's table count
PROBE_CAPTURE_S = 5.0  # expected probe length a triggered capture is sized for


def choose_measurer(ctx: RunContext, instruments: BenchInstruments, dut: DutSession):
    mode = ctx.bench.sync.mode
    wanted = instruments.option("acquisition")
    if wanted not in (None, "stream", "capture"):
        raise ConfigError(f"must be 'stream' or 'capture', got {wanted!r}", context="acquisition")
    analog_stream = mode == "analog_channel" and instruments.streaming and wanted != "capture"
    if mode in STREAM_SYNC or analog_stream:
        if not instruments.streaming:
            raise ConfigError(
                f"sync mode {mode} needs a streaming meter; {ctx.bench.meter.driver} is not one",
                context="sync.mode",
            )
        return StreamMeasurer(instruments, dut, ctx.folder)
    if mode in TRIGGER_SYNC or mode == "analog_channel":
        if not instruments.triggered:
            raise ConfigError(
                f"sync mode {mode} needs a triggered meter; {ctx.bench.meter.driver} is not one",
                context="sync.mode",
            )
        return TriggeredMeasurer(instruments, dut, ctx.folder)
    raise ConfigError(
        f"sync mode {mode!r} cannot delimit energy windows (use a timestamp-pin sync mode)",
        context="sync.mode",
    )


class _Energy:
    PROBE_WINDOWS = 1  # the probe window comes first in the recording

    def __init__(self, ctx: RunContext, dut: DutSession, instruments: BenchInstruments) -> None:
        self.ctx, self.dut, self.instruments = ctx, dut, instruments
        self.result = ModeResult(ctx.workload.name, "energy")
        self.counts = ctx.workload.counts("energy")
        self.measurer = choose_measurer(ctx, instruments, dut)
        self.profile = find_profile(ctx.bench.meter.driver, instruments.meter_info)
        self.budgets: list[float] = []  # budget standard uncertainty per inference, J
        self.systematic: list[float] = []  # its current/voltage/timebase part, J
        self.edges: list[float] = []  # its edge-placement part, J
        self.ranges: set[float | None] = set()  # current ranges in use (None: the widest)
        self.calibration_ids: set[str | None] = set()
        self.required_windows = ctx.windows("energy")

    # ---- one window ------------------------------------------------------------------------
    def _measure(self, data: bytes, n: int, warmups: int, expected_s: float) -> Measured:
        opts = self.ctx.options
        download(self.ctx, self.dut, data)
        return self.measurer.measure(n, warmups, expected_s, opts.infer_timeout(expected_s))

    def _recover(self, measured: Measured) -> None:
        """After a DUT timeout: power-cycle when the supply is ours, else check it answers."""
        if not measured.dut_timeout:
            return
        if self.instruments.power_cycle():
            self.ctx.runlog.write("runner", "DUT timed out: power-cycled it")
            self.dut.client.link.resync()
            try:
                self._check_dut_after_power_cycle()
            except DutError as exc:
                raise ModeAborted(f"the DUT did not come back after a power cycle: {exc}") from exc
        else:
            check_alive(self.dut)

    def _check_dut_after_power_cycle(self) -> None:
        """The rebooted DUT still runs the energy build (its timestamp mode asked again)."""
        self.dut.client.mode = None
        self.dut.client.require_mode("energy")

    def probe(self, sample) -> float:
        """Latency from a short window the meter measures (N from the workload's count)."""
        wl, opts = self.ctx.workload, self.ctx.options
        # a tenth of the workload's table count: short enough for any capture to hold it
        n = max(1, math.ceil(self.counts.inferences / PROBE_FRACTION))
        guess_s = PROBE_CAPTURE_S  # generous: nothing is known yet
        for attempt in range(opts.max_attempts):
            measured = self._measure(sample.first_input(wl), n, 0, guess_s)
            if measured.window is not None:
                latency = measured.window.duration_s / n
                self.ctx.runlog.write(
                    "runner", f"probe: {n} inferences in {measured.window.duration_s:.6f} s (meter)"
                )
                return latency
            self.result.notes.append(f"probe attempt {attempt} failed: {measured.problems}")
            self._recover(measured)
        raise ModeAborted(f"the probe window failed {opts.max_attempts} times: {measured.problems}")

    def window(self, slot: int, sample, n: int, latency_s: float) -> WindowRecord:
        wl, opts = self.ctx.workload, self.ctx.options
        record = None
        for attempt in range(opts.max_attempts):
            record = WindowRecord(slot, attempt, sample.file, n, self.counts.warmups)
            self.result.windows.append(record)
            try:
                measured = self._measure(
                    sample.first_input(wl), n, self.counts.warmups, n * latency_s
                )
            except BaseException as exc:  # the mode ends here; the attempt is not a result
                record.invalidate(f"not completed: {type(exc).__name__}: {exc}")
                raise
            self._fill(record, measured)
            if record.valid:
                return record
            self.ctx.runlog.write(
                "runner", f"window {slot} attempt {attempt} invalid: {record.problems}"
            )
            self.ctx.progress.note(f"window {slot} invalid, re-running: {record.problems[0]}")
            self._recover(measured)
            short = record.duration_s is not None and record.duration_s < opts.min_window_s
            if short and len(record.problems) == 1:  # only too short: scale N (at most 4x)
                n = min(opts.scaled_inferences(record.duration_s / n, n + 1), 4 * n)
        if record is None:  # the options were changed after construction
            raise ConfigError(
                f"max_attempts must be >= 1, got {opts.max_attempts}", context="max_attempts"
            )
        return record

    def _fill(self, record: WindowRecord, measured: Measured) -> None:
        opts, folder = self.ctx.options, self.ctx.folder
        tag = f"w{record.index}_a{record.attempt}"
        for problem in measured.problems:
            record.invalidate(problem)
        record.dut_elapsed_s = measured.dut_elapsed_s
        record.edge_source = measured.edge_source
        if isinstance(self.measurer, TriggeredMeasurer) and measured.trace is not None:
            meta = {**measured.raw_metadata, "window": record.index, "attempt": record.attempt}
            meta["meter"] = self.instruments.meter_info
            raw = record_capture(measured.trace, folder / f"capture_{tag}", meta)
            if raw is None:
                self.result.notes.append(f"capture of window {tag} could not be recorded")
            record.raw_file = raw.name if raw is not None else None
        elif (sink := getattr(self.measurer, "sink", None)) is not None:
            record.raw_file = sink.path.name
            if measured.trace is not None:
                trace = measured.trace
                record.interval_ids = [trace.first_sample_id, trace.stop_sample_id]
        w = measured.window
        if w is None and record.valid:
            record.invalidate("no window was measured")
        if w is not None:
            record.start_position, record.stop_position = w.start_position, w.stop_position
            record.duration_s = w.duration_s
            record.energy_j = w.energy_j
            record.energy_per_inference_j = w.energy_per_inference_j
            record.mean_power_w = w.mean_power_w
            record.mean_current_a = w.mean_current_a
            record.latency_s = w.latency_s
            record.missing_samples = w.missing_samples
            record.start_s = measured.start_s
            record.stop_s = (measured.start_s or 0.0) + w.duration_s
            if w.missing_samples > opts.max_dropped_samples:
                record.invalidate(f"{w.missing_samples} samples missing in the window")
            if w.duration_s < opts.min_window_s:
                record.invalidate(f"window lasted {w.duration_s:.3f} s < {opts.min_window_s:g} s")
            self._cross_check(record)
            self._uncertainty(record, measured, w)
        if opts.plots and measured.trace is not None and measured.trace.n_samples > 1:
            title = (
                f"{self.ctx.workload.name} energy window {record.index} attempt {record.attempt}"
                f" — {'valid' if record.valid else 'INVALID'}"
            )
            png = plot_window(
                folder / f"energy_inf_{tag}.png",
                measured.trace,
                w.start_position if w else None,
                w.stop_position if w else None,
                title,
            )
            record.plot = png.name if png else None

    def _cross_check(self, record: WindowRecord) -> None:
        if record.dut_elapsed_s is None or record.duration_s is None:
            return
        gap = abs(record.dut_elapsed_s - record.duration_s) / record.duration_s
        if gap > DUT_TIMING_TOLERANCE:
            record.invalidate(
                f"DUT timing {record.dut_elapsed_s:.6f} s and the meter's window "
                f"{record.duration_s:.6f} s differ by {gap:.2%}"
            )

    def _cross_check_performance(self, latency_s: float) -> None:
        """Energy-window latency (meter clock) against this run's performance mode (DUT
        clock): a large gap means a clock, a count or a window is wrong."""
        reference = self.ctx.dut_latency_s
        if not reference:
            return
        gap = latency_s / reference - 1
        self.result.figures["performance_latency_s"] = reference
        self.result.figures["latency_gap_vs_performance"] = gap
        if abs(gap) > DUT_TIMING_TOLERANCE:
            self.result.notes.append(
                f"energy-window latency {latency_s * 1e3:.4f} ms differs from the DUT-timed "
                f"{reference * 1e3:.4f} ms by {gap:+.2%}"
            )

    def _uncertainty(self, record: WindowRecord, measured: Measured, w: WindowResult) -> None:
        trace = measured.trace
        if trace is None:
            raise RunError(
                "a window was measured without its trace: no sample rate for the budget",
                context=f"window {record.index} attempt {record.attempt}",
            )
        budget = window_budget(
            self.profile,
            energy_j=w.energy_j,
            duration_s=w.duration_s,
            mean_current_a=w.mean_current_a,
            mean_voltage_v=w.mean_power_w / w.mean_current_a if w.mean_current_a else 0.0,
            current_range_a=measured.current_range_a,
            sample_rate_hz=trace.sample_rate_hz,
            notes=self.result.notes,
        )
        record.energy_uncertainty_j = budget.expanded_j
        if record.valid:
            self.budgets.append(budget.standard_j / record.inferences)
            self.systematic.append(budget.systematic_j / record.inferences)
            self.edges.append(budget.edges_j / record.inferences)
            self.ranges.add(measured.current_range_a)
            self.calibration_ids.add(trace.calibration_id)
        self.result.figures["uncertainty_budget_last_window_j"] = {
            "current": budget.current_j,
            "voltage": budget.voltage_j,
            "timebase": budget.timebase_j,
            "edges": budget.edges_j,
            "combined_standard": budget.standard_j,
            "expanded_k2": budget.expanded_j,
            "profile": self.profile.path.name if self.profile else None,
        }

    # ---- the mode ------------------------------------------------------------------------
    def _recording_plan(self) -> dict:
        """Written into the stream recording when it starts, so the file alone says what it
        should hold (a file from a killed run is then known to be short)."""
        bench = self.ctx.bench
        return {
            "kind": "energybench-run",
            "workload": self.ctx.workload.name,
            "mode": "energy",
            "planned_windows": self.required_windows + self.PROBE_WINDOWS,
            "probe_windows": self.PROBE_WINDOWS,
            "sync": dataclasses.asdict(bench.sync),
            "meter": self.instruments.meter_info,
        }

    def run(self) -> ModeResult:
        self._prepare()
        sink = getattr(self.measurer, "sink", None)
        if sink is not None:
            sink.metadata = self._recording_plan()
        self.measurer.start()
        try:
            self._measure_all()
        except (ModeAborted, MeterFailure) as exc:
            self.result.aborted = exc.one_line()
            self.ctx.runlog.write("runner", f"energy mode aborted: {self.result.aborted}")
        finally:
            self.measurer.stop()
        self._finish()
        return self.result

    def _prepare(self) -> None:
        """Before the meter starts recording."""
        self.ctx.progress.start(f"{self.ctx.workload.name} energy", self.required_windows + 1)

    def _measure_all(self) -> None:
        """The probe, then one valid window per slot (ModeAborted when a slot never is)."""
        ctx, opts, result = self.ctx, self.ctx.options, self.result
        files = window_files(ctx, self.required_windows, result)
        latency = self.probe(files[0])
        n = opts.scaled_inferences(latency, 1)
        result.figures.update(probe_latency_s=latency, inferences_per_window=n)
        ctx.progress.advance()
        for slot, sample in enumerate(files):
            record = self.window(slot, sample, n, latency)
            if not record.valid:  # 5 valid windows are needed: stop here, say why
                raise ModeAborted(
                    f"window {slot} failed {opts.max_attempts} attempts; last: "
                    + "; ".join(record.problems)
                )
            if record.latency_s:
                latency = record.latency_s
            ctx.progress.advance()

    def _finish(self) -> None:
        result = self.result
        acq = getattr(self.measurer, "result", None)
        if acq is not None:
            result.figures["acquisition"] = {
                "samples": acq.samples,
                "sample_rate_hz": acq.sample_rate_hz,
                "dropped_samples": acq.dropped_samples,
                "dropped_ranges": [[d.start_id, d.stop_id, d.cause] for d in acq.dropped],
                "dropped_energy_bound_j": acq.dropped_energy_bound_j,
                "reasons": list(acq.reasons),
            }
        sink = getattr(self.measurer, "sink", None)
        if sink is not None:
            result.figures["trace_file"] = sink.path.name if sink.path.exists() else None
            result.figures["trace_sample_rate_hz"] = sink.rate_hz
            if sink.write_error:
                result.validity.append(f"raw trace incomplete: {sink.write_error}")
        valid = result.valid_windows
        if result.aborted:
            result.validity.append(f"aborted: {result.aborted}")
        if len(valid) != self.required_windows:
            result.validity.append(
                f"{len(valid)} valid window(s), {self.required_windows} required"
            )
        txt = [
            EnergyWindow(w.duration_s, w.inferences, w.energy_j, w.energy_uncertainty_j)  # type: ignore[arg-type]
            for w in valid
        ]
        if valid:
            per_inf = [w.energy_per_inference_j for w in valid]
            median = statistics.median(per_inf)  # type: ignore[type-var]
            latencies = [w.latency_s for w in valid]
            result.figures.update(
                median_energy_per_inference_j=median,
                energy_per_inference_uncertainty_j=median_expanded_uncertainty(
                    per_inf,
                    self.budgets,  # type: ignore[arg-type]
                ),
                coverage_factor=2,
                latency_s=statistics.median(latencies),  # type: ignore[type-var]
                mean_power_w=statistics.median(w.mean_power_w for w in valid),  # type: ignore[type-var]
                window_energy_per_inference_j=per_inf,
            )
            result.figures[UNCERTAINTY_COMPONENTS] = uncertainty_components(
                per_inf,  # type: ignore[arg-type]
                self.systematic,
                self.edges,
            )
            result.figures[MEASUREMENT_SETUP] = {
                "current_ranges_a": sorted(self.ranges, key=lambda r: (r is None, r or 0.0)),
                "calibration_ids": sorted(c or "" for c in self.calibration_ids),
                "profile": self.profile.path.name if self.profile else None,
            }
            result.results_txt = energy_results_txt(txt, self.required_windows)
            self._cross_check_performance(result.figures["latency_s"])
        else:
            result.results_txt = "Power Edition Output\n"
        result.results_txt += self._extra_results_txt()
        result.results_txt += not_valid_lines(result.validity)
        result.valid = not result.validity
        if math.isnan(result.figures.get("energy_per_inference_uncertainty_j", 0.0) or 0.0):
            result.notes.append("no uncertainty could be computed")

    def _extra_results_txt(self) -> str:
        """Lines after the energy block (a stream workload's accuracy and duty cycle)."""
        return ""


def run_energy(ctx: RunContext, dut: DutSession, instruments: BenchInstruments) -> ModeResult:
    """Energy mode on an open bench (instruments powered, DUT connected)."""
    return _Energy(ctx, dut, instruments).run()

"""Energy mode, one window loop for every workload: the meter measures windows through one
:class:`~energybench.runner.measurer.Measurer`, and a :class:`WindowPlan` says what a window is
and how the figures are named — N inferences on an input, N scaled from a probe so each lasts
>= 10 s, the median energy per inference (:mod:`energybench.runner.energy_infer`), or one stream
of the streaming-wakeword benchmark (:mod:`energybench.runner.stream_energy`).

A window that fails (DUT timeout, missing samples, edges that do not pair) is kept as invalid
and re-run, at most ``max_attempts`` per slot; a hung DUT is power-cycled when the bench's
supply is ours, else the mode aborts. The result is the orchestrator's from the start: a mode
that ends early (a slot that never succeeds, a lost meter, Ctrl-C) keeps every attempt so far,
with its reason, and an attempt cut mid-way is marked partial."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any, Protocol

from energybench.calibration.apply import apply_correction
from energybench.calibration.budget import MeterBudget
from energybench.calibration.correction import Correction
from energybench.calibration.records import same_range
from energybench.errors import ConfigError, DutError
from energybench.runner.abort import ModeAborted, ends_early, measuring
from energybench.runner.baseline_figures import baseline_figures, record_baseline
from energybench.runner.calibration_use import use_calibration
from energybench.runner.context import RunContext
from energybench.runner.dut_setup import DutSession
from energybench.runner.energy_figures import (
    EnergySummary,
    WindowSetup,
    budget_terms,
    record_plot,
    record_ranges,
    record_uncertainty,
    record_window,
    summarize,
    window_latency_standard_s,
)
from energybench.runner.instruments import BenchInstruments
from energybench.runner.measurer import (
    Measured,
    Measurer,
    MeterFailure,
    Recording,
    WindowEnd,
    WindowId,
)
from energybench.runner.meter_setup import AUTO
from energybench.runner.mlc_format import energy_results_txt, not_valid_lines
from energybench.runner.performance import check_alive
from energybench.runner.rails import RAIL_FOLDER, RailsMeasurer, rails_measurer
from energybench.runner.rails_figures import rail_sources, rails_summary, record_rails
from energybench.runner.ranging import RangingRun, choose_range
from energybench.runner.results import (
    MEASUREMENT_SETUP,
    UNCERTAINTY_COMPONENTS,
    ModeResult,
    WindowRecord,
    flag_range_switches,
)
from energybench.runner.stream_measurer import StreamMeasurer
from energybench.runner.triggered_measurer import TriggeredMeasurer

log = logging.getLogger(__name__)

STREAM_SYNC = ("digital_channel", "event_marker")
TRIGGER_SYNC = ("hw_trigger_start", "hw_trigger_start_stop")


class WindowAttempt(Protocol):
    """One attempt at a window slot, as the plan defines it."""

    @property
    def file(self) -> str:
        """The input (or stream) the window runs on."""
        ...

    @property
    def inferences(self) -> int:
        """Its energy is divided by these."""
        ...

    @property
    def warmups(self) -> int: ...

    @property
    def expected_s(self) -> float: ...

    def prepare(self, record: WindowRecord) -> bool:
        """Before the window opens (download an input, stop a stream); False when the attempt
        already failed (the record says why)."""
        ...

    def drive(self) -> Any:
        """Run the DUT through the window; its transcript or outcome (DutError on failure)."""
        ...

    def fill(self, record: WindowRecord, activity: Any) -> None:
        """What the DUT reported into the record (``activity`` None: the DUT failed)."""
        ...

    def retry(self, record: WindowRecord) -> WindowAttempt:
        """The next attempt after an invalid one (e.g. more inferences after a short one)."""
        ...


class WindowPlan(Protocol):
    """What an energy run's windows are, and how its figures are named."""

    noun: str  # "window" or "stream", in log lines and progress notes
    end: WindowEnd  # how a window ends, for the measurer
    probe_windows: int  # windows measured before the slots (the recording's plan says so)

    def check(self, measurer: Measurer) -> None:
        """Refuse a run the measurer cannot measure, before anything is sent."""
        ...

    def prepare(self, mode: EnergyMode) -> None:
        """Before the meter records (progress, the SD card, ...)."""
        ...

    def measure_all(self, mode: EnergyMode) -> None:
        """Every slot (:meth:`EnergyMode.slot`); ModeAborted when one never succeeds."""
        ...

    def check_after_power_cycle(self, dut: DutSession) -> None:
        """The rebooted DUT still runs the right build."""
        ...

    def figures(self, mode: EnergyMode, summary: EnergySummary) -> dict[str, Any]:
        """The summary's figures under this plan's names."""
        ...

    def ranging_run(self, mode: EnergyMode) -> RangingRun | None:
        """The short window a ranging pass records (None: this plan has none)."""
        ...

    def results_lines(self, mode: EnergyMode) -> str:
        """Lines of results.txt after the energy block."""
        ...


def choose_measurer(
    ctx: RunContext, instruments: BenchInstruments, end: WindowEnd, plan: dict
) -> Measurer:
    """The measurer the bench's sync mode and meter call for (``plan``: what the run means to
    record, written into a stream recording); with the bench's further rails around it."""
    main = measurer_for(instruments, ctx.folder, end, plan)
    if not ctx.bench.rails:
        return main
    return rails_measurer(main, instruments, ctx.folder, end, plan, measurer_for)


def measurer_for(
    instruments: BenchInstruments, folder: Path, end: WindowEnd, plan: dict
) -> StreamMeasurer | TriggeredMeasurer:
    """The measurer of one meter (``instruments.meter``) by the bench's sync mode."""
    bench = instruments.bench
    mode = bench.sync.mode
    wanted = instruments.option("acquisition")
    if wanted not in (None, "stream", "capture"):
        raise ConfigError(f"must be 'stream' or 'capture', got {wanted!r}", context="acquisition")
    analog_stream = mode == "analog_channel" and instruments.streaming and wanted != "capture"
    if mode in STREAM_SYNC or analog_stream:
        if not instruments.streaming:
            raise ConfigError(
                f"sync mode {mode} needs a streaming meter; {bench.meter.driver} is not one",
                context="sync.mode",
            )
        return StreamMeasurer(instruments, folder, end, plan=plan)
    if mode in TRIGGER_SYNC or mode == "analog_channel":
        if instruments.option("current_range_a") == AUTO:
            raise ConfigError(
                "current_range_a = 'auto' (a ranging pass) needs a streaming meter; set the "
                "triggered meter's range in A",
                context="meter.options.current_range_a",
            )
        if not instruments.triggered:
            raise ConfigError(
                f"sync mode {mode} needs a triggered meter; {bench.meter.driver} is not one",
                context="sync.mode",
            )
        return TriggeredMeasurer(instruments, folder, end)
    raise ConfigError(
        f"sync mode {mode!r} cannot delimit energy windows (use a timestamp-pin sync mode)",
        context="sync.mode",
    )


class EnergyMode:
    """The window loop of energy mode on an open bench (instruments powered, DUT connected)."""

    def __init__(
        self,
        ctx: RunContext,
        dut: DutSession,
        instruments: BenchInstruments,
        plan: WindowPlan,
        result: ModeResult,
    ) -> None:
        self.ctx, self.dut, self.instruments, self.plan = ctx, dut, instruments, plan
        self.result = result
        self.required_windows = ctx.windows("energy")
        recording = self._recording_plan()
        self.measurer: Measurer = choose_measurer(ctx, instruments, plan.end, recording)
        plan.check(self.measurer)
        self.meter_budget = MeterBudget.for_meter(
            ctx.bench.meter.driver, instruments.meter_info, ctx.bench.meter.accuracy
        )
        self._setups: dict[tuple[int, int], WindowSetup] = {}  # by (slot, attempt)
        self.rail_sources = (
            rail_sources(ctx.bench, self.meter_budget, instruments.rail_infos)
            if ctx.bench.rails
            else {}
        )
        self._rail_budgets: dict[tuple[int, int], dict] = {}  # every rail's, by (slot, attempt)
        self._rail_files: dict[str, dict[str, Any]] = {}  # each own rail meter's files

    def _recording_plan(self) -> dict:
        """What the run means to record, so a recording alone says what it should hold."""
        return {
            "kind": "energybench-run",
            "workload": self.ctx.workload.name,
            "mode": "energy",
            "planned_windows": self.required_windows + self.plan.probe_windows,
            "probe_windows": self.plan.probe_windows,
            "sync": dataclasses.asdict(self.ctx.bench.sync),
            "meter": self.instruments.meter_info,
            # what the bench file states of the meter's accuracy (analyze's uncertainty)
            "meter_accuracy": (
                self.ctx.bench.meter.accuracy.to_table() if self.ctx.bench.meter.accuracy else None
            ),
        }

    def run(self) -> ModeResult:
        self.plan.prepare(self)
        with ends_early(self.result, self.ctx.runlog, (ModeAborted, MeterFailure)):
            self._choose_range()  # a ranging pass that never succeeds ends the mode here
        if self.result.aborted is not None:
            self._finish()
            return self.result
        self.measurer.start()
        try:
            with ends_early(self.result, self.ctx.runlog, (ModeAborted, MeterFailure)):
                self.plan.measure_all(self)
        finally:  # also when the run is interrupted: what was measured is summarised
            self._recorded(self.measurer.stop())
            self._finish()
        return self.result

    def _choose_range(self) -> None:
        """The stream's rate and current range into the figures (a ranging pass first where
        the range is the pass' to pick: docs/bench-file.md#current-range)."""
        chosen = choose_range(
            self.measurer, self.instruments, self.ctx.folder, self.plan.end,
            lambda: self.plan.ranging_run(self), f"{self.plan.noun}s",
            lambda text: self.ctx.runlog.write("runner", text),
        )  # fmt: skip
        if chosen is not None:
            rate, choice = chosen
            self.result.figures["sample_rate"] = rate.to_dict()
            self.result.figures["current_range"] = choice.to_dict()
            if isinstance(self.measurer, StreamMeasurer):  # rails keep the bench's range
                self._calibration_for(choice.chosen_a, choice.source)

    def _calibration_for(self, range_a: float | None, source: str) -> None:
        """The calibration of the range the windows are measured in (docs/calibration.md#runs)."""
        use = self.ctx.calibration
        if use is not None and same_range(use.range_a, range_a):
            return
        use_calibration(self.ctx, self.instruments.meter_info, self.result, range_a, source)

    # ---- one slot ----------------------------------------------------------------------
    def slot(self, index: int, attempt: WindowAttempt) -> tuple[WindowRecord, Any]:
        """One valid window for slot ``index``, or the last of ``max_attempts`` invalid ones;
        with what the DUT reported for it (the attempt's ``drive()``; None if it failed)."""
        record, activity = None, None
        for k in range(self.ctx.options.max_attempts):
            record = WindowRecord(index, k, attempt.file, attempt.inferences, attempt.warmups)
            self.result.windows.append(record)
            activity = None
            with measuring(record):
                if not attempt.prepare(record):
                    continue
                measured = self.measure(attempt, WindowId(index, k))
            activity = measured.activity
            self._fill(record, measured, attempt)
            if record.valid:
                return record, activity
            self.ctx.runlog.write(
                "runner", f"{self.plan.noun} {index} attempt {k} invalid: {record.problems}"
            )
            self.ctx.progress.note(
                f"{self.plan.noun} {index} invalid, re-running: {record.problems[0]}"
            )
            self.recover(measured)
            attempt = attempt.retry(record)
        if record is None:  # RunOptions refuses max_attempts < 1
            raise ConfigError("max_attempts must be >= 1", context="max_attempts")
        return record, activity

    def measure(self, attempt: WindowAttempt, window: WindowId) -> Measured:
        """One window of ``attempt`` through the measurer (its raw file named for ``window``)."""
        measured = self.measurer.measure(
            attempt.drive,
            inferences=attempt.inferences,
            expected_s=attempt.expected_s,
            window=window,
        )
        correction = self.correction
        if correction is not None and measured.window is not None and measured.trace is not None:
            corrected = apply_correction(
                measured.trace, measured.window, correction, measured.current_range_a
            )
            measured.trace, measured.window = corrected
        return measured

    @property
    def correction(self) -> Correction | None:
        use = self.ctx.calibration
        return use.correction if use is not None else None

    def recover(self, measured: Measured) -> None:
        """After a DUT timeout: power-cycle when the supply is ours, else check it answers."""
        if not measured.dut_timeout:
            return
        if self.instruments.power_cycle():
            self.ctx.runlog.write("runner", "DUT timed out: power-cycled it")
            self.dut.client.link.resync()
            try:
                self.plan.check_after_power_cycle(self.dut)
            except DutError as exc:
                raise ModeAborted(f"the DUT did not come back after a power cycle: {exc}") from exc
        else:
            check_alive(self.dut)

    def _fill(self, record: WindowRecord, measured: Measured, attempt: WindowAttempt) -> None:
        record_window(record, measured, self.ctx.options)
        record_ranges(record, measured)
        attempt.fill(record, measured.activity)
        budget = record_uncertainty(
            record, measured, self.meter_budget, self.result.notes, self.correction
        )
        record_baseline(record, measured, self.meter_budget, self.result.notes)
        if budget is not None and measured.trace is not None:
            self.result.figures["uncertainty_budget_last_window_j"] = budget_terms(
                budget, self.meter_budget
            )
            self._setups[record.index, record.attempt] = WindowSetup(
                budget,
                measured.current_range_a,
                measured.trace.calibration_id,
                window_latency_standard_s(record, measured, self.meter_budget),
            )
        if measured.rails:
            budgets = record_rails(record, measured, self.rail_sources, self.result.notes)
            if budget is not None:
                budgets[self.ctx.bench.rail] = budget
            self._rail_budgets[record.index, record.attempt] = budgets
        if self.ctx.options.plots:
            tag = f"w{record.index}_a{record.attempt}"
            title = (
                f"{self.ctx.workload.name} energy {self.plan.noun} {record.index} "
                f"attempt {record.attempt}"
            )
            record_plot(record, measured, self.ctx.folder / f"energy_inf_{tag}.png", title)

    # ---- the result --------------------------------------------------------------------
    def _recorded(self, recording: Recording) -> None:
        """What the measurer recorded: the acquisition's figures, the raw files."""
        result, acq = self.result, recording.acquisition
        if acq is not None:
            result.figures["acquisition"] = {
                "samples": acq.samples,
                "sample_rate_hz": acq.sample_rate_hz,
                "dropped_samples": acq.dropped_samples,
                "dropped_ranges": [[d.start_id, d.stop_id, d.cause] for d in acq.dropped],
                "dropped_energy_bound_j": acq.dropped_energy_bound_j,
                "reasons": list(acq.reasons),
            }
        if recording.continuous:
            result.figures["trace_file"] = recording.trace_file
            result.figures["trace_sample_rate_hz"] = recording.trace_sample_rate_hz
        if recording.write_error:
            result.validity.append(f"raw trace incomplete: {recording.write_error}")
        if recording.captures:
            result.figures["capture_files"] = list(recording.captures)
        result.notes.extend(
            f"capture of window {label} could not be recorded" for label in recording.unrecorded
        )
        if isinstance(self.measurer, RailsMeasurer):
            for name, rail in self.measurer.recordings.items():
                folder = RAIL_FOLDER.format(name)
                files = [f"{folder}/{f}" for f in (rail.trace_file, *rail.captures) if f]
                self._rail_files[name] = {"files": files}
                if rail.acquisition is not None:
                    self._rail_files[name]["dropped_samples"] = rail.acquisition.dropped_samples
                if rail.write_error:
                    result.validity.append(f"rail {name}: raw trace incomplete: {rail.write_error}")

    def _finish(self) -> None:
        result = self.result
        flag_range_switches(result)
        valid = result.valid_windows
        if len(valid) != self.required_windows:
            result.validity.append(
                f"{len(valid)} valid window(s), {self.required_windows} required"
            )
        setups = [self._setups[w.index, w.attempt] for w in valid]
        summary = summarize(
            valid, [s.budget for s in setups], [s.latency_standard_s for s in setups]
        )
        if summary is not None:
            result.figures.update(self.plan.figures(self, summary))
            result.figures["uncertainty_status"] = summary.uncertainty_status
            result.figures.update(baseline_figures(valid))
            result.figures[UNCERTAINTY_COMPONENTS] = summary.components
            ranges = {s.current_range_a for s in setups}
            result.figures[MEASUREMENT_SETUP] = {
                "current_ranges_a": sorted(ranges, key=lambda r: (r is None, r or 0.0)),
                "calibration_ids": sorted({s.calibration_id or "" for s in setups}),
                "profile": self.meter_budget.source,
            }
            if self.ctx.bench.rails:
                budgets = [self._rail_budgets.get((w.index, w.attempt), {}) for w in valid]
                rails = rails_summary(valid, budgets, self.rail_sources, self.ctx.bench.rail)
                for name, files in self._rail_files.items():
                    rails["per_rail"][name].update(files)
                result.figures["rails"] = rails
            result.results_txt = energy_results_txt(
                summary.results_windows(), self.required_windows
            )
            if summary.uncertainty_status == "known" and math.isnan(summary.uncertainty_j):
                result.notes.append("no uncertainty could be computed")
        else:
            result.results_txt = "Power Edition Output\n"
        result.results_txt += self.plan.results_lines(self)
        result.results_txt += not_valid_lines(result.validity)
        result.valid = not result.validity

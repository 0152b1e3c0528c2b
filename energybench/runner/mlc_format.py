"""``results.txt`` in the MLCommons runner's format, so the official MLPerf Tiny submission
checker parses our runs (its regexes are in tests/test_runner_mlc_format.py and
docs/submission.md#checker-regexes). Validity problems are written into the file as ``ERROR:`` lines
beside the figures, never only printed."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from energybench.workloads.sww import accuracy_line

RULE = "-" * 57
MIN_WINDOW_S = 10.0  # MLPerf Tiny: each performance/energy window lasts at least 10 s
REQUIRED_WINDOWS = 5


def _stamp(now: datetime | None = None) -> str:
    """The runner's summary-line prefix ``MMDD.HHMMSS ulp-mlperf:``."""
    now = now or datetime.now(UTC)
    return now.strftime("%m%d.%H%M%S") + " ulp-mlperf:"


@dataclass(frozen=True)
class EnergyWindow:
    elapsed_s: float
    inferences: int
    energy_j: float
    uncertainty_j: float | None = None  # expanded, k=2

    @property
    def energy_per_inference_j(self) -> float:
        return self.energy_j / self.inferences


@dataclass(frozen=True)
class PerformanceWindow:
    elapsed_s: float
    inferences: int

    @property
    def throughput_per_s(self) -> float:
        return self.inferences / self.elapsed_s


def validity_errors(
    elapsed_s: Sequence[float],
    required_windows: int = REQUIRED_WINDOWS,
    min_window_s: float = MIN_WINDOW_S,
) -> list[str]:
    """The rules the reference runner only prints: ≥ 10 s per window, exactly 5 windows."""
    errors = []
    if any(e < min_window_s for e in elapsed_s):
        errors.append(
            f"ERROR: Not valid for submission.  All inference times must be at least "
            f"{min_window_s:g} seconds."
        )
    if len(elapsed_s) != required_windows:
        errors.append(
            f"ERROR: Not valid for submission.  Energy mode must include exactly "
            f"{required_windows} measurements."
        )
    return errors


def not_valid_lines(reasons: Sequence[str]) -> str:
    """A result's validity problems as ``ERROR: Not valid for submission.  <reason>`` lines."""
    return "".join(f"ERROR: Not valid for submission.  {reason}\n" for reason in reasons)


def energy_results_txt(
    windows: Sequence[EnergyWindow], required_windows: int = REQUIRED_WINDOWS
) -> str:
    """The energy-mode ``results.txt`` (MLC runner layout, CRLF-free; sww01: one window)."""
    lines = ["Power Edition Output"]
    for k, w in enumerate(windows):
        lines += [
            f"Energy data for trial {k}",
            f"  Elapsed time  : {w.elapsed_s!r}"
            + ("  <<<< below minimum duration" if w.elapsed_s < MIN_WINDOW_S else ""),
            f"  Inferences    : {w.inferences}",
            f"  Power         : {1e3 * w.energy_j / w.elapsed_s:5.4f} mW.",
            f"  Total Energy  : {1e6 * w.energy_j:.3f} uJ",
            f"  Energy/Inf    : {1e6 * w.energy_per_inference_j:.3f} uJ/inf",
        ]
        if w.uncertainty_j is not None:
            lines.append(
                f"  Uncertainty   : {1e6 * w.uncertainty_j / w.inferences:.3f} uJ/inf "
                "(expanded, k=2)"
            )
    lines += validity_errors([w.elapsed_s for w in windows], required_windows)
    median = statistics.median(w.energy_per_inference_j for w in windows)
    lines += [RULE, f"Median energy cost is {1e6 * median:5.4f} uJ/inf.", RULE]
    return "\n".join(lines) + "\n"


def performance_results_txt(
    windows: Sequence[PerformanceWindow], now: datetime | None = None
) -> str:
    """The performance-mode ``results.txt``; an invalid run gets the runner's ERROR line
    instead of the median, so the checker rejects it as the reference runner would."""
    lines = []
    for k, w in enumerate(windows, start=1):
        lines += [
            f"Performance results for window {k}",
            f"    # Inferences : {w.inferences}",
            f"    Runtime: {w.elapsed_s!r} sec.",
            f"    Throughput: {w.throughput_per_s!r} inf./sec.",
        ]
        lines.append(
            "    Runtime requirements have been met."
            if w.elapsed_s >= MIN_WINDOW_S
            else "    ERROR: runtime below the 10 second minimum."
        )
    stamp = _stamp(now)
    if len(windows) != REQUIRED_WINDOWS:
        lines.append(f"{stamp} ERROR 1 - loop_count was not exactly {REQUIRED_WINDOWS}.")
    elif any(w.elapsed_s < MIN_WINDOW_S for w in windows):
        lines.append(f"{stamp} ERROR 2 - a window ran less than {MIN_WINDOW_S:g} seconds.")
    else:
        median = statistics.median(w.throughput_per_s for w in windows)
        lines += [
            f"{stamp} {RULE}",
            f"{stamp} Median throughput is {median:>10.3f} inf./sec.",
            f"{stamp} {RULE}",
        ]
    return "\n".join(lines) + "\n"


def accuracy_results_txt(
    top1_fraction: float | None, auc: float | None, now: datetime | None = None
) -> str:
    """Accuracy-mode ``results.txt``: ``Top 1% = 90.2`` (percent) and ``AUC = 0.995``."""
    stamp = _stamp(now)
    lines = []
    if top1_fraction is not None:
        lines.append(f"{stamp} Top 1% = {100 * top1_fraction:2.1f}")
    if auc is not None:
        lines.append(f"{stamp} AUC = {auc:.3f}")
    return "\n".join(lines) + "\n"


def significant(value: float, digits: int = 5) -> str:
    """``value`` to ``digits`` significant digits in fixed point: the reference's ``:1.5``
    precision without its exponent form, which the checker's ``[\\d\\.]+`` would truncate
    to the mantissa; trailing zeros dropped as ``g`` does
    (docs/reference-runner.md#runner-sww-exponent)."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text  # as ``g`` drops them


def sww_results_lines(
    true_positives: int,
    false_negatives: int,
    false_positives: int,
    duty_cycle: float | None,
    period_s: float | None,
    throughput_per_s: float | None,
) -> str:
    """The streaming-wakeword summary the checker reads (``Accuracy:``, ``Average duty
    cycle:``, ``Estimated throughput:``), as the MLCommons runner prints it after a stream."""
    lines = [accuracy_line(true_positives, false_negatives, false_positives)]
    if duty_cycle is not None and period_s is not None and throughput_per_s is not None:
        lines += [
            f"Average duty cycle: {significant(duty_cycle)}",
            f"Average period: {significant(period_s)} s",
            f"Estimated throughput: {significant(throughput_per_s)} inf./sec.",
        ]
    return "\n".join(lines) + "\n"

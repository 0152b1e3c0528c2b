"""What a shutdown really did: every driver's ``safe_shutdown()`` runs its steps through
:func:`run_shutdown_steps` and returns the :class:`ShutdownReport`, so the run log and
results.json can say "outputs off (confirmed)" only when the output-off command went out and the
instrument confirmed it (read back where it can be: ``OUTP?`` → 0), and otherwise name the step
that failed and why."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from energybench.errors import EnergybenchError, InstrumentError

log = logging.getLogger(__name__)

CONFIRM_STEP = "read back output off"


@dataclass(frozen=True)
class ShutdownStep:
    name: str
    ok: bool
    error: str | None = None
    output: bool = False  # the step switches the output off or confirms it

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "ok": self.ok, "error": self.error, "output": self.output}


@dataclass
class ShutdownReport:
    """The steps one instrument's shutdown ran, in order, with their outcome."""

    resource: str
    steps: list[ShutdownStep] = field(default_factory=list)

    @property
    def sources_output(self) -> bool:
        return any(s.output for s in self.steps)

    @property
    def output_off(self) -> bool | None:
        """True: every output step succeeded (confirmed); False: one failed, the output state
        is unknown; None: this instrument sources nothing."""
        outputs = [s for s in self.steps if s.output]
        return all(s.ok for s in outputs) if outputs else None

    @property
    def failures(self) -> list[ShutdownStep]:
        return [s for s in self.steps if not s.ok]

    def unknown_because(self) -> str:
        """``<step> failed: <reason>`` of the first output step that failed ("" if none)."""
        failed = [s for s in self.failures if s.output]
        return f"{failed[0].name} failed: {failed[0].error}" if failed else ""

    def merge(self, other: ShutdownReport | None) -> ShutdownReport:
        if other is not None:
            self.steps.extend(other.steps)
        return self

    def summary(self) -> str:
        """One line: ``outputs off (confirmed)``, ``output state UNKNOWN: <step> failed:
        <reason>`` or, for an instrument that sources nothing, ``stopped``; failed steps
        that do not concern the output are appended."""
        if self.output_off is False:
            text = f"output state UNKNOWN: {self.unknown_because()}"
        elif self.sources_output:
            text = "outputs off (confirmed)"
        else:
            text = "stopped (sources no output)"
        others = [s for s in self.failures if not s.output]
        if others:
            text += "; " + "; ".join(f"{s.name} failed: {s.error}" for s in others)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "output_off": self.output_off,
            "summary": self.summary(),
            "steps": [s.to_dict() for s in self.steps],
        }


def run_shutdown_steps(
    resource: str,
    steps: Iterable[tuple[str, Callable[[], object]]],
    *,
    output: Iterable[str] = (),
) -> ShutdownReport:
    """Run every step even if earlier ones fail; log failures, never raise. ``output`` names
    the steps that switch the output off or confirm it (they decide ``output_off``)."""
    output_names = set(output)
    report = ShutdownReport(resource)
    for name, step in steps:
        is_output = name in output_names
        try:
            step()
        except (EnergybenchError, OSError, ValueError, KeyError) as exc:
            log.warning("%s: shutdown step %r failed: %s", resource, name, exc)
            report.steps.append(ShutdownStep(name, False, _reason(exc), is_output))
        except Exception as exc:  # safe_shutdown never raises
            log.error("%s: shutdown step %r failed unexpectedly: %r", resource, name, exc)
            report.steps.append(ShutdownStep(name, False, _reason(exc), is_output))
        else:
            report.steps.append(ShutdownStep(name, True, None, is_output))
    return report


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EnergybenchError):
        return exc.message or str(exc)
    return str(exc) or type(exc).__name__


def confirm_output_off(supply: Any, resource: str) -> Callable[[], None]:
    """A shutdown step reading the output state back; it fails while the output reads on."""

    def step() -> None:
        if supply.output_enabled():
            raise InstrumentError("the output still reads on", context=resource)

    return step


def shutdown_summary(reports: Iterable[ShutdownReport]) -> str:
    """One line for the shutdown of several instruments: ``outputs off (confirmed)`` only when
    every instrument that sources an output confirmed it off; otherwise ``output state UNKNOWN:
    <resource>: <step> failed: <reason>``. Failed steps of other kinds are appended."""
    reports = list(reports)
    unknown = [r for r in reports if r.output_off is False]
    if unknown:
        text = "output state UNKNOWN: " + "; ".join(
            f"{r.resource}: {r.unknown_because()}" for r in unknown
        )
    elif any(r.output_off for r in reports):
        text = "outputs off (confirmed)"
    else:
        text = "stopped (no instrument sources an output)"
    others = [
        f"{r.resource}: {s.name} failed: {s.error}"
        for r in reports
        for s in r.failures
        if not (s.output and r.output_off is False)
    ]
    if others:
        text += "; " + "; ".join(others)
    return text

"""How the official checker reads one benchmark folder: accuracy against the round's target,
the median throughput, the energy median (sww: power and the streaming figures), the file lists
of the mode folders; whether it keeps the result, drops it with a logged error, fails it or
crashes; and the CSV row of a kept result. The walk over the tree is in official.py."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench.submission.check.problems import Official, Problem, read_text, rel_path
from energybench.submission.rules import (
    AUC,
    EEMBC_FILES,
    EEMBC_MARKER,
    ENERGY_MEDIAN,
    FILE_LIST_IGNORED,
    MLC_FILES,
    PERF_MEDIAN,
    SWW,
    SWW_ACCURACY,
    SWW_DUTY,
    SWW_ENERGY_PLOT,
    SWW_POWER,
    SWW_THROUGHPUT,
    SWW_WAKEWORDS,
    TOP1,
    Rules,
    last_match,
)


@dataclass
class Outcome:
    """One benchmark: ``kind`` result | none (NoResults) | dropped (logged) | crash."""

    kind: str = "dropped"
    is_valid: bool | None = None  # None: the checker never reached its performance step
    value: Any = None
    row: dict[str, Any] | None = None
    causes: list[Problem] = field(default_factory=list)  # effect depends on the outcome
    crash: str | None = None


def _files(path: Path) -> set[str]:
    return {f for f in os.listdir(path) if os.path.isfile(os.path.join(path, f))}


class BenchmarkReader:
    """The official checker's reading of benchmark folders of one tree, under ``rules``."""

    def __init__(self, root: Path, rules: Rules) -> None:
        self.root = root
        self.rules = rules
        self.logged: list[Problem] = []  # logged-only problems (file lists), whatever the outcome

    def problem(self, severity: str, path: Path, rule: str, message: str, official: Official):
        return Problem(severity, rel_path(self.root, path), rule, message, official)  # type: ignore[arg-type]

    def files_diff(self, folder: Path, wanted: set[str]) -> list[Problem]:
        diff = (_files(folder) ^ wanted) - FILE_LIST_IGNORED
        if not diff:
            return []
        missing = sorted(d for d in diff if d in wanted)
        extra = sorted(d for d in diff if d not in wanted)
        text = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(extra)}" if extra else "",
            )
            if part
        )
        return [self.problem("error", folder, "file-list", text, "logged")]

    def benchmark(
        self, folder: Path, model: str, division: str, models: list[str], system: dict
    ) -> Outcome:
        out = Outcome()
        closed = division == "closed"
        rules = self.rules
        if model not in rules.benchmarks:
            if closed:
                out.kind = "none"
                out.causes.append(
                    self.problem(
                        "error",
                        folder,
                        "benchmark",
                        f"not a {rules.version} benchmark ({', '.join(rules.benchmarks)})",
                        "fatal",
                    )
                )
            else:
                out.kind, out.crash = "crash", f"KeyError {model!r} (open benchmark name)"
                out.causes.append(
                    self.problem("error", folder, "benchmark", "unknown benchmark name", "fatal")
                )
            return out
        if model == "ic2" and "ic" not in models:
            out.kind = "none"
            out.causes.append(
                self.problem(
                    "error", folder, "benchmark", "ic2 needs ic results of the same system", "fatal"
                )
            )
            return out
        files = set(EEMBC_FILES if (folder / EEMBC_MARKER).exists() else MLC_FILES)
        logged: list[Problem] = []
        accuracy_ok, acc = self.accuracy(folder, model, closed, files, out, logged)
        if out.crash:
            return out
        energy = folder / "energy"
        perf = folder / "performance"
        if "performance" in rules.required_tests[model] and not perf.exists():
            out.causes.append(
                self.problem(
                    "error", perf, "performance", "missing: the result is dropped", "logged"
                )
            )
            self.logged += logged
            return out
        result: dict[str, Any] = {}
        if model == SWW:
            source = energy if energy.exists() else perf
            if not source.exists():
                out.kind, out.crash = "crash", f"FileNotFoundError {self.rel(source)}"
                out.causes.append(
                    self.problem(
                        "error", folder, "sww", "neither energy/ nor performance/", "fatal"
                    )
                )
                return out
            wanted = files | ({SWW_ENERGY_PLOT} if energy.exists() else set())
            logged += self.files_diff(source, wanted)
            is_valid, value, accuracy_ok, acc, result = self.sww(source, closed, out)
        elif perf.exists():
            logged += self.files_diff(perf, files)
            is_valid, value = self.performance(perf, out)
        else:
            is_valid, value = False, None
        power = 0
        if energy.exists():
            ok, power = self.energy(energy, model, out)
            if not ok:
                is_valid, value, power = False, None, 0
        self.logged += logged
        out.is_valid = is_valid
        out.value = value
        if not is_valid:
            return out  # "has issues": logged, the result dropped
        if not value:
            out.kind = "none"
        elif accuracy_ok:
            out.kind = "result"
        else:
            out.kind = "none"  # "is OK but accuracy has issues"
        result.update(value=value, acc=acc, power=power)
        out.row = result
        return out

    def accuracy(self, folder, model, closed, files, out, logged) -> tuple[bool, Any]:
        if "accuracy" not in self.rules.required_tests[model]:
            return False, None
        path = folder / "accuracy"
        txt = path / "results.txt"
        if not txt.exists():
            out.causes.append(self.problem("error", txt, "accuracy", "missing", "logged"))
            return False, None
        logged += self.files_diff(path, files)
        target = self.rules.targets[model]
        m = last_match(TOP1 if target.metric == "top-1" else AUC, read_text(txt), anchored=True)
        acc = m.group(1) if m else None
        try:
            ok = acc is not None and float(acc) >= target.minimum
        except ValueError:
            out.kind, out.crash = "crash", f"ValueError float({acc!r}) in {self.rel(txt)}"
            return False, acc
        if not ok and closed:
            found = f"{target.metric} {acc}" if acc else f"no {target.metric} line it reads"
            out.causes.append(
                self.problem(
                    "error",
                    txt,
                    "accuracy-target",
                    f"{found}; closed needs {target.describe()}",
                    "fatal",
                )
            )
        return ok or not closed, acc

    def performance(self, perf: Path, out: Outcome) -> tuple[bool, float | None]:
        txt = perf / "results.txt"
        if not txt.exists():
            out.causes.append(self.problem("error", txt, "performance", "missing", "logged"))
            return False, None
        m = last_match(PERF_MEDIAN, read_text(txt), anchored=True)
        try:
            if m:
                return True, float(m.group(1))
        except ValueError:
            pass
        out.causes.append(
            self.problem(
                "error",
                txt,
                "performance-median",
                "no 'Median throughput is N inf./sec.' line it reads",
                "logged",
            )
        )
        return False, None

    def energy(self, energy: Path, model: str, out: Outcome) -> tuple[bool, float]:
        txt = energy / "results.txt"
        pattern, what = (
            (SWW_POWER, "'Power : N mW' line")
            if model == SWW
            else (ENERGY_MEDIAN, "'Median energy cost is N uJ/inf' line")
        )
        m = last_match(pattern, read_text(txt), anchored=False) if txt.exists() else None
        try:
            if m:
                return True, float(m.group(1))
        except ValueError:
            pass
        found = f"no {what} it reads" if txt.exists() else "missing"
        out.causes.append(self.problem("error", txt, "energy-median", found, "logged"))
        return False, 0

    def sww(self, source: Path, closed: bool, out: Outcome):
        txt = source / "results.txt"
        text = read_text(txt) if txt.exists() else ""
        throughput = last_match(SWW_THROUGHPUT, text, anchored=False)
        accuracy = last_match(SWW_ACCURACY, text, anchored=False)
        duty = last_match(SWW_DUTY, text, anchored=False)
        causes = []
        if throughput is None:
            causes.append("no 'Estimated throughput:' line")
        if accuracy is None:
            causes.append(
                "no 'Accuracy: TP True positives, FN False negatives, FP False positives' line"
            )
        if duty is None:
            causes.append("no 'Average duty cycle:' line")
        result: dict[str, Any] = {}
        accuracy_ok, f1 = False, None
        tp = fn = fp = None
        if accuracy is not None:
            tp, fn, fp = (int(g) for g in accuracy.groups())
            f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
            if tp + fn != SWW_WAKEWORDS:
                causes.append(f"TP + FN = {tp + fn}, the checker needs {SWW_WAKEWORDS}")
        out.causes += [self.problem("error", txt, "sww", c, "logged") for c in causes]
        if accuracy is None or duty is None:  # the checker's parser raises: result invalid
            return False, None, False, None, result
        result = {"fp": fp, "fn": fn, "duty": float(duty.group(1))}
        target = self.rules.targets[SWW]
        if (fp > target.max_fp or fn > target.max_fn) and closed:  # type: ignore[operator]
            out.causes.append(
                self.problem(
                    "error",
                    txt,
                    "accuracy-target",
                    f"FP {fp}, FN {fn}; closed needs {target.describe()}",
                    "fatal",
                )
            )
        else:
            accuracy_ok = True
        value = float(throughput.group(1)) if throughput else None
        valid = throughput is not None and tp + fn == SWW_WAKEWORDS  # type: ignore[operator]
        return valid, value, accuracy_ok, f1, result

    def row(self, outcome, submitter, available, division, system, model, data) -> dict | None:
        if outcome.kind != "result" or outcome.row is None:
            return None
        r = outcome.row
        return {
            "Organization": submitter,
            "Availability": available,
            "Division": division,
            "BoardName": data.get("Board Name"),
            "SystemDesc": system,
            "Model": model,
            "MlperfModel": model,
            "Result": r["value"],
            "ResultUnit": "inf./sec.",
            "Accuracy": r["acc"],
            "HasPower": r["power"] > 0,
            "Power": r["power"],
            "PowerUnit": "mW" if model == SWW else "uJ/inf.",
            "HostProcessorModelName": data.get("Processor(s) Name"),
            "HostProcessorFrequency": data.get("Processor(s) Frequencies"),
            "HostProcessorMemory": data.get("Processor memory type and capacity"),
            "AcceleratorModelName": data.get("Accelerator"),
            "AcceleratorFrequency": data.get("Accelerator(s) Frequencies"),
            "AcceleratorMemory": data.get("Accelerator memory type and capacity"),
            "HardwareNotes": data.get("Hardware Notes"),
            "InferenceFramework": data.get("Inference Framework"),
            "SoftwareLibraries": data.get("Software Libraries"),
            "SoftwareNotes": data.get("Software Notes"),
            "FalsePositives": r.get("fp"),
            "FalseNegatives": r.get("fn"),
            "DutyCycle": r.get("duty"),
        }

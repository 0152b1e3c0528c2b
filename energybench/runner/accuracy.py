"""Accuracy mode: every file of the set (ad01: every window of every file), one ``infer 1 0``
each; per-file prediction = mean of its sum-normalised result vectors (ad01: mean MSE over its
windows); top-1 (percent in results.txt) and ROC AUC like the reference runner
(docs/mlperf-rules.md#accuracy-metrics)."""

from __future__ import annotations

import logging

import numpy as np

from energybench.errors import DutError, DutTimeoutError, WorkloadError
from energybench.runner.abort import ModeAborted
from energybench.runner.context import RunContext
from energybench.runner.dut_setup import DutSession
from energybench.runner.mlc_format import accuracy_results_txt, not_valid_lines
from energybench.runner.performance import check_alive, download
from energybench.runner.results import LABEL_COUNTS, ModeResult
from energybench.workloads.confidence import bootstrap_interval, wilson_interval
from energybench.workloads.scoring import (
    normalize_probabilities,
    roc_auc,
    roc_auc_ovr,
    top1_accuracy,
)

log = logging.getLogger(__name__)
INFER_TIMEOUT_S = 10.0


def _infer_one(ctx: RunContext, dut: DutSession, data: bytes, where: str) -> tuple[float, ...]:
    """One download + ``infer 1 0``, retried (bounded) on a DUT error."""
    last: Exception | None = None
    for _ in range(ctx.options.max_attempts):
        try:
            download(ctx, dut, data)
            results = dut.client.infer(1, 0, ctx.options.infer_timeout_s or INFER_TIMEOUT_S).results
        except DutTimeoutError as exc:
            last = exc
            check_alive(dut)
            continue
        except DutError as exc:
            last = exc
            dut.client.link.resync()
            continue
        if not results:
            last = DutError("no m-results line", context=where)
            continue
        return results
    raise ModeAborted(
        f"{where}: no result after {ctx.options.max_attempts} attempts ({last})", context=where
    )


def score(metric: str, labels: np.ndarray, per_file: np.ndarray) -> dict:
    """Top-1 (fraction) and AUC from per-file predictions (or ad01 scores), each with its 95 %
    confidence interval (``top1_ci95``: Wilson; ``auc_ci95``: bootstrap over the files)."""
    out: dict = {}
    if metric == "auc":
        scores = per_file.reshape(len(labels), -1)[:, 0]
        try:
            out["auc"] = roc_auc(labels == 1, scores)
            out["auc_ci95"] = bootstrap_interval(lambda y, s: roc_auc(y == 1, s), labels, scores)
        except WorkloadError as exc:
            out["auc"] = None
            out["auc_problem"] = str(exc)
        return out
    probs = per_file.reshape(len(labels), -1)
    out["top1"] = top1_accuracy(probs, labels)
    out["top1_ci95"] = wilson_interval(round(out["top1"] * len(labels)), len(labels))
    try:
        out["auc"] = roc_auc_ovr(labels, probs)
        out["auc_ci95"] = bootstrap_interval(_auc_ovr, labels, probs)
    except WorkloadError as exc:  # a subset without every class
        out["auc"] = None
        out["auc_problem"] = str(exc)
    return out


def _auc_ovr(labels: np.ndarray, probs: np.ndarray) -> float:
    return roc_auc_ovr(labels, probs)


def run_accuracy(ctx: RunContext, dut: DutSession, result: ModeResult | None = None) -> ModeResult:
    """Accuracy mode into ``result`` (the orchestrator's: a mode that stops early is written
    with its reason)."""
    wl = ctx.workload
    result = result if result is not None else ModeResult(wl.name, "accuracy")
    samples = ctx.dataset.samples
    if ctx.options.accuracy_limit is not None:
        samples = samples[: ctx.options.accuracy_limit]
        result.validity.append(
            f"only {len(samples)} of {len(ctx.dataset)} files (accuracy_limit): not a full run"
        )
    total = sum(s.windows for s in samples)
    ctx.progress.start(f"{wl.name} accuracy", total)
    per_file, labels = [], []
    for sample in samples:
        outputs = []
        for k, data in enumerate(sample.inputs(wl)):
            values = _infer_one(ctx, dut, data, f"{sample.file} window {k}")
            outputs.append(values)
            ctx.progress.advance()
        widths = {len(o) for o in outputs}
        if len(widths) != 1:
            raise ModeAborted(f"result vectors of varying length {widths}", context=sample.file)
        array = np.asarray(outputs, dtype=np.float64)
        if wl.metric == "top1":
            if array.shape[1] < wl.classes:
                raise ModeAborted(
                    f"{array.shape[1]} result values, {wl.name} has {wl.classes} classes",
                    context=sample.file,
                )
            array = normalize_probabilities(array[:, : wl.classes])
        per_file.append(array.mean(axis=0))
        labels.append(sample.label)
    figures = score(wl.metric, np.asarray(labels), np.asarray(per_file))
    figures.update(files=len(samples), inferences=total)
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    figures[LABEL_COUNTS] = {str(v): int(c) for v, c in zip(values, counts, strict=True)}
    primary = figures.get("top1") if wl.metric == "top1" else figures.get("auc")
    figures["metric"] = wl.metric
    figures["quality_target"] = wl.quality_target
    figures["meets_quality_target"] = primary is not None and primary >= wl.quality_target
    if not figures["meets_quality_target"]:
        result.notes.append(
            f"{wl.metric} {primary} is below the closed-division target {wl.quality_target}"
        )
    result.figures.update(figures)
    if primary is None:
        result.validity.append(f"no {wl.metric} could be computed")
    result.results_txt = accuracy_results_txt(figures.get("top1"), figures.get("auc"))
    result.results_txt += not_valid_lines(result.validity)
    result.valid = not result.validity
    return result

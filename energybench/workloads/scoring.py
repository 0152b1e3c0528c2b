"""Accuracy metrics: top-1 and ROC AUC (own implementation, equal to sklearn's roc_auc_score,
ties included), the reference runner's per-file aggregation, and sum-normalisation with a guard
against an all-zero output."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from energybench.errors import WorkloadError


def normalize_probabilities(outputs: np.ndarray) -> np.ndarray:
    """Rows divided by their sum (the reference runner's step); an all-zero row stays zero."""
    outputs = np.asarray(outputs, dtype=np.float64)
    sums = outputs.sum(axis=-1, keepdims=True)
    return np.divide(outputs, sums, out=np.zeros_like(outputs), where=sums != 0)


def top1_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose argmax equals the label."""
    outputs, labels = np.asarray(outputs), np.asarray(labels)
    if outputs.ndim != 2 or outputs.shape[0] != labels.shape[0] or labels.size == 0:
        raise WorkloadError(
            f"outputs {outputs.shape} and labels {labels.shape} do not pair", context="top1"
        )
    return float(np.mean(np.argmax(outputs, axis=1) == labels))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    return np.asarray(rankdata(values, method="average"), dtype=np.float64)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Binary ROC AUC by the Mann-Whitney statistic (ties count one half)."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        raise WorkloadError("AUC needs both classes among the labels", context="auc")
    ranks = _average_ranks(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def roc_auc_ovr(labels: np.ndarray, outputs: np.ndarray) -> float:
    """Multi-class one-vs-rest AUC, macro-averaged (sklearn's multi_class='ovr'); binary
    outputs use column 1 as the score."""
    outputs = np.asarray(outputs, dtype=np.float64)
    labels = np.asarray(labels)
    if outputs.ndim == 1:
        return roc_auc(labels, outputs)
    if outputs.shape[1] == 2:
        return roc_auc(labels == 1, outputs[:, 1])
    classes = outputs.shape[1]
    onehot = labels[:, None] == np.arange(classes)[None, :]
    positives = onehot.sum(axis=0)
    negatives = labels.shape[0] - positives
    if np.any(positives == 0) or np.any(negatives == 0):
        raise WorkloadError("AUC needs both classes among the labels", context="auc")
    ranks = rankdata(outputs, method="average", axis=0)  # per class column, ties averaged
    sums = (ranks * onehot).sum(axis=0)
    per_class = (sums - positives * (positives + 1) / 2) / (positives * negatives)
    return float(np.mean(per_class))


def per_file_scores(outputs_per_file: list[np.ndarray]) -> np.ndarray:
    """One prediction per file: the mean over its inferences (e.g. ad01 windows)."""
    return np.array([np.mean(np.asarray(o, dtype=np.float64), axis=0) for o in outputs_per_file])

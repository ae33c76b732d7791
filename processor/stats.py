"""Small statistics for offline evaluation: AUROC, ROC curves, precision/recall/F1. numpy, no scipy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); None if one class is empty."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    # Average ranks over ties.
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(s)]))
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(scores: Sequence[float], positives: Sequence[bool]) -> tuple[list[float], list[float]]:
    """(false positive rates, true positive rates) over every distinct threshold, from (0,0) to (1,1)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(positives, dtype=bool)
    n_pos, n_neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    fpr, tpr = [0.0], [0.0]
    for threshold in np.unique(s)[::-1]:
        predicted = s >= threshold
        tpr.append(float((predicted & y).sum() / n_pos))
        fpr.append(float((predicted & ~y).sum() / n_neg))
    if fpr[-1] != 1.0 or tpr[-1] != 1.0:
        fpr.append(1.0)
        tpr.append(1.0)
    return fpr, tpr


@dataclass(frozen=True, slots=True)
class Classification:
    threshold: float
    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float


def classify(scores: Sequence[float], positives: Sequence[bool], threshold: float) -> Classification:
    """Predict positive when score >= threshold; precision/recall/F1 of the positive class."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(positives, dtype=bool)
    predicted = s >= threshold
    tp = int((predicted & y).sum())
    fp = int((predicted & ~y).sum())
    fn = int((~predicted & y).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    accuracy = float((predicted == y).mean()) if len(y) else 0.0
    return Classification(threshold, precision, recall, f1, accuracy)


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_predicted: float
    observed: float  # share of positives among the bin's rows


def reliability(
    scores: Sequence[float], positives: Sequence[bool], bins: int = 10
) -> tuple[list[ReliabilityBin], float | None]:
    """Equal-width bins of the score read as P(positive), and the expected calibration error: the
    bins' |observed - predicted| weighted by their share of rows (None without rows)."""
    s = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    y = np.asarray(positives, dtype=bool)
    if len(s) == 0:
        return [], None
    index = np.minimum((s * bins).astype(int), bins - 1)
    out: list[ReliabilityBin] = []
    error = 0.0
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        if not count:
            continue
        predicted, observed = float(s[mask].mean()), float(y[mask].mean())
        out.append(ReliabilityBin(b / bins, (b + 1) / bins, count, predicted, observed))
        error += count / len(s) * abs(observed - predicted)
    return out, error


def length_stratum(length: int) -> int:
    """The stratum of an answer length: exact up to 8 tokens, then bins 25 % wide (geometric), so the
    answers compared are about as long as each other."""
    if length <= 8:
        return length
    return 8 + int(np.log(length / 8) / np.log(1.25)) + 1


def length_matched_auroc(
    scores: Sequence[float], positives: Sequence[bool], lengths: Sequence[int]
) -> tuple[float | None, int]:
    """AUROC over the (positive, negative) pairs whose answers fall in the same length stratum, and
    the number of such pairs: what a score ranks once answer length can no longer do it (a data set
    whose faithful answers are all shorter rewards length alone). Per stratum Mann-Whitney, pooled
    by its pair count; None when no stratum holds both classes."""
    strata: dict[int, tuple[list[float], list[bool]]] = {}
    for score, positive, length in zip(scores, positives, lengths, strict=True):
        s, y = strata.setdefault(length_stratum(length), ([], []))
        s.append(score)
        y.append(positive)
    total, weighted = 0, 0.0
    for s, y in strata.values():
        a = auroc(s, y)
        if a is None:
            continue
        pairs = sum(y) * (len(y) - sum(y))
        total += pairs
        weighted += a * pairs
    return (weighted / total if total else None), total

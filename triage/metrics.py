"""Evaluation metrics for classifiers: the stable keys ``triage evaluate`` writes, ECE and a confusion plot."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
)

__all__ = [
    "ABSTAIN_LABEL",
    "expected_calibration_error",
    "ece_floor",
    "ece_p_value",
    "reliability_bins",
    "classification_metrics",
    "top_k_accuracy",
    "save_figure",
    "out_of_scope_metrics",
    "plot_confusion_matrix",
    "plot_reliability_diagram",
]

ABSTAIN_LABEL = "unknown"
"""The label a model predicts when it abstains (the mention fits none of its known intents)."""


def expected_calibration_error(proba: np.ndarray, correct: np.ndarray, *, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence, with equal-width bins.

    Args:
        proba: (n, k) predicted probabilities.
        correct: (n,) booleans, whether the arg-max class was right.
        n_bins: number of confidence bins over [0, 1].

    Returns:
        Sum over bins of (bin share) * |accuracy - mean confidence|; 0.0 for no rows.

    Example:
        >>> expected_calibration_error(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([True, False]))
        0.35
    """
    proba = np.asarray(proba, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if len(correct) == 0:
        return 0.0
    confidence = proba.max(axis=1)
    bins = _confidence_bins(confidence, n_bins)
    return _binned_gap(bins, np.bincount(bins, weights=confidence, minlength=n_bins), correct, n_bins)


def _confidence_bins(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """The equal-width bin of each confidence; right-closed, so a confidence of exactly 1.0 lands in the last bin."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)


def _binned_gap(bins: np.ndarray, confidence_sums: np.ndarray, correct: np.ndarray, n_bins: int) -> float:
    """ECE from the bins: sum over bins of (bin share) * |accuracy - mean confidence|, which is
    sum |correct in bin - confidence in bin| / n."""
    gaps = np.abs(np.bincount(bins, weights=correct, minlength=n_bins) - confidence_sums)
    return round(float(gaps.sum() / len(bins)), 10)


def ece_floor(proba: np.ndarray, *, n_bins: int = 15, draws: int = 200, seed: int = 0) -> float:
    """The ECE a perfectly calibrated model with these confidences would show on this many rows.

    ECE over few rows is biased upwards: even when every top-class confidence is exactly the chance of being
    right, the binned accuracies scatter around it. This draws ``correct`` from the confidences themselves
    (``draws`` times, seeded) and returns the mean ECE: an observed ECE near this floor is as calibrated as
    the sample size can show.

    Example:
        >>> ece_floor(np.array([[1.0, 0.0]] * 10))
        0.0
    """
    proba = np.asarray(proba, dtype=np.float64)
    if len(proba) == 0:
        return 0.0
    confidence = np.clip(proba.max(axis=1), 0.0, 1.0)
    bins = _confidence_bins(confidence, n_bins)
    sums = np.bincount(bins, weights=confidence, minlength=n_bins)
    rng = np.random.default_rng(seed)
    values = [_binned_gap(bins, sums, rng.random(len(confidence)) < confidence, n_bins) for _ in range(max(1, int(draws)))]
    return round(float(np.mean(values)), 10)


def ece_p_value(proba: np.ndarray, correct: np.ndarray, *, n_bins: int = 15, draws: int = 1000, seed: int = 0) -> float:
    """How often a perfectly calibrated model with these confidences shows an ECE at least as large as observed.

    The consistency test behind :func:`ece_floor`: ``correct`` is redrawn from the confidences ``draws`` times
    (seeded) and the share of draws whose ECE reaches the observed one is returned (with the observed sample
    counted once, so never 0). A small value (say below 0.05) is evidence of miscalibration; a large one says the
    observed ECE is what sampling alone produces on this many rows.

    Example:
        >>> ece_p_value(np.array([[0.99, 0.01]] * 200), np.zeros(200, dtype=bool)) < 0.01   # confident and wrong
        True
    """
    proba = np.asarray(proba, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if len(correct) == 0:
        return 1.0
    confidence = np.clip(proba.max(axis=1), 0.0, 1.0)
    bins = _confidence_bins(confidence, n_bins)
    sums = np.bincount(bins, weights=confidence, minlength=n_bins)
    observed = _binned_gap(bins, sums, correct, n_bins)
    rng = np.random.default_rng(seed)
    reached = sum(
        _binned_gap(bins, sums, rng.random(len(confidence)) < confidence, n_bins) >= observed - 1e-12
        for _ in range(max(1, int(draws)))
    )
    return round((reached + 1) / (max(1, int(draws)) + 1), 6)


def reliability_bins(proba: np.ndarray, correct: np.ndarray, *, n_bins: int = 15) -> list[dict]:
    """The reliability table behind :func:`expected_calibration_error`: one entry per non-empty bin.

    Each entry has the bin's ``lower`` and ``upper`` confidence edges, its row count ``n``, the mean top-class
    ``confidence`` and the share ``accuracy`` of its rows whose arg-max was right. A calibrated model has
    ``accuracy`` close to ``confidence`` in every bin; the ECE is the ``n``-weighted mean of their gaps.

    Example:
        >>> reliability_bins(np.array([[0.92, 0.08], [0.98, 0.02]]), np.array([True, False]), n_bins=10)
        [{'lower': 0.9, 'upper': 1.0, 'n': 2, 'confidence': 0.95, 'accuracy': 0.5}]
    """
    proba = np.asarray(proba, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if len(correct) == 0:
        return []
    confidence = np.clip(proba.max(axis=1), 0.0, 1.0)
    bins = _confidence_bins(confidence, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    sums = np.bincount(bins, weights=confidence, minlength=n_bins)
    hits = np.bincount(bins, weights=correct, minlength=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return [
        {
            "lower": round(float(edges[b]), 6),
            "upper": round(float(edges[b + 1]), 6),
            "n": int(counts[b]),
            "confidence": round(float(sums[b] / counts[b]), 6),
            "accuracy": round(float(hits[b] / counts[b]), 6),
        }
        for b in np.flatnonzero(counts)
    ]


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], proba: np.ndarray, classes: Sequence[str]
) -> dict:
    """Compute the stable evaluation keys.

    Returns a dict with ``n``, ``accuracy``, ``macro_f1``, ``macro_recall`` (TweetEval's official
    sentiment metric), ``ece``, ``labels`` and ``per_class`` (precision, recall, f1, support per label),
    ``confusion_matrix`` (rows: true label, columns: predicted, in ``labels`` order), ``ece_floor`` and
    ``ece_p`` (see :func:`ece_floor`, :func:`ece_p_value`) and ``reliability`` (:func:`reliability_bins`).
    Labels in ``y_true`` that the model does not know are kept (their recall is 0), and so are predicted
    labels outside ``classes`` (the abstention label ``unknown``).

    ``ece`` is the calibration of ``proba``'s top class: a row counts as correct when the arg-max of
    ``proba`` is its true label. For a model that never abstains this is ``y_pred``; for one that does,
    the out-of-scope rows count against the known-intent distribution, which should then be unsure.
    """
    y_true = [str(y) for y in y_true]
    y_pred = [str(y) for y in y_pred]
    classes = [str(c) for c in classes]
    labels = classes + sorted((set(y_true) | set(y_pred)) - set(classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    present = [label for label in labels if label in set(y_true)]
    proba = np.asarray(proba, dtype=np.float64)
    if len(y_true) and proba.ndim == 2 and proba.shape[1] == len(classes):
        correct = np.asarray(classes, dtype=object)[proba.argmax(axis=1)] == np.asarray(y_true, dtype=object)
    else:
        correct = np.asarray(y_true) == np.asarray(y_pred)
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)) if y_true else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "macro_recall": float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "ece": expected_calibration_error(proba, correct),
        "ece_floor": ece_floor(proba),
        "ece_p": ece_p_value(proba, correct),
        "reliability": reliability_bins(proba, correct),
        "labels": labels,
        "per_class": {
            label: {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def top_k_accuracy(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], *, k: int = 3) -> float | None:
    """Share of rows whose true label is among the ``k`` most probable classes.

    Only rows whose true label is one of ``classes`` count (an out-of-scope row has no rank); ``None``
    when there is no such row.

    Example:
        >>> p = np.array([[0.5, 0.3, 0.2, 0.0], [0.1, 0.2, 0.3, 0.4]])
        >>> top_k_accuracy(["c", "a"], p, ["a", "b", "c", "d"], k=3)
        0.5
    """
    classes = [str(c) for c in classes]
    index = {label: i for i, label in enumerate(classes)}
    proba = np.asarray(proba, dtype=np.float64)
    rows = [i for i, y in enumerate(y_true) if str(y) in index]
    if not rows:
        return None
    k = max(1, min(int(k), len(classes)))
    truth = np.array([index[str(y_true[i])] for i in rows])
    scores = proba[rows]
    # rank = number of classes strictly more probable than the true one (ties favour the true class)
    rank = (scores > scores[np.arange(len(rows)), truth][:, None]).sum(axis=1)
    return float((rank < k).mean())


def out_of_scope_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    *,
    oos_labels: Sequence[str] = ("oos",),
    abstain_label: str = ABSTAIN_LABEL,
) -> dict:
    """In-scope accuracy and out-of-scope recall, as in the CLINC150 paper (Larson et al., 2019).

    A true label in ``oos_labels`` (or equal to ``abstain_label``) is out of scope; a prediction is an
    abstention when it is ``abstain_label`` or in ``oos_labels``.

    Returns:
        ``in_scope_accuracy`` (in-scope rows predicted with their exact label; an abstention is wrong),
        ``oos_recall`` (out-of-scope rows the model abstained on), ``oos_precision`` (abstentions that were
        out of scope), ``n_in_scope``, ``n_oos``. A share is ``None`` when its denominator is 0.

    Example:
        >>> m = out_of_scope_metrics(["a", "b", "oos", "oos"], ["a", "unknown", "unknown", "b"])
        >>> m["in_scope_accuracy"], m["oos_recall"], m["oos_precision"]
        (0.5, 0.5, 0.5)
    """
    out_labels = {str(label) for label in oos_labels} | {abstain_label}
    truth = np.array([str(y) in out_labels for y in y_true], dtype=bool)
    abstained = np.array([str(y) in out_labels for y in y_pred], dtype=bool)
    exact = np.array([str(t) == str(p) for t, p in zip(y_true, y_pred, strict=True)], dtype=bool)
    n_in, n_oos, n_abstained = int((~truth).sum()), int(truth.sum()), int(abstained.sum())
    return {
        "in_scope_accuracy": float((exact & ~truth).sum() / n_in) if n_in else None,
        "oos_recall": float((abstained & truth).sum() / n_oos) if n_oos else None,
        "oos_precision": float((abstained & truth).sum() / n_abstained) if n_abstained else None,
        "n_in_scope": n_in,
        "n_oos": n_oos,
    }


def save_figure(fig, path: str | Path, *, dpi: int = 110) -> Path:
    """Lay out ``fig``, write it to ``path`` (parent folders created) and close it; returns the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | os.PathLike[str], *, title: str = ""
) -> Path:
    """Save a row-normalised confusion matrix (counts annotated) as a PNG and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    if len(labels) <= 20:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                        color="white" if share[i, j] > 0.5 else "black", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true label")
    return save_figure(fig, path)


def plot_reliability_diagram(
    bins: Sequence[dict], path: str | os.PathLike[str], *, title: str = "", ece: float | None = None,
    ece_floor: float | None = None,
) -> Path:
    """Save a reliability diagram (accuracy against confidence per bin, row counts below) as a PNG.

    ``bins`` is :func:`reliability_bins`' table (or the ``reliability`` key of the metrics). Each bin's bar is
    its accuracy; the hatched part runs from there to the bin's mean confidence, above the bar where the model
    is over-confident, inside it where it is under-confident. The lower panel shows how many rows each bin
    holds (log scale), so a large gap in a nearly empty bin reads as the noise it is.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lower = np.array([b["lower"] for b in bins], dtype=float)
    width = np.array([b["upper"] - b["lower"] for b in bins], dtype=float)
    accuracy = np.array([b["accuracy"] for b in bins], dtype=float)
    confidence = np.array([b["confidence"] for b in bins], dtype=float)
    counts = np.array([b["n"] for b in bins], dtype=float)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(5.5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    top.bar(lower, accuracy, width=width, align="edge", color="#4c72b0", edgecolor="white", label="accuracy")
    top.bar(lower, confidence - accuracy, bottom=accuracy, width=width, align="edge", color="#dd8452", alpha=0.35,
            edgecolor="#c44e52", hatch="//", label="gap to the mean confidence")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy of the top class")
    top.legend(loc="upper left", fontsize=8)
    words = []
    if ece is not None:
        words.append(f"ECE {ece:.3f}")
    if ece_floor is not None:
        words.append(f"floor {ece_floor:.3f}")
    heading = title + (f"\n{', '.join(words)}" if words else "")
    if heading:
        top.set_title(heading, fontsize=10)
    bottom.bar(lower, counts, width=width, align="edge", color="#8c8c8c", edgecolor="white")
    bottom.set_xlabel("top-class confidence")
    bottom.set_ylabel("rows (log)")
    bottom.set_yscale("log")
    return save_figure(fig, path)

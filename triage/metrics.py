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

__all__ = ["expected_calibration_error", "classification_metrics", "plot_confusion_matrix"]


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
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed bins so a confidence of exactly 1.0 lands in the last bin
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return round(float(ece), 10)


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], proba: np.ndarray, classes: Sequence[str]
) -> dict:
    """Compute the stable evaluation keys.

    Returns a dict with ``n``, ``accuracy``, ``macro_f1``, ``macro_recall`` (TweetEval's official
    sentiment metric), ``ece``, ``labels`` and ``per_class`` (precision, recall, f1, support per label),
    and ``confusion_matrix`` (rows: true label, columns: predicted, in ``labels`` order).
    Labels in ``y_true`` that the model does not know are kept (their recall is 0).
    """
    y_true = [str(y) for y in y_true]
    y_pred = [str(y) for y in y_pred]
    labels = list(classes) + sorted(set(y_true) - set(classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    present = [label for label in labels if label in set(y_true)]
    correct = np.asarray(y_true) == np.asarray(y_pred)
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)) if y_true else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "macro_recall": float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "ece": expected_calibration_error(proba, correct),
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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""Metric keys and values against hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from triage.metrics import classification_metrics, expected_calibration_error, plot_confusion_matrix


def test_ece_hand_computed() -> None:
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.55, 0.45]])
    correct = np.array([True, False, True, True])
    # bins: 0.9 -> [0.867,0.933), 0.8 -> [0.733,0.8], 0.6 -> [0.533,0.6], 0.55 -> [0.533,0.6]
    expected = 0.25 * 0.1 + 0.25 * 0.2 + 0.5 * abs(0.5 - 0.575)
    assert expected_calibration_error(proba, correct) == pytest.approx(expected)


def test_ece_is_zero_for_perfect_calibration_and_empty_input() -> None:
    assert expected_calibration_error(np.array([[1.0, 0.0]] * 3), np.array([True] * 3)) == 0.0
    assert expected_calibration_error(np.zeros((0, 2)), np.zeros(0, dtype=bool)) == 0.0


def test_macro_recall_and_per_class() -> None:
    y_true = ["neg", "neg", "neu", "pos", "pos", "pos"]
    y_pred = ["neg", "neu", "neu", "pos", "pos", "neg"]
    proba = np.full((6, 3), 1 / 3)
    m = classification_metrics(y_true, y_pred, proba, ["neg", "neu", "pos"])
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["macro_recall"] == pytest.approx((0.5 + 1.0 + 2 / 3) / 3)
    assert m["per_class"]["neg"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_unknown_true_labels_are_kept_with_zero_recall() -> None:
    m = classification_metrics(["a", "b", "c"], ["a", "b", "a"], np.full((3, 2), 0.5), ["a", "b"])
    assert m["labels"] == ["a", "b", "c"]
    assert m["per_class"]["c"]["recall"] == 0.0
    assert m["macro_recall"] == pytest.approx(2 / 3)


def test_confusion_png_is_written(tmp_path: Path) -> None:
    path = plot_confusion_matrix([[3, 1], [0, 4]], ["a", "b"], tmp_path / "cm.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ece_floor_shrinks_with_more_rows_and_matches_calibrated_samples() -> None:
    from triage.metrics import ece_floor

    rng = np.random.default_rng(3)
    top = rng.uniform(0.5, 1.0, size=4000)
    proba = np.c_[top, 1 - top]
    small, large = ece_floor(proba[:100]), ece_floor(proba)
    assert small > 2 * large > 0
    # a model that is calibrated by construction scores about its floor, well above zero on 100 rows
    observed = [expected_calibration_error(proba[:100], rng.random(100) < top[:100]) for _ in range(300)]
    assert np.mean(observed) == pytest.approx(small, rel=0.15)
    assert ece_floor(np.array([[1.0, 0.0]] * 50)) == 0.0 and ece_floor(np.zeros((0, 2))) == 0.0


def test_classification_metrics_report_the_ece_floor() -> None:
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    metrics = classification_metrics(["a", "b", "b"], ["a", "a", "b"], proba, ["a", "b"])
    assert 0 < metrics["ece_floor"] < 1


def test_ece_p_value_separates_sampling_noise_from_miscalibration() -> None:
    from triage.metrics import ece_p_value

    rng = np.random.default_rng(5)
    top = rng.uniform(0.5, 1.0, size=300)
    proba = np.c_[top, 1 - top]
    calibrated = rng.random(300) < top  # right exactly as often as the confidence says
    overconfident = rng.random(300) < top - 0.15  # 15 points less often
    assert ece_p_value(proba, calibrated) > 0.05
    assert ece_p_value(proba, overconfident) < 0.01
    assert ece_p_value(np.zeros((0, 2)), np.zeros(0, dtype=bool)) == 1.0
    metrics = classification_metrics(["a", "b", "b"], ["a", "a", "b"], np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]]),
                                      ["a", "b"])
    assert 0 < metrics["ece_p"] <= 1


def test_reliability_bins_hand_computed_and_consistent_with_ece() -> None:
    from triage.metrics import reliability_bins

    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.55, 0.45]])
    correct = np.array([True, False, True, True])
    bins = reliability_bins(proba, correct)
    # the same right-closed 15 bins as the ECE: 0.55 and 0.6 share (0.533, 0.6]
    assert [b["n"] for b in bins] == [2, 1, 1]
    assert bins[0] == {"lower": pytest.approx(8 / 15), "upper": pytest.approx(0.6), "n": 2,
                       "confidence": pytest.approx(0.575), "accuracy": 0.5}
    assert [b["accuracy"] for b in bins] == [0.5, 1.0, 1.0]
    gap = sum(b["n"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / len(correct)
    assert gap == pytest.approx(expected_calibration_error(proba, correct))
    assert reliability_bins(np.zeros((0, 2)), np.zeros(0, dtype=bool)) == []
    m = classification_metrics(["a", "b", "a", "a"], ["a", "b", "b", "a"], proba, ["a", "b"])
    assert sum(b["n"] for b in m["reliability"]) == 4


def test_reliability_png_is_written(tmp_path: Path) -> None:
    from triage.metrics import plot_reliability_diagram, reliability_bins

    rng = np.random.default_rng(0)
    top = rng.uniform(0.4, 1.0, size=300)
    bins = reliability_bins(np.c_[top, 1 - top], rng.random(300) < top)
    path = plot_reliability_diagram(bins, tmp_path / "sub" / "rel.png", title="t", ece=0.02, ece_floor=0.01)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

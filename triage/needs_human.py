"""The needs-a-human head: weakly labelled data, its decision threshold, and its evaluation.

The model is an ordinary binary :class:`~triage.classifier.TextClassifier` (task ``needs_human``, labels
``human`` / ``self_service``) over the customer's text only, plus two small things stored in its
``config.json`` (``training.needs_human``), learned by :func:`fit_needs_human`:

- a :class:`BrandPrior`: how often each brand moves a mention to a person, from the training labels (brands
  differ far more than texts do: some move almost everything to DMs), added to the text head's log-odds;
- a recalibration (slope and intercept on that sum) fitted on the validation data, so the result is a
  calibrated probability even though the training data's base rate differs from the validation data's.

:func:`needs_human_proba` gives the ``needs_human`` score for texts and their brands (a brand the model
never saw, or none, counts as an average brand). Also here:

- :func:`needs_human_examples`: the weak labels of :mod:`triage.weak_labels` as
  :class:`~triage.labelled.Examples` for a dataset and split (``all``, or the internal ``train`` /
  ``validation`` / ``test`` parts, split by thread);
- :func:`choose_threshold`: the decision threshold on the probability of ``human`` (max F1 on validation
  data), stored in the model's ``config.json`` under ``training.threshold``;
- :func:`needs_human_metrics`: ``roc_auc``, ``average_precision``, ``f1``, ``precision``, ``recall``,
  ``threshold``, ``ece``, ``n``, plus the usual classification keys at that threshold.

Example:
    >>> import numpy as np
    >>> choose_threshold(["human", "self_service", "human"], np.array([0.9, 0.2, 0.6]))
    0.6
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import expit, logit

from triage.errors import InputError

if TYPE_CHECKING:
    from triage.classifier import TextClassifier
    from triage.labelled import Examples

__all__ = [
    "TASK",
    "POSITIVE",
    "NEGATIVE",
    "DEFAULT_THRESHOLD",
    "human_probability",
    "choose_threshold",
    "model_threshold",
    "needs_human_metrics",
    "needs_human_examples",
    "BrandPrior",
    "fit_needs_human",
    "needs_human_spec",
    "needs_human_proba",
    "needs_human_model_metrics",
]

logger = logging.getLogger(__name__)

TASK = "needs_human"
POSITIVE = "human"
NEGATIVE = "self_service"
DEFAULT_THRESHOLD = 0.5
_WEAK_LABEL_DATASETS = ("twcs", "ibm_twitter_customer_care")
_IBM_SPLITS = ("train", "dev", "test")


def human_probability(model: TextClassifier, texts: Any = None, *, proba: np.ndarray | None = None) -> np.ndarray:
    """The calibrated probability of ``human`` for ``texts`` (or from an already computed ``proba``).

    Raises:
        InputError: the model has no ``human`` label (it is not a needs-human model).
    """
    classes = [str(c) for c in model.classes_]
    if POSITIVE not in classes:
        raise InputError(f"a needs_human model has the labels ['human', 'self_service'], this one has {classes}")
    if proba is None:
        proba = model.predict_proba(texts)
    return np.asarray(proba)[:, classes.index(POSITIVE)]


def choose_threshold(y_true: Sequence[str], p_human: np.ndarray) -> float:
    """The threshold on ``p_human`` with the highest F1 of ``human`` (``p >= threshold`` means human).

    Candidates are the scores themselves; among equal F1 the highest threshold wins (fewer escalations).
    Returns :data:`DEFAULT_THRESHOLD` when ``y_true`` holds only one class.

    Example:
        >>> choose_threshold(["human", "self_service", "human", "self_service"], np.array([0.8, 0.7, 0.4, 0.1]))
        0.4
    """
    truth = np.asarray([str(y) == POSITIVE for y in y_true])
    scores = np.asarray(p_human, dtype=np.float64)
    if len(truth) != len(scores):
        raise InputError(f"{len(truth)} labels for {len(scores)} scores; give one score per label")
    if truth.all() or not truth.any():
        return DEFAULT_THRESHOLD
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_truth = scores[order], truth[order]
    tp = np.cumsum(sorted_truth)
    predicted = np.arange(1, len(scores) + 1)
    # only the last position of a run of equal scores is a real cut
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    f1 = np.where(last, 2 * tp / (predicted + truth.sum()), -1.0)
    best = np.flatnonzero(f1 == f1.max())[0]  # the highest threshold among the best
    return round(float(sorted_scores[best]), 6)


def model_threshold(model: TextClassifier) -> float:
    """The decision threshold of a needs-human model: set at training (``decision_threshold_``) or read from
    its ``config.json`` (``training.threshold``); :data:`DEFAULT_THRESHOLD` when neither is there."""
    threshold = getattr(model, "decision_threshold_", None)
    if threshold is None:
        threshold = (getattr(model, "config_", None) or {}).get("training", {}).get("threshold")
    return float(threshold) if threshold is not None else DEFAULT_THRESHOLD


def needs_human_metrics(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], *, threshold: float) -> dict:
    """Binary evaluation keys of a needs-human model.

    Args:
        y_true: ``human`` / ``self_service`` labels.
        proba: calibrated probabilities, columns in ``classes`` order.
        classes: the model's labels.
        threshold: ``p(human) >= threshold`` predicts ``human``.

    Returns:
        ``n``, ``roc_auc`` (None when one class is missing), ``average_precision``, ``f1``, ``precision``,
        ``recall`` (of ``human`` at ``threshold``), ``threshold``, ``ece`` (of the calibrated probabilities),
        ``positive_rate``, and the classification keys of :func:`~triage.metrics.classification_metrics`
        (``accuracy``, ``macro_f1``, ``per_class``, ``confusion_matrix``, ...) at the threshold.
    """
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

    from triage.metrics import classification_metrics, expected_calibration_error

    classes = [str(c) for c in classes]
    truth = [str(y) for y in y_true]
    proba = np.asarray(proba, dtype=np.float64)
    p_human = proba[:, classes.index(POSITIVE)]
    predicted = np.where(p_human >= threshold, POSITIVE, NEGATIVE)
    metrics = classification_metrics(truth, predicted, proba, classes)
    is_human = np.asarray([y == POSITIVE for y in truth])
    both = 0 < is_human.sum() < len(is_human)
    precision, recall, f1, _ = precision_recall_fscore_support(
        is_human, predicted == POSITIVE, average="binary", zero_division=0
    )
    correct = np.asarray(classes, dtype=object)[proba.argmax(axis=1)] == np.asarray(truth, dtype=object)
    metrics.update(
        {
            "roc_auc": float(roc_auc_score(is_human, p_human)) if both else None,
            "average_precision": float(average_precision_score(is_human, p_human)) if both else None,
            "f1": float(f1),
            "precision": float(precision),
            "recall": float(recall),
            "threshold": float(threshold),
            # calibration of the probabilities themselves, whatever the threshold
            "ece": expected_calibration_error(proba, correct),
            "positive_rate": float(is_human.mean()) if len(is_human) else 0.0,
        }
    )
    return metrics


def needs_human_examples(
    dataset: str,
    split: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> Examples:
    """Weakly labelled customer mentions of ``dataset`` (``twcs`` or ``ibm_twitter_customer_care``).

    ``split``: ``all`` (every labelled mention of the files present under ``data_dir``; for twcs any subset
    of the three excerpts), ``train`` / ``validation`` / ``test`` (the deterministic internal split of those
    mentions by ``thread_id``, the same one training uses), or for IBM a registry split (``dev``, ``test``). The frame keeps
    ``brand`` (for the brand prior), ``thread_id``, ``source``, ``tweet_id`` and ``votes``.

    Raises:
        InputError: another dataset or split.
        DatasetError: the files are not there.
    """
    from triage.labelled import INTERNAL_SPLITS, Examples, internal_split, split_keys
    from triage.weak_labels import needs_human_frame

    if dataset not in _WEAK_LABEL_DATASETS:
        raise InputError(
            f"needs_human labels are derived from {list(_WEAK_LABEL_DATASETS)} (or give a labelled --file); "
            f"found dataset {dataset!r}"
        )
    if dataset == "twcs":
        derived = split in INTERNAL_SPLITS
        if split != "all" and not derived:
            raise InputError(f"twcs splits for needs_human: all, {', '.join(INTERNAL_SPLITS)}; found {split!r}")
        frame = needs_human_frame(datasets=("twcs",), data_dir=data_dir)
    else:  # IBM ships its own splits (dev here, test held out); `all` is dev, the internal parts come from dev
        derived = split not in _IBM_SPLITS and split != "all"
        if derived and split not in INTERNAL_SPLITS:
            raise InputError(
                f"{dataset} splits for needs_human: all, {', '.join(_IBM_SPLITS)}, {', '.join(INTERNAL_SPLITS)}; "
                f"found {split!r}"
            )
        ibm_splits = (split,) if split in _IBM_SPLITS else ("dev",)
        frame = needs_human_frame(datasets=(dataset,), ibm_splits=ibm_splits, data_dir=data_dir)
    if derived:
        frame = frame[internal_split(split_keys(frame)) == split]
    frame = frame.reset_index(drop=True)
    return Examples(frame["text"].tolist(), frame["label"].tolist(), frame, f"{dataset}[{split}] (weak labels)")


# ------------------------------------------------------------------------------------------------------------
# Brand prior and recalibration
# ------------------------------------------------------------------------------------------------------------

_EPS = 1e-4


def _brand_key(brand: object) -> str | None:
    return brand.strip().lower() if isinstance(brand, str) and brand.strip() else None


@dataclass
class BrandPrior:
    """Each brand's habit: the log-odds of ``human`` for its mentions, minus the overall log-odds.

    A brand's rate is shrunk toward the overall rate by ``strength`` pseudo-mentions, so a brand seen twice
    moves the score little. Brands are matched case-insensitively; an unknown brand or None shifts by 0.

    Example:
        >>> prior = BrandPrior.fit(["A", "A", "A", "B", "B", "B"], ["human"] * 3 + ["self_service"] * 3, strength=1)
        >>> prior.shift(["a", "B", "C", None]).round(3).tolist()  # (3 + 0.5) / (3 + 1) = 7/8 -> log(7)
        [1.946, -1.946, 0.0, 0.0]
    """

    global_log_odds: float
    strength: float
    shifts: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(cls, brands: Sequence[object], labels: Sequence[str], *, strength: float = 5.0) -> BrandPrior:
        """Learn the prior from training mentions' brands and ``human`` / ``self_service`` labels."""
        if len(brands) != len(labels):
            raise InputError(f"{len(brands)} brands for {len(labels)} labels; give one brand (or None) per label")
        is_human = np.asarray([str(y) == POSITIVE for y in labels], dtype=float)
        if len(is_human) == 0:
            raise InputError("no labelled mentions to learn the brand prior from")
        overall = float(np.clip(is_human.mean(), _EPS, 1 - _EPS))
        totals: dict[str, list[float]] = {}
        for brand, y in zip(brands, is_human, strict=True):
            key = _brand_key(brand)
            if key is not None:
                totals.setdefault(key, []).append(y)
        shifts, counts = {}, {}
        for key, values in sorted(totals.items()):
            rate = (sum(values) + strength * overall) / (len(values) + strength)
            shifts[key] = round(float(logit(np.clip(rate, _EPS, 1 - _EPS)) - logit(overall)), 6)
            counts[key] = len(values)
        return cls(round(float(logit(overall)), 6), float(strength), shifts, counts)

    def shift(self, brands: Sequence[object] | None, n: int | None = None) -> np.ndarray:
        """The log-odds shift of each brand (0 for unknown brands); ``brands`` None means ``n`` zeros."""
        if brands is None:
            return np.zeros(n or 0)
        return np.asarray([self.shifts.get(_brand_key(b) or "", 0.0) for b in brands], dtype=np.float64)

    def to_dict(self) -> dict:
        return {"global_log_odds": self.global_log_odds, "strength": self.strength, "shifts": self.shifts,
                "counts": self.counts}

    @classmethod
    def from_dict(cls, data: dict) -> BrandPrior:
        return cls(float(data["global_log_odds"]), float(data["strength"]),
                   {str(k): float(v) for k, v in data.get("shifts", {}).items()},
                   {str(k): int(v) for k, v in data.get("counts", {}).items()})


def _recalibrate(z: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Slope and intercept minimising the log-loss of ``sigmoid(slope * z + intercept)`` (Platt scaling)."""
    from scipy.optimize import minimize

    y = truth.astype(float)

    def loss(params: np.ndarray) -> float:
        logits = params[0] * z + params[1]
        return float(np.mean(np.logaddexp(0.0, logits) - y * logits))

    result = minimize(loss, x0=np.array([1.0, 0.0]), method="L-BFGS-B", bounds=[(0.05, 20.0), (-20.0, 20.0)])
    return float(result.x[0]), float(result.x[1])


def needs_human_spec(model: TextClassifier) -> dict:
    """The brand prior and recalibration of a needs-human model (``needs_human_`` after
    :func:`fit_needs_human`, else ``training.needs_human`` in its config); ``{}`` for a plain text model."""
    spec = getattr(model, "needs_human_", None)
    if spec is None:
        spec = (getattr(model, "config_", None) or {}).get("training", {}).get("needs_human")
    return spec or {}


def needs_human_proba(
    model: TextClassifier, texts: Any = None, brands: Sequence[object] | None = None, *, features: Any = None
) -> np.ndarray:
    """The ``needs_human`` probability of each text: the text head's p(human), plus the brand's habit when the
    model has a brand prior (``brands``: the brand each mention addresses, or None), recalibrated.

    ``features``: the encoder's output for the texts, already computed (``model.transform(texts)``, or the
    shared encoding pass of another head with the same pretrained encoder); then ``texts`` is not needed.

    Example:
        >>> needs_human_proba(model, ["@AppleSupport my phone won't turn on"], ["AppleSupport"])  # doctest: +SKIP
        array([0.83])
    """
    if features is not None:
        p_text = human_probability(model, proba=model.predict_proba_features(features))
    elif texts is None:
        raise InputError("give the texts, or their features from model.transform(texts)")
    else:
        p_text = human_probability(model, texts)
    spec = needs_human_spec(model)
    if not spec:
        return p_text
    if brands is not None and len(brands) != len(p_text):
        raise InputError(f"{len(p_text)} texts and {len(brands)} brands; give one brand (or None) per text")
    z = logit(np.clip(p_text, _EPS, 1 - _EPS))
    if spec.get("brand_prior"):
        z = z + BrandPrior.from_dict(spec["brand_prior"]).shift(brands, len(p_text))
    calibration = spec.get("calibration") or {}
    z = calibration.get("slope", 1.0) * z + calibration.get("intercept", 0.0)
    return expit(z)


def _cross_fit_log_odds(
    model: TextClassifier, train: Examples, *, brand_prior: bool, strength: float, folds: int
) -> np.ndarray:
    """Out-of-fold log-odds (text head plus brand prior, before recalibration) of every training mention:
    a copy of ``model`` and a brand prior are fitted on the other folds. Folds keep threads whole."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.asarray(train.labels, dtype=object)
    groups = train.frame["thread_id"].to_numpy() if "thread_id" in train.frame.columns else np.arange(len(labels))
    brands = _brands(train)
    z = np.zeros(len(labels))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=int(model.random_state))
    for fit_rows, held in splitter.split(np.zeros(len(labels)), labels, groups):
        fold = clone(model).fit([train.texts[i] for i in fit_rows], labels[fit_rows].tolist())
        p = human_probability(fold, [train.texts[i] for i in held])
        z[held] = logit(np.clip(p, _EPS, 1 - _EPS))
        if brand_prior:
            prior = BrandPrior.fit([brands[i] for i in fit_rows], labels[fit_rows].tolist(), strength=strength)
            z[held] += prior.shift([brands[i] for i in held])
    return z


def fit_needs_human(
    model: TextClassifier,
    train: Examples,
    validation: Examples | None,
    *,
    brand_prior: bool = True,
    strength: float = 5.0,
    cross_fit_folds: int = 0,
) -> dict:
    """After the text head is fitted: learn the brand prior (training labels), the recalibration and the
    decision threshold (max F1 of ``human``); set them on ``model`` (``needs_human_``,
    ``decision_threshold_``) and return what goes into config.json's ``training`` section.

    The recalibration and threshold are fitted on the validation mentions, scored by the full model, plus,
    with ``cross_fit_folds`` >= 2, every training mention scored by a model fitted on the other folds
    (thread-grouped): a few hundred validation mentions alone leave the calibration noisy.
    """
    spec: dict[str, Any] = {"input": "text + brand" if brand_prior else "text"}
    if brand_prior:
        if "brand" not in train.frame.columns:
            raise InputError(f"{train.source}: the brand prior needs a 'brand' column; set needs_human.brand_prior: false")
        spec["brand_prior"] = BrandPrior.fit(train.frame["brand"].tolist(), train.labels, strength=strength).to_dict()
    model.needs_human_ = spec
    has_validation = validation is not None and len(validation) > 0
    z_parts, truth_parts, described = [], [], []
    if has_validation:
        z_parts.append(logit(np.clip(needs_human_proba(model, validation.texts, _brands(validation)), _EPS, 1 - _EPS)))
        truth_parts.append(np.asarray([str(y) == POSITIVE for y in validation.labels]))
        described.append(f"{len(validation)} validation mentions")
    if cross_fit_folds >= 2:
        z_parts.append(_cross_fit_log_odds(model, train, brand_prior=brand_prior, strength=strength,
                                           folds=cross_fit_folds))
        truth_parts.append(np.asarray([str(y) == POSITIVE for y in train.labels]))
        described.append(f"{len(train)} training mentions scored out of fold ({cross_fit_folds} thread-grouped folds)")
    if z_parts:
        z, truth = np.concatenate(z_parts), np.concatenate(truth_parts)
        where = " + ".join(described)
        if 0 < truth.sum() < len(truth):
            slope, intercept = _recalibrate(z, truth)
            spec["calibration"] = {"slope": round(slope, 6), "intercept": round(intercept, 6), "fitted_on": where}
        calibration = spec.get("calibration") or {}
        p = expit(calibration.get("slope", 1.0) * z + calibration.get("intercept", 0.0))
        threshold = choose_threshold(np.where(truth, POSITIVE, NEGATIVE).tolist(), p)
        rule = f"max F1 of '{POSITIVE}' on {where}"
    else:
        threshold, rule = DEFAULT_THRESHOLD, "default (no validation data)"
    model.decision_threshold_ = threshold
    logger.info("needs_human: threshold %.4f (%s); %s", threshold, rule,
                f"{len(spec.get('brand_prior', {}).get('shifts', {}))} brands in the prior" if brand_prior else "no prior")
    return {"needs_human": spec, "threshold": threshold, "threshold_rule": rule, "positive_label": POSITIVE}


def _brands(examples: Examples) -> list | None:
    return examples.frame["brand"].tolist() if "brand" in examples.frame.columns else None


def needs_human_model_metrics(
    model: TextClassifier, texts: Sequence[str], labels: Sequence[str], *, brands: Sequence[object] | None = None
) -> dict:
    """:func:`needs_human_metrics` of ``model`` on labelled texts (and their brands), at its threshold."""
    p = needs_human_proba(model, texts, brands)
    classes = [str(c) for c in model.classes_]
    proba = np.zeros((len(p), len(classes)))
    proba[:, classes.index(POSITIVE)] = p
    proba[:, classes.index(NEGATIVE)] = 1 - p
    metrics = needs_human_metrics(labels, proba, classes, threshold=model_threshold(model))
    metrics["brand_prior_used"] = bool(needs_human_spec(model).get("brand_prior")) and brands is not None
    return metrics


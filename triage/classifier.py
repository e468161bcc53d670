"""Text classifiers: an encoder tier plus a probabilistic linear head with calibrated probabilities.

:class:`TextClassifier` follows the scikit-learn estimator contract (``fit``/``predict``/
``predict_proba``/``classes_``) and, like SetFit, carries its labels so ``predict`` returns strings.
Several heads can share one encoding pass: call :meth:`TextClassifier.transform` once and feed the
features to each head's ``*_features`` methods.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted as _sk_check_is_fitted

from triage.encoders import Encoder, make_encoder
from triage.errors import InputError, NotFittedError
from triage.schema import check_texts
from triage.text import normalize_batch

__all__ = ["TextClassifier", "fit_temperature", "check_is_fitted"]

logger = logging.getLogger(__name__)

Calibration = Literal["temperature", "none"]


def check_is_fitted(model: Any) -> None:
    """Raise :class:`~triage.errors.NotFittedError` with a clear message when ``model`` is not fitted."""
    try:
        _sk_check_is_fitted(model)
    except Exception as exc:  # sklearn raises its own NotFittedError; re-raise ours with the fix
        if isinstance(exc, NotFittedError):
            raise
        raise NotFittedError(
            f"This {type(model).__name__} instance is not fitted yet. Call 'fit' with texts and labels "
            "before using this model, or load a trained one with TextClassifier.load(path)."
        ) from None


def fit_temperature(logits: np.ndarray, y_index: np.ndarray) -> float:
    """Temperature T > 0 that minimises the negative log-likelihood of ``softmax(logits / T)``.

    Example:
        >>> logits = np.array([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
        >>> fit_temperature(logits, np.array([0, 1, 1, 0])) > 1.0   # over-confident -> soften
        True
    """
    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(y_index))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[rows, y_index].mean())

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


class TextClassifier(ClassifierMixin, BaseEstimator):
    """Encoder + multinomial logistic-regression head + temperature calibration.

    Args:
        encoder: an encoder spec (``"tfidf"``, ``"static"``, ``"minilm"`` or a dict such as
            ``{"kind": "tfidf", "max_features": 200000}``) or an :class:`~triage.encoders.Encoder`.
        C: inverse regularisation strength of the head.
        class_weight: ``"balanced"`` (good for macro-recall on skewed labels) or ``None``.
        max_iter: solver iterations for the head.
        calibration: ``"temperature"`` fits one temperature on validation data (or on
            cross-validated logits of the training data when no validation set is given); ``"none"``.
        normalize: apply tweet normalisation (handles, URLs, entities, whitespace) before encoding.
        task: what the labels mean (``"sentiment"``, ``"intent"``, ...); stored with the model.
        random_state: seed for the cross-validation folds and the solver.

    Example:
        >>> clf = TextClassifier("tfidf").fit(["love it", "hate it"] * 5, ["positive", "negative"] * 5)
        >>> clf.predict(["I love it"]).tolist()
        ['positive']
    """

    def __init__(
        self,
        encoder: str | dict | Encoder = "tfidf",
        *,
        C: float = 1.0,
        class_weight: Literal["balanced"] | None = "balanced",
        max_iter: int = 2000,
        calibration: Calibration = "temperature",
        normalize: bool = True,
        task: str = "classification",
        random_state: int = 0,
    ) -> None:
        self.encoder = encoder
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.calibration = calibration
        self.normalize = normalize
        self.task = task
        self.random_state = random_state

    # -- features ---------------------------------------------------------------------------
    def _prepare(self, texts: Any) -> list[str]:
        texts = check_texts(texts)
        return normalize_batch(texts) if self.normalize else texts

    def transform(self, texts: Any, *, show_progress: bool = False) -> Any:
        """Encode ``texts`` with the fitted encoder (normalised first when ``normalize``)."""
        check_is_fitted(self)
        return self.encoder_.encode(self._prepare(texts), show_progress=show_progress)

    def _new_head(self) -> LogisticRegression:
        return LogisticRegression(
            C=self.C, class_weight=self.class_weight, max_iter=self.max_iter, random_state=self.random_state
        )

    # -- training ---------------------------------------------------------------------------
    def fit(
        self,
        X: Sequence[str],
        y: Sequence[str],
        *,
        X_val: Sequence[str] | None = None,
        y_val: Sequence[str] | None = None,
        show_progress: bool = False,
    ) -> TextClassifier:
        """Fit encoder and head on texts ``X`` with string labels ``y``; calibrate; return ``self``.

        ``X_val``/``y_val`` (optional) are used only to fit the temperature.
        """
        texts = self._prepare(X)
        labels = self._check_labels(y, len(texts), "y")
        if len(set(labels)) < 2:
            raise InputError(f"y: need at least 2 distinct labels to train a classifier, found {sorted(set(labels))}")
        self.encoder_ = self.encoder if isinstance(self.encoder, Encoder) else make_encoder(self.encoder)
        self.encoder_.fit(texts)
        features = self.encoder_.encode(texts, show_progress=show_progress)
        head = self._new_head().fit(features, labels)
        self.classes_ = head.classes_
        self.head_ = head
        self.temperature_ = 1.0
        if self.calibration == "temperature":
            if X_val is not None and y_val is not None and len(X_val) > 0:
                val_labels = self._check_labels(y_val, len(X_val), "y_val")
                known = np.isin(val_labels, self.classes_)
                val_features = self.encoder_.encode(self._prepare(X_val), show_progress=show_progress)
                logits = head.decision_function(val_features)[known]
                y_index = np.searchsorted(self.classes_, np.asarray(val_labels)[known])
            else:
                logits, y_index = self._cross_val_logits(features, np.asarray(labels))
            self.temperature_ = fit_temperature(self._as_2d_logits(logits), y_index)
        elif self.calibration != "none":
            raise InputError(f"calibration must be 'temperature' or 'none', found {self.calibration!r}")
        logger.info("fitted %s head on %d texts; temperature %.3f", self.task, len(texts), self.temperature_)
        return self

    @staticmethod
    def _check_labels(y: Any, n: int, name: str) -> list[str]:
        if isinstance(y, str):
            raise InputError(f"{name} must be a list of labels, found a single string")
        labels = list(y)
        if len(labels) != n:
            raise InputError(f"{name} has {len(labels)} labels for {n} texts; give one label per text")
        for position, label in enumerate(labels):
            if label is None or (isinstance(label, float) and np.isnan(label)):
                raise InputError(f"{name}[{position}] is missing; every training text needs a label")
        return [str(label) for label in labels]

    def _cross_val_logits(self, features: Any, labels: np.ndarray, folds: int = 3) -> tuple[np.ndarray, np.ndarray]:
        _, counts = np.unique(labels, return_counts=True)
        folds = int(min(folds, counts.min()))
        classes = np.unique(labels)
        if folds < 2:
            logger.warning("too few examples per class for calibration folds; temperature left at 1.0")
            logits = self.head_.decision_function(features)
            return self._as_2d_logits(logits), np.searchsorted(classes, labels)
        out = np.zeros((len(labels), len(classes)))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        for train_idx, test_idx in splitter.split(np.zeros(len(labels)), labels):
            fold_head = self._new_head().fit(features[train_idx], labels[train_idx])
            out[test_idx] = self._as_2d_logits(fold_head.decision_function(features[test_idx]))
        return out, np.searchsorted(classes, labels)

    @staticmethod
    def _as_2d_logits(logits: np.ndarray) -> np.ndarray:
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim == 1:  # binary heads return one margin; make it two-class logits
            logits = np.stack([np.zeros_like(logits), logits], axis=1)
        return logits

    # -- prediction -------------------------------------------------------------------------
    def decision_function_features(self, features: Any) -> np.ndarray:
        """Uncalibrated logits (n, n_classes) for already-encoded features."""
        check_is_fitted(self)
        return self._as_2d_logits(self.head_.decision_function(features))

    def predict_proba_features(self, features: Any) -> np.ndarray:
        """Calibrated probabilities (columns follow ``classes_``) for already-encoded features."""
        return softmax(self.decision_function_features(features) / self.temperature_, axis=1)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, shape (n, n_classes), columns in ``classes_`` order.

        A single string is treated as a batch of one.
        """
        return self.predict_proba_features(self.transform(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted label strings, shape (n,)."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: Any, *, metrics: dict | None = None, training: dict | None = None) -> None:
        """Write a self-describing artifact folder (see :mod:`triage.artifacts`)."""
        from triage.artifacts import save_classifier

        save_classifier(self, path, metrics=metrics, training=training)

    @classmethod
    def load(cls, path: Any) -> TextClassifier:
        """Load an artifact folder written by :meth:`save`; never unpickles."""
        from triage.artifacts import load_classifier

        return load_classifier(path)

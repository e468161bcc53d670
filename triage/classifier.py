"""Text classifiers: an encoder tier plus a probabilistic linear head with calibrated probabilities.

:class:`TextClassifier` follows the scikit-learn estimator contract (``fit``/``predict``/
``predict_proba``/``classes_``) and, like SetFit, carries its labels so ``predict`` returns strings.
Several heads can share one encoding pass: call :meth:`TextClassifier.transform` once and feed the
features to each head's ``*_features`` methods.

An intent model can abstain (:class:`AbstainParams`): ``predict`` returns ``unknown`` for a mention that
fits none of its intents, while ``predict_proba`` stays a distribution over the known intents.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import log_softmax, logsumexp, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted as _sk_check_is_fitted

from triage.encoders import Encoder, make_encoder
from triage.errors import InputError, NotFittedError
from triage.metrics import ABSTAIN_LABEL
from triage.schema import check_texts
from triage.text import normalize_batch

__all__ = [
    "TextClassifier", "AbstainParams", "ABSTAIN_LABEL", "fit_temperature", "fit_temperature_bias", "fit_top_label_temperature", "check_is_fitted",
    "choose_threshold", "encode_shared", "fit_top_isotonic", "rescale_top", "apply_top_isotonic",
]

logger = logging.getLogger(__name__)

Calibration = Literal["temperature", "top_label", "platt", "isotonic", "none"]
_CALIBRATIONS = ("temperature", "top_label", "platt", "isotonic", "none")
AbstainMethod = Literal["max_prob", "energy"]
_ABSTAIN_METHODS = ("max_prob", "energy")


@dataclass(frozen=True)
class AbstainParams:
    """When a classifier abstains: it predicts ``unknown`` for a text that fits none of its known labels.

    Rows labelled ``oos_label`` (in training or validation data) are out-of-scope examples, never a
    known label. The model scores how well a text fits its known labels and abstains below a threshold.

    Attributes:
        oos_label: the label of out-of-scope rows in the data (CLINC150 uses ``oos``).
        method: the in-scope score. ``max_prob``: the calibrated probability of the top known label (with
            ``oos_class``, in the softmax that includes the out-of-scope class); ``energy``:
            ``T * logsumexp(logits / T)`` over the known labels.
        threshold: abstain when the score is below it; ``None`` chooses it at fit time (below).
        max_in_scope_loss: with ``threshold=None``, the threshold is the highest one that lowers in-scope
            accuracy (an abstention on an in-scope text counts as an error) by at most this much on the
            validation data (else on cross-validated training data). It needs no out-of-scope examples.
        oos_class: also train the out-of-scope rows as one more head class. Its probability is removed
            from ``predict_proba`` (renormalised over the known labels) but lowers the ``max_prob`` score.

    Example:
        >>> AbstainParams.from_dict({"oos_label": "oos", "max_in_scope_loss": 0.01}).method
        'max_prob'
    """

    oos_label: str = "oos"
    method: AbstainMethod = "max_prob"
    threshold: float | None = None
    max_in_scope_loss: float = 0.01
    oos_class: bool = False

    def __post_init__(self) -> None:
        if self.method not in _ABSTAIN_METHODS:
            raise InputError(f"abstain.method must be one of {list(_ABSTAIN_METHODS)}, found {self.method!r}")
        if not isinstance(self.oos_label, str) or not self.oos_label:
            raise InputError(f"abstain.oos_label must be a non-empty label, found {self.oos_label!r}")
        if self.oos_label == ABSTAIN_LABEL:
            raise InputError(f"abstain.oos_label cannot be {ABSTAIN_LABEL!r}: that is what the model predicts when it abstains")
        if not 0.0 <= float(self.max_in_scope_loss) < 1.0:
            raise InputError(f"abstain.max_in_scope_loss must be in [0, 1), found {self.max_in_scope_loss!r}")
        if self.threshold is not None and not np.isfinite(self.threshold):
            raise InputError(f"abstain.threshold must be a finite number or None, found {self.threshold!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_dict` rebuilds an equal object."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AbstainParams:
        """Build from a dict such as a recipe's ``abstain:`` section; unknown keys are named in the error."""
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise InputError(f"abstain: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        return cls(**dict(values))


def choose_threshold(scores: np.ndarray, correct: np.ndarray, *, max_loss: float) -> float:
    """The highest threshold that costs at most ``max_loss`` accuracy when rows scoring below it abstain.

    Args:
        scores: in-scope score of each in-scope row (higher: fits a known label better).
        correct: whether each row's arg-max label is right.
        max_loss: accuracy (share of all rows) that abstention may cost.

    Returns:
        A threshold ``t``; rows with ``score < t`` abstain. ``-inf`` when no abstention is affordable.

    Example:
        >>> choose_threshold(np.array([0.9, 0.8, 0.3, 0.2]), np.array([True, True, True, False]), max_loss=0.25)
        0.8
    """
    scores = np.asarray(scores, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    n = len(scores)
    if n == 0 or not correct.any():
        return float("-inf")
    keep = int(np.ceil(correct.sum() - max_loss * n - 1e-9))  # correct rows that must stay above t
    if keep <= 0:  # the loss allowed exceeds the accuracy: abstaining on every row is within budget
        return float(np.nextafter(np.max(scores), np.inf))
    right = np.sort(scores[correct])[::-1]
    return float(right[keep - 1])


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


def fit_top_label_temperature(logits: np.ndarray, correct: np.ndarray) -> float:
    """Temperature T > 0 whose top-class confidence ``max softmax(logits / T)`` has the least log loss against
    ``correct`` (whether the arg-max was right).

    :func:`fit_temperature` fits the whole distribution on rows with a known label. This fits the confidence the
    ECE, the reliability diagram and the policy read, on every row: out-of-scope rows count as wrong, so a model
    that abstains learns how unsure its known-intent distribution should be on the traffic it will see. The
    arg-max is unchanged.

    Example:
        >>> logits = np.array([[4.0, 0.0]] * 6)
        >>> fit_top_label_temperature(logits, np.array([True, True, True, False, False, False])) > 1.0
        True
    """
    logits = np.asarray(logits, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)

    def loss(log_t: float) -> float:
        log_top = log_softmax(logits / np.exp(log_t), axis=1).max(axis=1)
        log_rest = np.log(-np.expm1(np.minimum(log_top, -1e-12)))  # log(1 - top), stable near top = 1
        return float(-np.mean(np.where(correct, log_top, log_rest)))

    result = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def fit_temperature_bias(logits: np.ndarray, y_index: np.ndarray) -> tuple[float, np.ndarray]:
    """Temperature T and per-class biases b (``b[0] = 0``) minimising the NLL of ``softmax(logits / T + b)``.

    For two classes this is Platt scaling (a slope and an intercept on the margin). A temperature alone
    cannot move the base rate: a head trained with ``class_weight="balanced"`` on skewed labels predicts the
    minority class about as often as the majority, and only the biases bring its mean probability back to
    the observed rate.

    Example:
        >>> logits = np.array([[0.0, 1.0], [0.0, -1.0], [0.0, 0.5], [0.0, 1.5]] * 5)
        >>> t, b = fit_temperature_bias(logits, np.array([1, 0, 1, 1] * 5))
        >>> bool(b[1] > 0)   # class 1 is more common than the logits say
        True
    """
    logits = np.asarray(logits, dtype=np.float64)
    n, k = logits.shape
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y_index] = 1.0

    def nll_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        t = np.exp(params[0])
        scaled = logits / t + np.concatenate([[0.0], params[1:]])
        log_p = log_softmax(scaled, axis=1)
        residual = np.exp(log_p) - onehot  # d nll / d scaled, per row
        grad_log_t = float(np.sum(residual * (-logits / t)) / n)
        grad_bias = residual.sum(axis=0)[1:] / n
        return float(-(log_p * onehot).sum() / n), np.concatenate([[grad_log_t], grad_bias])

    x0 = np.concatenate([[np.log(fit_temperature(logits, y_index))], np.zeros(k - 1)])
    bounds = [(np.log(0.05), np.log(20.0))] + [(-20.0, 20.0)] * (k - 1)
    result = minimize(nll_and_grad, x0=x0, jac=True, method="L-BFGS-B", bounds=bounds)
    return float(np.exp(result.x[0])), np.concatenate([[0.0], result.x[1:]])


def fit_top_isotonic(top: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A non-decreasing map of the top-class confidence to the chance that the arg-max is right.

    Isotonic regression of ``correct`` on ``top``, returned as its knots ``(x, y)``: the map is
    ``np.interp(top, x, y)`` (linear between knots, flat beyond them), so it saves as two lists of numbers.
    Unlike a temperature it can bend: it fixes a model over-confident in the middle of its range and right
    at the top.

    Example:
        >>> x, y = fit_top_isotonic(np.array([0.4, 0.5, 0.6, 0.9]), np.array([False, True, False, True]))
        >>> y.tolist()  # the right-wrong pair at 0.5 and 0.6 pools to 0.5
        [0.0, 0.5, 0.5, 1.0]
        >>> [float(v) for v in np.interp([0.3, 0.55, 0.99], x, y)]
        [0.0, 0.5, 1.0]
    """
    from sklearn.isotonic import IsotonicRegression

    top = np.asarray(top, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(top, correct)
    return np.asarray(iso.X_thresholds_, dtype=np.float64), np.asarray(iso.y_thresholds_, dtype=np.float64)


def rescale_top(proba: np.ndarray, new_top: np.ndarray) -> np.ndarray:
    """``proba`` with each row's top probability set to ``new_top`` and the others scaled to keep the row's sum 1.

    ``new_top`` is raised where needed so the top class stays the arg-max (the label never changes).

    Example:
        >>> rescale_top(np.array([[0.8, 0.15, 0.05]]), np.array([0.6])).round(3).tolist()
        [[0.6, 0.3, 0.1]]
    """
    proba = np.asarray(proba, dtype=np.float64)
    order = np.sort(proba, axis=1)
    top, second = order[:, -1], order[:, -2]
    floor = second / np.maximum(1 - top + second, 1e-12) + 1e-9
    new_top = np.minimum(np.maximum(np.asarray(new_top, dtype=np.float64), floor), 1.0)
    scale = np.where(top < 1, (1 - new_top) / np.maximum(1 - top, 1e-12), 0.0)
    out = proba * scale[:, None]
    out[np.arange(len(proba)), proba.argmax(axis=1)] = new_top
    return out


def apply_top_isotonic(proba: np.ndarray, knots: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``proba`` with each row's top probability mapped by the knots of :func:`fit_top_isotonic` (see
    :func:`rescale_top`; the label never changes)."""
    if not len(proba):
        return proba
    return rescale_top(proba, np.interp(np.max(proba, axis=1), *knots))


def linear_head(
    C: float = 1.0,
    *,
    class_weight: Literal["balanced"] | None = "balanced",
    max_iter: int = 2000,
    tol: float = 1e-6,
    random_state: int | None = 0,
) -> LogisticRegression:
    """The unfitted logistic-regression head a :class:`TextClassifier` trains on its features, with the solver
    run to ``tol`` 1e-6 (scikit-learn's 1e-4 stops it wherever floating point takes it); benchmarks that fit a
    head on features of their own use it to compare like with like.

    Example:
        >>> linear_head(10.0).get_params()["tol"]
        1e-06
    """
    return LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter, tol=tol, random_state=random_state)


class TextClassifier(ClassifierMixin, BaseEstimator):
    """Encoder + multinomial logistic-regression head + temperature calibration.

    Args:
        encoder: an encoder spec (``"tfidf"``, ``"static"``, ``"minilm"`` or a dict such as
            ``{"kind": "tfidf", "max_features": 200000}``) or an :class:`~triage.encoders.Encoder`.
        C: inverse regularisation strength of the head.
        class_weight: ``"balanced"`` (good for macro-recall on skewed labels) or ``None``.
        max_iter: solver iterations for the head.
        tol: stopping tolerance of the head's solver. Tighter than scikit-learn's 1e-4 so the head reaches its
            (unique) optimum: stopped short of it, it lands wherever the machine's floating point takes it, and
            figures move between machines with identical packages (``benchmarks/head_convergence.md``).
        calibration: ``"temperature"`` fits one temperature on validation data (or on
            cross-validated logits of the training data when no validation set is given); ``"platt"`` also
            fits one bias per class on the same data (:func:`fit_temperature_bias`; Platt scaling for two
            classes), which a head trained with ``class_weight="balanced"`` on skewed labels needs for its
            probabilities to match the observed base rate; ``"top_label"`` fits the temperature to the top
            class's confidence on every calibration row, out-of-scope ones counting as wrong
            (:func:`fit_top_label_temperature`; see ``benchmarks/calibration.md``); ``"isotonic"`` fits the
            likelihood temperature, then a non-decreasing map of the top class's confidence to how often it is
            right (:func:`fit_top_isotonic`, every calibration row; the other classes are rescaled and the label
            never changes), for a model over-confident in a way one temperature cannot undo; ``"none"``.
        normalize: apply tweet normalisation (handles, URLs, entities, whitespace) before encoding.
        task: what the labels mean (``"sentiment"``, ``"intent"``, ...); stored with the model.
        random_state: seed for the cross-validation folds and the solver.
        calibration_folds: with validation data, also fit the temperature on the training rows' logits from
            this many cross-validation folds (0: validation rows only). A few hundred validation rows leave the
            temperature noisy; the training rows scored out of fold add many more.
        abstain: ``None`` (always predict a known label) or an :class:`AbstainParams` (or its dict): predict
            ``unknown`` when a text fits no known label.

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
        tol: float = 1e-6,
        calibration: Calibration = "temperature",
        normalize: bool = True,
        task: str = "classification",
        random_state: int = 0,
        abstain: AbstainParams | Mapping[str, Any] | None = None,
        calibration_folds: int = 0,
    ) -> None:
        self.encoder = encoder
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.calibration = calibration
        self.normalize = normalize
        self.task = task
        self.random_state = random_state
        self.abstain = abstain
        self.calibration_folds = calibration_folds

    # -- features ---------------------------------------------------------------------------
    def _prepare(self, texts: Any) -> list[str]:
        texts = check_texts(texts)
        return normalize_batch(texts) if self.normalize else texts

    def transform(self, texts: Any, *, show_progress: bool = False) -> Any:
        """Encode ``texts`` with the fitted encoder (normalised first when ``normalize``)."""
        check_is_fitted(self)
        return self.encoder_.encode(self._prepare(texts), show_progress=show_progress)

    def _new_head(self) -> LogisticRegression:
        return linear_head(self.C, class_weight=self.class_weight, max_iter=self.max_iter, tol=self.tol,
                           random_state=self.random_state)

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

        ``X_val``/``y_val`` (optional) fit the temperature and, for a model that abstains, its threshold
        (rows labelled ``abstain.oos_label`` there are out-of-scope examples, reported in ``abstain_report_``).
        Without them both come from cross-validated logits of the training data.
        """
        if self.calibration not in _CALIBRATIONS:
            raise InputError(
                f"calibration must be one of {', '.join(map(repr, _CALIBRATIONS))}, found {self.calibration!r}"
            )
        abstain = self._abstain_params()
        if abstain is not None and self.calibration == "platt":
            raise InputError(
                "calibration 'platt' does not combine with abstain: the abstention score is defined on the "
                "temperature-scaled logits; use calibration 'temperature' for a model that abstains"
            )
        texts = self._prepare(X)
        labels = np.asarray(self._check_labels(y, len(texts), "y"), dtype=object)
        oos_label = abstain.oos_label if abstain else None
        in_scope = labels != oos_label
        if len(set(labels[in_scope])) < 2:
            raise InputError(
                f"y: need at least 2 distinct labels to train a classifier, found {sorted(set(labels[in_scope]))}"
                + (f" besides the out-of-scope label {oos_label!r}" if abstain else "")
            )
        self.encoder_ = self.encoder if isinstance(self.encoder, Encoder) else make_encoder(self.encoder)
        if getattr(self.encoder_, "supervised", False):
            self.encoder_.fit(texts, labels)  # the finetuned tier tunes its weights on the labels
        else:
            self.encoder_.fit(texts)
        features = self.encoder_.encode(texts, show_progress=show_progress)
        # Out-of-scope rows train a head class only when asked; otherwise they only inform the threshold.
        head_rows = np.ones(len(labels), dtype=bool) if abstain is None or abstain.oos_class else in_scope
        head_features, head_labels = features[np.flatnonzero(head_rows)], labels[head_rows]
        head = self._new_head().fit(head_features, head_labels)
        self.head_ = head
        self.known_columns_ = np.flatnonzero(head.classes_ != oos_label) if abstain else np.arange(len(head.classes_))
        self.classes_ = head.classes_[self.known_columns_]
        self.abstain_ = abstain
        self.temperature_ = 1.0
        self.abstain_temperature_ = None  # the abstention score's own temperature (calibration top_label), else temperature_
        self.bias_ = np.zeros(len(self.classes_))
        self.isotonic_ = None  # knots (x, y) of the top-class map (calibration isotonic)

        # Calibration data: validation rows, else cross-validated logits of the training rows.
        has_val = X_val is not None and y_val is not None and len(X_val) > 0
        if has_val:
            cal_labels = np.asarray(self._check_labels(y_val, len(X_val), "y_val"), dtype=object)
            cal_logits = self._head_logits(self.encoder_.encode(self._prepare(X_val), show_progress=show_progress))
        elif self.calibration != "none" or (abstain is not None and abstain.threshold is None):
            cal_logits, y_index = self._cross_val_logits(head_features, head_labels)
            cal_labels = head.classes_[y_index]
        else:
            cal_labels, cal_logits = None, None
        if cal_labels is not None and self.calibration != "none":
            t_logits, t_labels = cal_logits, cal_labels
            if has_val and self.calibration_folds >= 2:
                cv_logits, cv_index = self._cross_val_logits(head_features, head_labels, folds=self.calibration_folds)
                t_logits = np.vstack([cal_logits, cv_logits])
                t_labels = np.concatenate([cal_labels, head.classes_[cv_index]])
            known = np.isin(t_labels, self.classes_)
            y_known = np.searchsorted(self.classes_, t_labels[known])
            known_logits = t_logits[:, self.known_columns_]
            correct = self.classes_[known_logits.argmax(axis=1)] == t_labels  # out-of-scope rows count as wrong
            if self.calibration == "platt":
                self.temperature_, self.bias_ = fit_temperature_bias(t_logits[known][:, self.known_columns_], y_known)
            elif self.calibration == "top_label":
                self.temperature_ = fit_top_label_temperature(known_logits, correct)
                if abstain is not None:
                    # The abstention score keeps the likelihood temperature: the softer top-label one lowers
                    # out-of-scope recall at the same in-scope cost (benchmarks/calibration.md).
                    self.abstain_temperature_ = fit_temperature(known_logits[known], y_known)
            else:
                self.temperature_ = fit_temperature(t_logits[known][:, self.known_columns_], y_known)
            if self.calibration == "isotonic":
                self.isotonic_ = fit_top_isotonic(softmax(known_logits / self.temperature_, axis=1).max(axis=1), correct)
        if abstain is not None:
            self._fit_threshold(abstain, cal_logits, cal_labels, "validation" if has_val else "cross-validation")
        logger.info("fitted %s head on %d texts; temperature %.3f, biases %s", self.task, len(texts),
                    self.temperature_, np.round(self.bias_, 3).tolist())
        return self

    def _abstain_params(self) -> AbstainParams | None:
        if self.abstain is None or isinstance(self.abstain, AbstainParams):
            return self.abstain
        if isinstance(self.abstain, Mapping):
            return AbstainParams.from_dict(self.abstain)
        raise InputError(f"abstain must be None, an AbstainParams or a dict, found {type(self.abstain).__name__}")

    def _fit_threshold(
        self, abstain: AbstainParams, logits: np.ndarray | None, labels: np.ndarray | None, chosen_on: str
    ) -> None:
        report: dict[str, Any] = {"chosen_on": chosen_on if abstain.threshold is None else "recipe"}
        if abstain.threshold is not None:
            self.threshold_ = float(abstain.threshold)
        if logits is not None and labels is not None:
            scores = self._abstain_scores(logits)
            known = np.isin(labels, self.classes_)
            out = labels == abstain.oos_label
            predicted = self.classes_[logits[:, self.known_columns_].argmax(axis=1)]
            correct = (predicted == labels)[known]
            if abstain.threshold is None:
                self.threshold_ = choose_threshold(scores[known], correct, max_loss=abstain.max_in_scope_loss)
            kept = scores >= self.threshold_
            report.update({
                "n_in_scope": int(known.sum()),
                "n_oos": int(out.sum()),
                "in_scope_accuracy_without_abstention": float(correct.mean()) if known.any() else None,
                "in_scope_accuracy": float((correct & kept[known]).mean()) if known.any() else None,
                "oos_recall": float((~kept[out]).mean()) if out.any() else None,
            })
        elif abstain.threshold is None:
            raise InputError("abstain: a threshold needs validation data or cross-validation; set abstain.threshold")
        report["threshold"] = self.threshold_
        self.abstain_report_ = report
        logger.info("abstention threshold %.4f (%s): %s", self.threshold_, abstain.method, report)

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
            fold_logits = self._as_2d_logits(fold_head.decision_function(features[test_idx]))
            # a fold may miss a rare class: its column keeps a very low logit
            columns = np.searchsorted(classes, fold_head.classes_)
            block = np.full((len(test_idx), len(classes)), -1e4)
            block[:, columns] = fold_logits
            out[test_idx] = block
        return out, np.searchsorted(classes, labels)

    @staticmethod
    def _as_2d_logits(logits: np.ndarray) -> np.ndarray:
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim == 1:  # binary heads return one margin; make it two-class logits
            logits = np.stack([np.zeros_like(logits), logits], axis=1)
        return logits

    # -- prediction -------------------------------------------------------------------------
    def _head_logits(self, features: Any) -> np.ndarray:
        """Logits of every head class (including an out-of-scope class), columns in ``head_.classes_`` order."""
        return self._as_2d_logits(self.head_.decision_function(features))

    def _known_columns(self) -> np.ndarray:
        known = getattr(self, "known_columns_", None)
        return np.arange(len(self.classes_)) if known is None else known

    def _abstain_scores(self, head_logits: np.ndarray) -> np.ndarray:
        """In-scope score per row (higher: fits a known label better); see :class:`AbstainParams`."""
        abstain = self.abstain_
        assert abstain is not None
        known = self._known_columns()
        temperature = getattr(self, "abstain_temperature_", None) or self.temperature_
        scaled = head_logits / temperature
        if abstain.method == "energy":
            return temperature * logsumexp(scaled[:, known], axis=1)
        return softmax(scaled, axis=1)[:, known].max(axis=1)

    def decision_function_features(self, features: Any) -> np.ndarray:
        """Uncalibrated logits (n, n_classes) for already-encoded features, columns in ``classes_`` order."""
        check_is_fitted(self)
        return self._head_logits(features)[:, self._known_columns()]

    def predict_proba_features(self, features: Any) -> np.ndarray:
        """Calibrated probabilities (columns follow ``classes_``) for already-encoded features."""
        bias = getattr(self, "bias_", None)
        scaled = self.decision_function_features(features) / self.temperature_
        proba = softmax(scaled if bias is None else scaled + bias, axis=1)
        isotonic = getattr(self, "isotonic_", None)
        return proba if isotonic is None else apply_top_isotonic(proba, isotonic)

    def abstention_score_features(self, features: Any) -> np.ndarray:
        """In-scope score per row for already-encoded features (``abstains`` when below ``threshold_``).

        Raises:
            InputError: the model was trained without ``abstain``.
        """
        check_is_fitted(self)
        if getattr(self, "abstain_", None) is None:
            raise InputError("this model does not abstain; train it with abstain=AbstainParams(...) (recipe key 'abstain')")
        return self._abstain_scores(self._head_logits(features))

    def predict_features(self, features: Any) -> np.ndarray:
        """Predicted labels for already-encoded features; ``unknown`` where the model abstains.

        The label is the arg-max of the calibrated probabilities: with ``calibration="platt"`` the biases count,
        so the rarer label is predicted only where it is the more likely one.
        """
        check_is_fitted(self)
        logits = self._head_logits(features)
        known = self._known_columns()
        bias = getattr(self, "bias_", None)
        scores = logits[:, known] if bias is None else logits[:, known] / self.temperature_ + bias
        labels = np.asarray(self.classes_, dtype=object)[scores.argmax(axis=1)]
        if getattr(self, "abstain_", None) is not None:
            labels = np.where(self._abstain_scores(logits) < self.threshold_, ABSTAIN_LABEL, labels).astype(object)
        return labels

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, shape (n, n_classes), columns in ``classes_`` order.

        A single string is treated as a batch of one.
        """
        return self.predict_proba_features(self.transform(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted label strings, shape (n,); ``unknown`` where a model trained with ``abstain`` abstains."""
        return self.predict_features(self.transform(X))

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


def encode_shared(models: Sequence[TextClassifier], texts: Any, *, show_progress: bool = False) -> list[Any]:
    """Encode ``texts`` once per distinct encoder and return the features of each model, in order.

    Heads whose encoders give the same features (the same object, or equal
    :meth:`~triage.encoders.Encoder.sharing_key`, e.g. the packaged MiniLM loaded by a sentiment and a
    needs-human model) and the same ``normalize`` setting share one pass; feed each model its features
    through ``predict_proba_features`` / ``predict_features`` (or
    :func:`triage.needs_human.needs_human_proba` with ``features=``).

    Example:
        >>> features = encode_shared([sentiment, needs_human], ["@AcmeHelp my card was charged twice"])  # doctest: +SKIP
        >>> sentiment.predict_proba_features(features[0])  # doctest: +SKIP
    """
    cache: dict[tuple, Any] = {}
    out = []
    for model in models:
        check_is_fitted(model)
        key = model.encoder_.sharing_key()
        group = (bool(model.normalize), key if key is not None else ("object", id(model.encoder_)))
        if group not in cache:
            cache[group] = model.transform(texts, show_progress=show_progress)
        out.append(cache[group])
    return out

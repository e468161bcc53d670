"""Duplicate decision: is a new mention a repeat of one already answered?

:class:`DuplicateScorer` is a small pair scorer: a logistic regression over a handful of features of the
pair (cosine similarity of the MiniLM embeddings, of the static embeddings and of TF-IDF n-grams learned from
the training texts; word Jaccard overlap; relative length difference). ``is_duplicate`` is
``probability >= threshold_``, the threshold that maximised F1 on out-of-fold predictions of the training
pairs. On PIT-2015 dev it beats MiniLM's cosine alone (``benchmarks/duplicates.md``); element-wise products
of the embeddings were tried and over-fit (fewer than 5,000 pairs).

:func:`cross_validate_duplicates` gives honest figures: folds by group (PIT-2015 topic), so a topic is never
in both the training and the test part, and every fold's threshold comes from its training part only.

:func:`duplicate_of` looks a batch of mentions up in a :class:`~triage.index.MentionIndex`: the nearest
answered mention (of the same brand), and whether the pair is a duplicate.

A scorer saves to a folder: ``duplicates.json`` (features, weights, scaler, threshold, versions, sha256 of
the encoder files) and ``tfidf/`` (the TF-IDF encoder); nothing is pickled.

Example:
    >>> scorer = DuplicateScorer(encoders=())  # doctest: +SKIP
    >>> scorer.fit(["my card is blocked", ...], ["card blocked", ...], [1, ...])  # doctest: +SKIP
    >>> scorer.predict(["is the app down"], ["app down for anyone?"])  # doctest: +SKIP
    array([ True])
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np

from triage.encoders import Encoder, TfidfEncoder, load_encoder, make_encoder
from triage.errors import ArtifactError, InputError, NotFittedError
from triage.integrity import file_sha256, library_versions, read_json, verify_files
from triage.text import normalize_batch

if TYPE_CHECKING:
    from triage.index import MentionIndex

__all__ = [
    "DuplicateScorer",
    "DuplicateMatch",
    "pair_features",
    "best_f1_threshold",
    "cross_validate_duplicates",
    "duplicate_of",
    "paraphrase_pairs",
    "DUPLICATES_FILE",
    "DEFAULT_COSINE_THRESHOLDS",
    "evaluate_duplicates",
]

logger = logging.getLogger(__name__)

DUPLICATES_FILE = "duplicates.json"
"""Name of the file that describes a saved duplicate scorer inside its folder."""

_FORMAT = "triage.duplicate_scorer"
_FORMAT_VERSION = 1
_WORD = re.compile(r"\w+", re.UNICODE)
DebatablePolicy = Literal["drop", "positive", "negative"]

# ---------------------------------------------------------------------------------------------- features


def _tokens(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _row_cosine(a: Any, b: Any) -> np.ndarray:
    """Row-wise dot products of two matrices with unit rows (dense or sparse)."""
    if hasattr(a, "multiply"):
        return np.asarray(a.multiply(b).sum(axis=1), dtype=np.float64).ravel()
    return np.einsum("ij,ij->i", np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))


_CACHE: dict[tuple[str, str], np.ndarray] = {}
_CACHE_LIMIT = 200_000


def _encode_pairs(encoder: Encoder, a: list[str], b: list[str]) -> tuple[Any, Any]:
    """Encode every distinct text once; pretrained (deterministic) encoders' vectors are memoised per process,
    so cross-validation folds do not encode the same sentences again."""
    unique = list(dict.fromkeys(a + b))
    position = {t: i for i, t in enumerate(unique)}
    if isinstance(encoder, TfidfEncoder):
        encoded = encoder.encode(unique)
    else:
        key = json.dumps(encoder.spec(), sort_keys=True)
        todo = [t for t in unique if (key, t) not in _CACHE]
        fresh = dict(zip(todo, np.asarray(encoder.encode(todo), dtype=np.float32), strict=True)) if todo else {}
        rows = [fresh[t] if t in fresh else _CACHE[(key, t)] for t in unique]
        encoded = np.stack(rows) if rows else np.zeros((0, encoder.dim), dtype=np.float32)
        if len(_CACHE) + len(fresh) > _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE.update({(key, t): v for t, v in fresh.items()})
    return encoded[[position[t] for t in a]], encoded[[position[t] for t in b]]


def pair_features(
    texts_a: Sequence[str],
    texts_b: Sequence[str],
    *,
    encoders: Mapping[str, Encoder],
    vectors: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Features of text pairs: ``cos_<name>`` per encoder, ``jaccard``, ``length_diff``.

    Args:
        texts_a, texts_b: the pairs (normalised here with :func:`~triage.text.normalize_batch`).
        encoders: name -> encoder; each gives one cosine feature.
        vectors: name -> (vectors of texts_a, vectors of texts_b) already computed (skips that encoder).

    Returns:
        ``(features (n, d), names)``.
    """
    a, b = normalize_batch(texts_a), normalize_batch(texts_b)
    if len(a) != len(b):
        raise InputError(f"{len(a)} first texts but {len(b)} second texts; pass pairs.")
    columns, names = [], []
    for name, encoder in encoders.items():
        if vectors is not None and name in vectors:
            va, vb = vectors[name]
        else:
            va, vb = _encode_pairs(encoder, a, b)
        columns.append(_row_cosine(va, vb))
        names.append(f"cos_{name}")
    tok_a, tok_b = [_tokens(t) for t in a], [_tokens(t) for t in b]
    columns.append(np.array([len(x & y) / max(len(x | y), 1) for x, y in zip(tok_a, tok_b, strict=True)]))
    names.append("jaccard")
    columns.append(
        np.array([abs(len(x) - len(y)) / max(len(x), len(y), 1) for x, y in zip(tok_a, tok_b, strict=True)])
    )
    names.append("length_diff")
    return np.column_stack(columns) if columns else np.zeros((len(a), 0)), names


def best_f1_threshold(labels: Sequence[int], scores: Sequence[float]) -> tuple[float, float]:
    """The threshold on ``scores`` with the best F1 for ``labels`` (1 = duplicate): ``(threshold, f1)``.

    Example:
        >>> best_f1_threshold([0, 1, 1], [0.2, 0.7, 0.9])
        (0.7, 1.0)
    """
    from sklearn.metrics import precision_recall_curve

    y = np.asarray(labels, dtype=int)
    if y.min(initial=1) == y.max(initial=0):
        raise InputError("need both duplicate and non-duplicate pairs to choose a threshold.")
    precision, recall, thresholds = precision_recall_curve(y, np.asarray(scores, dtype=np.float64))
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1]))
    return float(thresholds[best]), float(f1[best])


# ---------------------------------------------------------------------------------------------- scorer


class DuplicateScorer:
    """Logistic regression over pair features; ``predict`` is probability >= ``threshold_``.

    Args:
        encoders: dense encoders giving one cosine feature each (kinds or specs); ``()`` for none.
        tfidf: add the cosine of TF-IDF n-grams learned from the training texts.
        C: inverse regularisation strength of the logistic regression.
        threshold: a fixed decision threshold; ``None`` chooses the best-F1 one on out-of-fold
            predictions of the training pairs.
        cv: folds for that choice (grouped when ``fit`` gets ``groups``).

    Attributes (after fit):
        feature_names_, coef_, intercept_, mean_, scale_, threshold_, n_train_.
    """

    def __init__(
        self,
        *,
        encoders: Sequence[str | Mapping[str, Any]] = ("minilm", "static"),
        tfidf: bool = True,
        C: float = 1.0,
        threshold: float | None = None,
        cv: int = 5,
    ) -> None:
        self.encoders = encoders
        self.tfidf = tfidf
        self.C = C
        self.threshold = threshold
        self.cv = cv

    # -- encoders

    def _dense(self) -> dict[str, Encoder]:
        built = getattr(self, "_dense_", None)
        if built is None:
            built = {}
            for spec in self.encoders:
                encoder = make_encoder(spec)
                built[encoder.kind if encoder.kind not in built else f"{encoder.kind}{len(built)}"] = encoder
            self._dense_ = built
        return built

    def _encoders(self) -> dict[str, Encoder]:
        out = dict(self._dense())
        if self.tfidf:
            tfidf = getattr(self, "tfidf_", None)
            if tfidf is None:
                raise NotFittedError("This DuplicateScorer instance is not fitted yet. Call 'fit' first.")
            out["tfidf"] = tfidf
        return out

    def features(
        self, texts_a: Sequence[str], texts_b: Sequence[str], *,
        vectors: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """Pair features in ``feature_names_`` order (see :func:`pair_features`)."""
        X, names = pair_features(texts_a, texts_b, encoders=self._encoders(), vectors=vectors)
        expected = getattr(self, "feature_names_", names)
        if names != expected:
            raise ArtifactError(f"features {names} do not match the fitted {expected}; re-fit the scorer.")
        return X

    # -- fit / predict

    def fit(
        self,
        texts_a: Sequence[str],
        texts_b: Sequence[str],
        labels: Sequence[int | bool],
        *,
        groups: Sequence[object] | None = None,
    ) -> Self:
        """Learn TF-IDF (from the training texts), the weights, and the threshold.

        Args:
            texts_a, texts_b: the training pairs.
            labels: 1/True for a duplicate (paraphrase), 0/False otherwise.
            groups: optional group per pair (e.g. topic): the threshold's inner folds keep a group together.

        Returns:
            ``self``.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold, StratifiedKFold

        y = np.asarray([int(bool(v)) for v in labels])
        if len(y) != len(texts_a) or len(y) != len(texts_b):
            raise InputError(f"{len(texts_a)} first texts, {len(texts_b)} second texts and {len(y)} labels; "
                             "pass one label per pair.")
        if len(set(y.tolist())) < 2:
            raise InputError("fit needs both duplicate and non-duplicate pairs.")
        if self.tfidf:
            self.tfidf_ = TfidfEncoder(min_df=1).fit(normalize_batch(list(texts_a) + list(texts_b)))
        X, names = pair_features(texts_a, texts_b, encoders=self._encoders())
        self.feature_names_ = names

        def train(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
            mean = X[rows].mean(axis=0)
            scale = X[rows].std(axis=0)
            scale[scale == 0] = 1.0
            model = LogisticRegression(C=self.C, max_iter=2000).fit((X[rows] - mean) / scale, y[rows])
            return mean, scale, model.coef_[0], float(model.intercept_[0])

        mean, scale, coef, intercept = train(np.arange(len(y)))
        self.mean_, self.scale_, self.coef_, self.intercept_ = mean, scale, coef, intercept
        if self.threshold is not None:
            self.threshold_ = float(self.threshold)
        else:
            oof = np.zeros(len(y))
            if groups is not None and len(set(groups)) >= self.cv:
                splits = GroupKFold(n_splits=self.cv).split(X, y, np.asarray(list(groups), dtype=object))
            else:
                splits = StratifiedKFold(n_splits=min(self.cv, int(np.bincount(y).min())), shuffle=True,
                                         random_state=0).split(X, y)
            for tr, te in splits:
                m, s, c, b = train(tr)
                oof[te] = _sigmoid(((X[te] - m) / s) @ c + b)
            self.threshold_ = best_f1_threshold(y, oof)[0]
        self.n_train_ = int(len(y))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                "This DuplicateScorer instance is not fitted yet. Call 'fit' with appropriate arguments first."
            )

    def predict_proba_features(self, X: np.ndarray) -> np.ndarray:
        """P(duplicate) for precomputed features."""
        self._check_fitted()
        return _sigmoid(((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_) @ self.coef_ + self.intercept_)

    def predict_proba(
        self, texts_a: Sequence[str], texts_b: Sequence[str], *,
        vectors: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """P(duplicate) per pair, shape ``(n,)``."""
        self._check_fitted()
        return self.predict_proba_features(self.features(texts_a, texts_b, vectors=vectors))

    def predict(self, texts_a: Sequence[str], texts_b: Sequence[str], **kwargs: Any) -> np.ndarray:
        """``is_duplicate`` per pair: probability >= ``threshold_`` (bool array)."""
        return self.predict_proba(texts_a, texts_b, **kwargs) >= self.threshold_

    # -- save / load

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``duplicates.json`` (weights as JSON numbers) and the TF-IDF encoder folder ``tfidf/``."""
        self._check_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[str, str] = {}
        if self.tfidf:
            self.tfidf_.save(folder / "tfidf")
            files = {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted((folder / "tfidf").rglob("*"))
                     if p.is_file()}
        config = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "params": {"encoders": [make_encoder(e).spec() for e in self.encoders], "tfidf": self.tfidf,
                       "C": self.C, "threshold": self.threshold, "cv": self.cv},
            "feature_names": self.feature_names_,
            "coef": [float(v) for v in self.coef_],
            "intercept": self.intercept_,
            "mean": [float(v) for v in self.mean_],
            "scale": [float(v) for v in self.scale_],
            "threshold": self.threshold_,
            "n_train": self.n_train_,
            "metrics": getattr(self, "metrics_", {}),
            "versions": library_versions("scikit-learn"),
            "files": files,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        tmp = folder / f".{DUPLICATES_FILE}.tmp"
        tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, folder / DUPLICATES_FILE)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DuplicateScorer:
        """Load a scorer saved with :meth:`save` (every file checked against its sha256).

        Raises:
            ArtifactError: the folder is not a scorer, or a file is missing, changed or inconsistent.
        """
        folder = Path(path)
        file = folder / DUPLICATES_FILE
        if not file.is_file():
            raise ArtifactError(
                f"{file} not found: {folder} is not a saved duplicate scorer. Train one with "
                "`triage index train-duplicates` or DuplicateScorer.fit(...).save(path)."
            )
        config = read_json(file, fix="retrain the scorer")
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
            raise ArtifactError(f"{file} is not a triage duplicate scorer; retrain it.")
        verify_files(folder, dict(config.get("files", {})), manifest_file=file,
                     fix="retrain the scorer (triage index train-duplicates)")
        try:
            params = config["params"]
            scorer = cls(encoders=params["encoders"], tfidf=bool(params["tfidf"]), C=float(params["C"]),
                         threshold=params["threshold"], cv=int(params["cv"]))
            scorer.feature_names_ = list(config["feature_names"])
            scorer.coef_ = np.asarray(config["coef"], dtype=np.float64)
            scorer.intercept_ = float(config["intercept"])
            scorer.mean_ = np.asarray(config["mean"], dtype=np.float64)
            scorer.scale_ = np.asarray(config["scale"], dtype=np.float64)
            scorer.threshold_ = float(config["threshold"])
            scorer.n_train_ = int(config["n_train"])
            scorer.metrics_ = dict(config.get("metrics", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{file} lacks or garbles {exc}; retrain the scorer.") from exc
        sizes = {len(scorer.feature_names_), scorer.coef_.size, scorer.mean_.size, scorer.scale_.size}
        if len(sizes) != 1:
            raise ArtifactError(f"{file}: feature names, weights and scaler disagree in length; retrain the scorer.")
        if scorer.tfidf:
            tfidf = load_encoder(folder / "tfidf")
            if not isinstance(tfidf, TfidfEncoder):
                raise ArtifactError(f"{folder / 'tfidf'} is not a tfidf encoder; retrain the scorer.")
            scorer.tfidf_ = tfidf
        expected = [f"cos_{n}" for n in scorer._encoders()] + ["jaccard", "length_diff"]
        if expected != scorer.feature_names_:
            raise ArtifactError(f"{file}: features {scorer.feature_names_} do not match its encoders; retrain.")
        return scorer


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


# ---------------------------------------------------------------------------------------------- data and CV


def paraphrase_pairs(
    split: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    debatable: DebatablePolicy = "drop",
) -> Any:
    """PIT-2015 pairs of ``split`` as a DataFrame ``text, text_pair, label (0/1), topic_id``.

    ``debatable`` pairs (dev: 2 of 5 crowd votes; test: expert score 3) are dropped by default, as the task's
    official scorer does; ``"positive"``/``"negative"`` keep them with that label.
    """
    from triage.registry import load_dataset

    frame = load_dataset("pit2015_twitter_paraphrase", data_dir=data_dir, splits=[split])[split].to_pandas()
    if debatable == "drop":
        frame = frame[frame["label"] != "debatable"]
    elif debatable not in ("positive", "negative"):
        raise InputError(f"debatable must be 'drop', 'positive' or 'negative', got {debatable!r}.")
    positive = {"paraphrase"} | ({"debatable"} if debatable == "positive" else set())
    return frame.assign(label=frame["label"].isin(positive).astype(int))[
        ["text", "text_pair", "label", "topic_id"]].reset_index(drop=True)


def cross_validate_duplicates(
    make_scorer: Any,
    texts_a: Sequence[str],
    texts_b: Sequence[str],
    labels: Sequence[int],
    groups: Sequence[object],
    *,
    n_splits: int = 5,
) -> dict[str, Any]:
    """Grouped cross-validation of a scorer: ``f1`` (each fold's threshold from its training part),
    ``average_precision`` (over the pooled out-of-fold probabilities), ``best_f1`` (threshold chosen on the
    pooled out-of-fold probabilities: optimistic, as MTEB reports), ``n``, ``folds``.

    Args:
        make_scorer: a callable returning a fresh unfitted :class:`DuplicateScorer`.
        groups: the group of each pair (PIT-2015: topic); a group is never in two folds.
    """
    from sklearn.metrics import average_precision_score, f1_score
    from sklearn.model_selection import GroupKFold

    y = np.asarray(labels, dtype=int)
    g = np.asarray(list(groups), dtype=object)
    a, b = list(texts_a), list(texts_b)
    oof = np.zeros(len(y))
    decided = np.zeros(len(y), dtype=int)
    for tr, te in GroupKFold(n_splits=n_splits).split(y, y, g):
        scorer = make_scorer().fit([a[i] for i in tr], [b[i] for i in tr], y[tr], groups=g[tr])
        oof[te] = scorer.predict_proba([a[i] for i in te], [b[i] for i in te])
        decided[te] = oof[te] >= scorer.threshold_
    return {
        "f1": float(f1_score(y, decided)),
        "average_precision": float(average_precision_score(y, oof)),
        "best_f1": best_f1_threshold(y, oof)[1],
        "n": int(len(y)),
        "folds": n_splits,
    }


# ---------------------------------------------------------------------------------------------- lookup


@dataclass(frozen=True)
class DuplicateMatch:
    """The nearest answered mention of a new one, and whether it is a duplicate of it.

    Attributes:
        id, link, text: the answered mention.
        similarity: cosine similarity of the embeddings.
        probability: the scorer's P(duplicate), or None when decided on similarity alone.
        is_duplicate: the decision.
    """

    id: str
    similarity: float
    probability: float | None
    is_duplicate: bool
    link: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        """``{id, similarity, link}``: the ``duplicate_of`` field of a triage result, plus the decision."""
        return {"id": self.id, "similarity": self.similarity, "probability": self.probability,
                "is_duplicate": self.is_duplicate, "link": self.link}


def duplicate_of(
    index: MentionIndex,
    texts: Sequence[str],
    *,
    scorer: DuplicateScorer | None = None,
    threshold: float | None = None,
    brand: str | Sequence[str | None] | None = None,
    vectors: np.ndarray | None = None,
    candidates: int = 3,
) -> list[DuplicateMatch | None]:
    """For each text, the best-scoring of its nearest answered mentions, with the duplicate decision.

    Args:
        index: the answered mentions.
        texts: the new mentions.
        scorer: re-scores the ``candidates`` nearest pairs; without one, ``similarity >= threshold``.
        threshold: the cosine threshold when there is no scorer (default: ``index.settings["duplicates"]
            ["threshold"]``, else :data:`DEFAULT_COSINE_THRESHOLDS` for the index's encoder).
        brand: restrict to one brand (or one per text).
        vectors: the texts' embeddings from the index's encoder, when already computed.

    Returns:
        One :class:`DuplicateMatch` per text (None when the index, or the brand, holds nothing).
    """
    items = list(texts)
    found = index.query(items, k=candidates if scorer is not None else 1, brand=brand, vectors=vectors)
    if threshold is None:
        kind = None if index.encoder is None else index.encoder.kind
        threshold = float(dict(index.settings.get("duplicates") or {}).get(
            "threshold", DEFAULT_COSINE_THRESHOLDS.get(kind or "", 0.9)))
    out: list[DuplicateMatch | None] = []
    if scorer is None:
        for row in found:
            nb = row[0] if row else None
            out.append(None if nb is None else DuplicateMatch(nb.id, nb.similarity, None, nb.similarity >= threshold,
                                                              nb.link, nb.text))
        return out
    pairs = [(q, nb) for q, row in enumerate(found) for nb in row]
    if not pairs:
        return [None] * len(items)
    proba = scorer.predict_proba([items[q] for q, _ in pairs], [nb.text for _, nb in pairs])
    best: dict[int, tuple[float, Any]] = {}
    for (q, nb), p in zip(pairs, proba, strict=True):
        if q not in best or p > best[q][0]:
            best[q] = (float(p), nb)
    for q in range(len(items)):
        if q not in best:
            out.append(None)
            continue
        p, nb = best[q]
        out.append(DuplicateMatch(nb.id, nb.similarity, round(p, 6), p >= scorer.threshold_, nb.link, nb.text))
    return out


# ---------------------------------------------------------------------------------------------- evaluation

DEFAULT_COSINE_THRESHOLDS = {"minilm": 0.63, "static": 0.62, "finetuned": 0.63}
"""Cosine thresholds with the best F1 on PIT-2015 dev (debatable pairs dropped), per encoder kind: the
duplicate rule of an index without a pair scorer (``benchmarks/duplicates.md``)."""


def evaluate_duplicates(
    artifact: str | os.PathLike[str],
    *,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    dataset: str = "pit2015_twitter_paraphrase",
) -> dict[str, Any]:
    """``f1``, ``average_precision``, ``threshold``, ``n`` of a scorer folder or an index folder on PIT-2015.

    A scorer decides with ``probability >= threshold_``; an index with the cosine similarity of its encoder
    against ``settings["duplicates"]["threshold"]`` (default :data:`DEFAULT_COSINE_THRESHOLDS`). Debatable
    pairs are dropped, as the official scorer does.
    """
    from sklearn.metrics import average_precision_score, f1_score

    from triage.index import INDEX_FILE, MentionIndex

    if dataset != "pit2015_twitter_paraphrase":
        raise InputError(f"duplicates are evaluated on pit2015_twitter_paraphrase, got --dataset {dataset!r}.")
    pairs = paraphrase_pairs(split, data_dir=data_dir)
    if len(pairs) == 0:
        raise InputError(f"pit2015_twitter_paraphrase [{split}] holds no paraphrase / non-paraphrase pair.")
    a, b, y = pairs["text"].tolist(), pairs["text_pair"].tolist(), pairs["label"].to_numpy()
    folder = Path(artifact)
    if (folder / DUPLICATES_FILE).is_file():
        scorer = DuplicateScorer.load(folder)
        scores = scorer.predict_proba(a, b)
        threshold = scorer.threshold_
        kind = "duplicate_scorer"
    elif (folder / INDEX_FILE).is_file():
        index = MentionIndex.load(folder)
        if index.encoder is None:
            raise InputError(f"{folder} holds precomputed vectors only (no encoder): it cannot encode PIT-2015 pairs.")
        unique = list(dict.fromkeys(a + b))
        vectors = index.encode(unique)
        where = {t: i for i, t in enumerate(unique)}
        scores = np.einsum("ij,ij->i", vectors[[where[t] for t in a]], vectors[[where[t] for t in b]])
        threshold = float(dict(index.settings.get("duplicates") or {}).get(
            "threshold", DEFAULT_COSINE_THRESHOLDS.get(index.encoder.kind, 0.63)))
        kind = "index_cosine"
    else:
        raise ArtifactError(
            f"{folder} is neither a duplicate scorer ({DUPLICATES_FILE}) nor an index (index.json); train one with "
            "`triage index train-duplicates` or build one with `triage index build`."
        )
    return {
        "f1": float(f1_score(y, scores >= threshold)),
        "average_precision": float(average_precision_score(y, scores)) if len(set(y.tolist())) > 1 else None,
        "threshold": float(threshold),
        "n": int(len(y)),
        "n_duplicates": int(y.sum()),
        "decided_by": kind,
    }

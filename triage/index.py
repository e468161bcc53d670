"""The memory of answered mentions: a nearest-neighbour index over their embeddings, with metadata.

:class:`MentionIndex` keeps one L2-normalised vector per answered mention (from one of the project's dense
encoders, or passed in precomputed) beside its text, the link the team answered with, the brand and the
time. :meth:`~MentionIndex.query` returns the most similar stored mentions by cosine similarity, optionally
within one brand.

Search is exact (a BLAS matrix product over every stored vector) while the index is small, and switches to
FAISS once it holds ``exact_limit`` live mentions: an inverted-file index (``IndexIVFScalarQuantizer``,
8-bit codes) proposes candidates, which are re-scored exactly from the float32 vectors. FAISS was picked
over usearch by measurement (``benchmarks/index.md``): on 2 cores it adds about ten times faster (no graph
to build), supports removal and id-filtered (per-brand) search, and answers one query at 1,000,000 vectors
in about a millisecond at recall@10 >= 0.95.

A saved index is a folder::

    index.json                 manifest: encoder, dimension, counts, settings, sha256 of every file
    g<N>-<hex>/vectors.npy     float32 vectors, one row per stored row (numpy format, no pickle)
    g<N>-<hex>/mentions.parquet  id, text, link, brand, created_at, alive, one row per stored row
    g<N>-<hex>/ann.faiss       the FAISS index, when there is one
    g<N>-<hex>/encoder/        the encoder (see :mod:`triage.encoders`)

Saving writes a new generation folder, syncs it to disk, and only then replaces ``index.json`` (an atomic
rename): a save interrupted at any point leaves the previous index loadable. Loading checks every file
against its sha256, and the encoder and dimension against the manifest, and raises
:class:`~triage.errors.ArtifactError` naming the file and the fix.

Example:
    >>> import numpy as np
    >>> index = MentionIndex(encoder=None, dim=3)
    >>> index.add_batch(["a", "b"], ["my order is late", "refund please"], links=["https://x/late", None],
    ...                 vectors=np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32))  # doctest: +ELLIPSIS
    MentionIndex(...)
    >>> [(n.id, round(n.similarity, 2)) for n in index.query(vectors=np.array([[0.9, 0.1, 0.0]]), k=2)[0]]
    [('a', 0.99), ('b', 0.11)]
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, overload

import numpy as np

from triage.encoders import Encoder, load_encoder, make_encoder
from triage.errors import ArtifactError, InputError
from triage.integrity import file_sha256, library_versions, read_json, verify_files
from triage.io import iso_times
from triage.text import normalize_batch

if TYPE_CHECKING:
    import faiss

__all__ = ["MentionIndex", "Neighbour", "INDEX_FILE", "DENSE_ENCODER_KINDS"]

logger = logging.getLogger(__name__)

INDEX_FILE = "index.json"
"""Name of the manifest of a saved index; it is replaced last, atomically, by every save."""

DENSE_ENCODER_KINDS = ("static", "minilm", "finetuned")
"""Encoder kinds whose vectors an index can hold (``tfidf`` and ``hybrid`` are sparse)."""

_FORMAT = "triage.mention_index"
_FORMAT_VERSION = 1
_GENERATION = re.compile(r"g\d{6}-[0-9a-f]{8}")
_COLUMNS = ("id", "text", "link", "brand", "created_at", "alive")
_MAX_TEXT = 5000
ENCODE_CHUNK = 1024
"""Texts per encoder call when :meth:`MentionIndex.encode` reports progress."""
# A row's brand code when it has none; queries with brand=None see every row.
_NO_BRAND = -1


@dataclass(frozen=True)
class Neighbour:
    """One stored mention returned by :meth:`MentionIndex.query`.

    Attributes:
        id: the stored mention's id.
        similarity: cosine similarity to the query, in [-1, 1].
        text: the stored mention's text, as added.
        link: the link it was answered with, or None.
        brand: its brand, or None.
        created_at: ISO-8601 time, or None.
    """

    id: str
    similarity: float
    text: str
    link: str | None
    brand: str | None
    created_at: str | None

    def to_dict(self) -> dict[str, Any]:
        """The neighbour as a JSON-able dict."""
        return asdict(self)


# ---------------------------------------------------------------------------------------------- validation


def _optional_strings(values: Sequence[object] | None, n: int, name: str) -> list[str | None]:
    if values is None:
        return [None] * n
    if isinstance(values, str | bytes):
        raise InputError(f"{name} must be a list with one value per mention, got a single str; wrap it: [{name}].")
    items = list(values)
    if len(items) != n:
        raise InputError(f"{name} has {len(items)} values for {n} mentions; pass one per mention (None for none).")
    out: list[str | None] = []
    for i, value in enumerate(items):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out.append(None)
        elif isinstance(value, str):
            out.append(value.strip() or None)
        else:
            raise InputError(f"{name}[{i}] is {type(value).__name__}, expected str or None.")
    return out


def _texts(texts: object, name: str = "texts") -> list[str]:
    if isinstance(texts, str | bytes) or texts is None or isinstance(texts, Mapping):
        raise InputError(f"{name} must be a list of str, got {type(texts).__name__}.")
    items = list(texts)  # type: ignore[call-overload]
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise InputError(f"{name}[{i}] is {type(text).__name__}, expected str.")
        stripped = len(text.strip())
        if stripped == 0:
            raise InputError(f"{name}[{i}] is empty; a mention needs 1 to {_MAX_TEXT} characters of text.")
        if stripped > _MAX_TEXT:
            raise InputError(f"{name}[{i}] has {stripped} characters, more than the {_MAX_TEXT} allowed.")
    return items


def _ids(ids: object) -> list[str]:
    if isinstance(ids, str | bytes) or ids is None or isinstance(ids, Mapping):
        raise InputError(f"ids must be a list of str, got {type(ids).__name__}; for one mention use add().")
    items = list(ids)  # type: ignore[call-overload]
    for i, value in enumerate(items):
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"ids[{i}] is {value!r}, expected a non-empty str.")
    return items


def _unit_rows(vectors: object, n: int, dim: int | None, what: str) -> np.ndarray:
    """Check a (n, dim) finite float matrix with no zero row and return it L2-normalised, float32."""
    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a 2-d array of numbers ({exc}).") from None
    if matrix.ndim == 1 and n == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[0] != n:
        raise InputError(f"{what} has shape {matrix.shape}; expected ({n}, {dim or 'dim'}): one row per mention.")
    if dim is not None and matrix.shape[1] != dim:
        raise InputError(
            f"{what} have {matrix.shape[1]} dimensions but this index holds {dim}-d vectors; encode with the "
            "index's encoder (MentionIndex.encoder) or build a new index for these vectors."
        )
    if not np.isfinite(matrix).all():
        raise InputError(f"{what} contain NaN or infinite values.")
    norms = np.linalg.norm(matrix, axis=1)
    zero = np.flatnonzero(norms < 1e-12)
    if zero.size:
        raise InputError(
            f"{what}[{int(zero[0])}] is all zeros: it has no direction to compare (a text the encoder knows "
            "no token of?)."
        )
    return np.ascontiguousarray(matrix / norms[:, None], dtype=np.float32)


_CONTROLLER: Any = None
_SMALL_QUERY_BATCH = 16
# A brand this small is searched exactly even in a FAISS index: gathering its rows costs under a millisecond,
# while the id-filtered IVF scan costs what an unfiltered one does and may find too few of its rows.
_BRAND_EXACT_ROWS = 4096
_SMALL_ADD_BATCH = 2048


@contextmanager
def _one_thread(small: bool) -> Iterator[None]:
    """Run small searches and adds on one BLAS / FAISS thread.

    On 2 cores shared with the encoders, waking a second BLAS or OpenMP thread for a one-query product costs
    more than the product (measured: 8 ms instead of 0.1 ms for 1 x 2,000 x 384 under load).
    """
    global _CONTROLLER
    if not small:
        yield
        return
    import faiss

    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with _CONTROLLER.limit(limits=1, user_api="blas"):
            yield
    finally:
        faiss.omp_set_num_threads(before)


def _fsync(path: Path) -> None:
    """Flush a file or folder to disk (folders: so a rename survives a power cut; not on every OS)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------- the index


class MentionIndex:
    """Answered mentions, searchable by cosine similarity of their embeddings (exact, then FAISS IVF).

    Args:
        encoder: a dense encoder for the texts: an :class:`~triage.encoders.Encoder`, a spec dict, a kind
            (``"minilm"``, ``"static"``, ``"finetuned"``), or ``None`` for an index fed only precomputed
            vectors.
        dim: the vector dimension when ``encoder`` is None (else taken from the encoder, or the first add).
        exact_limit: search exactly while fewer live mentions are stored (exact is faster there); at this
            size a FAISS IVF index is built and kept up to date.
        nprobe: inverted lists FAISS scans per query (more: better recall, slower).
        rerank: FAISS proposes ``rerank * k`` candidates (at least 32) that are re-scored exactly.
        normalize_text: encode :func:`~triage.text.normalize_tweet` of each text (what every model sees).
        keep_handles: with ``normalize_text``, keep user handles as written instead of ``@user`` (the handle a
            customer addresses names the product: better help links, ``benchmarks/links.md``); an index
            with it cannot share the pipeline heads' encoding pass.

    Adding an id that is already stored replaces that mention. Texts are encoded once, when added.

    Example:
        >>> index = MentionIndex("static")  # doctest: +SKIP
        >>> index.add("m1", "where is my parcel", link="https://help/track", brand="AcmeHelp")  # doctest: +SKIP
        >>> index.query("my parcel never came", k=1, brand="AcmeHelp")[0].link  # doctest: +SKIP
        'https://help/track'
    """

    def __init__(
        self,
        encoder: Encoder | Mapping[str, Any] | str | None = "minilm",
        *,
        dim: int | None = None,
        exact_limit: int = 20_000,
        nprobe: int = 32,
        rerank: int = 4,
        normalize_text: bool = True,
        keep_handles: bool = False,
    ) -> None:
        if isinstance(exact_limit, bool) or not isinstance(exact_limit, int) or exact_limit < 1:
            raise InputError(f"exact_limit must be a positive int, got {exact_limit!r}.")
        for name, value in (("nprobe", nprobe), ("rerank", rerank)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive int, got {value!r}.")
        self.encoder = None if encoder is None else encoder if isinstance(encoder, Encoder) else make_encoder(encoder)
        if self.encoder is not None and self.encoder.kind not in DENSE_ENCODER_KINDS:
            raise InputError(
                f"an index needs a dense encoder ({', '.join(DENSE_ENCODER_KINDS)}), got {self.encoder.kind!r} "
                "(sparse); use minilm or static."
            )
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise InputError(f"dim must be a positive int, got {dim!r}.")
        self.exact_limit = exact_limit
        self.nprobe = nprobe
        self.rerank = rerank
        self.normalize_text = bool(normalize_text)
        self.keep_handles = bool(keep_handles)
        self._dim = dim
        self._vectors = np.zeros((0, dim or 0), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._brand_code = np.zeros(0, dtype=np.int32)
        self._size = 0
        self._dead = 0
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._text: list[str] = []
        self._link: list[str | None] = []
        self._brand: list[str | None] = []
        self._created: list[str | None] = []
        self._brands: dict[str, int] = {}
        self._brand_names: list[str] = []
        self._brand_live: Counter[int] = Counter()
        self._brand_rows_cache: dict[int, np.ndarray] = {}
        self._bitmap_cache: dict[int, np.ndarray] = {}
        self._ann: faiss.Index | None = None
        self._ann_trained_rows = 0
        self._version = 0  # bumped on every change; caches (link priors) key on it
        self.settings: dict[str, Any] = {}
        """Settings read from a saved index's manifest (e.g. link suggestion parameters); empty when new."""

    # ------------------------------------------------------------------------------------------ basics

    @property
    def dim(self) -> int | None:
        """Vector dimension (None until known: no encoder and nothing added yet)."""
        if self._dim is None and self.encoder is not None:
            self._dim = int(self.encoder.dim)
            self._vectors = np.zeros((0, self._dim), dtype=np.float32)
        return self._dim

    def __len__(self) -> int:
        """Number of live (not removed) mentions."""
        return self._size - self._dead

    def __contains__(self, mention_id: object) -> bool:
        return isinstance(mention_id, str) and mention_id in self._row

    def __repr__(self) -> str:
        kind = None if self.encoder is None else self.encoder.kind
        return f"MentionIndex(encoder={kind!r}, dim={self._dim}, mentions={len(self)}, search={self.search_mode!r})"

    @property
    def search_mode(self) -> str:
        """``"exact"`` (BLAS over every vector) or ``"ivf"`` (FAISS candidates, re-scored exactly)."""
        return "exact" if self._ann is None else "ivf"

    @property
    def brands(self) -> dict[str, int]:
        """Live mentions per brand (mentions with no brand are not counted)."""
        return {self._brand_names[c]: n for c, n in sorted(self._brand_live.items()) if n > 0}

    @property
    def version(self) -> int:
        """A counter bumped by every add and remove (for caches built on the index's content)."""
        return self._version

    def ids(self) -> list[str]:
        """Ids of the live mentions, in the order they were (last) added."""
        return [self._ids[r] for r in np.flatnonzero(self._alive[: self._size])]

    def get(self, mention_id: str) -> Neighbour | None:
        """The stored mention ``mention_id`` (similarity 1.0), or None when it is not stored."""
        row = self._row.get(mention_id)
        return None if row is None else self._neighbour(row, 1.0)

    def vectors_of(self, mention_ids: Sequence[str]) -> np.ndarray:
        """The stored unit vectors of ``mention_ids`` (KeyError names the first unknown id)."""
        rows = []
        for mention_id in mention_ids:
            if mention_id not in self._row:
                raise KeyError(f"{mention_id!r} is not in the index")
            rows.append(self._row[mention_id])
        return self._vectors[np.asarray(rows, dtype=np.int64)].copy()

    def _neighbour(self, row: int, similarity: float) -> Neighbour:
        return Neighbour(
            id=self._ids[row],
            similarity=float(similarity),
            text=self._text[row],
            link=self._link[row],
            brand=self._brand[row],
            created_at=self._created[row],
        )

    def encode(self, texts: Sequence[str], *,
               on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Unit vectors of ``texts`` with the index's encoder (normalised first when ``normalize_text``).

        ``on_progress`` (optional) is called with (texts encoded, total) after each chunk of
        ``ENCODE_CHUNK`` texts, for a progress bar; without it the texts are encoded in one call.
        """
        items = _texts(texts)
        if self.encoder is None:
            raise InputError("this index has no encoder; pass vectors= (one unit vector per text).")
        prepared = normalize_batch(items, keep_handles=self.keep_handles) if self.normalize_text else items
        if on_progress is None or len(prepared) <= ENCODE_CHUNK:
            encoded = np.asarray(self.encoder.encode(prepared))
            if on_progress is not None:
                on_progress(len(prepared), len(prepared))
        else:
            parts = []
            for start in range(0, len(prepared), ENCODE_CHUNK):
                parts.append(np.asarray(self.encoder.encode(prepared[start:start + ENCODE_CHUNK])))
                on_progress(start + len(parts[-1]), len(prepared))
            encoded = np.concatenate(parts)
        return _unit_rows(encoded, len(items), self.dim, "encoded texts")

    # ------------------------------------------------------------------------------------------ adding

    def add(
        self,
        mention_id: str,
        text: str,
        link: str | None = None,
        brand: str | None = None,
        created_at: str | datetime | None = None,
        *,
        vector: Sequence[float] | np.ndarray | None = None,
    ) -> Self:
        """Add one answered mention (replacing a stored one with the same id); see :meth:`add_batch`."""
        return self.add_batch(
            [mention_id], [text], links=[link], brands=[brand], created_at=[created_at],
            vectors=None if vector is None else np.asarray(vector, dtype=np.float32)[None, :],
        )

    def add_batch(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        *,
        links: Sequence[str | None] | None = None,
        brands: Sequence[str | None] | None = None,
        created_at: Sequence[str | datetime | None] | None = None,
        vectors: np.ndarray | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Self:
        """Add answered mentions; an id already stored (or repeated in the batch: the last wins) is replaced.

        Args:
            ids: one unique, non-empty id per mention.
            texts: the mentions' texts (1 to 5,000 characters after stripping), encoded once here.
            links: the link each was answered with (None for none).
            brands: the brand each mention addressed (None for none).
            created_at: ISO-8601 times or datetimes (stored as UTC ``YYYY-MM-DDTHH:MM:SSZ``).
            vectors: precomputed embeddings, one row per mention (normalised here); skips encoding.
            on_progress: called with (mentions encoded, total) while encoding (see :meth:`encode`), after
                every input is checked.

        Returns:
            ``self``.

        Raises:
            InputError: a bad id, an empty text, lists of different lengths, an unparseable time, vectors of
                the wrong dimension or with a zero row (the message says which item).
        """
        id_list = _ids(ids)
        text_list = _texts(texts)
        n = len(id_list)
        if len(text_list) != n:
            raise InputError(f"texts has {len(text_list)} values for {n} ids; pass one text per id.")
        link_list = _optional_strings(links, n, "links")
        brand_list = _optional_strings(brands, n, "brands")
        time_list = iso_times(created_at, n)
        if n == 0:
            return self
        if vectors is None:
            matrix = self.encode(text_list, on_progress=on_progress)
        else:
            matrix = _unit_rows(vectors, n, self.dim, "vectors")
            if self._dim is None:
                self._dim = int(matrix.shape[1])
                self._vectors = np.zeros((0, self._dim), dtype=np.float32)
        # The last occurrence of an id in the batch wins, as if added one by one.
        last = {mention_id: i for i, mention_id in enumerate(id_list)}
        keep = np.fromiter(sorted(last.values()), dtype=np.int64)
        if keep.size != n:
            id_list = [id_list[i] for i in keep]
            text_list = [text_list[i] for i in keep]
            link_list = [link_list[i] for i in keep]
            brand_list = [brand_list[i] for i in keep]
            time_list = [time_list[i] for i in keep]
            matrix = matrix[keep]
            n = keep.size
        self._drop_rows([self._row[i] for i in id_list if i in self._row])
        start = self._size
        self._reserve(start + n)
        self._vectors[start : start + n] = matrix
        self._alive[start : start + n] = True
        codes = np.empty(n, dtype=np.int32)
        for j, brand in enumerate(brand_list):
            codes[j] = _NO_BRAND if brand is None else self._brand_code_of(brand)
        self._brand_code[start : start + n] = codes
        for j, mention_id in enumerate(id_list):
            self._row[mention_id] = start + j
        self._ids.extend(id_list)
        self._text.extend(text_list)
        self._link.extend(link_list)
        self._brand.extend(brand_list)
        self._created.extend(time_list)
        self._size += n
        for code in codes[codes != _NO_BRAND]:
            self._brand_live[int(code)] += 1
        self._invalidate(set(codes.tolist()))
        if self._ann is not None:
            with _one_thread(n <= _SMALL_ADD_BATCH):
                self._ann.add_with_ids(matrix, np.arange(start, start + n, dtype=np.int64))
            if len(self) >= 4 * self._ann_trained_rows:
                self._build_ann()  # the data outgrew the coarse clustering: retrain once, amortised
        elif len(self) >= self.exact_limit:
            self._build_ann()
        return self

    def _brand_code_of(self, brand: str) -> int:
        code = self._brands.get(brand)
        if code is None:
            code = len(self._brand_names)
            self._brands[brand] = code
            self._brand_names.append(brand)
        return code

    def _reserve(self, rows: int) -> None:
        capacity = self._vectors.shape[0]
        if rows <= capacity:
            return
        new = max(rows, int(capacity * 1.5) + 1024)
        vectors = np.zeros((new, self.dim or 0), dtype=np.float32)
        vectors[: self._size] = self._vectors[: self._size]
        alive = np.zeros(new, dtype=bool)
        alive[: self._size] = self._alive[: self._size]
        codes = np.full(new, _NO_BRAND, dtype=np.int32)
        codes[: self._size] = self._brand_code[: self._size]
        self._vectors, self._alive, self._brand_code = vectors, alive, codes

    def _invalidate(self, codes: set[int]) -> None:
        self._version += 1
        for code in codes:
            self._brand_rows_cache.pop(code, None)
            self._bitmap_cache.pop(code, None)

    # ------------------------------------------------------------------------------------------ removing

    def remove(self, mention_ids: str | Sequence[str]) -> int:
        """Remove stored mentions by id; ids that are not stored are ignored.

        Args:
            mention_ids: one id or a list of ids.

        Returns:
            How many mentions were removed.
        """
        items = [mention_ids] if isinstance(mention_ids, str) else list(mention_ids)
        rows = [self._row[i] for i in dict.fromkeys(items) if isinstance(i, str) and i in self._row]
        self._drop_rows(rows)
        return len(rows)

    def _drop_rows(self, rows: Sequence[int]) -> None:
        if not rows:
            return
        array = np.asarray(rows, dtype=np.int64)
        self._alive[array] = False
        self._dead += len(rows)
        codes = self._brand_code[array]
        for code in codes[codes != _NO_BRAND]:
            self._brand_live[int(code)] -= 1
        for row in rows:
            del self._row[self._ids[row]]
        if self._ann is not None:
            with _one_thread(len(rows) <= _SMALL_ADD_BATCH):
                self._ann.remove_ids(array)
        self._invalidate(set(codes.tolist()))

    def compact(self) -> Self:
        """Drop removed rows for good, renumbering the rest (the FAISS index keeps its lists; results do not
        change)."""
        if self._dead == 0:
            return self
        live = np.flatnonzero(self._alive[: self._size])
        self._vectors = np.ascontiguousarray(self._vectors[live])
        self._alive = np.ones(live.size, dtype=bool)
        self._brand_code = self._brand_code[live].copy()
        pick = live.tolist()
        self._ids = [self._ids[r] for r in pick]
        self._text = [self._text[r] for r in pick]
        self._link = [self._link[r] for r in pick]
        self._brand = [self._brand[r] for r in pick]
        self._created = [self._created[r] for r in pick]
        self._row = {mention_id: r for r, mention_id in enumerate(self._ids)}
        self._size, self._dead = live.size, 0
        self._invalidate(set(range(len(self._brand_names))))
        if self._ann is not None:
            # Same coarse lists and codes, new row ids: search results do not change.
            self._ann.reset()
            for chunk in range(0, self._size, 65536):
                rows = np.arange(chunk, min(chunk + 65536, self._size), dtype=np.int64)
                self._ann.add_with_ids(self._vectors[rows], rows)
        return self

    # ------------------------------------------------------------------------------------------ FAISS

    def _build_ann(self) -> None:
        """(Re)build the IVF index over the live rows: k-means on a sample, then add everything."""
        import faiss

        live = np.flatnonzero(self._alive[: self._size])
        n, dim = live.size, int(self.dim or 0)
        # ~4 sqrt(n) lists, each trained on >= 40 points (FAISS warns below 39), at most 4096.
        nlist = int(max(16, min(4096, 4 * np.sqrt(n), n // 40)))
        rng = np.random.default_rng(0)
        sample = live if n <= 40 * nlist else np.sort(rng.choice(live, 40 * nlist, replace=False))
        start = time.perf_counter()
        quantizer = faiss.IndexFlatIP(dim)
        ann = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                            faiss.METRIC_INNER_PRODUCT)
        ann.cp.seed = 0
        ann.train(self._vectors[sample])
        for chunk in range(0, n, 65536):
            rows = live[chunk : chunk + 65536]
            ann.add_with_ids(self._vectors[rows], rows.astype(np.int64))
        ann.quantizer_trains_alone = 0
        self._ann = ann
        self._ann_trained_rows = n
        self._bitmap_cache.clear()
        logger.info("built the FAISS IVF index (%d lists) over %d mentions in %.1f s", nlist, n,
                    time.perf_counter() - start)

    def _bitmap(self, code: int) -> np.ndarray:
        """FAISS ``IDSelectorBitmap`` bytes of the live rows of brand ``code``."""
        bitmap = self._bitmap_cache.get(code)
        if bitmap is None:
            rows = self._brand_rows(code)
            bitmap = np.zeros((self._size + 7) // 8 + 1, dtype=np.uint8)
            np.bitwise_or.at(bitmap, rows >> 3, (1 << (rows & 7)).astype(np.uint8))
            self._bitmap_cache[code] = bitmap
        return bitmap

    def _brand_rows(self, code: int) -> np.ndarray:
        rows = self._brand_rows_cache.get(code)
        if rows is None:
            rows = np.flatnonzero((self._brand_code[: self._size] == code) & self._alive[: self._size])
            self._brand_rows_cache[code] = rows
        return rows

    # ------------------------------------------------------------------------------------------ search

    @overload
    def query(
        self, texts: str, k: int = ..., *, brand: str | None = ..., vectors: None = ...,
        exclude_ids: str | None = ..., min_similarity: float | None = ...,
    ) -> list[Neighbour]: ...

    @overload
    def query(
        self, texts: Sequence[str] | None = ..., k: int = ..., *, brand: str | Sequence[str | None] | None = ...,
        vectors: np.ndarray | None = ..., exclude_ids: Sequence[str | None] | None = ...,
        min_similarity: float | None = ...,
    ) -> list[list[Neighbour]]: ...

    def query(
        self,
        texts: str | Sequence[str] | None = None,
        k: int = 5,
        *,
        brand: str | Sequence[str | None] | None = None,
        vectors: np.ndarray | None = None,
        exclude_ids: str | Sequence[str | None] | None = None,
        min_similarity: float | None = None,
    ) -> list[Neighbour] | list[list[Neighbour]]:
        """The ``k`` stored mentions most similar to each query, most similar first.

        Args:
            texts: one text (returns one list) or a list of texts (returns a list per text).
            k: neighbours per query.
            brand: only mentions of this brand (one for all queries, or one per query; None: any brand).
                A brand with no stored mention gives an empty list, as does an empty index.
            vectors: precomputed query embeddings instead of texts (one row per query).
            exclude_ids: per query, an id never to return (e.g. the query's own, in leave-one-out).
            min_similarity: drop neighbours below this cosine similarity.

        Returns:
            A list of :class:`Neighbour` per query (fewer than ``k`` when the index or brand holds fewer).

        Raises:
            InputError: no texts and no vectors, an empty text, vectors of the wrong dimension, a bad ``k``.
        """
        single = isinstance(texts, str)
        if single:
            texts = [texts]  # type: ignore[list-item]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(f"k must be a positive int, got {k!r}.")
        if vectors is not None:
            n = np.asarray(vectors).shape[0] if np.asarray(vectors).ndim == 2 else 1
            if texts is not None and len(_texts(texts)) != n:
                raise InputError(f"{len(texts)} texts but {n} query vectors; pass one vector per text.")
            matrix = _unit_rows(vectors, n, self.dim, "query vectors")
        elif texts is not None:
            items = _texts(texts)
            n = len(items)
            matrix = None if len(self) == 0 else self.encode(items)
        else:
            raise InputError("query needs texts or vectors.")
        brand_list = [brand] * n if brand is None or isinstance(brand, str) else _optional_strings(brand, n, "brand")
        if isinstance(exclude_ids, str):
            exclude_ids = [exclude_ids]
        exclude = [None] * n if exclude_ids is None else _optional_strings(exclude_ids, n, "exclude_ids")
        if n == 0:
            return []
        if matrix is None or len(self) == 0:
            empty: list[list[Neighbour]] = [[] for _ in range(n)]
            return empty[0] if single else empty
        want = k + 1 if any(e is not None for e in exclude) else k
        with _one_thread(n <= _SMALL_QUERY_BATCH):
            sims, rows = self._search(matrix, want, brand_list)
        results: list[list[Neighbour]] = []
        for q in range(n):
            out = []
            for s, r in zip(sims[q], rows[q], strict=True):
                if r < 0 or (min_similarity is not None and s < min_similarity):
                    continue
                if exclude[q] is not None and self._ids[r] == exclude[q]:
                    continue
                out.append(self._neighbour(int(r), float(s)))
                if len(out) == k:
                    break
            results.append(out)
        return results[0] if single else results

    def search_vectors(
        self, vectors: np.ndarray, k: int, *, brand: str | Sequence[str | None] | None = None
    ) -> tuple[np.ndarray, list[list[str]]]:
        """Low-level search: ``(similarities (n, k), ids per query)``; -inf / no id past the stored count."""
        matrix = _unit_rows(vectors, np.asarray(vectors).shape[0], self.dim, "query vectors")
        n = matrix.shape[0]
        brand_list = [brand] * n if brand is None or isinstance(brand, str) else list(brand)
        with _one_thread(n <= _SMALL_QUERY_BATCH):
            sims, rows = self._search(matrix, k, brand_list)
        return sims, [[self._ids[r] for r in row if r >= 0] for row in rows]

    def _search(self, queries: np.ndarray, k: int, brands: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (similarity, row) per query among live rows (of the query's brand); row -1 pads."""
        n = queries.shape[0]
        sims = np.full((n, k), -np.inf, dtype=np.float32)
        rows = np.full((n, k), -1, dtype=np.int64)
        groups: dict[str | None, list[int]] = {}
        for q, b in enumerate(brands):
            groups.setdefault(b, []).append(q)
        for b, members in groups.items():
            qs = np.asarray(members)
            if b is None:
                if self._ann is None:
                    s, r = self._exact(queries[qs], k, None)
                else:
                    s, r = self._approximate(queries[qs], k, None)
            else:
                code = self._brands.get(b)
                if code is None or self._brand_live[code] == 0:
                    continue  # a brand with nothing stored: no neighbours
                candidates = self._brand_rows(code)
                if self._ann is None or candidates.size <= _BRAND_EXACT_ROWS:
                    s, r = self._exact(queries[qs], k, candidates)
                else:
                    s, r = self._approximate(queries[qs], k, code)
            sims[qs, : s.shape[1]] = s
            rows[qs, : r.shape[1]] = r
        return sims, rows

    def _exact(self, queries: np.ndarray, k: int, candidates: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Brute force in blocks of rows (bounded memory): BLAS products, then a partial sort."""
        best_s = np.full((queries.shape[0], 0), -np.inf, dtype=np.float32)
        best_r = np.zeros((queries.shape[0], 0), dtype=np.int64)
        total = self._size if candidates is None else candidates.size
        block = max(1, min(total, (1 << 24) // max(queries.shape[0], 1)))
        for start in range(0, total, block):
            if candidates is None:
                idx = np.arange(start, min(start + block, total))
                scores = queries @ self._vectors[start : start + block].T
                dead = ~self._alive[start : start + block]
                if dead.any():
                    scores[:, dead] = -np.inf
            else:
                idx = candidates[start : start + block]
                scores = queries @ self._vectors[idx].T
            m = min(k, scores.shape[1])
            part = np.argpartition(-scores, m - 1, axis=1)[:, :m] if m < scores.shape[1] else np.tile(
                np.arange(scores.shape[1]), (scores.shape[0], 1))
            best_s = np.concatenate([best_s, np.take_along_axis(scores, part, axis=1)], axis=1)
            best_r = np.concatenate([best_r, idx[part]], axis=1)
            if best_s.shape[1] > k:
                keep = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
                best_s = np.take_along_axis(best_s, keep, axis=1)
                best_r = np.take_along_axis(best_r, keep, axis=1)
        order = np.argsort(-best_s, axis=1, kind="stable")
        best_s = np.take_along_axis(best_s, order, axis=1)
        best_r = np.take_along_axis(best_r, order, axis=1)
        best_r[~np.isfinite(best_s)] = -1
        return best_s, best_r

    def _approximate(self, queries: np.ndarray, k: int, code: int | None) -> tuple[np.ndarray, np.ndarray]:
        """FAISS proposes candidates (within a brand: through an id bitmap), re-scored exactly."""
        import faiss

        assert self._ann is not None
        want = max(self.rerank * k, 32)
        if code is None:
            params = faiss.SearchParametersIVF(nprobe=self.nprobe)
        else:
            bitmap = self._bitmap(code)
            selector = faiss.IDSelectorBitmap(bitmap.size * 8, faiss.swig_ptr(bitmap))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)
        _, candidates = self._ann.search(queries, want, params=params)
        out_s = np.full((queries.shape[0], k), -np.inf, dtype=np.float32)
        out_r = np.full((queries.shape[0], k), -1, dtype=np.int64)
        for q in range(queries.shape[0]):
            found = candidates[q][candidates[q] >= 0]
            if found.size < k and code is not None:
                # A brand too spread over the lists to fill k from the probed ones: search it exactly.
                s, r = self._exact(queries[q : q + 1], k, self._brand_rows(code))
                out_s[q], out_r[q] = s[0], r[0]
                continue
            scores = self._vectors[found] @ queries[q]
            top = np.argsort(-scores, kind="stable")[:k]
            out_s[q, : top.size] = scores[top]
            out_r[q, : top.size] = found[top]
        return out_s, out_r

    # ------------------------------------------------------------------------------------------ stats

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: mentions, removed rows, dimension, encoder, search mode, brands, links, bytes."""
        live = self._alive[: self._size]
        links = Counter(self._link[r] for r in np.flatnonzero(live) if self._link[r] is not None)
        n = len(self)
        vector_bytes = self._size * (self.dim or 0) * 4
        ann_bytes = 0
        if self._ann is not None:
            ann_bytes = int(self._ann.ntotal) * (int(self._ann.code_size) + 8) + int(self._ann.nlist) * (self.dim or 0) * 4
        text_bytes = sum(len(t.encode("utf-8")) for t in self._text)
        meta_bytes = text_bytes + sum(len((v or "").encode("utf-8")) for col in (self._ids, self._link, self._brand,
                                                                                   self._created) for v in col)
        return {
            "mentions": n,
            "removed_rows": self._dead,
            "dim": self.dim,
            "encoder": None if self.encoder is None else self.encoder.spec(),
            "search": self.search_mode,
            "text": "as written" if not self.normalize_text else
                    "normalised, handles kept" if self.keep_handles else "normalised (@user, http)",
            "ivf_lists": None if self._ann is None else int(self._ann.nlist),
            "brands": self.brands,
            "with_link": sum(links.values()),
            "distinct_links": len(links),
            "bytes": {"vectors": vector_bytes, "ann": ann_bytes, "metadata": meta_bytes},
            "bytes_per_mention": round((vector_bytes + ann_bytes + meta_bytes) / n, 1) if n else None,
        }

    def link_counts(self) -> dict[str | None, Counter[str]]:
        """Per brand (None: mentions with no brand), how often each link answered a live mention."""
        out: dict[str | None, Counter[str]] = {}
        for r in np.flatnonzero(self._alive[: self._size]):
            link = self._link[r]
            if link is not None:
                out.setdefault(self._brand[r], Counter())[link] += 1
        return out

    # ------------------------------------------------------------------------------------------ save/load

    def save(self, path: str | os.PathLike[str], *, settings: Mapping[str, Any] | None = None) -> Path:
        """Write the index to the folder ``path``, crash-safe: the old index stays loadable until the end.

        A new generation folder is written and synced first; ``index.json`` is then replaced atomically;
        older generations are deleted last. Removed rows are kept (flagged) until they are a quarter of the
        rows, then compacted away first (search results do not change).

        Args:
            path: the index folder (created if needed; an existing non-index, non-empty folder is refused).
            settings: extra JSON-able settings stored in the manifest (e.g. link suggestion parameters).

        Returns:
            The folder.

        Raises:
            ArtifactError: ``path`` is a non-empty folder that holds no index.
        """
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise ArtifactError(f"{folder} is a file; pass a folder for the index.")
        if folder.is_dir() and any(folder.iterdir()) and not (folder / INDEX_FILE).is_file():
            stray = [p.name for p in folder.iterdir() if not _is_generation(p.name)]
            if stray:
                raise ArtifactError(
                    f"{folder} is not empty and holds no {INDEX_FILE} (found {', '.join(sorted(stray)[:5])}); "
                    "save the index into a new or empty folder."
                )
        if self.dim is None:
            raise InputError("nothing to save: the index has no encoder and no vectors yet (dimension unknown).")
        if self._dead > 0.25 * self._size:
            self.compact()  # removed rows are saved (flagged) until they are a quarter of all rows
        folder.mkdir(parents=True, exist_ok=True)
        previous = _read_manifest(folder) if (folder / INDEX_FILE).is_file() else None
        number = 1 + (int(previous.get("generation", "g0")[1:7]) if previous and _is_generation(
            str(previous.get("generation", ""))) else 0)
        generation = f"g{number:06d}-{uuid.uuid4().hex[:8]}"
        gen_dir = folder / generation
        gen_dir.mkdir()
        files: list[str] = []
        _write_vectors(gen_dir / "vectors.npy", self._vectors[: self._size])
        files.append("vectors.npy")
        _write_mentions(gen_dir / "mentions.parquet", self)
        files.append("mentions.parquet")
        if self._ann is not None:
            _write_ann(gen_dir / "ann.faiss", self._ann)
            files.append("ann.faiss")
        if self.encoder is not None:
            self.encoder.save(gen_dir / "encoder")
            files += sorted(p.relative_to(gen_dir).as_posix() for p in (gen_dir / "encoder").rglob("*") if p.is_file())
        for name in files:
            _fsync(gen_dir / name)
        for sub in {gen_dir, *((gen_dir / name).parent for name in files)}:
            _fsync(sub)
        manifest = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "generation": generation,
            "dim": int(self.dim),
            "mentions": len(self),
            "rows": self._size,
            # saved_spec: tuned weights are named by their place in the folder, not where they were tuned
            "encoder": None if self.encoder is None else {"kind": self.encoder.kind,
                                                          "spec": self.encoder.saved_spec("encoder/"),
                                                          "folder": "encoder"},
            "search": {"exact_limit": self.exact_limit, "nprobe": self.nprobe, "rerank": self.rerank,
                       "normalize_text": self.normalize_text, "keep_handles": self.keep_handles,
                       "ann": None if self._ann is None else {"kind": "faiss.IndexIVFScalarQuantizer(QT_8bit)",
                                                              "nlist": int(self._ann.nlist),
                                                              "trained_rows": self._ann_trained_rows}},
            "settings": dict(settings or {}),
            "versions": library_versions("faiss-cpu", "pyarrow"),
            "files": {f"{generation}/{name}": file_sha256(gen_dir / name) for name in files},
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _commit_manifest(folder, manifest)
        _drop_old_generations(folder, keep=generation)
        return folder

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, encoder: Encoder | Mapping[str, Any] | str | None = None
    ) -> MentionIndex:
        """Load an index saved with :meth:`save`, checking every file's sha256, the encoder and the dimension.

        Args:
            path: the index folder.
            encoder: the encoder the caller will query with (e.g. the pipeline's); it must be the kind and
                spec the index was built with. Default: the encoder saved in the index.

        Raises:
            ArtifactError: the folder is not an index, a file is missing, changed or unreadable, or the
                encoder or dimension does not match (the message names the file and the fix).
        """
        folder = Path(path)
        manifest = _read_manifest(folder)
        manifest_file = folder / INDEX_FILE
        generation = str(manifest["generation"])
        files: dict[str, str] = manifest["files"]
        verify_files(folder, files, manifest_file=manifest_file, fix="rebuild the index (triage index build)")
        gen_dir = folder / generation
        dim, rows = int(manifest["dim"]), int(manifest["rows"])
        saved_encoder: Encoder | None = None
        enc_info = manifest.get("encoder")
        if enc_info is not None:
            saved_encoder = load_encoder(gen_dir / str(enc_info.get("folder", "encoder")))
        chosen = saved_encoder
        if encoder is not None:
            chosen = encoder if isinstance(encoder, Encoder) else make_encoder(encoder)
            recorded = None if enc_info is None else enc_info.get("spec")
            if saved_encoder is None or _comparable(chosen) != _comparable(saved_encoder):
                raise ArtifactError(
                    f"{manifest_file}: the index was built with encoder {recorded!r}, but {chosen.spec()!r} was "
                    "passed; its vectors are not comparable. Query with the index's own encoder "
                    "(MentionIndex.load(path)) or rebuild the index with this encoder (triage index build)."
                )
        if chosen is not None and int(chosen.dim) != dim:
            raise ArtifactError(
                f"{manifest_file} records {dim}-d vectors but the encoder gives {chosen.dim}; rebuild the index "
                "(triage index build)."
            )
        search = manifest.get("search", {})
        index = cls(
            chosen, dim=dim, exact_limit=int(search.get("exact_limit", 20_000)), nprobe=int(search.get("nprobe", 32)),
            rerank=int(search.get("rerank", 4)), normalize_text=bool(search.get("normalize_text", True)),
            keep_handles=bool(search.get("keep_handles", False)),
        )
        index.settings = dict(manifest.get("settings") or {})
        vectors = _read_vectors(gen_dir / "vectors.npy", rows, dim)
        frame = _read_mentions(gen_dir / "mentions.parquet", rows)
        index._vectors = vectors
        index._size = rows
        index._alive = frame["alive"].to_numpy(dtype=bool).copy()
        index._dead = int((~index._alive).sum())
        index._ids = frame["id"].tolist()
        index._text = frame["text"].tolist()
        index._link = [None if v is None else str(v) for v in frame["link"].tolist()]
        index._brand = [None if v is None else str(v) for v in frame["brand"].tolist()]
        index._created = [None if v is None else str(v) for v in frame["created_at"].tolist()]
        index._row = {index._ids[r]: r for r in np.flatnonzero(index._alive)}
        if len(index._row) != rows - index._dead:
            raise ArtifactError(f"{gen_dir / 'mentions.parquet'} repeats an id; rebuild the index (triage index build).")
        index._brand_code = np.array([_NO_BRAND if b is None else index._brand_code_of(b) for b in index._brand],
                                     dtype=np.int32).reshape(-1)
        for code in index._brand_code[index._alive & (index._brand_code != _NO_BRAND)]:
            index._brand_live[int(code)] += 1
        ann_info = search.get("ann")
        if ann_info is not None:
            index._ann = _read_ann(gen_dir / "ann.faiss", len(index), dim)
            index._ann_trained_rows = int(ann_info.get("trained_rows", len(index)))
        return index


# ---------------------------------------------------------------------------------------------- file helpers
# Small module-level functions, one per file, so that tests can simulate a crash at any step of a save.


def _comparable(encoder: Encoder) -> dict[str, Any]:
    """What an encoder's vectors depend on: its spec without batch size and device, and local weights (say,
    fine-tuned MiniLM) by the sha256 of their file rather than by the folder they lie in, which differs between
    the index's copy and the model the caller loaded."""
    spec = {k: v for k, v in encoder.spec().items() if k not in ("batch_size", "device")}
    sha = encoder.weights_sha256()
    if sha is not None:
        spec["model"] = f"sha256:{sha}"
    return spec


def _is_generation(name: str) -> bool:
    return _GENERATION.fullmatch(name) is not None


def _write_vectors(path: Path, vectors: np.ndarray) -> None:
    with path.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)


def _read_vectors(path: Path, rows: int, dim: int) -> np.ndarray:
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read {path} ({exc}); rebuild the index (triage index build).") from exc
    if vectors.dtype != np.float32 or vectors.shape != (rows, dim):
        raise ArtifactError(
            f"{path} holds {vectors.dtype} {vectors.shape} vectors but the manifest says float32 ({rows}, {dim}); "
            "rebuild the index (triage index build)."
        )
    return np.ascontiguousarray(vectors)


def _write_mentions(path: Path, index: MentionIndex) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = index._size
    table = pa.table(
        {
            "id": pa.array(index._ids[:n], pa.string()),
            "text": pa.array(index._text[:n], pa.string()),
            "link": pa.array(index._link[:n], pa.string()),
            "brand": pa.array(index._brand[:n], pa.string()),
            "created_at": pa.array(index._created[:n], pa.string()),
            "alive": pa.array(index._alive[:n], pa.bool_()),
        }
    )
    pq.write_table(table, path)


def _read_mentions(path: Path, rows: int) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ArtifactError(f"cannot read {path} ({exc}); rebuild the index (triage index build).") from exc
    missing = [c for c in _COLUMNS if c not in table.column_names]
    if missing or table.num_rows != rows:
        raise ArtifactError(
            f"{path} has {table.num_rows} rows and columns {table.column_names}; expected {rows} rows with "
            f"{list(_COLUMNS)}. Rebuild the index (triage index build)."
        )
    return table.to_pandas().astype(object).where(lambda f: f.notna(), None)


def _write_ann(path: Path, ann: faiss.Index) -> None:
    import faiss

    faiss.write_index(ann, str(path))


def _read_ann(path: Path, count: int, dim: int) -> faiss.Index:
    import faiss

    try:
        ann = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise ArtifactError(f"cannot read {path} ({exc}); rebuild the index (triage index build).") from exc
    if int(ann.ntotal) != count or int(ann.d) != dim:
        raise ArtifactError(
            f"{path} holds {ann.ntotal} {ann.d}-d vectors but the manifest says {count} {dim}-d; rebuild the index."
        )
    return ann


def _commit_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``index.json`` beside itself, sync, then rename over the old one (atomic on POSIX and Windows)."""
    tmp = folder / f".{INDEX_FILE}.{uuid.uuid4().hex[:8]}.tmp"
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, folder / INDEX_FILE)
    _fsync(folder)


def _drop_old_generations(folder: Path, *, keep: str) -> None:
    """Delete generation folders and temporary manifests other than ``keep`` (left by older or crashed saves)."""
    for entry in folder.iterdir():
        if entry.name == keep:
            continue
        if entry.is_dir() and _is_generation(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.is_file() and entry.name.startswith(f".{INDEX_FILE}.") and entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)


def _read_manifest(folder: Path) -> dict[str, Any]:
    file = folder / INDEX_FILE
    if not file.is_file():
        where = "does not exist" if not folder.exists() else "holds no saved index"
        raise ArtifactError(
            f"{file} not found: {folder} {where}. Build one with `triage index build` or MentionIndex.save(path)."
        )
    manifest = read_json(file, fix="rebuild the index (triage index build)")
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise ArtifactError(f"{file} is not a triage mention index manifest; rebuild the index (triage index build).")
    if manifest.get("format_version") != _FORMAT_VERSION:
        raise ArtifactError(
            f"{file} has format_version {manifest.get('format_version')!r}; this triage reads {_FORMAT_VERSION}. "
            "Rebuild the index with this version (triage index build)."
        )
    generation = manifest.get("generation")
    files = manifest.get("files")
    if not isinstance(generation, str) or not _is_generation(generation) or not isinstance(files, dict):
        raise ArtifactError(f"{file} lacks a valid 'generation' or 'files'; rebuild the index (triage index build).")
    for key in ("dim", "rows"):
        if not isinstance(manifest.get(key), int) or manifest[key] < 0:
            raise ArtifactError(f"{file}: '{key}' must be a non-negative int; rebuild the index (triage index build).")
    return manifest

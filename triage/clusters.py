"""Repeated-question clusters: group near-duplicate mentions of a batch or a time window.

:func:`community_detection` is a plain function over unit embeddings, chunked so that the similarity matrix
is never held whole (in the spirit of sentence-transformers' ``community_detection``, written anew here):

1. every mention's neighbourhood is the set of mentions (itself included) with cosine similarity
   ``>= threshold``;
2. mentions with at least ``min_size`` neighbours are candidate centres, taken by neighbourhood size, largest
   first (ties: lower index first);
3. each centre not yet in a cluster takes its neighbours not yet in a cluster; the group is kept when it
   still has ``min_size`` members.

Clusters do not overlap; a mention in none is not reported. :func:`repeated_questions` adds what reports
need: size, first and last seen, a representative text (the centre), the share of members answered with a
self-service link; big clusters with no link are FAQ candidates. Given each mention's brand it groups within a
brand only (the same words to two brands are two questions). Embed :func:`triage.text.content_text` (the
words without handles and links), not the ``@user`` text the classifiers see: in a short mention the
handle dominates the embedding, and "@user I did." groups with "@user still not working". :func:`clusters_frame` and
:func:`membership` turn the clusters into tables (``triage clusters`` writes them).

Example:
    >>> import numpy as np
    >>> X = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.1, 0.99], [0.7, -0.7]], dtype=np.float32)
    >>> X /= np.linalg.norm(X, axis=1, keepdims=True)
    >>> community_detection(X, threshold=0.9, min_size=2)
    [[0, 1], [2, 3]]
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from triage.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["community_detection", "repeated_questions", "cluster_mentions", "embed_content", "QuestionCluster",
           "clusters_frame", "membership", "MENTION_THRESHOLD"]

logger = logging.getLogger(__name__)

_LARGE_GROUP = 50_000
_SECONDS_PER_100K_SQUARED = 66.0  # community_detection on 100,000 mentions, 2 cores (benchmarks/clusters.md)

MENTION_THRESHOLD = 0.8
"""Default cosine of :func:`cluster_mentions` (MiniLM over :func:`triage.text.content_text`): on banking77 train
(77 intents) 0.8 keeps clusters to one intent for 0.92 of their members with 0.76 of the queries clustered; 0.75
gives 0.84 and 0.86 (``benchmarks/clusters.md``)."""


def _check_embeddings(embeddings: object) -> np.ndarray:
    matrix = np.asarray(embeddings, dtype=np.float32)
    if matrix.ndim != 2:
        raise InputError(f"embeddings must be a 2-d array (one row per mention), got shape {matrix.shape}.")
    if not np.isfinite(matrix).all():
        raise InputError("embeddings contain NaN or infinite values.")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def community_detection(
    embeddings: np.ndarray,
    *,
    threshold: float = 0.75,
    min_size: int = 2,
    chunk_size: int = 1024,
) -> list[list[int]]:
    """Non-overlapping groups of mentions whose embeddings are within ``threshold`` cosine of a centre.

    Args:
        embeddings: one row per mention (normalised here).
        threshold: cosine similarity from which two mentions count as the same question.
        min_size: smallest group reported.
        chunk_size: rows of the similarity matrix computed at a time (memory: ``chunk_size * n`` floats).

    Returns:
        Groups as lists of row indices, the centre first, then by decreasing similarity to the centre
        (ties: lower index first); groups ordered by size, largest first (ties: centre order).
    """
    X = _check_embeddings(embeddings)
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise InputError(f"min_size must be a positive int, got {min_size!r}.")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(f"chunk_size must be a positive int, got {chunk_size!r}.")
    n = X.shape[0]
    if n == 0:
        return []
    threshold = np.float32(threshold)
    counts = np.zeros(n, dtype=np.int64)
    for start in range(0, n, chunk_size):
        block = X[start : start + chunk_size] @ X.T
        counts[start : start + chunk_size] = (block >= threshold).sum(axis=1)
    # A row always counts itself (cos = 1) unless float error puts it a hair under the threshold.
    counts = np.maximum(counts, 1)
    centres = np.flatnonzero(counts >= min_size)
    centres = centres[np.lexsort((centres, -counts[centres]))]
    assigned = np.zeros(n, dtype=bool)
    clusters: list[list[int]] = []
    for start in range(0, centres.size, chunk_size):
        chunk = centres[start : start + chunk_size]
        block = X[chunk] @ X.T
        for row, centre in zip(block, chunk, strict=True):
            if assigned[centre]:
                continue
            members = np.flatnonzero((row >= threshold) & ~assigned)
            if centre not in members:
                members = np.append(members, centre)
            if members.size < min_size:
                continue
            sims = row[members].astype(np.float64)
            sims[members == centre] = np.inf
            order = np.lexsort((members, -sims))
            group = members[order]
            assigned[group] = True
            clusters.append(group.tolist())
    # Stable: equal sizes keep the order in which their centres were taken.
    clusters.sort(key=len, reverse=True)
    return clusters


@dataclass(frozen=True)
class QuestionCluster:
    """A group of mentions asking the same thing.

    Attributes:
        cluster_id: 0 for the largest group, then 1, ...
        size: mentions in the group.
        first_seen, last_seen: earliest and latest ``created_at`` (ISO-8601 as given; None when unknown).
        representative: the centre's text.
        representative_id: the centre's id.
        self_service_share: share of members with a self-service link.
        top_link: the most common link among members, or None.
        member_ids: ids of the members, centre first.
        brand: the brand all members addressed, when clustered by brand; else None.
    """

    cluster_id: int
    size: int
    first_seen: str | None
    last_seen: str | None
    representative: str
    representative_id: str
    self_service_share: float
    top_link: str | None
    member_ids: list[str]
    brand: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return asdict(self)


def repeated_questions(
    ids: Sequence[str],
    texts: Sequence[str],
    embeddings: np.ndarray,
    *,
    created_at: Sequence[str | None] | None = None,
    links: Sequence[str | None] | None = None,
    brands: Sequence[str | None] | None = None,
    threshold: float = 0.75,
    min_size: int = 3,
    chunk_size: int = 1024,
) -> list[QuestionCluster]:
    """Repeated questions in a batch: :func:`community_detection` plus what a report shows per group.

    Args:
        ids, texts: the mentions.
        embeddings: their embeddings (e.g. MiniLM), one row per mention.
        created_at: ISO-8601 times (strings compare in time order when they share one format and zone).
        links: the self-service link each was answered with (None: none).
        brands: the brand each mention addressed; given, mentions group only with mentions of the same brand
            (None is a brand of its own) and each cluster names its brand.
        threshold, min_size, chunk_size: see :func:`community_detection`.

    Returns:
        One :class:`QuestionCluster` per group, largest first, numbered 0, 1, ...
    """
    n = len(ids)
    if len(texts) != n or np.asarray(embeddings).shape[0] != n:
        raise InputError(f"{n} ids, {len(texts)} texts and {np.asarray(embeddings).shape[0]} embeddings; "
                         "pass one of each per mention.")
    for name, values in (("created_at", created_at), ("links", links), ("brands", brands)):
        if values is not None and len(values) != n:
            raise InputError(f"{name} has {len(values)} values for {n} mentions.")
    matrix = np.asarray(embeddings)
    groups: dict[str | None, list[int]] = {}
    for i in range(n):
        groups.setdefault(None if brands is None else brands[i], []).append(i)
    found: list[tuple[str | None, list[int]]] = []
    for brand, rows in groups.items():
        part = matrix if len(rows) == n else matrix[rows]  # one group: no copy of the whole batch
        for members in community_detection(part, threshold=threshold, min_size=min_size, chunk_size=chunk_size):
            found.append((brand, [rows[j] for j in members]))
    found.sort(key=lambda bm: -len(bm[1]))  # stable: within a size, community_detection's order, brands as first seen
    out = []
    for cluster_id, (brand, members) in enumerate(found):
        times = sorted(t for t in (created_at[i] for i in members) if t) if created_at is not None else []
        member_links = [links[i] for i in members] if links is not None else []
        with_link = [lk for lk in member_links if isinstance(lk, str) and lk]
        top = max(sorted(set(with_link)), key=with_link.count) if with_link else None
        out.append(
            QuestionCluster(
                cluster_id=cluster_id,
                size=len(members),
                first_seen=times[0] if times else None,
                last_seen=times[-1] if times else None,
                representative=texts[members[0]],
                representative_id=ids[members[0]],
                self_service_share=len(with_link) / len(members),
                top_link=top,
                member_ids=[ids[i] for i in members],
                brand=brand,
            )
        )
    return out


def embed_content(texts: Sequence[str], *, encoder: Any = "minilm",
                  on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Unit embeddings of what each mention says without handles and links (:func:`triage.text.content_text`;
    a mention that is only handles and links keeps its text): what :func:`cluster_mentions` compares.

    Args:
        texts: the mentions (non-empty str).
        encoder: an encoder or its kind (see :class:`triage.index.MentionIndex`).
        on_progress: called with (mentions encoded, total) while encoding.
    """
    from triage.index import MentionIndex
    from triage.text import content_text

    index = MentionIndex(encoder, normalize_text=False)  # content_text is already normalised
    return index.encode([content_text(t) or t for t in texts], on_progress=on_progress)


def cluster_mentions(
    ids: Sequence[str],
    texts: Sequence[str],
    *,
    encoder: Any = "minilm",
    created_at: Sequence[object] | None = None,
    links: Sequence[str | None] | None = None,
    brands: Sequence[str | None] | None = None,
    threshold: float = MENTION_THRESHOLD,
    min_size: int = 3,
    min_words: int = 2,
    since: str | None = None,
    until: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[list[QuestionCluster], list[str | None]]:
    """Repeated questions among mentions, from their texts: embed what each says without handles and links
    (:func:`triage.text.content_text`) and run :func:`repeated_questions`.

    Args:
        ids, texts: the mentions (a text may be empty: it is left out).
        encoder: an encoder or its kind (``minilm``, ``static``, ``finetuned``; see :class:`triage.index.MentionIndex`).
        created_at: times (ISO-8601 or Twitter's ``created_at`` str, datetimes; see :func:`triage.io.iso_times`).
        links, brands: see :func:`repeated_questions` (``brands`` given: clusters within a brand).
        threshold, min_size: see :func:`community_detection` (``threshold``: :data:`MENTION_THRESHOLD`).
        min_words: mentions with fewer words besides handles and links (:func:`triage.text.content_words`)
            are left out: "@Brand ?" and "@Brand thanks!" embed close together whatever they mean.
        since, until: keep mentions at or after ``since`` and before ``until`` (ISO-8601; a mention with no
            time is then left out).
        on_progress: called with (mentions encoded, total) while encoding.

    Returns:
        The clusters (times as ISO-8601 UTC) and, per input mention, why it was left out (None: it was
        considered; it may still be in no cluster).

    Raises:
        InputError: lists of different lengths, a time that is not one, a bad ``since``/``until``.
    """
    from triage.io import iso_times, parse_time
    from triage.text import content_words

    n = len(ids)
    for name, values in (("texts", texts), ("links", links), ("brands", brands)):
        if values is not None and len(values) != n:
            raise InputError(f"{name} has {len(values)} values for {n} mentions; pass one per mention.")
    times = iso_times(created_at, n)
    window: dict[str, str | None] = {}
    for name, value in (("since", since), ("until", until)):
        if value is not None:
            try:
                window[name] = iso_times([parse_time(str(value))], 1)[0]
            except ValueError:
                raise InputError(f"{name} {value!r} is not a time; give ISO-8601 such as 2020-03-17 or "
                                 "2020-03-17T16:54:32Z.") from None
    reasons: list[str | None] = []
    for text, time in zip(texts, times, strict=True):
        if not isinstance(text, str) or not text.strip():
            reasons.append("no text")
        elif content_words(text) < min_words:
            reasons.append(f"fewer than {min_words} words")
        elif window and time is None:
            reasons.append("no time (a window was given)")
        elif "since" in window and time < window["since"]:
            reasons.append("before since")
        elif "until" in window and time >= window["until"]:
            reasons.append("at or after until")
        else:
            reasons.append(None)
    kept = [i for i, reason in enumerate(reasons) if reason is None]
    if not kept:
        return [], reasons
    groups = Counter(None if brands is None else brands[i] for i in kept)
    largest = max(groups.values())
    if largest > _LARGE_GROUP:
        minutes = _SECONDS_PER_100K_SQUARED * (largest / 100_000) ** 2 / 60
        logger.warning("%s mentions%s are compared pairwise: about %.0f minutes on 2 cores "
                       "(benchmarks/clusters.md); narrow the batch (a time window, one brand at a time) to go faster",
                       f"{largest:,}", "" if brands is None else " of one brand", max(1.0, minutes))
    vectors = embed_content([texts[i] for i in kept], encoder=encoder, on_progress=on_progress)
    found = repeated_questions(
        [ids[i] for i in kept], [texts[i] for i in kept], vectors, created_at=[times[i] for i in kept],
        links=None if links is None else [links[i] for i in kept],
        brands=None if brands is None else [brands[i] for i in kept], threshold=threshold, min_size=min_size,
    )
    return found, reasons


def clusters_frame(clusters: Sequence[QuestionCluster]) -> pd.DataFrame:
    """One row per cluster (the :class:`QuestionCluster` fields; ``member_ids`` as a JSON list), largest first."""
    import pandas as pd

    columns = list(QuestionCluster.__dataclass_fields__)
    rows = [{**c.to_dict(), "member_ids": json.dumps(c.member_ids, ensure_ascii=False)} for c in clusters]
    return pd.DataFrame(rows, columns=columns)


def membership(ids: Sequence[str], clusters: Sequence[QuestionCluster]) -> pd.DataFrame:
    """One row per mention of ``ids``, in order: ``id``, ``cluster_id`` (nullable int; empty for a mention in no
    cluster) and ``is_representative``."""
    import pandas as pd

    of = {m: c.cluster_id for c in clusters for m in c.member_ids}
    centres = {c.representative_id for c in clusters}
    return pd.DataFrame({
        "id": list(ids),
        "cluster_id": pd.array([of.get(i) for i in ids], dtype="Int64"),
        "is_representative": [i in centres for i in ids],
    })

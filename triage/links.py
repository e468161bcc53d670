"""Self-service link suggestion: which help link answered mentions like this one, for the same brand.

For a new mention, :class:`LinkSuggester` takes its nearest answered mentions of the same brand from a
:class:`~triage.index.MentionIndex` and scores every link they were answered with by aggregating over all
of those neighbours, not only the first one:

    score(link) = sum over the top ``neighbours`` mentions answered with ``link`` of softmax(similarity / temperature)
                  + prior_weight * share of the brand's answered mentions that got ``link``

                  + title_weight * max(0, cos(mention, title(link)) - title_floor)

The softmax term is the neighbours' vote, weighted towards the closest ones; the prior term is the brand's
habit (on the IBM care conversations, predicting each brand's most frequent link alone is right a third of
the time), and breaks ties when the neighbours disagree. The title term (``title_weight`` 0 turns it off)
compares the mention with the words of the link's own path (``.../article/listen-offline-troubleshooting``
-> "listen offline troubleshooting", :func:`link_title`), for every link of the brand: help articles are
named after the problem they solve. The top ``k`` links come back with their scores.

:func:`evaluate_links` gives hit@1 and hit@5, leaving each query's own conversation out of the memory when
it is stored there (leave-one-conversation-out), and :func:`brand_most_frequent` is the baseline.

Example:
    >>> import numpy as np
    >>> from triage.index import MentionIndex
    >>> index = MentionIndex(encoder=None, dim=2).add_batch(
    ...     ["a", "b", "c"], ["reset password", "forgot password", "refund"], links=["/pw", "/pw", "/refund"],
    ...     brands=["Acme"] * 3, vectors=np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32))
    >>> top = LinkSuggester(index).suggest(vectors=np.array([[1.0, 0.05]]), brands=["Acme"], k=2)[0]
    >>> [s.link for s in top]
    ['/pw', '/refund']
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import numpy as np

from triage.errors import InputError
from triage.index import MentionIndex, Neighbour

if TYPE_CHECKING:
    import os

    import pandas as pd

__all__ = [
    "LinkSuggestion",
    "LinkSuggester",
    "LinkSettings",
    "evaluate_links",
    "brand_most_frequent",
    "hits_at",
    "link_title",
    "care_conversations",
    "memory_index",
    "evaluate_link_index",
]


@dataclass(frozen=True)
class LinkSuggestion:
    """One suggested self-service link.

    Attributes:
        link: the link (URL).
        score: the aggregated score (higher is better; not a probability).
        support: how many of the neighbours considered were answered with this link.
        best_similarity: cosine similarity of the closest neighbour answered with it (None: prior only).
        example_id: id of that neighbour (None: prior only).
    """

    link: str
    score: float
    support: int
    best_similarity: float | None
    example_id: str | None

    def to_dict(self) -> dict[str, Any]:
        """The suggestion as a JSON-able dict."""
        return asdict(self)


@dataclass
class LinkSettings:
    """Hyper-parameters of :class:`LinkSuggester` (chosen by leave-one-out on the IBM dev conversations).

    Attributes:
        neighbours: stored mentions of the brand that vote.
        temperature: softmax temperature over their similarities (smaller: the closest counts more).
        prior_weight: weight of the brand's link frequencies.
        min_similarity: neighbours below this cosine similarity do not vote.
        title_weight: weight of the mention's similarity to the words of each link's path (0: off; 2.0 was
            chosen on both halves of the IBM dev conversations, ``benchmarks/links.md``).
        title_floor: title similarities up to this count nothing (only a clear match adds). An index without
            an encoder (vectors passed in) cannot encode titles and skips the term.
    """

    neighbours: int = 20
    temperature: float = 0.1
    prior_weight: float = 0.3
    min_similarity: float = -1.0
    title_weight: float = 2.0
    title_floor: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinkSettings:
        """Rebuild from :meth:`to_dict` output (unknown keys are an error naming them)."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError(f"unknown link setting(s) {unknown}; allowed: {sorted(cls.__dataclass_fields__)}.")
        settings = cls(**dict(data))
        settings.check()
        return settings

    def check(self) -> None:
        """Raise InputError when a value is out of range."""
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, int) or self.neighbours < 1:
            raise InputError(f"neighbours must be a positive int, got {self.neighbours!r}.")
        if not self.temperature > 0:
            raise InputError(f"temperature must be > 0, got {self.temperature!r}.")
        if not self.prior_weight >= 0:
            raise InputError(f"prior_weight must be >= 0, got {self.prior_weight!r}.")
        if not self.title_weight >= 0:
            raise InputError(f"title_weight must be >= 0, got {self.title_weight!r}.")
        if not -1.0 <= self.title_floor <= 1.0:
            raise InputError(f"title_floor must be a cosine in [-1, 1], got {self.title_floor!r}.")


class LinkSuggester:
    """Suggest self-service links for new mentions from the answered mentions in an index.

    Args:
        index: the memory of answered mentions (with links and brands).
        settings: a :class:`LinkSettings` or its dict; default: ``index.settings["links"]`` when the index
            was saved with some, else the defaults.
    """

    def __init__(self, index: MentionIndex, settings: LinkSettings | Mapping[str, Any] | None = None) -> None:
        self.index = index
        if settings is None:
            settings = index.settings.get("links") or {}
        self.settings = settings if isinstance(settings, LinkSettings) else LinkSettings.from_dict(settings)
        self.settings.check()
        self._priors: dict[str | None, Counter[str]] | None = None
        self._priors_version = -1
        self._titles: dict[str, np.ndarray | None] = {}

    def priors(self) -> dict[str | None, Counter[str]]:
        """Per brand (None: mentions without a brand), how many answered mentions got each link."""
        if self._priors is None or self._priors_version != self.index.version:
            self._priors, self._priors_version = self.index.link_counts(), self.index.version
        return self._priors

    def suggest(
        self,
        texts: Sequence[str] | None = None,
        brands: Sequence[str | None] | str | None = None,
        *,
        k: int = 5,
        vectors: np.ndarray | None = None,
        exclude_ids: Sequence[str | None] | None = None,
    ) -> list[list[LinkSuggestion]]:
        """The ``k`` best links per mention, best first, from answered mentions of the same brand.

        Args:
            texts: the new mentions (or ``vectors``: their embeddings from the index's encoder).
            brands: the brand of each mention (one str for all); ``None`` searches every brand, and the
                prior is then the links' share over all answered mentions.
            k: links per mention.
            vectors: precomputed query embeddings (skips encoding).
            exclude_ids: per mention, a stored id that must not vote (its own conversation, in evaluation).

        Returns:
            One list of :class:`LinkSuggestion` per mention; empty for a brand with no answered mention
            with a link (or an empty index).
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(f"k must be a positive int, got {k!r}.")
        s = self.settings
        if vectors is not None:
            n = np.asarray(vectors).shape[0]
        elif texts is not None:
            if isinstance(texts, str):
                raise InputError("texts must be a list of str; wrap one mention in a list: [text].")
            n = len(texts)
        else:
            raise InputError("suggest needs texts or vectors.")
        brand_list: list[str | None] = [brands] * n if brands is None or isinstance(brands, str) else list(brands)
        if len(brand_list) != n:
            raise InputError(f"brands has {len(brand_list)} values for {n} mentions; pass one per mention.")
        if vectors is None and len(self.index) > 0 and self.index.encoder is not None:
            vectors = self.index.encode(list(texts or []))  # once: the search and the title term share it
        neighbours = self.index.query(
            None if vectors is not None else texts, k=s.neighbours, brand=brand_list, vectors=vectors,
            exclude_ids=exclude_ids,
            min_similarity=s.min_similarity if s.min_similarity > -1 else None,
        )
        priors = self.priors()
        pooled: Counter[str] | None = None
        excluded = [None] * n if exclude_ids is None else list(exclude_ids)
        out: list[list[LinkSuggestion]] = []
        for brand, found, own_id in zip(brand_list, neighbours, excluded, strict=True):
            if brand is None:
                if pooled is None:
                    pooled = Counter()
                    for counts in priors.values():
                        pooled.update(counts)
                counts = pooled
            else:
                counts = priors.get(brand, Counter())
            own = None if own_id is None else self.index.get(own_id)
            if own is not None and own.link is not None and (brand is None or own.brand == brand):
                # Leave-one-out: the excluded mention's own link must not count in the prior either.
                counts = Counter(counts)
                counts[own.link] -= 1
            total = sum(v for v in counts.values() if v > 0)
            prior = {link: v / total for link, v in counts.items() if v > 0} if total else {}
            titles = None
            if s.title_weight > 0 and prior and self.index.encoder is not None and vectors is not None:
                titles = self._title_scores(np.asarray(vectors[len(out)], dtype=np.float32), prior)
            out.append(self._score(found, prior, k, titles))
        return out

    def _title_scores(self, query: np.ndarray, candidates: Mapping[str, float]) -> dict[str, float]:
        """``title_weight * max(0, cos - title_floor)`` for each candidate link with a title."""
        missing = [link for link in candidates if link not in self._titles]
        if missing:
            named = [(link, title) for link in missing if (title := link_title(link))]
            encoded = self.index.encode([t for _, t in named]) if named else np.zeros((0, self.index.dim))
            for link in missing:
                self._titles[link] = None
            for (link, _), vector in zip(named, encoded, strict=True):
                self._titles[link] = vector
        s = self.settings
        scores: dict[str, float] = {}
        for link in candidates:
            vector = self._titles[link]
            if vector is not None:
                gain = float(query @ vector) - s.title_floor
                if gain > 0:
                    scores[link] = s.title_weight * gain
        return scores

    def _score(self, found: list[Neighbour], prior: Mapping[str, float], k: int,
               titles: Mapping[str, float] | None = None) -> list[LinkSuggestion]:
        s = self.settings
        voters = [nb for nb in found if nb.link is not None]
        scores: dict[str, float] = defaultdict(float)
        support: Counter[str] = Counter()
        best: dict[str, Neighbour] = {}
        if voters:
            sims = np.array([nb.similarity for nb in voters], dtype=np.float64)
            weights = np.exp((sims - sims.max()) / s.temperature)
            weights /= weights.sum()
            for nb, w in zip(voters, weights, strict=True):
                link = str(nb.link)
                scores[link] += float(w)
                support[link] += 1
                if link not in best or nb.similarity > best[link].similarity:
                    best[link] = nb
        if s.prior_weight > 0:
            for link, share in prior.items():
                scores[link] += s.prior_weight * share
        for link, gain in (titles or {}).items():
            scores[link] += gain
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return [
            LinkSuggestion(
                link=link,
                score=round(score, 6),
                support=support[link],
                best_similarity=None if link not in best else round(best[link].similarity, 6),
                example_id=None if link not in best else best[link].id,
            )
            for link, score in ranked
        ]


_TITLE_WORD = re.compile(r"[^\W\d_]{2,}")
# Path parts that name no problem: site sections, locales, archive prefixes, file endings.
_TITLE_STOP = frozenset({"web", "http", "https", "www", "html", "htm", "php", "aspx", "en", "us", "gb", "uk", "hc",
                         "article", "articles", "answer", "answers", "help", "support", "kb", "document", "docs",
                         "td", "ba", "t5", "thread", "categories", "category", "page", "index", "faq"})


def link_title(url: str) -> str:
    """The words a help link's own path names it by, or ``""`` when it has none.

    The last two path parts with at least two words each are kept (archive prefixes such as
    ``web.archive.org/web/2020.../`` are skipped; ids, locales and site sections carry no words).

    Example:
        >>> link_title("https://web.archive.org/web/20181119063823/https://support.spotify.com/us/article/listen-offline-troubleshooting")
        'listen offline troubleshooting'
        >>> link_title("https://support.google.com/youtube/answer/185111")
        ''
    """
    inner = re.split(r"/(?=https?://)", url)[-1]
    split = urlsplit(inner if "://" in inner else f"https://{inner}")
    parts = [unquote(p) for p in [*split.path.split("/"), split.fragment] if p]
    named = []
    for part in parts:
        words = [w.lower() for w in _TITLE_WORD.findall(part.replace("_", " ").replace("-", " "))]
        words = [w for w in words if w not in _TITLE_STOP]
        if len(words) >= 2:
            named.append(" ".join(words))
    return " ".join(named[-2:])


def hits_at(truth: Sequence[str | None], ranked: Sequence[Sequence[str]], ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """``hit_at_<k>``: share of queries whose true link is among the first ``k`` suggested.

    Example:
        >>> hits_at(["/a", "/b"], [["/a", "/c"], ["/c", "/b"]], ks=(1, 2))
        {'hit_at_1': 0.5, 'hit_at_2': 1.0}
    """
    n = len(truth)
    if n == 0:
        raise InputError("no queries to evaluate")
    return {f"hit_at_{k}": sum(t in list(r)[:k] for t, r in zip(truth, ranked, strict=True)) / n for k in ks}


def evaluate_links(
    suggester: LinkSuggester,
    texts: Sequence[str] | None,
    brands: Sequence[str | None],
    links: Sequence[str],
    *,
    ids: Sequence[str | None] | None = None,
    vectors: np.ndarray | None = None,
) -> dict[str, Any]:
    """hit@1 and hit@5 of ``suggester`` on labelled queries.

    Args:
        texts, vectors: the queries (texts, or embeddings from the index's encoder).
        brands: each query's brand.
        links: the link the agent actually sent.
        ids: each query's own id: when stored in the index it never votes for itself (leave-one-out).

    Returns:
        ``hit_at_1``, ``hit_at_5``, ``n``, and ``reachable``: the share of queries whose link answered some
        other stored mention of the same brand (the ceiling of retrieval from this memory).
    """
    suggestions = suggester.suggest(texts, brands, k=5, vectors=vectors, exclude_ids=ids)
    ranked = [[s.link for s in row] for row in suggestions]
    metrics = hits_at(list(links), ranked)
    counts = suggester.index.link_counts()
    own: dict[str, tuple[str | None, str | None]] = {}
    if ids is not None:
        for mention_id in ids:
            stored = None if mention_id is None else suggester.index.get(mention_id)
            if stored is not None:
                own[stored.id] = (stored.brand, stored.link)
    reachable = 0
    for i, (brand, link) in enumerate(zip(brands, links, strict=True)):
        available = counts.get(brand, Counter()).get(link, 0)
        mention_id = None if ids is None else ids[i]
        if mention_id in own and own[mention_id] == (brand, link):
            available -= 1
        reachable += available > 0
    return {**metrics, "n": len(ranked), "reachable": reachable / len(ranked)}


def brand_most_frequent(
    memory_brands: Sequence[str | None],
    memory_links: Sequence[str],
    brands: Sequence[str | None],
    links: Sequence[str],
    *,
    leave_one_out: bool = False,
) -> dict[str, Any]:
    """Baseline: suggest each brand's most frequent links (ties: the link name), hit@1 and hit@5.

    With ``leave_one_out`` the queries are the memory itself and each query's own row is not counted.

    Example:
        >>> brand_most_frequent(["A", "A", "A"], ["/x", "/x", "/y"], ["A"], ["/x"])["hit_at_1"]
        1.0
    """
    counts: dict[str | None, Counter[str]] = defaultdict(Counter)
    for brand, link in zip(memory_brands, memory_links, strict=True):
        counts[brand][link] += 1
    ranked = []
    for brand, link in zip(brands, links, strict=True):
        c = Counter(counts.get(brand, Counter()))
        if leave_one_out:
            c[link] -= 1
        ranked.append([lk for lk, _ in sorted(((lk, v) for lk, v in c.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))])
    return {**hits_at(list(links), ranked), "n": len(ranked)}


CARE_DATASET = "ibm_twitter_customer_care"


def _doc_urls(data_dir: str | os.PathLike[str] | None) -> dict[str, str]:
    """doc_id -> URL from ``docID_url.tsv`` of the care dataset under ``data_dir`` (empty when absent)."""
    from triage.paths import resolve_data_dir
    from triage.registry import dataset_info

    path = resolve_data_dir(data_dir) / dataset_info(CARE_DATASET).folder / "docID_url.tsv"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        doc_id, _, url = line.partition("\t")
        if doc_id.strip() and url.strip():
            out[doc_id.strip()] = url.strip()
    return out


def care_conversations(
    split: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    url_data_dir: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """The IBM care conversations of ``split`` as answered mentions: ``id, text, brand, link, created_at, doc_id``.

    ``text`` is the customer turns before the agent sent the link; ``link`` is the document's URL from
    ``docID_url.tsv`` (of ``url_data_dir``, default ``data_dir``; the dev folder ships it) or else the URL the
    agent sent, so that memory and queries name one document by one string.

    Example:
        >>> frame = care_conversations("dev")
        >>> len(frame), frame.columns.tolist()[:4]
        (525, ['id', 'text', 'brand', 'link'])
    """
    from triage.registry import load_dataset

    urls = _doc_urls(data_dir)
    if url_data_dir is not None:
        urls = {**urls, **_doc_urls(url_data_dir)}
    frame = load_dataset(CARE_DATASET, data_dir=data_dir, splits=[split])[split].to_pandas()
    links = [urls.get(str(doc), url if isinstance(url, str) and url else f"doc:{doc}")
             for doc, url in zip(frame["label"], frame["url"], strict=True)]
    return frame.assign(id=frame["conversation_id"], link=links, doc_id=frame["label"])[
        ["id", "text", "brand", "link", "created_at", "doc_id"]
    ].reset_index(drop=True)


def _memory_root() -> Any:
    """The default data root holding the IBM dev conversations (``$TRIAGE_DATA_DIR`` if it has them)."""
    from triage.paths import DEFAULT_DATA_DIR, resolve_data_dir
    from triage.registry import dataset_info

    spec = dataset_info(CARE_DATASET)
    files = spec.splits["dev"].files
    for root in (resolve_data_dir(None), DEFAULT_DATA_DIR):
        if all((root / spec.folder / name).is_file() for name in files):
            return root
    return resolve_data_dir(None)


def memory_index(artifact: MentionIndex, frame: pd.DataFrame) -> MentionIndex:
    """A fresh index of ``frame``'s conversations with ``artifact``'s encoder and search settings; vectors the
    artifact already holds for the same id and text are reused instead of encoded again."""
    memory = MentionIndex(artifact.encoder, dim=artifact.dim, exact_limit=artifact.exact_limit,
                          nprobe=artifact.nprobe, rerank=artifact.rerank, normalize_text=artifact.normalize_text,
                          keep_handles=artifact.keep_handles)
    ids, texts = frame["id"].tolist(), frame["text"].tolist()
    stored = [artifact.get(i) for i in ids]
    if all(s is not None and s.text == t for s, t in zip(stored, texts, strict=True)) and ids:
        vectors = artifact.vectors_of(ids)
    else:
        vectors = None if artifact.encoder is None else artifact.encode(texts)
        if vectors is None:
            raise InputError("the index has no encoder and does not hold these conversations: cannot encode them.")
    memory.add_batch(ids, texts, links=frame["link"].tolist(), brands=frame["brand"].tolist(),
                     created_at=frame["created_at"].tolist(), vectors=vectors)
    return memory


def evaluate_link_index(
    artifact: str | os.PathLike[str] | MentionIndex,
    *,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    settings: LinkSettings | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """hit@1 / hit@5 of link suggestion: IBM dev conversations (default data root) as memory, ``split`` of
    ``data_dir`` as queries, with the encoder and link settings of the index ``artifact``.

    A query never retrieves its own conversation, so ``split="dev"`` is leave-one-conversation-out.

    Returns:
        ``hit_at_1``, ``hit_at_5``, ``n``, ``reachable``, ``brand_most_frequent`` (hit@1/hit@5 of the
        baseline), ``memory`` (conversations), ``settings``.
    """
    index = artifact if isinstance(artifact, MentionIndex) else MentionIndex.load(artifact)
    root = _memory_root()
    memory_frame = care_conversations("dev", data_dir=root)
    queries = care_conversations(split, data_dir=data_dir, url_data_dir=root)
    if len(queries) == 0:
        raise InputError(f"{CARE_DATASET} [{split}] holds no conversation to evaluate on.")
    memory = memory_index(index, memory_frame)
    memory.settings = dict(index.settings)
    suggester = LinkSuggester(memory, settings)
    ids = queries["id"].tolist()
    texts = queries["text"].tolist()
    reuse = [memory.get(i) for i in ids]
    if all(r is not None and r.text == t for r, t in zip(reuse, texts, strict=True)):
        vectors = memory.vectors_of(ids)
    else:
        vectors = memory.encode(texts)
    metrics = evaluate_links(suggester, None, queries["brand"].tolist(), queries["link"].tolist(), ids=ids,
                             vectors=vectors)
    in_memory = set(memory_frame["id"])
    loo = all(i in in_memory for i in ids)
    baseline = brand_most_frequent(memory_frame["brand"].tolist(), memory_frame["link"].tolist(),
                                   queries["brand"].tolist(), queries["link"].tolist(), leave_one_out=loo)
    return {
        **metrics,
        "brand_most_frequent": {"hit_at_1": baseline["hit_at_1"], "hit_at_5": baseline["hit_at_5"]},
        "memory": len(memory),
        "leave_one_out": loo,
        "settings": suggester.settings.to_dict(),
    }

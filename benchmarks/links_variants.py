"""Link-suggestion variants that were measured and not shipped: IBM care conversations (dev), leave-one-out.

Writes benchmarks/links_variants.md. Same protocol as benchmarks/links.py (every dev conversation queries the
other 524 of its brand; hit@1/hit@5 against the document the agent sent), same shipped settings (MiniLM with
handles kept, 20 neighbours, temperature 0.1, prior 0.3, title 2.0 above 0.5). Each variant changes only the
similarity between conversations, so the score is recomputed from a similarity matrix here; the script first
checks that the unchanged matrix gives exactly the hits of :class:`triage.links.LinkSuggester`.

Variants: the static encoder's similarity mixed in; the customer's turns encoded one by one (mean vector or
best pair) mixed in; hubness correction (CSLS: a memory conversation close to many others is marked down);
pseudo-relevance feedback (the query moved towards its 3 nearest conversations); a learned linear metric
(identity plus low rank, trained with a supervised contrastive loss on one half of the conversations, scored
on the other half, and back); the agent's reply around the link (``url_utterance``, URLs removed) mixed into
the memory side or as a per-link description term (the replies of the other conversations that sent it); and,
as a check of the labels rather than the score, URL variants of one
document (an archive copy, a query string) merged into one link. ``half0``/``half1``: hit@1 on each half of the conversations (by id hash), to
show how little of a difference survives a change of half.

Run: ``.venv/bin/python benchmarks/links_variants.py`` (about a minute).
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from links import half_of, per_query  # noqa: E402

from triage.index import MentionIndex  # noqa: E402
from triage.links import LinkSettings, LinkSuggester, care_conversations, link_title  # noqa: E402
from triage.weak_labels import _load_ibm  # noqa: E402

HERE = Path(__file__).resolve().parent


class Scorer:
    """The shipped link score (softmax vote of the nearest same-brand conversations + brand prior + title term)
    computed from a given query-by-memory similarity matrix, leave-one-out."""

    def __init__(self, brands: list, truth: list, titles: np.ndarray, has_title: np.ndarray, links: list) -> None:
        self.brands = np.asarray(brands, dtype=object)
        self.links = links
        index = {link: i for i, link in enumerate(links)}
        self.y = np.array([index[t] for t in truth])
        self.titles, self.has_title = titles, has_title
        self.s = LinkSettings()

    def hits(self, similarity: np.ndarray, queries: np.ndarray, *, replies: np.ndarray | None = None,
             reply_weight: float = 0.0, reply_floor: float = 0.5) -> np.ndarray:
        """hit@1, hit@5 per query. ``replies`` (one unit vector per conversation: the agent's words around the
        link) add a link-description term like the title's: the query's cosine to the mean reply of the *other*
        conversations that sent the link, weighted above ``reply_floor``."""
        s, n = self.s, len(self.y)
        title_sim = queries @ self.titles.T
        if replies is not None:
            reply_sums = np.zeros((len(self.links), replies.shape[1]))
            np.add.at(reply_sums, self.y, replies)
        out = np.zeros((n, 2))
        for i in range(n):
            same = np.flatnonzero((self.brands == self.brands[i]) & (np.arange(n) != i))
            if len(same) == 0:
                continue
            sims = similarity[i, same]
            order = np.argsort(-sims, kind="stable")[: s.neighbours]
            weights = np.exp((sims[order] - sims[order].max()) / s.temperature)
            scores: dict[int, float] = defaultdict(float)
            for j, w in zip(same[order], weights / weights.sum(), strict=True):
                scores[self.y[j]] += float(w)
            counts = Counter(self.y[same].tolist())
            total = sum(counts.values())
            for link, count in counts.items():
                scores[link] += s.prior_weight * count / total
                gain = title_sim[i, link] - s.title_floor
                if self.has_title[link] and gain > 0:
                    scores[link] += s.title_weight * gain
                if replies is not None:
                    others = reply_sums[link] - (replies[i] if link == self.y[i] else 0.0)  # never its own reply
                    norm = np.linalg.norm(others)
                    if norm > 1e-9 and queries[i] @ others / norm > reply_floor:
                        scores[link] += reply_weight * (queries[i] @ others / norm - reply_floor)
            ranked = [link for link, _ in sorted(scores.items(), key=lambda kv: (-kv[1], self.links[kv[0]]))[:5]]
            out[i] = [ranked[0] == self.y[i], self.y[i] in ranked]
        return out


def make_scorer(index: MentionIndex, brands: list, truth: list) -> Scorer:
    """A :class:`Scorer` over the links in ``truth``, their titles encoded by ``index``."""
    links = sorted(set(truth))
    names = [link_title(link) for link in links]
    has_title = np.array([bool(t) for t in names])
    titles = np.zeros((len(links), index.dim), dtype=np.float32)
    titles[has_title] = index.encode([t for t in names if t])
    return Scorer(brands, truth, titles, has_title, links)


def canonical_url(url: str) -> str:
    """One key per document for URL variants: archive copies, scheme, ``www.``, query, anchor, trailing slash."""
    key = re.sub(r"^(https?://)?web\.archive\.org/web/\d+/", "", url.strip().lower())
    key = re.sub(r"^(https?://)?(www\.)?", "", key)
    return key.split("#")[0].split("?")[0].rstrip("/")


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def learned_metric(vectors: np.ndarray, y: np.ndarray, brands: np.ndarray, rows: np.ndarray, *, rank: int,
                   tau: float, lam: float, epochs: int, seed: int = 0) -> np.ndarray:
    """W = I + U V fitted on ``rows``: same-brand conversations with the same link pulled together (SupCon)."""
    import torch

    torch.manual_seed(seed)
    x = torch.tensor(vectors[rows])
    labels = torch.tensor(y[rows])
    brand_ids = torch.tensor(np.unique(brands[rows], return_inverse=True)[1])
    u = torch.nn.Parameter(torch.randn(x.shape[1], rank) * 0.01)
    v = torch.nn.Parameter(torch.zeros(rank, x.shape[1]))
    optimiser = torch.optim.Adam([u, v], lr=1e-2)
    eye = torch.eye(len(rows), dtype=torch.bool)
    valid = (brand_ids[:, None] == brand_ids[None, :]) & ~eye
    positive = valid & (labels[:, None] == labels[None, :])
    has = positive.any(1)
    for _ in range(epochs):
        z = torch.nn.functional.normalize(x + x @ u @ v, dim=1)
        logits = (z @ z.T / tau).masked_fill(~valid, -1e9)
        log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        loss = (-(log_p * positive).sum(1)[has] / positive.sum(1)[has]).mean() + lam * (u @ v).pow(2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return (torch.eye(x.shape[1]) + u @ v).detach().numpy()


def main() -> None:
    start = time.perf_counter()
    dev = care_conversations("dev")
    ids, brands, truth, texts = dev["id"].tolist(), dev["brand"].tolist(), dev["link"].tolist(), dev["text"].tolist()
    n = len(ids)
    halves = np.array([half_of(i) for i in ids])
    index = MentionIndex("minilm", keep_handles=True).add_batch(ids, texts, links=truth, brands=brands)
    e = index.vectors_of(ids)
    scorer = make_scorer(index, brands, truth)
    titles, has_title = scorer.titles, scorer.has_title

    base = scorer.hits(e @ e.T, e)
    shipped = per_query(LinkSuggester(index, LinkSettings()), e, brands, ids, truth)
    if not np.array_equal(base, shipped):
        raise SystemExit(f"the re-scorer disagrees with LinkSuggester on {int((base != shipped).any(1).sum())} queries")

    s0 = e @ e.T
    static = unit(MentionIndex("static", keep_handles=True).encode(texts))
    turns = [[t for t in text.split("\n") if t.strip()] or [text] for text in texts]
    owner = np.repeat(np.arange(n), [len(t) for t in turns])
    turn_vectors = index.encode([t for ts in turns for t in ts])
    mean_turns = unit(np.stack([turn_vectors[owner == i].mean(0) for i in range(n)]))
    pair = turn_vectors @ turn_vectors.T
    best_pair = np.full((n, n), -1.0)
    for i in range(n):
        np.maximum.at(best_pair[i], owner, pair[owner == i].max(0))
    brand_arr = np.asarray(brands, dtype=object)
    same_brand = (brand_arr[:, None] == brand_arr[None, :]) & ~np.eye(n, dtype=bool)

    variants: list[tuple[str, np.ndarray, np.ndarray]] = [("shipped (MiniLM, handles kept)", s0, e)]
    for a in (0.1, 0.2, 0.3):
        variants.append((f"static similarity mixed in, weight {a}", (1 - a) * s0 + a * (static @ static.T), e))
    for a in (0.25, 0.5):
        variants.append((f"turn-by-turn mean vector mixed in, weight {a}", (1 - a) * s0 + a * (mean_turns @ mean_turns.T), e))
        variants.append((f"best turn pair mixed in, weight {a}", (1 - a) * s0 + a * best_pair, e))
    for k in (5, 10, 20):
        for a in (0.5, 1.0):
            masked = np.sort(np.where(same_brand, s0, -np.inf), axis=1)[:, ::-1][:, :k]
            hub = np.array([row[np.isfinite(row)].mean() if np.isfinite(row).any() else 0.0 for row in masked])
            variants.append((f"hubness correction (CSLS), k {k}, weight {a}", s0 - 0.5 * a * hub[None, :], e))
    for b in (0.3, 0.6):
        moved = e.copy()
        for i in range(n):
            same = np.flatnonzero(same_brand[i])
            if len(same):
                moved[i] = e[i] + b * e[same[np.argsort(-s0[i, same])[:3]]].mean(0)
        moved = unit(moved)
        variants.append((f"pseudo-relevance feedback (3 neighbours), weight {b}", moved @ e.T, e))

    # The agent's words around the link (url_utterance, URLs removed): what a brand's reply says about the
    # document. Mixed into the memory side (queries stay customer text), or as a per-link description term.
    replies_by_id = _load_ibm("dev", None).set_index("conversation_id")["url_utterance"]
    reply_texts = [re.sub(r"\s+", " ", re.sub(r"https?://\S+", " ", replies_by_id.get(i) or "")).strip() or "link"
                   for i in ids]
    replies = unit(index.encode(reply_texts))
    for a in (0.25, 0.5):
        memory = unit(e + a * replies)
        variants.append((f"agent's reply mixed into the memory side, weight {a}", e @ memory.T, e))

    rows = []
    for name, similarity, queries in variants:
        hits = scorer.hits(similarity, queries)
        rows.append((name, hits))
        print(name, hits.mean(0).round(4), flush=True)
    for weight, floor in ((0.5, 0.4), (1.0, 0.4), (1.0, 0.5)):
        hits = scorer.hits(s0, e, replies=replies, reply_weight=weight, reply_floor=floor)
        rows.append((f"agent's replies as a link description (other conversations' replies), {weight}@{floor}", hits))
        print(rows[-1][0], hits.mean(0).round(4), flush=True)

    y = scorer.y
    for rank, tau, lam, epochs in [(32, 0.05, 1e-2, 100), (64, 0.05, 1e-2, 200), (64, 0.1, 1e-1, 200)]:
        combined = np.zeros((n, 2))
        for half in (0, 1):
            w = learned_metric(e, y, brand_arr, np.flatnonzero(halves == half), rank=rank, tau=tau, lam=lam, epochs=epochs)
            z, t = unit(e @ w), unit(titles @ w + 1e-12)
            t[~has_title] = 0.0
            held = halves != half
            scorer.titles = t
            combined[held] = scorer.hits(z @ z.T, z)[held]
            scorer.titles = titles
        name = f"learned metric (rank {rank}, tau {tau}, l2 {lam}, {epochs} steps), trained on the other half"
        rows.append((name, combined))
        print(name, combined.mean(0).round(4), flush=True)

    # Same document, other URL: count a suggestion as right when it names the agent's document by another URL.
    first: dict[str, str] = {}
    for link in sorted(set(truth)):
        first.setdefault(canonical_url(link), link)
    merged = [first[canonical_url(t)] for t in truth]
    name = (f"URL variants of one document merged ({len(set(truth)) - len(set(merged))} links folded into "
            "another: archive copies, query, anchor); truth merged too")
    rows.append((name, make_scorer(index, brands, merged).hits(s0, e)))
    print(name, rows[-1][1].mean(0).round(4), flush=True)

    lines = [
        "# Link suggestion: variants measured and not shipped",
        "",
        f"`benchmarks/links_variants.py`, {time.strftime('%Y-%m-%d')}, {time.perf_counter() - start:.0f} s; IBM dev, "
        f"{n} conversations, leave-one-conversation-out, the shipped settings (see `benchmarks/links.md`). The "
        "first row is checked to equal `LinkSuggester`'s hits query by query. One standard error of hit@1 is about "
        "0.022 (12 conversations); the target is hit@1 >= 0.45.",
        "",
        "| variant | hit@1 | hit@5 | hit@1 half 0 | hit@1 half 1 |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {name} | {h[:, 0].mean():.4f} | {h[:, 1].mean():.4f} | {h[halves == 0, 0].mean():.4f} | "
              f"{h[halves == 1, 0].mean():.4f} |" for name, h in rows]
    best = max(rows[1:], key=lambda r: r[1][:, 0].mean())
    lines += ["", f"Best variant: {best[0]}, hit@1 {best[1][:, 0].mean():.4f} against {base[:, 0].mean():.4f} shipped "
              f"({int(best[1][:, 0].sum() - base[:, 0].sum()):+d} conversations of {n}); "
              + ("within one standard error, so not shipped." if best[1][:, 0].mean() - base[:, 0].mean() < 0.022
                 else "more than one standard error: worth shipping.")]
    (HERE / "links_variants.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

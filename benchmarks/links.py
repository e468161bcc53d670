"""Self-service link suggestion on the IBM care conversations (dev), leave-one-conversation-out.

Writes benchmarks/links.md, links.json and links_coverage.png. Every dev conversation is a query against the other 524 (a
conversation never retrieves itself, nor counts in its brand's prior): hit@1 and hit@5 of the suggested
links against the document the agent actually sent. ``reachable`` is the share of conversations whose link
answered another dev conversation of the same brand, the ceiling of any retrieval from this memory.

Indexes: MiniLM over the normalised text (handles as ``@user``, what the classifiers see), MiniLM with the
handles kept (``keep_handles``: the handle a customer addresses names the product), and the static encoder.
Rows per index: 1-NN (the link of the single nearest conversation), the neighbours' softmax vote without and
with the brand prior, and with the link-title term (:class:`~triage.links.LinkSettings`). A grid over the
settings is chosen on the same conversations, so its best row is optimistic; the cross-fitted figure is the
honest one: settings chosen on one half of the conversations (by id), scored on the other, and back.
For the shipped index, precision (hit@1 of the suggestions kept) against coverage (share kept) as the floors
of the policy's ``suggested_link`` rule (best link's score, its closest conversation's similarity) rise.

Reference measured elsewhere (memory dev, queries test): MiniLM nearest neighbour hit@1 0.35, hit@5 0.50;
brand-most-frequent hit@1 0.34. Targets: hit@1 >= 0.45, hit@5 >= 0.54.

``--save models/index-ibm-minilm`` also saves the shipped index (MiniLM, handles kept, default settings):
``triage evaluate models/index-ibm-minilm --dataset ibm_twitter_customer_care --split test --data-dir DIR``.
Run: ``.venv/bin/python benchmarks/links.py`` (a few minutes: MiniLM encodes 525 conversations twice).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage.index import MentionIndex  # noqa: E402
from triage.links import LinkSettings, LinkSuggester, brand_most_frequent, care_conversations  # noqa: E402

HERE = Path(__file__).resolve().parent
SCORE_FLOORS = [0.0, 0.15, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
SIMILARITY_FLOORS = [None, 0.4, 0.5, 0.6]  # None: no floor
POLICY_FLOORS = (0.15, 0.5)  # triage.policy.SuggestedLinkRule defaults (min_score, min_similarity)
INDEXES = {  # name -> (encoder, keep_handles)
    "minilm": ("minilm", False),
    "minilm, handles kept": ("minilm", True),
    "static": ("static", False),
}
SHIPPED = "minilm, handles kept"
GRID = {
    "neighbours": [10, 20, 40],
    "temperature": [0.05, 0.1, 0.2],
    "prior_weight": [0.0, 0.3, 1.0],
    "title": [(0.0, 0.5), (1.0, 0.4), (2.0, 0.5), (4.0, 0.5), (4.0, 0.6)],
}


def per_query(suggester: LinkSuggester, vectors: np.ndarray, brands: list, ids: list, truth: list) -> np.ndarray:
    """(n, 2) array: hit@1 and hit@5 of every query, leave-one-out."""
    ranked = suggester.suggest(vectors=vectors, brands=brands, k=5, exclude_ids=ids)
    return np.array([[bool(r) and r[0].link == t, t in [s.link for s in r]] for r, t in zip(ranked, truth, strict=True)],
                    dtype=float)


def top_suggestions(suggester: LinkSuggester, vectors: np.ndarray, brands: list, ids: list,
                    truth: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query (leave-one-out): the best link's score, its closest neighbour's similarity (-1 when only the
    prior backs it, or no link at all) and whether it is the link the agent sent."""
    ranked = suggester.suggest(vectors=vectors, brands=brands, k=1, exclude_ids=ids)
    score = np.array([r[0].score if r else 0.0 for r in ranked])
    similarity = np.array([r[0].best_similarity if r and r[0].best_similarity is not None else -1.0 for r in ranked])
    right = np.array([bool(r) and r[0].link == t for r, t in zip(ranked, truth, strict=True)])
    return score, similarity, right


def floors(score: np.ndarray, similarity: np.ndarray, right: np.ndarray, min_score: float,
           min_similarity: float | None) -> dict[str, float]:
    """Coverage (share of queries whose best link clears both floors) and precision (hit@1 among those)."""
    kept = (score >= min_score) & (similarity >= (-1.0 if min_similarity is None else min_similarity))
    return {"min_score": min_score, "min_similarity": min_similarity, "coverage": float(kept.mean()),
            "precision": float(right[kept].mean()) if kept.any() else float("nan")}


def plot_floors(score: np.ndarray, similarity: np.ndarray, right: np.ndarray, path: Path) -> Path:
    """Precision of the best link against coverage as ``min_score`` rises, per similarity floor; the policy's
    default floors marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from triage.metrics import save_figure

    fig, ax = plt.subplots(figsize=(6, 4.5))
    sweep = np.unique(np.quantile(score, np.linspace(0.0, 0.95, 40)))
    for floor in SIMILARITY_FLOORS:
        points = [floors(score, similarity, right, t, floor) for t in sweep]
        ax.plot([p["coverage"] for p in points], [p["precision"] for p in points],
                label="no similarity floor" if floor is None else f"similarity >= {floor}")
    policy = floors(score, similarity, right, *POLICY_FLOORS)
    ax.scatter([policy["coverage"]], [policy["precision"]], s=80, color="#c53030", zorder=3,
               label=f"policy defaults (score >= {POLICY_FLOORS[0]}, similarity >= {POLICY_FLOORS[1]})")
    for t in (0.3, 0.6, 1.0):
        p = floors(score, similarity, right, t, None)
        ax.annotate(f"score >= {t}", (p["coverage"], p["precision"]), fontsize=7, textcoords="offset points",
                    xytext=(4, 4))
    ax.set_xlabel("coverage (share of conversations that get a suggestion)")
    ax.set_ylabel("precision (suggested link = the one the agent sent)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("Link suggestions: precision against coverage\n(IBM dev conversations, leave-one-out)", fontsize=10)
    return save_figure(fig, path)


def half_of(mention_id: str) -> int:
    """A fixed split of the conversations into two halves (by a hash of the id)."""
    return hashlib.sha256(mention_id.encode()).digest()[0] % 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--indexes", nargs="+", default=list(INDEXES), choices=list(INDEXES))
    parser.add_argument("--save", type=Path, default=None, help=f"save the {SHIPPED!r} index of the dev conversations here")
    parser.add_argument("--output", type=Path, default=HERE / "links.md")
    args = parser.parse_args()
    dev = care_conversations("dev")
    ids, brands, truth = dev["id"].tolist(), dev["brand"].tolist(), dev["link"].tolist()
    halves = np.array([half_of(i) for i in ids])
    baseline = brand_most_frequent(brands, truth, brands, truth, leave_one_out=True)
    default = LinkSettings()
    rows: list[dict] = []
    grid: list[dict] = []
    crossfit: dict[str, dict] = {}
    reachable = None
    confidence: list[dict] = []
    for name in args.indexes:
        kind, keep = INDEXES[name]
        start = time.perf_counter()
        index = MentionIndex(kind, keep_handles=keep).add_batch(
            ids, dev["text"].tolist(), links=truth, brands=brands, created_at=dev["created_at"].tolist())
        encode_s = time.perf_counter() - start
        vectors = index.vectors_of(ids)
        suggester = LinkSuggester(index, default)
        variants = {
            "1-NN (link of the nearest conversation)": LinkSettings(neighbours=1, prior_weight=0.0),
            "vote of 20 neighbours, no prior": LinkSettings(prior_weight=0.0),
            "vote + brand prior": LinkSettings(title_weight=0.0),
            "vote + brand prior + link title (default)": default,
        }
        for method, settings in variants.items():
            suggester.settings = settings
            hits = per_query(suggester, vectors, brands, ids, truth)
            rows.append({"index": name, "method": method, "hit_at_1": hits[:, 0].mean(), "hit_at_5": hits[:, 1].mean(),
                         "n": len(hits), "settings": settings.to_dict(), "encode_s": encode_s})
            print(rows[-1], flush=True)
        scored = []
        for neighbours, temperature, prior, (weight, floor) in itertools.product(*GRID.values()):
            suggester.settings = LinkSettings(neighbours=neighbours, temperature=temperature, prior_weight=prior,
                                              title_weight=weight, title_floor=floor)
            hits = per_query(suggester, vectors, brands, ids, truth)
            scored.append((suggester.settings, hits))
            grid.append({"index": name, **suggester.settings.to_dict(), "hit_at_1": hits[:, 0].mean(),
                         "hit_at_5": hits[:, 1].mean()})
        # Cross-fitted: the best grid settings of one half, scored on the other half (and back).
        combined = np.zeros((len(ids), 2))
        chosen = []
        for half in (0, 1):
            pick, other = halves == half, halves != half
            settings, hits = max(scored, key=lambda sh: (sh[1][pick, 0].mean(), sh[1][pick, 1].mean()))
            combined[other] = hits[other]
            chosen.append(settings.to_dict())
        crossfit[name] = {"hit_at_1": combined[:, 0].mean(), "hit_at_5": combined[:, 1].mean(), "chosen": chosen}
        print(name, crossfit[name], flush=True)
        if reachable is None:
            counts = index.link_counts()
            reachable = float(np.mean([counts.get(b, {}).get(t, 0) > 1 for b, t in zip(brands, truth, strict=True)]))
        if name == SHIPPED:
            suggester.settings = default
            top = top_suggestions(suggester, vectors, brands, ids, truth)
            confidence = [floors(*top, t, f) for t in SCORE_FLOORS for f in SIMILARITY_FLOORS]
            plot_floors(*top, args.output.with_name(args.output.stem + "_coverage.png"))
        if args.save is not None and name == SHIPPED:
            index.save(args.save, settings={"links": default.to_dict()})
    lines = [
        "# Self-service link suggestion: IBM care conversations, dev, leave-one-conversation-out",
        "",
        f"`benchmarks/links.py`, {time.strftime('%Y-%m-%d')}; {len(dev)} conversations, 24 brands; a conversation never "
        f"retrieves itself. Reachable (its link answered another conversation of its brand): {reachable:.3f}.",
        "Targets: hit@1 >= 0.45, hit@5 >= 0.54. Reference (memory dev, queries test, measured elsewhere): MiniLM "
        "nearest neighbour 0.35 / 0.50, brand-most-frequent hit@1 0.34. With 525 queries one standard error of "
        "hit@1 is about 0.022.",
        "",
        "| index | method | hit@1 | hit@5 |",
        "|---|---|---:|---:|",
        f"| - | brand-most-frequent links | {baseline['hit_at_1']:.3f} | {baseline['hit_at_5']:.3f} |",
    ]
    lines += [f"| {r['index']} | {r['method']} | {r['hit_at_1']:.3f} | {r['hit_at_5']:.3f} |" for r in rows]
    d = default
    lines += ["", f"Default settings: {d.neighbours} neighbours, temperature {d.temperature}, prior weight "
              f"{d.prior_weight}, title weight {d.title_weight} above cosine {d.title_floor}. Link titles are the words "
              "of the link's path (`triage.links.link_title`); 130 of the 243 dev links have one."]
    lines += ["", "Cross-fitted (grid settings chosen on one half of the conversations, scored on the other half, and "
              "back; the honest estimate of a tuned setting):", "", "| index | hit@1 | hit@5 | chosen on half 0 / half 1 |",
              "|---|---:|---:|---|"]
    for name, c in crossfit.items():
        picks = " / ".join(f"n{s['neighbours']} t{s['temperature']} p{s['prior_weight']} w{s['title_weight']}@{s['title_floor']}"
                           for s in c["chosen"])
        lines.append(f"| {name} | {c['hit_at_1']:.3f} | {c['hit_at_5']:.3f} | {picks} |")
    best = sorted(grid, key=lambda g: (-g["hit_at_1"], -g["hit_at_5"]))[:5]
    lines += ["", "Best settings of the whole grid (neighbours 10/20/40 x temperature 0.05/0.1/0.2 x prior 0/0.3/1 x "
              "title off, 1@0.4, 2@0.5, 4@0.5, 4@0.6; chosen on these same conversations, so optimistic):", "",
              "| index | neighbours | temperature | prior weight | title weight@floor | hit@1 | hit@5 |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {g['index']} | {g['neighbours']} | {g['temperature']} | {g['prior_weight']} | {g['title_weight']}@"
              f"{g['title_floor']} | {g['hit_at_1']:.3f} | {g['hit_at_5']:.3f} |" for g in best]
    shipped = next((r for r in rows if r["index"] == SHIPPED and "default" in r["method"]), rows[-1])
    lines += [
        "",
        f"Shipped ({shipped['index']}, default settings): hit@1 {shipped['hit_at_1']:.4f} "
        f"({'meets' if shipped['hit_at_1'] >= 0.45 else 'below'} the 0.45 target), hit@5 {shipped['hit_at_5']:.3f} "
        f"({'meets' if shipped['hit_at_5'] >= 0.54 else 'below'} the 0.54 target).",
        "",
        "Tried in development and not kept (each within a point of the default, inside the noise of 525 queries): "
        "TF-IDF similarity mixed into the neighbours' similarity (+0.4 point hit@1), the agent's turns before the "
        "link added to the text, a time-proximity weight, a Parzen (sum over all of a link's conversations) score, "
        "prototype (link centroid) and logistic-regression link classifiers over MiniLM + TF-IDF (0.41-0.42 with "
        "10-fold memory), and a learned re-ranker over vote, similarity, frequency and recency features (0.444 "
        "leave-one-out).",
    ]
    if confidence:
        lines += ["", f"How sure is a suggestion? ({SHIPPED}, default settings.) A suggestion is kept when its best "
                  "link's score and the similarity of its closest conversation with that link clear both floors: "
                  "coverage is the share of conversations kept, precision their hit@1 (cells: coverage / precision). "
                  f"The policy proposes a link (`suggested_link`) at min_score {POLICY_FLOORS[0]}, min_similarity "
                  f"{POLICY_FLOORS[1]} (chosen on twcs in `benchmarks/pipeline.md`); picture: "
                  f"`{args.output.stem}_coverage.png`.", "",
                  "| min_score | " + " | ".join("no similarity floor" if f is None else f"similarity >= {f}"
                                                 for f in SIMILARITY_FLOORS) + " |",
                  "|---:|" + "---:|" * len(SIMILARITY_FLOORS)]
        for t in SCORE_FLOORS:
            cells = [c for c in confidence if c["min_score"] == t]
            lines.append(f"| {t} | " + " | ".join(f"{c['coverage']:.2f} / {c['precision']:.2f}" for c in cells) + " |")
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.output.with_suffix(".json").write_text(json.dumps(
        {"rows": rows, "grid": grid, "crossfit": crossfit, "baseline": baseline, "reachable": reachable,
         "confidence": confidence},
        indent=2, default=float) + "\n")
    print(args.output.read_text())


if __name__ == "__main__":
    main()

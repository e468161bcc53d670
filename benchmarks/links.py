"""Self-service link suggestion on the IBM care conversations (dev), leave-one-conversation-out.

Writes benchmarks/links.md and links.json. Every dev conversation is a query against the other 524 (a
conversation never retrieves itself, nor counts in its brand's prior): hit@1 and hit@5 of the suggested
links against the document the agent actually sent. ``reachable`` is the share of conversations whose link
answered another dev conversation of the same brand, the ceiling of any retrieval from this memory.

Rows: the brand-most-frequent baseline, 1-NN (the link of the single nearest conversation), the neighbours'
softmax vote without and with the brand prior (the default :class:`~triage.links.LinkSettings`), per encoder,
and a small grid over the settings (chosen on the same conversations, so the best grid row is optimistic).

Reference measured elsewhere (memory dev, queries test): MiniLM nearest neighbour hit@1 0.35, hit@5 0.50;
brand-most-frequent hit@1 0.34. Targets: hit@1 >= 0.45, hit@5 >= 0.54.

``--save models/index-ibm-minilm`` also saves the MiniLM index of the dev conversations with the default
settings: ``triage evaluate models/index-ibm-minilm --dataset ibm_twitter_customer_care --split test --data-dir DIR``.
Run: ``.venv/bin/python benchmarks/links.py`` (a minute or two: MiniLM encodes 525 conversations).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage.index import MentionIndex  # noqa: E402
from triage.links import LinkSettings, care_conversations, evaluate_link_index  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoders", nargs="+", default=["minilm", "static"])
    parser.add_argument("--save", type=Path, default=None, help="save the MiniLM index of the dev conversations here")
    parser.add_argument("--output", type=Path, default=HERE / "links.md")
    args = parser.parse_args()
    dev = care_conversations("dev")
    rows: list[dict] = []
    grid: list[dict] = []
    baseline = None
    for kind in args.encoders:
        start = time.perf_counter()
        index = MentionIndex(kind).add_batch(dev["id"].tolist(), dev["text"].tolist(), links=dev["link"].tolist(),
                                             brands=dev["brand"].tolist(), created_at=dev["created_at"].tolist())
        encode_s = time.perf_counter() - start
        variants = {
            "1-NN (link of the nearest conversation)": LinkSettings(neighbours=1, prior_weight=0.0),
            "vote of 20 neighbours, no prior": LinkSettings(prior_weight=0.0),
            "vote of 20 neighbours + brand prior (default)": LinkSettings(),
        }
        for name, settings in variants.items():
            m = evaluate_link_index(index, split="dev", settings=settings)
            baseline = m["brand_most_frequent"]
            rows.append({"encoder": kind, "method": name, **{k: m[k] for k in ("hit_at_1", "hit_at_5", "n", "reachable")},
                         "settings": settings.to_dict(), "encode_s": encode_s})
            print(rows[-1], flush=True)
        for neighbours, temperature, prior in itertools.product([10, 20, 40], [0.05, 0.1, 0.2], [0.0, 0.3, 1.0]):
            settings = LinkSettings(neighbours=neighbours, temperature=temperature, prior_weight=prior)
            m = evaluate_link_index(index, split="dev", settings=settings)
            grid.append({"encoder": kind, **settings.to_dict(), "hit_at_1": m["hit_at_1"], "hit_at_5": m["hit_at_5"]})
        if args.save is not None and kind == "minilm":
            index.save(args.save, settings={"links": LinkSettings().to_dict()})
    lines = [
        "# Self-service link suggestion: IBM care conversations, dev, leave-one-conversation-out",
        "",
        f"`benchmarks/links.py`, {time.strftime('%Y-%m-%d')}; {len(dev)} conversations, 24 brands; a conversation never "
        f"retrieves itself. Reachable (its link answered another conversation of its brand): {rows[0]['reachable']:.3f}.",
        "Targets: hit@1 >= 0.45, hit@5 >= 0.54. Reference (memory dev, queries test, measured elsewhere): MiniLM "
        "nearest neighbour 0.35 / 0.50, brand-most-frequent hit@1 0.34.",
        "",
        "| encoder | method | hit@1 | hit@5 |",
        "|---|---|---:|---:|",
        f"| - | brand-most-frequent links | {baseline['hit_at_1']:.3f} | {baseline['hit_at_5']:.3f} |",
    ]
    for r in rows:
        lines.append(f"| {r['encoder']} | {r['method']} | {r['hit_at_1']:.3f} | {r['hit_at_5']:.3f} |")
    best = sorted(grid, key=lambda g: (-g["hit_at_1"], -g["hit_at_5"]))[:5]
    lines += ["", "Best settings of the grid (neighbours 10/20/40 x temperature 0.05/0.1/0.2 x prior 0/0.3/1; chosen "
              "on these same conversations, so optimistic):", "",
              "| encoder | neighbours | temperature | prior weight | hit@1 | hit@5 |", "|---|---:|---:|---:|---:|---:|"]
    for g in best:
        lines.append(f"| {g['encoder']} | {g['neighbours']} | {g['temperature']} | {g['prior_weight']} | "
                     f"{g['hit_at_1']:.3f} | {g['hit_at_5']:.3f} |")
    default = next(r for r in rows if r["encoder"] == "minilm" and "default" in r["method"]) if "minilm" in args.encoders else rows[-1]
    lines += [
        "",
        f"Default (MiniLM, vote + prior): hit@1 {default['hit_at_1']:.3f} "
        f"({'meets' if default['hit_at_1'] >= 0.45 else 'below'} the 0.45 target), hit@5 {default['hit_at_5']:.3f} "
        f"({'meets' if default['hit_at_5'] >= 0.54 else 'below'} the 0.54 target).",
        "",
        "Tried in development and not kept (each within a point of the default, inside the noise of 525 queries): "
        "TF-IDF similarity mixed into the neighbours' similarity (+0.4 point hit@1), the agent's turns before the "
        "link added to the text, a time-proximity weight, a Parzen (sum over all of a link's conversations) score, "
        "prototype (link centroid) and logistic-regression link classifiers over MiniLM + TF-IDF (0.41-0.42 with "
        "10-fold memory), and a learned re-ranker over vote, similarity, frequency and recency features (0.444 "
        "leave-one-out).",
    ]
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.output.with_suffix(".json").write_text(json.dumps({"rows": rows, "grid": grid, "baseline": baseline},
                                                           indent=2) + "\n")
    print(args.output.read_text())


if __name__ == "__main__":
    main()

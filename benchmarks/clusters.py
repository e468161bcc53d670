"""Speed and memory of repeated-question clusters (triage/clusters.py), written to benchmarks/clusters.md and
clusters.json.

``community_detection`` compares every mention with every other (chunked: ``chunk_size`` rows of the similarity
matrix at a time), so its time grows with the square of the batch. Measured on the synthetic tweet-like
vectors of ``benchmarks/index.py`` (topic mixture with MiniLM's spectrum; nearest-neighbour cosines 0.70-0.86
as for real tweets) at 10,000, 30,000 and 100,000 mentions, at the default threshold 0.75 and a stricter 0.85:
seconds, peak memory Python allocated (``tracemalloc``, numpy arrays included), clusters found and the share
of mentions in one. Correctness is in the tests (equal to a brute-force implementation); here a planted check:
20 groups of 5 near-copies (cosine about 0.95 to their original) hidden in the batch come out as whole groups.

Then the whole ``triage clusters`` path on real text: the customer tweets of the twcs excerpt (``first5000``,
two words or more), MiniLM over the words without handles and links, encoding and clustering timed apart. And
whether clusters keep to one question: purity against the intent labels of banking77 train per threshold.

Run: ``.venv/bin/python benchmarks/clusters.py`` (about 5 minutes on 2 cores); ``--sizes 10000`` for a quick look.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from index import DIM, Generator  # noqa: E402

from triage.clusters import MENTION_THRESHOLD, community_detection, embed_content, repeated_questions  # noqa: E402

HERE = Path(__file__).resolve().parent
THRESHOLDS = (0.75, 0.85)
PLANTED_GROUPS, PLANTED_SIZE = 20, 5


def planted_batch(n: int, seed: int = 0) -> tuple[np.ndarray, list[list[int]]]:
    """``n`` tweet-like vectors in which the last ``PLANTED_GROUPS * PLANTED_SIZE`` rows are groups of
    near-copies (each an original vector plus small noise), returned with the groups' row indices."""
    gen = Generator(seed=seed)
    background = gen.sample(n - PLANTED_GROUPS * PLANTED_SIZE)
    rng = np.random.default_rng(seed + 1)
    groups, rows = [], []
    for g in range(PLANTED_GROUPS):
        origin = rng.standard_normal(DIM).astype(np.float32)  # far from every topic: only its copies are near it
        origin /= np.linalg.norm(origin)
        copies = origin + 0.012 * rng.standard_normal((PLANTED_SIZE, DIM)).astype(np.float32)
        copies /= np.linalg.norm(copies, axis=1, keepdims=True)
        start = len(background) + g * PLANTED_SIZE
        groups.append(list(range(start, start + PLANTED_SIZE)))
        rows.append(copies)
    return np.vstack([background, *rows]), groups


def bench(n: int, threshold: float) -> dict:
    X, planted = planted_batch(n)
    tracemalloc.start()
    start = time.perf_counter()
    found = community_detection(X, threshold=threshold, min_size=3)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    as_sets = {frozenset(c) for c in found}
    whole = sum(frozenset(g) in as_sets for g in planted)
    clustered = sum(len(c) for c in found)
    return {"n": n, "threshold": threshold, "seconds": seconds, "peak_mb": peak / 2**20, "clusters": len(found),
            "clustered_share": clustered / n, "largest": max((len(c) for c in found), default=0),
            "planted_whole": whole}


def real_twcs() -> dict:
    """``triage clusters``' work on the customer tweets of twcs/first5000 (two words or more): encode, cluster."""
    import pandas as pd

    from triage.io import iso_times
    from triage.paths import resolve_data_dir
    from triage.text import content_words

    frame = pd.read_csv(resolve_data_dir() / "twcs" / "first5000" / "twcs.csv")
    frame = frame[frame["inbound"].astype(str).str.lower() == "true"]
    frame = frame[[content_words(t) >= 2 for t in frame["text"].astype(str)]].reset_index(drop=True)
    texts = frame["text"].astype(str).tolist()
    embed_content(["warm up"])
    start = time.perf_counter()
    vectors = embed_content(texts)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    found = repeated_questions(frame["tweet_id"].astype(str).tolist(), texts, vectors,
                               created_at=iso_times(frame["created_at"].tolist(), len(frame)),
                               threshold=MENTION_THRESHOLD, min_size=3)
    cluster_s = time.perf_counter() - start
    return {"mentions": len(texts), "encode_s": encode_s, "cluster_s": cluster_s, "clusters": len(found),
            "clustered_share": sum(c.size for c in found) / len(texts), "sizes": [c.size for c in found[:10]]}


def purity(thresholds: tuple[float, ...] = (0.7, 0.75, 0.8, 0.85)) -> dict:
    """How well clusters keep to one question, on labelled queries: banking77 train (77 intents) embedded like
    ``triage clusters``; per threshold, the share of queries clustered and the size-weighted purity (share of
    a cluster's members with its most common intent)."""
    from collections import Counter

    from triage.registry import load_dataset

    data = load_dataset("banking77", splits=["train"])["train"]
    texts, labels = list(data["text"]), list(data["label"])
    vectors = embed_content(texts)
    rows = []
    for threshold in thresholds:
        found = community_detection(vectors, threshold=threshold, min_size=3)
        clustered = sum(len(c) for c in found)
        majority = sum(Counter(labels[i] for i in c).most_common(1)[0][1] for c in found)
        rows.append({"threshold": threshold, "clusters": len(found), "clustered_share": clustered / len(texts),
                     "purity": majority / clustered if clustered else float("nan"),
                     "largest": max((len(c) for c in found), default=0)})
        print(rows[-1], flush=True)
    return {"queries": len(texts), "intents": len(set(labels)), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--output", type=Path, default=HERE / "clusters.md")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        for threshold in THRESHOLDS:
            rows.append(bench(n, threshold))
            print(rows[-1], flush=True)
    real = real_twcs()
    print(real, flush=True)
    pure = purity()
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(), "numpy": np.__version__}
    lines = [
        "# Repeated-question clusters: speed and memory",
        "",
        f"`benchmarks/clusters.py`, {meta['date']}, {meta['machine']}, Python {meta['python']}, numpy {meta['numpy']}. "
        "`triage.clusters.community_detection` (chunks of 1,024 rows, min_size 3) on synthetic tweet-like 384-d "
        "vectors (the generator of `benchmarks/index.py`) with "
        f"{PLANTED_GROUPS} planted groups of {PLANTED_SIZE} near-copies; peak memory is what Python allocated "
        "(numpy included) during the call, the vectors themselves excluded.",
        "",
        "| mentions | threshold | seconds | peak MB | clusters | share in a cluster | largest | planted groups found whole |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['n']:,} | {r['threshold']} | {r['seconds']:.1f} | {r['peak_mb']:,.0f} | {r['clusters']:,} | "
              f"{r['clustered_share']:.3f} | {r['largest']:,} | {r['planted_whole']} of {PLANTED_GROUPS} |" for r in rows]
    by_n = {r["n"]: r["seconds"] for r in rows if r["threshold"] == THRESHOLDS[0]}
    if len(by_n) > 1:
        small, big = min(by_n), max(by_n)
        exponent = np.log(by_n[big] / by_n[small]) / np.log(big / small)
        lines += ["", f"Time grows as n^{exponent:.2f} from {small:,} to {big:,} mentions (all pairs are compared): "
                  "cluster a day or a week of one brand's mentions at a time, not years of every brand at once."]
    lines += [
        "",
        f"Real text, `triage clusters`' work on the {real['mentions']:,} customer tweets of twcs/first5000 with two "
        f"words or more (threshold {MENTION_THRESHOLD}, min_size 3, all brands together): MiniLM encoding {real['encode_s']:.1f} s "
        f"({real['mentions'] / real['encode_s']:,.0f} mentions/s), clustering {real['cluster_s']:.2f} s; "
        f"{real['clusters']} clusters holding {real['clustered_share']:.1%} of the tweets, largest sizes "
        f"{', '.join(map(str, real['sizes']))}. Encoding, not clustering, is the cost at this size.",
    ]
    lines += [
        "",
        f"Do clusters keep to one question? Banking77 train ({pure['queries']:,} customer queries, {pure['intents']} "
        "intents), embedded like `triage clusters` (MiniLM over the words without handles and links), min_size 3; "
        "purity: the share of a cluster's members with its most common intent, weighted by size.",
        "",
        "| threshold | clusters | share in a cluster | purity | largest |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['threshold']} | {r['clusters']:,} | {r['clustered_share']:.3f} | {r['purity']:.3f} | {r['largest']:,} |"
              for r in pure["rows"]]
    lines += ["", f"`triage clusters` and `triage.clusters.cluster_mentions` default to {MENTION_THRESHOLD}: a repeated "
              "question should be one question, so purity comes before coverage."]
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.output.with_suffix(".json").write_text(
        json.dumps({"rows": rows, "real": real, "purity": pure, "meta": meta}, indent=2) + "\n")
    print(args.output.read_text())


if __name__ == "__main__":
    main()

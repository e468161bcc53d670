"""Duplicate decision on PIT-2015 dev: grouped cross-validation of the pair scorer against cosine baselines.

Writes benchmarks/duplicates.md and duplicates.json. Folds are by topic (5-fold ``GroupKFold``: a trending
topic is never in both the training and the test part); debatable pairs (2 of 5 crowd votes) are dropped, as
the task's official scorer does (a row with them counted as non-duplicates is added for reference).

- ``f1 (CV)``: each fold's threshold is chosen on its training part (out-of-fold predictions there), then
  applied to the test part: an honest figure.
- ``best F1``: the threshold that maximises F1 on all the scored pairs, as MTEB reports it (optimistic).
- ``AP``: average precision over all pairs (threshold-free).

Reference (MTEB TwitterSemEval2015, all-MiniLM-L6-v2, on the test part): AP 0.679, best F1 0.641.

``--save models/duplicates-pit2015`` also trains the default scorer on all dev pairs and saves it.
Run: ``.venv/bin/python benchmarks/duplicates.py`` (a few minutes, MiniLM encodes the 4,772 sentences once).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage.duplicates import (  # noqa: E402
    DuplicateScorer,
    best_f1_threshold,
    cross_validate_duplicates,
    paraphrase_pairs,
)
from triage.encoders import make_encoder  # noqa: E402
from triage.text import normalize_batch  # noqa: E402

HERE = Path(__file__).resolve().parent


def cosine_rows(pairs, encoder_kind: str, folds: int) -> dict:
    """A cosine-only decision: AP, best F1 and CV F1 (threshold from the training folds)."""
    from sklearn.metrics import average_precision_score, f1_score
    from sklearn.model_selection import GroupKFold

    a, b = pairs["text"].tolist(), pairs["text_pair"].tolist()
    y = pairs["label"].to_numpy()
    if encoder_kind == "jaccard":
        from triage.duplicates import pair_features

        scores = pair_features(a, b, encoders={})[0][:, 0]
    else:
        encoder = make_encoder(encoder_kind)
        unique = list(dict.fromkeys(a + b))
        if encoder_kind == "tfidf":
            encoder.fit(normalize_batch(unique))
        vectors = encoder.encode(normalize_batch(unique))
        where = {t: i for i, t in enumerate(unique)}
        va, vb = vectors[[where[t] for t in a]], vectors[[where[t] for t in b]]
        scores = np.asarray(va.multiply(vb).sum(1)).ravel() if hasattr(va, "multiply") else np.einsum("ij,ij->i", va, vb)
    decided = np.zeros(len(y), dtype=bool)
    for tr, te in GroupKFold(n_splits=folds).split(y, y, pairs["topic_id"]):
        threshold, _ = best_f1_threshold(y[tr], scores[tr])
        decided[te] = scores[te] >= threshold
    threshold, best = best_f1_threshold(y, scores)
    return {"f1": float(f1_score(y, decided)), "average_precision": float(average_precision_score(y, scores)),
            "best_f1": best, "threshold": threshold, "n": int(len(y))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--save", type=Path, default=None, help="train the default scorer on all dev and save it here")
    parser.add_argument("--output", type=Path, default=HERE / "duplicates.md")
    args = parser.parse_args()
    pairs = paraphrase_pairs("dev")
    a, b, y, g = pairs["text"].tolist(), pairs["text_pair"].tolist(), pairs["label"].tolist(), pairs["topic_id"].tolist()
    rows: list[dict] = []
    for kind in ("minilm", "static", "tfidf", "jaccard"):
        start = time.perf_counter()
        label = {"jaccard": "word Jaccard overlap"}.get(kind, f"cosine of {kind}")
        rows.append({"method": label, **cosine_rows(pairs, kind, args.folds), "seconds": time.perf_counter() - start})
        print(rows[-1], flush=True)
    scorers = {
        "pair scorer: minilm + static + tfidf cosines, Jaccard, length (default)": lambda: DuplicateScorer(),
        "pair scorer: static + tfidf cosines, Jaccard, length (no MiniLM)": lambda: DuplicateScorer(encoders=("static",)),
        "pair scorer: minilm cosine, Jaccard, length (no tfidf)": lambda: DuplicateScorer(encoders=("minilm",), tfidf=False),
    }
    for name, make in scorers.items():
        start = time.perf_counter()
        result = cross_validate_duplicates(make, a, b, y, g, n_splits=args.folds)
        rows.append({"method": name, **result, "threshold": None, "seconds": time.perf_counter() - start})
        print(rows[-1], flush=True)
    with_debatable = paraphrase_pairs("dev", debatable="negative")
    result = cross_validate_duplicates(DuplicateScorer, with_debatable["text"].tolist(),
                                       with_debatable["text_pair"].tolist(), with_debatable["label"].tolist(),
                                       with_debatable["topic_id"].tolist(), n_splits=args.folds)
    rows.append({"method": "default pair scorer, debatable pairs kept as non-duplicates", **result, "threshold": None,
                 "seconds": None})
    print(rows[-1], flush=True)
    saved = None
    if args.save is not None:
        scorer = DuplicateScorer().fit(a, b, y, groups=g)
        scorer.metrics_ = {"cv": {k: v for k, v in rows[4].items() if k != "method"}}
        scorer.save(args.save)
        saved = {"path": str(args.save), "threshold": scorer.threshold_,
                 "coef": dict(zip(scorer.feature_names_, np.round(scorer.coef_, 3).tolist(), strict=True))}
    lines = [
        "# Duplicate decision: PIT-2015 dev, grouped cross-validation",
        "",
        f"`benchmarks/duplicates.py`, {time.strftime('%Y-%m-%d')}; {rows[0]['n']:,} pairs (debatable dropped), "
        f"{args.folds} folds by topic (129 topics).",
        "Reference, MTEB TwitterSemEval2015 (test part) for all-MiniLM-L6-v2: AP 0.679, best F1 0.641.",
        "",
        "| method | F1 (CV, threshold from training folds) | AP | best F1 (threshold on the scored pairs) | cosine threshold |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        threshold = "-" if r.get("threshold") is None else f"{r['threshold']:.3f}"
        lines.append(f"| {r['method']} | {r['f1']:.3f} | {r['average_precision']:.3f} | {r['best_f1']:.3f} | {threshold} |")
    lines += [
        "",
        "- MiniLM's cosine is already at AP ~0.73 on dev (the MTEB figure is on the test part, with other topics); the "
        "pair scorer adds the lexical evidence (TF-IDF n-grams learned from the training pairs, word overlap) that "
        "paraphrases of one trending topic share.",
        "- Element-wise products |u-v| and u*v of the MiniLM embeddings (768 more features) were tried in development: "
        "they over-fit 4,000 pairs (AP 0.73 at C=0.01, worse with less regularisation) and are not used.",
        "- The cosine thresholds (best F1 over all dev) are the duplicate rule of an index without a pair scorer "
        "(`triage.duplicates.DEFAULT_COSINE_THRESHOLDS`).",
    ]
    if saved:
        lines += ["", f"Saved the default scorer trained on all dev to `{saved['path']}`: threshold "
                  f"{saved['threshold']:.3f}, standardised weights {saved['coef']}."]
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.output.with_suffix(".json").write_text(json.dumps({"rows": rows, "saved": saved}, indent=2) + "\n")
    print(args.output.read_text())


if __name__ == "__main__":
    main()

"""Needs-a-human: the weak-label report and what helps, by repeated thread-grouped cross-validation.

1. Applies the labelling functions of triage/weak_labels.py to twcs (three excerpts) and IBM (dev) and prints
   their coverage, overlaps and conflicts, and what each conflict policy would do.
2. Ablations, each a change to one model, scored by ROC-AUC of p(human) on held-apart twcs threads:
   5-fold StratifiedGroupKFold by thread, repeated with several seeds, over the twcs mentions of the internal
   train + validation threads (the internal test threads are never looked at here). Extra data (IBM) only
   ever joins the training folds. Reported: mean +- std over all folds, on all twcs mentions of the held-apart
   fold and on the reply-labelled ones only (first5000 + kaggle_sample, the reference's setting).
3. Trains the shipped recipe (training/needs-human-<tier>.yaml) and reports it on the internal test threads.

Writes everything to benchmarks/needs_human.md.

    .venv/bin/python benchmarks/needs_human.py [--seeds 3] [--folds 5] [--tiers tfidf static minilm] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import logit
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from triage.classifier import linear_head
from triage.encoders import make_encoder
from triage.labelled import internal_split, split_keys
from triage.needs_human import BrandPrior
from triage.paths import MODELS_DIR, REPO_ROOT
from triage.text import normalize_batch
from triage.weak_labels import format_report, needs_human_frame, resolve, weak_label_report

OUT = Path(__file__).resolve().parent / "needs_human.md"
CACHE = Path("/tmp/triage-needs-human-cache")
REPLY_SOURCES = ("twcs:first5000/twcs.csv", "twcs:kaggle_sample/sample.csv")
SPOTIFY = "twcs:spotifycares_requests/support_requests.csv"
IBM = "ibm_twitter_customer_care"

logger = logging.getLogger("needs_human_benchmark")


@dataclass(frozen=True)
class Config:
    """One model of the ablation."""

    name: str
    tier: str = "tfidf"
    spotify: bool = True           # train on the SpotifyCares follow-up labels
    ibm: bool = True               # add the IBM conversations to every training fold
    brand: bool = False            # the addressed brand as a feature (a token for tfidf, one-hot for embeddings)
    sentiment: float = 0.0         # weight of the sentiment head's 3 probabilities as extra features
    smoothing: float = 0.0         # label smoothing epsilon
    drop_conflicts: bool = False   # leave mentions with conflicting votes out of training
    C: float = 1.0
    class_weight: str | None = "balanced"
    brand_prior_only: bool = False
    brand_prior: bool = False      # as shipped: text head's log-odds + the brand prior (triage.needs_human.BrandPrior)
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------------------
# Data and cached features
# ------------------------------------------------------------------------------------------------------------


def brand_token(brand: object) -> str:
    """The brand as a word in front of the text (the variant that did not make it into the shipped model)."""
    return "brand_" + ("".join(ch for ch in str(brand).lower() if ch.isalnum()) or "none")


def _digest(texts: list[str]) -> str:
    return hashlib.sha1("\x1e".join(texts).encode("utf-8")).hexdigest()[:16]


def cached_embeddings(tier: str, texts: list[str]) -> np.ndarray:
    """Encode ``texts`` (normalised) with a pretrained tier once; reuse the .npy in /tmp afterwards."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{tier}-{_digest(texts)}.npy"
    if path.is_file():
        return np.load(path)
    start = time.perf_counter()
    encoder = make_encoder(tier).fit(texts)
    matrix = np.asarray(encoder.encode(texts), dtype=np.float32)
    logger.warning("encoded %d texts with %s in %.0fs (cached to %s)", len(texts), tier, time.perf_counter() - start, path)
    np.save(path, matrix)
    return matrix


def cached_sentiment(texts: list[str]) -> np.ndarray:
    """The sentiment-tfidf head's probabilities (negative, neutral, positive) for the raw texts."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"sentiment-{_digest(texts)}.npy"
    if path.is_file():
        return np.load(path)
    from triage.classifier import TextClassifier

    model = TextClassifier.load(MODELS_DIR / "sentiment-tfidf")
    proba = np.asarray(model.predict_proba(texts), dtype=np.float32)
    np.save(path, proba)
    return proba


@dataclass
class Data:
    frame: pd.DataFrame        # every labelled mention (twcs + IBM), with flags
    normalised: list[str]
    brands: np.ndarray


def load_data() -> tuple[Data, pd.DataFrame]:
    everything = needs_human_frame(datasets=("twcs", IBM), keep_abstained=True)
    labelled = everything[everything["label"].notna()].reset_index(drop=True)
    votes = labelled["votes"].map(json.loads)
    labelled["conflict"] = votes.map(lambda v: len(set(v.values())) > 1)
    labelled["twcs"] = labelled["source"].str.startswith("twcs:")
    # the internal split of the twcs mentions, exactly as training derives it
    parts = np.full(len(labelled), "extra", dtype=object)
    twcs = labelled["twcs"].to_numpy()
    parts[twcs] = internal_split(split_keys(labelled[twcs]))
    labelled["part"] = parts
    data = Data(labelled, normalize_batch(labelled["text"].tolist()), labelled["brand"].fillna("none").to_numpy())
    return data, everything


# ------------------------------------------------------------------------------------------------------------
# One model on one fold
# ------------------------------------------------------------------------------------------------------------


def _one_hot(brands: np.ndarray, vocabulary: list[str]) -> sp.csr_matrix:
    index = {b: i for i, b in enumerate(vocabulary)}
    rows = [i for i, b in enumerate(brands) if b in index]
    cols = [index[brands[i]] for i in rows]
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(brands), len(vocabulary)))


def features(config: Config, data: Data, train: np.ndarray, test: np.ndarray) -> tuple[object, object]:
    texts = data.normalised
    in_text = config.brand and not config.extra.get("onehot") and (
        config.tier == "tfidf" or config.extra.get("brand_in_text"))
    if in_text:  # as shipped: the brand's token in front of the text, for every block
        texts = [f"{brand_token(b)} {t}" for b, t in zip(data.brands, texts, strict=True)]
    if config.tier == "tfidf":
        encoder = make_encoder({"kind": "tfidf", **config.extra.get("tfidf", {})})
        encoder.fit([texts[i] for i in train])
        x_train, x_test = encoder.encode([texts[i] for i in train]), encoder.encode([texts[i] for i in test])
        if config.brand and not in_text:
            vocabulary = sorted(set(data.brands[train]))
            x_train = sp.hstack([x_train, _one_hot(data.brands[train], vocabulary)]).tocsr()
            x_test = sp.hstack([x_test, _one_hot(data.brands[test], vocabulary)]).tocsr()
    else:
        tiers = config.tier.split("+")
        blocks_train, blocks_test = [], []
        for tier in tiers:
            if tier == "tfidf":
                encoder = make_encoder("tfidf").fit([texts[i] for i in train])
                blocks_train.append(encoder.encode([texts[i] for i in train]))
                blocks_test.append(encoder.encode([texts[i] for i in test]))
            else:
                matrix = cached_embeddings(tier, texts)
                blocks_train.append(sp.csr_matrix(matrix[train]))
                blocks_test.append(sp.csr_matrix(matrix[test]))
        x_train, x_test = sp.hstack(blocks_train).tocsr(), sp.hstack(blocks_test).tocsr()
        if config.brand and not in_text:
            vocabulary = sorted(set(data.brands[train]))
            x_train = sp.hstack([x_train, _one_hot(data.brands[train], vocabulary)]).tocsr()
            x_test = sp.hstack([x_test, _one_hot(data.brands[test], vocabulary)]).tocsr()
    if config.sentiment:
        proba = cached_sentiment(data.frame["text"].tolist()) * config.sentiment
        x_train = sp.hstack([x_train, sp.csr_matrix(proba[train])]).tocsr()
        x_test = sp.hstack([x_test, sp.csr_matrix(proba[test])]).tocsr()
    return x_train, x_test


def fit_predict(config: Config, data: Data, train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    y = (data.frame["label"].to_numpy() == "human").astype(int)
    if config.brand_prior:  # returns log-odds: a monotone recalibration does not change ROC-AUC
        p_text = fit_predict(replace(config, brand_prior=False), data, train, test, seed)
        labels = data.frame["label"].to_numpy()
        prior = BrandPrior.fit(list(data.brands[train]), list(labels[train]), strength=5.0)
        return logit(np.clip(p_text, 1e-4, 1 - 1e-4)) + prior.shift(list(data.brands[test]))
    if config.brand_prior_only:
        rate = pd.Series(y[train]).groupby(data.brands[train]).agg(["sum", "count"])
        prior = y[train].mean()
        smoothed = (rate["sum"] + 5 * prior) / (rate["count"] + 5)
        return np.array([smoothed.get(b, prior) for b in data.brands[test]])
    x_train, x_test = features(config, data, train, test)
    y_train = y[train]
    weights = np.ones(len(train))
    if config.smoothing:
        eps = config.smoothing
        x_train = sp.vstack([x_train, x_train]).tocsr() if sp.issparse(x_train) else np.vstack([x_train, x_train])
        y_train = np.r_[y_train, 1 - y_train]
        weights = np.r_[np.full(len(train), 1 - eps), np.full(len(train), eps)]
    head = linear_head(config.C, class_weight=config.class_weight, max_iter=3000, random_state=seed)
    head.fit(x_train, y_train, sample_weight=weights)
    return head.predict_proba(x_test)[:, 1]


def training_rows(config: Config, data: Data, fold_train: np.ndarray) -> np.ndarray:
    frame = data.frame
    keep = fold_train
    if not config.spotify:
        keep = keep[frame["source"].to_numpy()[keep] != SPOTIFY]
    if config.drop_conflicts:
        keep = keep[~frame["conflict"].to_numpy()[keep]]
    if config.ibm:
        keep = np.r_[keep, np.flatnonzero(frame["source"].to_numpy() == IBM)]
    return keep


@dataclass
class Result:
    config: Config
    auc_all: list[float]
    auc_reply: list[float]
    seconds: float


def cross_validate(config: Config, data: Data, seeds: list[int], folds: int) -> Result:
    frame = data.frame
    pool = np.flatnonzero(frame["twcs"].to_numpy() & (frame["part"].to_numpy() != "test"))
    y = (frame["label"].to_numpy() == "human").astype(int)
    reply = frame["source"].isin(REPLY_SOURCES).to_numpy()
    auc_all, auc_reply = [], []
    start = time.perf_counter()
    for seed in seeds:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        for fold_train, fold_test in splitter.split(pool, y[pool], groups=frame["thread_id"].to_numpy()[pool]):
            train, test = training_rows(config, data, pool[fold_train]), pool[fold_test]
            p = fit_predict(config, data, train, test, seed)
            auc_all.append(roc_auc_score(y[test], p))
            sub = reply[test]
            auc_reply.append(roc_auc_score(y[test][sub], p[sub]))
    return Result(config, auc_all, auc_reply, time.perf_counter() - start)


# ------------------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------------------


def policy_table(everything: pd.DataFrame) -> str:
    votes = everything["votes"].map(json.loads)
    lines = ["| conflict policy | labelled | human | self_service |", "| --- | --- | --- | --- |"]
    for policy in ("human_wins", "majority", "drop"):
        labels = votes.map(lambda v, p=policy: resolve(v, p))
        counts = labels.value_counts()
        lines.append(f"| {policy} | {int(labels.notna().sum())} | {counts.get('human', 0)} | {counts.get('self_service', 0)} |")
    return "\n".join(lines)


def conflict_examples(everything: pd.DataFrame, n: int = 6) -> str:
    from triage.weak_labels import load_twcs_tweets, twcs_evidence

    evidence = twcs_evidence(load_twcs_tweets())
    votes = everything["votes"].map(json.loads)
    conflicted = everything[votes.map(lambda v: len(set(v.values())) > 1) & everything["source"].str.startswith("twcs")]
    lines = []
    for row in conflicted.sample(min(n, len(conflicted)), random_state=0).itertuples():
        reply = (evidence[row.tweet_id].reply or evidence[row.tweet_id].followup or "").replace("\n", " / ")
        reply = reply.replace("|", "/")
        lines.append(f"| {row.brand} | {', '.join(sorted(json.loads(row.votes)))} | {reply[:160]} |")
    return "\n".join(["| brand | functions that fired | brand reply (evidence, not model input) |", "| --- | --- | --- |", *lines])


def fmt(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def ablation_configs(tiers: list[str]) -> list[Config]:
    """Data first (which weak labels), then the brand, then changes on top of tfidf + brand, then tiers."""
    base = Config("tfidf, reply labels only (first5000 + kaggle), no IBM", spotify=False, ibm=False)
    configs = [
        base,
        replace(base, name="tfidf, + SpotifyCares follow-up labels", spotify=True),
        replace(base, name="tfidf, + SpotifyCares + IBM (all weak labels)", spotify=True, ibm=True),
        replace(base, name="tfidf, reply labels + IBM (no SpotifyCares)", ibm=True),
        Config("tfidf + sentiment probabilities (w=1), all weak labels", sentiment=1.0),
        Config("tfidf + label smoothing 0.1, all weak labels", smoothing=0.1),
        Config("brand prior only (no text; all weak labels)", brand_prior_only=True),
        Config("tfidf + brand token in the text (all weak labels)", brand=True),
        Config("tfidf + brand one-hot (all weak labels)", brand=True, extra={"onehot": True}),
        Config("tfidf + brand prior (all weak labels)", brand_prior=True),
    ]
    shipped = Config("SHIPPED: tfidf + brand prior, no IBM", ibm=False, brand_prior=True)
    configs += [
        shipped,
        replace(shipped, name="  + IBM", ibm=True),
        replace(shipped, name="  - SpotifyCares labels", spotify=False),
        replace(shipped, name="  + sentiment probabilities (w=1)", sentiment=1.0),
        replace(shipped, name="  + sentiment probabilities (w=3)", sentiment=3.0),
        replace(shipped, name="  + label smoothing 0.1", smoothing=0.1),
        replace(shipped, name="  + label smoothing 0.2", smoothing=0.2),
        replace(shipped, name="  conflicts left out of training", drop_conflicts=True),
        replace(shipped, name="  class_weight none", class_weight=None),
        replace(shipped, name="  C=0.3", C=0.3),
        replace(shipped, name="  C=3", C=3.0),
    ]
    for tier in [t for t in tiers if t != "tfidf"]:
        configs += [
            Config(f"{tier}, no brand (all weak labels)", tier=tier),
            Config(f"{tier} + brand token in the text", tier=tier, brand=True, extra={"brand_in_text": True}),
            Config(f"{tier} + brand one-hot", tier=tier, brand=True),
            Config(f"{tier} + brand prior, no IBM", tier=tier, ibm=False, brand_prior=True),
        ]
    if "minilm" in tiers:
        configs += [
            Config("tfidf+minilm (hybrid), no brand", tier="tfidf+minilm"),
            Config("tfidf+minilm (hybrid) + brand prior, no IBM", tier="tfidf+minilm", ibm=False, brand_prior=True),
        ]
    return configs


def train_shipped(tier: str) -> dict:
    from triage.training import train_recipe

    run = train_recipe(REPO_ROOT / "training" / f"needs-human-{tier}.yaml")
    keys = ("n", "roc_auc", "average_precision", "f1", "precision", "recall", "threshold", "ece")
    return {"tier": tier, "seconds": run.seconds, "n_train": run.n_train,
            **{f"val_{k}": run.metrics["validation"].get(k) for k in keys},
            **{f"test_{k}": run.metrics["test"].get(k) for k in keys}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--tiers", nargs="+", default=["tfidf", "static", "minilm"])
    parser.add_argument("--only", nargs="*", default=None, help="run only configs whose name contains one of these")
    parser.add_argument("--ship", nargs="*", default=["tfidf"], help="recipes to train and test at the end")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    data, everything = load_data()
    report = weak_label_report(everything)
    lf_md = format_report(report)
    print(lf_md)
    print(policy_table(everything))

    frame = data.frame
    pool = frame["twcs"] & (frame["part"] != "test")
    summary = (f"CV pool: {int(pool.sum())} twcs mentions in {frame.loc[pool, 'thread_id'].nunique()} threads "
               f"(internal train + validation; {int(frame['label'][pool].eq('human').sum())} human); "
               f"internal test: {int((frame['part'] == 'test').sum())} mentions; IBM extra: {int((frame['source'] == IBM).sum())}.")
    print(summary)

    seeds = list(range(args.seeds))
    results: list[Result] = []
    for config in ablation_configs(args.tiers):
        if args.only and not any(word in config.name for word in args.only):
            continue
        result = cross_validate(config, data, seeds, args.folds)
        results.append(result)
        print(f"{config.name:55s} all {fmt(result.auc_all)}  reply-labelled {fmt(result.auc_reply)}  ({result.seconds:.0f}s)",
              flush=True)

    shipped = [train_shipped(tier) for tier in args.ship]
    for row in shipped:
        print(json.dumps(row))
    if args.no_write:
        return

    lines = [
        "# Needs-a-human: weak labels and what helps",
        "",
        f"_Generated by `benchmarks/needs_human.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({platform.machine()}, {args.seeds} seeds × {args.folds} folds); regenerate, do not edit._",
        "",
        "## Weak labels",
        "",
        lf_md,
        "",
        "What each conflict policy would give (all candidates):",
        "",
        policy_table(everything),
        "",
        "Chosen: **human_wins**. A conflict is nearly always a brand reply that carries a link *and* moves the "
        "customer to a person or private channel (\"please DM us\", \"send us an email at <contact-form link>\", "
        "\"provide your details here: <form>\"); the link is then a way to reach a person, not the resolution. "
        "Handoffs offered only as a fallback (\"if that doesn't help, DM us\", \"feel free to contact us\") do "
        "not vote at all. Examples of conflicts:",
        "",
        conflict_examples(everything),
        "",
        "## Ablation (ROC-AUC of p(human), held-apart twcs threads)",
        "",
        summary,
        "Mean ± std over all folds; `all twcs` = every twcs mention of the held-apart fold, `reply-labelled` = "
        "only first5000 + kaggle_sample mentions (labelled from the brand's reply; the reference's setting: "
        "tfidf + LR on first5000 weak labels, 0.685 on held-out threads).",
        "",
        "`Δ` columns: the paired difference, fold by fold, to `brand prior only` (same folds for every model).",
        "",
        "| model | all twcs | reply-labelled | Δ all vs brand prior | Δ reply vs brand prior | seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    reference = next((r for r in results if r.config.brand_prior_only), None)
    for result in results:
        if reference is not None:
            d_all = fmt(list(np.subtract(result.auc_all, reference.auc_all)))
            d_reply = fmt(list(np.subtract(result.auc_reply, reference.auc_reply)))
        else:
            d_all = d_reply = "-"
        name = result.config.name.replace("  ", "&nbsp;&nbsp;")
        lines.append(f"| {name} | {fmt(result.auc_all)} | {fmt(result.auc_reply)} | {d_all} | {d_reply} "
                     f"| {result.seconds:.0f} |")
    chosen = next((r for r in results if r.config.name.startswith("SHIPPED")), None)
    if chosen is not None:
        lines += ["", "## Summary", "",
                  f"Chosen: **{chosen.config.name.removeprefix('SHIPPED: ')}** (training/needs-human-tfidf.yaml): "
                  f"ROC-AUC {fmt(chosen.auc_all)} on held-apart twcs threads ({fmt(chosen.auc_reply)} on the "
                  "reply-labelled mentions). Paired difference, fold by fold, of each change to it:", "",
                  "| change | Δ all twcs | Δ reply-labelled | verdict |", "| --- | --- | --- | --- |"]
        for result in results:
            if result is chosen or not (result.config.name.startswith("  ") or result.config.tier != "tfidf"):
                continue
            d_all = np.subtract(result.auc_all, chosen.auc_all)
            d_reply = np.subtract(result.auc_reply, chosen.auc_reply)
            helps = d_all.mean() > d_all.std() / np.sqrt(len(d_all)) * 2 and d_reply.mean() > 0
            hurts = d_all.mean() < -d_all.std() / np.sqrt(len(d_all)) * 2
            verdict = "helps" if helps else "hurts" if hurts else "no clear difference"
            lines.append(f"| {result.config.name.strip()} | {fmt(list(d_all))} | {fmt(list(d_reply))} | {verdict} |")
        lines += ["", "verdict: `helps` / `hurts` when the mean paired difference on all twcs mentions is more than "
                  "two standard errors away from 0 (and, for `helps`, also positive on the reply-labelled ones)."]
    if shipped:
        lines += [
            "",
            "## Shipped recipes on the internal splits",
            "",
            "| recipe | n_train | val ROC-AUC | test n | test ROC-AUC | test AP | test F1 | precision | recall | threshold | test ECE |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in shipped:
            lines.append(
                f"| needs-human-{row['tier']} | {row['n_train']} | {row['val_roc_auc']:.3f} | {row['test_n']} | "
                f"{row['test_roc_auc']:.3f} | {row['test_average_precision']:.3f} | {row['test_f1']:.3f} | "
                f"{row['test_precision']:.3f} | {row['test_recall']:.3f} | {row['test_threshold']:.3f} | {row['test_ece']:.3f} |"
            )
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

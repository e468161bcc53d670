"""One quality table for every default model: task, dataset, split, tier, metric, value, ECE, training
seconds and prediction speed. Trains a model only when its folder is missing (or with --retrain), then
evaluates it through the same code as `triage evaluate`. Writes benchmarks/RESULTS.md (regenerated, never
hand-edited).

    .venv/bin/python benchmarks/quality.py [--only sentiment intent needs_human] [--retrain] [--train-missing [--train-finetuned]] [--skip-slow]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from triage.artifacts import load_classifier
from triage.evaluation import evaluate_classifier
from triage.finetune import finetune_progress
from triage.paths import MODELS_DIR, REPO_ROOT
from triage.training import train_recipe

OUT = Path(__file__).resolve().parent / "RESULTS.md"



@dataclass(frozen=True)
class Row:
    """One default model and how it is scored: the headline metrics of one split."""

    task: str
    model: str  # recipe name in training/, model folder in models/
    dataset: str
    split: str
    metrics: tuple[str, ...]
    label_column: str = "label"
    labels: str | None = None  # evaluate_classifier's `labels` ("model": the model's own labels)
    gpu_recipe: bool = False  # a fine-tuning meant for a GPU machine (hours on 2 CPU cores): trained only with a GPU


ROWS: list[Row] = [
    Row("sentiment", "sentiment-tfidf", "tweeteval_sentiment", "val", ("macro_recall",)),
    Row("sentiment", "sentiment-static", "tweeteval_sentiment", "val", ("macro_recall",)),
    Row("sentiment", "sentiment-minilm", "tweeteval_sentiment", "val", ("macro_recall",)),
    Row("sentiment", "sentiment-finetuned", "tweeteval_sentiment", "val", ("macro_recall",), gpu_recipe=True),
    Row("sentiment", "sentiment-finetuned-cpu", "tweeteval_sentiment", "val", ("macro_recall",)),
    Row("sentiment", "airline-sentiment-tfidf", "twitter_airline_sentiment", "test", ("macro_recall",)),
    Row("sentiment", "airline-sentiment-minilm", "twitter_airline_sentiment", "test", ("macro_recall",)),
    Row("intent", "intent-bitext-tfidf", "bitext_customer_support", "test", ("accuracy",)),
    Row("intent", "intent-bitext-minilm", "bitext_customer_support", "test", ("accuracy",)),
    Row("intent", "intent-bitext-oos-minilm", "bitext_customer_support", "test", ("accuracy",)),
    Row("intent", "intent-clinc150-tfidf", "clinc150", "val+oos_val", ("in_scope_accuracy", "oos_recall")),
    Row("intent", "intent-clinc150-minilm", "clinc150", "val+oos_val", ("in_scope_accuracy", "oos_recall")),
    Row("intent", "intent-clinc150-hybrid", "clinc150", "val+oos_val", ("in_scope_accuracy", "oos_recall")),
    Row("complaint_reason", "complaint-reason-airline-tfidf", "twitter_airline_sentiment", "test", ("accuracy", "macro_f1"),
        label_column="negativereason", labels="model"),
    Row("complaint_reason", "complaint-reason-airline-minilm", "twitter_airline_sentiment", "test", ("accuracy", "macro_f1"),
        label_column="negativereason", labels="model"),
    Row("needs_human", "needs-human-tfidf", "twcs", "test", ("roc_auc", "f1")),
    Row("needs_human", "needs-human-minilm", "twcs", "test", ("roc_auc", "f1")),
    Row("no_reply", "no-reply-tfidf", "twcs", "test", ("roc_auc",)),
    Row("no_reply", "no-reply-minilm", "twcs", "test", ("roc_auc",)),
]
# Banking77 ships only its train part here: its figures are 5-fold cross-validation, run by benchmarks/intent.py
# (which retrains every fold); the table takes them from benchmarks/intent.json.
CV_SOURCE = Path(__file__).resolve().parent / "intent.json"
CV_ROWS = {"banking77": ("intent", "accuracy")}
SLOW_TIERS = ("minilm", "finetuned", "hybrid")


def tier_of(model_dir: Path) -> str:
    config = json.loads((model_dir / "config.json").read_text())
    return str(config["encoder"].get("kind"))


def ensure(name: str, retrain: bool) -> tuple[Path, float | None]:
    path = MODELS_DIR / name
    if retrain or not (path / "config.json").is_file():
        recipe = REPO_ROOT / "training" / f"{name}.yaml"
        print(f"training {name}")
        columns = (TextColumn(f"fine-tuning {name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, transient=True) as progress:  # shown only while a finetuned encoder trains
            task = progress.add_task("steps", total=None, visible=False)
            with finetune_progress(lambda step, total: progress.update(task, completed=step, total=total,
                                                                       visible=True)):
                run = train_recipe(recipe)
        return run.output, run.seconds
    metrics = json.loads((path / "metrics.json").read_text())
    config = json.loads((path / "config.json").read_text())
    seconds = metrics.get("training_seconds", config.get("training", {}).get("training_seconds"))
    return path, seconds


def speed(model_dir: Path, texts: list[str]) -> float:
    model = load_classifier(model_dir)
    model.predict_proba(texts[:32])
    start = time.perf_counter()
    model.predict_proba(texts)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help="tasks to include")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--train-missing", action="store_true", help="train models whose folder is missing")
    parser.add_argument("--skip-slow", action="store_true", help="leave out minilm/finetuned/hybrid models")
    parser.add_argument("--train-finetuned", action="store_true", help="with --train-missing, also fine-tune MiniLM")
    parser.add_argument("--n-speed", type=int, default=2000)
    args = parser.parse_args()

    from triage.registry import load_dataset

    twcs = load_dataset("twcs", splits=["all"])["all"]
    mentions = [t for t, inbound in zip(twcs["text"], twcs["inbound"], strict=True) if inbound][: args.n_speed]

    import torch

    gpu = torch.cuda.is_available()
    rows = []
    for spec in ROWS:
        if args.only and spec.task not in args.only:
            continue
        name = spec.model
        recipe = REPO_ROOT / "training" / f"{name}.yaml"
        if not recipe.is_file():
            continue
        path = MODELS_DIR / name
        if args.skip_slow and any(t in name for t in SLOW_TIERS):
            continue
        if not (path / "config.json").is_file() and not args.train_missing:
            print(f"skipped {name}: not trained (pass --train-missing, or `triage train {recipe}`)")
            continue
        if not (path / "config.json").is_file() and "finetuned" in recipe.read_text() and not args.train_finetuned:
            # fine-tuning MiniLM on 47k tweets takes hours on 2 CPU cores: only on request (or a GPU machine)
            print(f"skipped {name}: a fine-tuned model is not trained here unless --train-finetuned "
                  f"(`triage train {recipe}` on a GPU machine)")
            continue
        if spec.gpu_recipe and not gpu and (args.retrain or not (path / "config.json").is_file()):
            # its 3 epochs on 47k tweets run for hours here; the -cpu recipe (one epoch) is the CPU row
            print(f"skipped {name}: its recipe fine-tunes for hours without a GPU "
                  f"(`triage train {recipe}` on a GPU machine, then rerun)")
            continue
        path, seconds = ensure(name, args.retrain)
        figures = evaluate_classifier(path, dataset=spec.dataset, split=spec.split, label_column=spec.label_column,
                                      labels=spec.labels, plot=REPO_ROOT / "out" / "quality" / f"{name}_{spec.split}.png")
        per_s = speed(path, mentions)
        for metric in spec.metrics:
            rows.append({
                "task": spec.task, "dataset": spec.dataset, "split": spec.split, "tier": tier_of(path), "model": name,
                "metric": metric, "value": figures.get(metric), "ece": figures.get("ece"),
                "ece_floor": figures.get("ece_floor"), "ece_p": figures.get("ece_p"), "train_s": seconds, "mentions_per_s": per_s,
            })
    if CV_SOURCE.is_file() and (not args.only or any(task in args.only for task, _ in CV_ROWS.values())):
        for r in json.loads(CV_SOURCE.read_text(encoding="utf-8"))["rows"]:
            if r.get("key") in CV_ROWS and "CV" in r["split"]:
                task, metric = CV_ROWS[r["key"]]
                rows.append({
                    "task": task, "dataset": r["dataset"], "split": f"{r['split']} (intent.py, {r['generated'][:10]})",
                    "tier": r["tier"], "model": r["key"], "metric": metric, "value": r[metric], "ece": r["ece"],
                    "train_s": r["train_s"], "mentions_per_s": None,
                })

    pipeline_dir = MODELS_DIR / "defaults"
    pipeline = None
    if not args.only or "triage" in args.only:
        from triage.errors import ArtifactError
        from triage.pipeline import TriagePipeline
        from triage.pipeline_eval import evaluate_pipeline_on_twcs

        if args.train_missing:  # the parts models/defaults/pipeline.yaml names (as `make models` builds them)
            for part in ("intent-bitext-oos-minilm", "sentiment-tfidf", "needs-human-tfidf", "no-reply-minilm"):
                if not (MODELS_DIR / part / "config.json").is_file():
                    ensure(part, retrain=False)
            answered = MODELS_DIR / "index-answered"
            if not (answered / "index.json").is_file():
                from triage.answered import build_answered_index

                print(f"building the index of answered mentions (missing): {answered}")
                build_answered_index(answered)
        try:
            pipeline = TriagePipeline.load(pipeline_dir)
        except ArtifactError as exc:  # names the missing part and how to build it
            print(f"skipped the triage rows: {exc} (or pass --train-missing)")
    if pipeline is not None:
        report = evaluate_pipeline_on_twcs(pipeline, split="test")
        pipeline.predict([{"id": str(i), "text": t} for i, t in enumerate(mentions[:16])])
        start = time.perf_counter()
        pipeline.predict([{"id": str(i), "text": t} for i, t in enumerate(mentions)])
        per_s = len(mentions) / (time.perf_counter() - start)
        for metric in ("agreement", "automation_rate", "automatic_rate", "error_rate"):
            rows.append({"task": "triage", "dataset": "twcs", "split": "test", "tier": "pipeline",
                         "model": "models/defaults", "metric": metric, "value": report[metric], "ece": None,
                         "train_s": None, "mentions_per_s": per_s})

    columns = ["task", "dataset", "split", "tier", "model", "metric", "value", "ece", "ece_floor", "ece_p",
               "train_s", "mentions_per_s"]

    def fmt(row: dict, column: str) -> str:
        value = row.get(column)
        if value is None:
            return "-"
        if column in ("train_s", "mentions_per_s"):
            return f"{value:,.1f}"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    table = Table(title=f"quality of the default models (speed on {len(mentions):,} real customer mentions)")
    for column in columns:
        table.add_column(column, justify="right" if column in ("value", "ece", "ece_floor", "ece_p", "train_s", "mentions_per_s") else "left")
    for row in rows:
        table.add_row(*(escape(fmt(row, c)) for c in columns))
    Console(width=200).print(table)
    lines = [
        "# Quality of the default models",
        "",
        f"Generated by `benchmarks/quality.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}. Regenerate, never edit by hand.",
        "",
        "Splits: `val` is the dataset's own validation part; `test` of a dataset that ships one file is the internal "
        "20% split by tweet_id (twcs: by thread); Speed: "
        "`predict_proba` on real customer tweets from twcs, normalisation and encoding included (banking77 rows: "
        "none; their speed on banking77 queries is in `benchmarks/intent.md`). Banking77 rows are 5-fold "
        "cross-validation on its train part, copied from `benchmarks/intent.json` (written by `benchmarks/intent.py`, "
        "which retrains every fold; `train_s` is per fold). Tier comparison per intent dataset: "
        "`benchmarks/intent.md`; triage rows: the default pipeline (`models/defaults`) against the care teams' weak "
        "labels on held-out twcs threads (agreement; automation rate with and without the proposals marked for "
        "review; error rate: automated mentions the team gave to a person), details and the deflection curve in "
        "`benchmarks/pipeline.md`; needs-a-human "
        "ablations: `benchmarks/needs_human.md`; sentiment tiers: `benchmarks/sentiment_tiers.md`. `ece`: 15 bins, top "
        "class; `ece_floor`: the mean ECE a perfectly calibrated model with the same confidences shows on this many "
        "rows (labels drawn from the confidences, 200 draws; `triage.metrics.ece_floor`): on a few hundred rows "
        "an ECE near its floor is sampling noise, not miscalibration; `ece_p`: the share of 1,000 such draws whose "
        "ECE reaches the observed one (`triage.metrics.ece_p_value`): below 0.05 the model is miscalibrated beyond "
        "what the sample size explains.",
        "",
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    lines += ["| " + " | ".join(fmt(row, c) for c in columns) + " |" for row in rows]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written {OUT}")


if __name__ == "__main__":
    main()

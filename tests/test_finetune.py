"""The finetuned tier: a few real optimiser steps on a fixture, save/load offline, seeded reproducibility."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage.classifier import TextClassifier
from triage.errors import InputError
from triage.finetune import FinetunedEncoder, head_probabilities

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "sentiment_tiny.csv"
TINY = {"kind": "finetuned", "max_steps": 3, "batch_size": 8, "learning_rate": 1e-4, "seed": 7, "device": "cpu"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny() -> pd.DataFrame:
    return pd.read_csv(FIXTURE)


@pytest.fixture(scope="module")
def tuned(tiny: pd.DataFrame) -> TextClassifier:
    return TextClassifier(TINY, task="sentiment", C=10.0).fit(tiny["text"].tolist(), tiny["label"].tolist())


def test_fine_tuning_changes_the_weights(tuned: TextClassifier, tiny: pd.DataFrame, minilm_encoder) -> None:
    texts = tiny["text"].tolist()
    tuned_vectors = tuned.encoder_.encode(texts)
    base_vectors = minilm_encoder.encode(texts)
    assert tuned_vectors.shape == base_vectors.shape == (len(texts), 384)
    assert not np.allclose(tuned_vectors, base_vectors, atol=1e-4)
    classes, proba = head_probabilities(tuned.encoder_.model, tuned_vectors)
    assert classes == ["negative", "neutral", "positive"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_save_load_offline_predicts_identically(tuned: TextClassifier, tiny: pd.DataFrame, tmp_path: Path) -> None:
    tuned.save(tmp_path / "model")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    weights = list((tmp_path / "model" / "encoder").rglob("*.safetensors"))
    assert weights, "tuned weights are saved with safetensors inside the model folder"
    assert not list((tmp_path / "model").rglob("*.bin"))
    manifest = json.loads((tmp_path / "model" / "encoder" / "encoder.json").read_text())
    assert manifest["kind"] == "finetuned"
    loaded = TextClassifier.load(tmp_path / "model")
    assert isinstance(loaded.encoder_, FinetunedEncoder)
    texts = tiny["text"].tolist()
    np.testing.assert_allclose(loaded.predict_proba(texts), tuned.predict_proba(texts), atol=1e-6)


def test_same_seed_same_model(tuned: TextClassifier, tiny: pd.DataFrame) -> None:
    again = TextClassifier(TINY, task="sentiment", C=10.0).fit(tiny["text"].tolist(), tiny["label"].tolist())
    texts = tiny["text"].tolist()
    np.testing.assert_allclose(again.encoder_.encode(texts), tuned.encoder_.encode(texts), atol=1e-5)
    assert again.predict(texts).tolist() == tuned.predict(texts).tolist()


def test_fit_needs_labels() -> None:
    with pytest.raises(InputError, match="learns from labels"):
        FinetunedEncoder().fit(["a", "b"])


def test_frozen_embeddings_stay_pretrained_while_the_layers_move(tiny: pd.DataFrame, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from triage.encoders import _resolve_model
    from triage.finetune import FinetuneParams, finetune_minilm

    params = FinetuneParams(batch_size=8, learning_rate=1e-3, freeze_embeddings=True, seed=3)
    folder = finetune_minilm(tiny["text"].tolist(), tiny["label"].tolist(), tmp_path / "frozen", params=params,
                             device="cpu", max_steps=2)
    base = load_file(str(Path(_resolve_model(None)[0]) / "model.safetensors"))
    tuned = load_file(str(folder / "model.safetensors"))
    key = next(k for k in tuned if k.endswith("word_embeddings.weight"))
    np.testing.assert_array_equal(tuned[key], base[key].astype(tuned[key].dtype))
    layer = next(k for k in tuned if k.endswith("layer.0.attention.self.query.weight"))
    assert not np.allclose(tuned[layer], base[layer].astype(tuned[layer].dtype))


def test_hybrid_with_a_finetuned_part_tunes_it_on_the_labels(tiny: pd.DataFrame, tmp_path: Path) -> None:
    spec = {"kind": "hybrid", "parts": [{"kind": "tfidf", "min_df": 1}, TINY]}
    model = TextClassifier(spec, task="sentiment", C=10.0).fit(tiny["text"].tolist(), tiny["label"].tolist())
    tuned_part = model.encoder_._encoders()[1]
    assert isinstance(tuned_part, FinetunedEncoder) and tuned_part.model is not None  # tuned, weights in a folder
    model.save(tmp_path / "hybrid")
    loaded = TextClassifier.load(tmp_path / "hybrid")
    texts = tiny["text"].tolist()
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)

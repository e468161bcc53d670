"""The finetuned tier: a few real optimiser steps on a fixture, save/load offline, seeded reproducibility."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

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


# --- the contrastive (SetFit-style) objective ---------------------------------------------------------------


def test_label_batches_cover_every_mention_once_in_groups_of_one_label() -> None:
    from triage.finetune import label_batches

    target = np.array([0] * 9 + [1] * 6 + [2] * 2 + [3])
    batches = label_batches(target, batch_size=8, per_label=4, rng=np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(target)))
    assert all(len(b) <= 8 for b in batches)
    # label 0 (9 mentions) comes in groups of 4, 4 and 1; label 1 in 4 and 2; the others whole
    sizes: dict[int, list[int]] = {}
    for batch in batches:
        labels, counts = np.unique(target[batch], return_counts=True)
        for label, count in zip(labels, counts, strict=True):
            sizes.setdefault(int(label), []).append(int(count))
    assert sorted(sizes[0]) == [1, 4, 4] and sorted(sizes[1]) == [2, 4] and sizes[2] == [2] and sizes[3] == [1]
    again = label_batches(target, batch_size=8, per_label=4, rng=np.random.default_rng(0))
    assert all((a == b).all() for a, b in zip(batches, again, strict=True))


def test_supervised_contrastive_loss_matches_a_hand_computation() -> None:
    import torch

    from triage.finetune import supervised_contrastive_loss

    angles = np.array([0.0, 0.3, 2.0, 2.4])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    target = np.array([0, 0, 1, 2])  # mentions 0 and 1 are positives of each other; 2 and 3 have none
    scale = 5.0
    expected = []
    for i in (0, 1):
        others = [j for j in range(4) if j != i]
        sims = scale * vectors[others] @ vectors[i]
        positive = scale * vectors[1 - i] @ vectors[i]
        expected.append(-(positive - np.log(np.exp(sims).sum())))
    loss = supervised_contrastive_loss(torch.tensor(vectors), torch.tensor(target), scale)
    assert float(loss) == pytest.approx(np.mean(expected), rel=1e-9)
    # pulling the positives together lowers it; with no positives at all it is zero
    closer = np.stack([np.cos([0.0, 0.05, 2.0, 2.4]), np.sin([0.0, 0.05, 2.0, 2.4])], axis=1)
    assert float(supervised_contrastive_loss(torch.tensor(closer), torch.tensor(target), scale)) < float(loss)
    assert float(supervised_contrastive_loss(torch.tensor(vectors), torch.tensor([0, 1, 2, 3]), scale)) == 0.0


def test_contrastive_objective_tunes_the_body_and_stores_class_centroids(tiny: pd.DataFrame, tmp_path: Path) -> None:
    spec = {**TINY, "objective": "contrastive", "per_label": 3}
    model = TextClassifier(spec, task="sentiment", C=10.0).fit(tiny["text"].tolist(), tiny["label"].tolist())
    texts = tiny["text"].tolist()
    vectors = model.encoder_.encode(texts)
    classes, proba = head_probabilities(model.encoder_.model, vectors)
    assert classes == ["negative", "neutral", "positive"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # the stored layer is the class centroids of the tuned training embeddings
    from safetensors.numpy import load_file

    from triage.text import normalize_batch

    weight = load_file(str(Path(model.encoder_.model) / "classification_head.safetensors"))["weight"]
    trained_on = model.encoder_.encode(normalize_batch(texts))  # the classifier normalises before fitting
    labels = tiny["label"].to_numpy()
    for index, label in enumerate(classes):
        np.testing.assert_allclose(weight[index], trained_on[labels == label].mean(axis=0), atol=1e-4)
    model.save(tmp_path / "contrastive")
    manifest = json.loads((tmp_path / "contrastive" / "encoder" / "encoder.json").read_text())
    assert manifest["spec"]["objective"] == "contrastive" and manifest["spec"]["per_label"] == 3
    loaded = TextClassifier.load(tmp_path / "contrastive")
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)
    again = TextClassifier(spec, task="sentiment", C=10.0).fit(texts, tiny["label"].tolist())
    np.testing.assert_allclose(again.encoder_.encode(texts), vectors, atol=1e-5)


def test_bad_objective_or_group_size_is_refused_before_training() -> None:
    with pytest.raises(InputError, match="unknown fine-tuning objective 'setfit'.*contrastive"):
        FinetunedEncoder(objective="setfit")
    with pytest.raises(InputError, match="per_label must be between 2"):
        FinetunedEncoder(objective="contrastive", per_label=1)


def test_the_tuned_weights_scratch_folder_is_removed_at_exit_and_the_saved_model_stands_alone(
    tiny: pd.DataFrame, tmp_path: Path
) -> None:
    # A fine-tuning writes 90 MB of weights to a temporary folder; every run used to leave one behind.
    script = (
        "import sys\n"
        "import pandas as pd\n"
        "from triage.classifier import TextClassifier\n"
        f"tiny = pd.read_csv({str(FIXTURE)!r})\n"
        f"model = TextClassifier({TINY!r}, task='sentiment', C=10.0).fit(tiny['text'].tolist(), tiny['label'].tolist())\n"
        "model.save(sys.argv[1])\n"
        "print(model.encoder_.model)\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the scratch folder lands where the test can look
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model")], capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    scratch = Path(done.stdout.strip().splitlines()[-1]).parent
    assert scratch.name.startswith("triage-finetuned-") and scratch.parent == tmp_path
    assert not scratch.exists()
    assert not list(tmp_path.glob("triage-finetuned-*"))
    loaded = TextClassifier.load(tmp_path / "model")
    proba = loaded.predict_proba(tiny["text"].tolist())
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_a_loaded_model_refits_from_the_weights_inside_its_folder(
    tuned: TextClassifier, tiny: pd.DataFrame, tmp_path: Path
) -> None:
    # The folder the weights were tuned in is temporary: a copy of a loaded model must not point back to it.
    tuned.save(tmp_path / "model")
    # the saved records name the weights inside the folder, not the temporary folder they were tuned in
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    manifest = json.loads((tmp_path / "model" / "encoder" / "encoder.json").read_text())
    assert config["encoder"]["model"] == "encoder/model" and manifest["spec"]["model"] == "model"
    assert (tmp_path / "model" / config["encoder"]["model"] / "model.safetensors").is_file()
    assert tuned.encoder_.spec()["model"] == tuned.encoder_.model  # the live spec still names where they are
    loaded = TextClassifier.load(tmp_path / "model")
    weights = Path(loaded.get_params()["encoder"]["model"])
    assert weights.is_relative_to((tmp_path / "model").resolve()) and (weights / "config.json").is_file()
    texts, labels = tiny["text"].tolist(), tiny["label"].tolist()
    refit = clone(loaded).fit(texts, labels)  # reuses the saved tuned weights, fits a new head
    np.testing.assert_allclose(refit.encoder_.encode(texts), loaded.encoder_.encode(texts), atol=1e-5)


def test_progress_reports_every_step_inside_the_block_and_nothing_outside(tiny: pd.DataFrame, tmp_path: Path) -> None:
    from triage.finetune import FinetuneParams, finetune_minilm, finetune_progress

    seen: list[tuple[int, int]] = []
    params = FinetuneParams(batch_size=8, seed=1)
    with finetune_progress(lambda step, total: seen.append((step, total))):
        # reported from however deep the run starts: here through a classifier's fit
        TextClassifier({**TINY, "max_steps": 2}, task="sentiment").fit(tiny["text"].tolist(), tiny["label"].tolist())
    assert seen == [(0, 2), (1, 2), (2, 2)]
    finetune_minilm(tiny["text"].tolist(), tiny["label"].tolist(), tmp_path / "quiet", params=params, device="cpu",
                    max_steps=1)
    assert len(seen) == 3  # the block has ended: the callback is no longer called


def test_train_command_fine_tunes_a_finetuned_recipe_with_its_step_callback_on(tiny: pd.DataFrame, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from triage.cli import app

    recipe = tmp_path / "tuned.yaml"
    recipe.write_text(
        "name: tuned\ntask: sentiment\n"
        "encoder: {kind: finetuned, max_steps: 2, batch_size: 8, seed: 7, device: cpu}\nhead: {C: 10}\n"
        f"data:\n  train: {{file: {FIXTURE}}}\n"
    )
    result = CliRunner().invoke(app, ["train", str(recipe), "--output", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    loaded = TextClassifier.load(tmp_path / "model")
    assert isinstance(loaded.encoder_, FinetunedEncoder)
    assert loaded.predict(tiny["text"].tolist()[:3]).shape == (3,)

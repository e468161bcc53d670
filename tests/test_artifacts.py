"""Artifacts: self-describing folders; missing, mismatched or tampered files fail with the file named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from triage.artifacts import fingerprint, load_classifier
from triage.classifier import TextClassifier
from triage.errors import ArtifactError
from triage.integrity import file_sha256

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "sentiment_tiny.csv"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tiny = pd.read_csv(FIXTURE)
    model = TextClassifier("tfidf", task="sentiment").fit(tiny["text"].tolist(), tiny["label"].tolist())
    path = tmp_path_factory.mktemp("artifact") / "model"
    model.save(path, metrics={"validation": {"n": 3, "accuracy": 1.0, "macro_f1": 1.0, "macro_recall": 1.0, "ece": 0.1}},
               training={"name": "tiny", "dataset": "fixture", "licence": "ours", "n_train": 24})
    return path


@pytest.fixture()
def copy(saved: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(saved, target)
    return target


def test_folder_layout_and_config(saved: Path) -> None:
    names = {p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()}
    assert {"config.json", "head.skops", "metrics.json", "README.md", "encoder/encoder.json"} <= names
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in names)
    config = json.loads((saved / "config.json").read_text())
    assert config["task"] == "sentiment"
    assert config["labels"] == ["negative", "neutral", "positive"]
    assert config["encoder"]["kind"] == "tfidf"
    assert "scikit-learn" in config["versions"] and "python" in config["versions"]
    for name, digest in config["files"].items():
        assert "sha256:" + file_sha256(saved / name) == digest
    card = (saved / "README.md").read_text()
    assert "## Intended use" in card and "## Limits" in card and "ours" in card


def test_fingerprint_changes_with_data() -> None:
    assert fingerprint(["a", "b"], ["x", "y"]) != fingerprint(["b", "a"], ["y", "x"])


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="model folder not found"):
        load_classifier(tmp_path / "nope")


def test_missing_config(copy: Path) -> None:
    (copy / "config.json").unlink()
    with pytest.raises(ArtifactError, match=r"config.json: missing"):
        load_classifier(copy)


def test_broken_config_json(copy: Path) -> None:
    (copy / "config.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"config.json: not valid JSON"):
        load_classifier(copy)


def test_other_format_version(copy: Path) -> None:
    config = json.loads((copy / "config.json").read_text())
    config["format_version"] = 99
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="format_version 99"):
        load_classifier(copy)


def test_tampered_head(copy: Path) -> None:
    with (copy / "head.skops").open("ab") as handle:
        handle.write(b"\x00")
    with pytest.raises(ArtifactError, match=r"head.skops: sha256 does not match"):
        load_classifier(copy)


def test_missing_encoder_file(copy: Path) -> None:
    (copy / "encoder" / "encoder.json").unlink()
    with pytest.raises(ArtifactError, match=r"encoder.json: missing"):
        load_classifier(copy)


def test_labels_mismatch(copy: Path) -> None:
    config = json.loads((copy / "config.json").read_text())
    config["labels"] = ["bad", "neutral", "good"]
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="do not match the head's classes"):
        load_classifier(copy)


def test_foreign_types_in_head_are_refused_even_with_a_matching_hash(copy: Path) -> None:
    sio.dump(FunctionTransformer(func=print), copy / "head.skops")
    config = json.loads((copy / "config.json").read_text())
    config["files"]["head.skops"] = "sha256:" + file_sha256(copy / "head.skops")  # an attacker re-hashes
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="unexpected types"):
        load_classifier(copy)


def test_save_over_an_existing_model_replaces_it(saved: Path, tmp_path: Path) -> None:
    target = tmp_path / "model"
    shutil.copytree(saved, target)
    (target / "stale.txt").write_text("old")
    model = load_classifier(saved)
    model.save(target)
    assert not (target / "stale.txt").exists()
    assert load_classifier(target).classes_.tolist() == model.classes_.tolist()
    assert not list(tmp_path.glob(".model*"))  # no staging folders left behind

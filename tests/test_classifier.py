"""The classifier contract: fit/predict/predict_proba/classes_, calibration, overfit-save-load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage.classifier import (
    TextClassifier,
    check_is_fitted,
    fit_temperature,
    fit_temperature_bias,
    rescale_top,
)
from triage.errors import InputError, NotFittedError

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "sentiment_tiny.csv"


@pytest.fixture(scope="module")
def tiny() -> pd.DataFrame:
    return pd.read_csv(FIXTURE)


@pytest.fixture(scope="module")
def tfidf_model(tiny: pd.DataFrame) -> TextClassifier:
    return TextClassifier("tfidf", C=100.0, task="sentiment").fit(tiny["text"].tolist(), tiny["label"].tolist())


def test_overfits_its_training_fixture(tfidf_model: TextClassifier, tiny: pd.DataFrame) -> None:
    predicted = tfidf_model.predict(tiny["text"].tolist())
    assert predicted.tolist() == tiny["label"].tolist()
    assert tfidf_model.classes_.tolist() == ["negative", "neutral", "positive"]


def test_predict_proba_is_a_distribution_in_classes_order(tfidf_model: TextClassifier, tiny: pd.DataFrame) -> None:
    proba = tfidf_model.predict_proba(tiny["text"].tolist())
    assert proba.shape == (len(tiny), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert (proba >= 0).all()
    # the arg-max column is the predicted label
    assert tfidf_model.classes_[proba.argmax(axis=1)].tolist() == tfidf_model.predict(tiny["text"].tolist()).tolist()


def test_single_string_is_a_batch_of_one(tfidf_model: TextClassifier) -> None:
    text = "@AcmeHelp thank you, great service"
    assert tfidf_model.predict(text).shape == (1,)
    np.testing.assert_allclose(tfidf_model.predict_proba(text), tfidf_model.predict_proba([text]))


def test_shared_features_give_the_same_probabilities(tfidf_model: TextClassifier, tiny: pd.DataFrame) -> None:
    texts = tiny["text"].tolist()[:5]
    features = tfidf_model.transform(texts)
    np.testing.assert_allclose(tfidf_model.predict_proba_features(features), tfidf_model.predict_proba(texts))


def test_save_load_gives_identical_predictions(tfidf_model: TextClassifier, tiny: pd.DataFrame, tmp_path: Path) -> None:
    tfidf_model.save(tmp_path / "model")
    loaded = TextClassifier.load(tmp_path / "model")
    texts = tiny["text"].tolist() + ["something completely different", "@AcmeHelp meh"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), tfidf_model.predict_proba(texts))
    assert loaded.task == "sentiment"
    assert loaded.temperature_ == tfidf_model.temperature_


def test_head_reaches_its_optimum_whatever_the_row_order() -> None:
    # L2-regularised logistic regression has one optimum. A head stopped short of it (scikit-learn's tol 1e-4:
    # 0.03 apart on these tweets) lands where the summation order takes it, which is how figures moved between
    # machines; converged, the same rows in another order give the same model.
    from triage.labelled import load_examples

    examples = load_examples(dataset="twitter_airline_sentiment", splits=["all"])
    texts, labels = examples.texts[:3000], examples.labels[:3000]
    order = np.random.default_rng(1).permutation(len(texts))
    first = TextClassifier("tfidf", C=10.0, calibration="none").fit(texts, labels)
    second = TextClassifier("tfidf", C=10.0, calibration="none").fit([texts[i] for i in order], [labels[i] for i in order])
    assert first.tol == 1e-6 and max(first.head_.n_iter_) < first.max_iter
    np.testing.assert_allclose(first.predict_proba(texts), second.predict_proba(texts), atol=0.005)


def test_head_tolerance_is_saved_and_older_artifacts_load_with_the_one_they_were_fitted_at(
    tfidf_model: TextClassifier, tmp_path: Path
) -> None:
    tfidf_model.save(tmp_path / "model")
    assert TextClassifier.load(tmp_path / "model").tol == tfidf_model.tol == 1e-6
    config_file = tmp_path / "model" / "config.json"
    config = json.loads(config_file.read_text())
    assert config["head"]["tol"] == 1e-6
    del config["head"]["tol"]  # a folder written before the key existed
    config_file.write_text(json.dumps(config))
    assert TextClassifier.load(tmp_path / "model").tol == 1e-4


def test_not_fitted_error_says_what_to_do() -> None:
    model = TextClassifier("tfidf")
    with pytest.raises(NotFittedError, match="not fitted yet. Call 'fit'"):
        model.predict(["hello"])
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


@pytest.mark.parametrize(
    ("texts", "labels", "message"),
    [
        (["a good day", ""], ["positive", "negative"], r"texts\[1\]: text is empty"),
        (["a good day", 3], ["positive", "negative"], r"texts\[1\]: text must be a string"),
        (["a good day", "bad"], ["positive"], "1 labels for 2 texts"),
        (["a good day", "bad day"], ["positive", "positive"], "at least 2 distinct labels"),
        (["a good day", "bad day"], ["positive", None], r"y\[1\] is missing"),
    ],
)
def test_bad_training_input_is_named(texts: list, labels: list, message: str) -> None:
    with pytest.raises(InputError, match=message):
        TextClassifier("tfidf").fit(texts, labels)


def test_bad_prediction_input_is_named(tfidf_model: TextClassifier) -> None:
    with pytest.raises(InputError, match=r"texts\[0\]: text is longer than 5,000"):
        tfidf_model.predict(["x" * 5001])
    with pytest.raises(InputError, match="text is missing"):
        tfidf_model.predict([None])


def test_temperature_softens_overconfident_logits() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=400)
    # logits that point the right way only 70% of the time, but with huge margins
    right = rng.random(400) < 0.7
    sign = np.where(right, 1, -1) * np.where(y == 1, 1, -1)
    logits = np.stack([np.zeros(400), 8.0 * sign], axis=1)
    temperature = fit_temperature(logits, y)
    assert temperature > 4.0
    # and sharpens under-confident ones
    assert fit_temperature(logits / 100.0, y) < 1.0


def test_calibration_lowers_ece_on_held_apart_data(tiny: pd.DataFrame) -> None:
    from triage.metrics import expected_calibration_error

    texts, labels = tiny["text"].tolist(), tiny["label"].tolist()
    raw = TextClassifier("tfidf", C=100.0, calibration="none").fit(texts[::2], labels[::2])
    calibrated = TextClassifier("tfidf", C=100.0).fit(texts[::2], labels[::2], X_val=texts[1::2], y_val=labels[1::2])
    held = texts[1::2]
    truth = np.asarray(labels[1::2])

    def ece(model: TextClassifier) -> float:
        proba = model.predict_proba(held)
        return expected_calibration_error(proba, model.classes_[proba.argmax(1)] == truth)

    assert ece(calibrated) <= ece(raw) + 1e-9


def test_heads_on_the_same_pretrained_encoder_share_one_encoding_pass(
    tiny: pd.DataFrame, tfidf_model: TextClassifier, static_encoder, tmp_path: Path, monkeypatch
) -> None:
    from triage.classifier import encode_shared
    from triage.encoders import StaticEncoder, TfidfEncoder

    texts, labels = tiny["text"].tolist(), tiny["label"].tolist()
    sentiment = TextClassifier("static", task="sentiment").fit(texts, labels)
    polarity = TextClassifier("static", task="polarity").fit(texts, [lab == "positive" for lab in labels])
    sentiment.save(tmp_path / "sentiment")
    loaded = TextClassifier.load(tmp_path / "sentiment")  # another object, the same weights
    calls: list[str] = []
    for cls in (StaticEncoder, TfidfEncoder):
        original = cls.encode
        monkeypatch.setattr(cls, "encode", lambda self, t, _o=original, **kw: calls.append(self.kind) or _o(self, t, **kw))
    batch = ["@AcmeHelp thanks, all sorted", "@AcmeHelp my parcel is lost"]
    features = encode_shared([sentiment, polarity, loaded, tfidf_model], batch)
    assert sorted(calls) == ["static", "tfidf"]  # one pass per distinct encoder
    assert features[0] is features[1] is features[2]
    calls.clear()
    np.testing.assert_allclose(polarity.predict_proba_features(features[1]), polarity.predict_proba(batch))
    np.testing.assert_allclose(loaded.predict_proba_features(features[2]), sentiment.predict_proba(batch), atol=1e-6)
    np.testing.assert_allclose(tfidf_model.predict_proba_features(features[3]), tfidf_model.predict_proba(batch))
    # a model that does not normalise its texts gets its own pass
    raw = TextClassifier("static", task="sentiment", normalize=False).fit(texts, labels)
    calls.clear()
    encode_shared([sentiment, raw], batch)
    assert calls == ["static", "static"]


def test_calibration_folds_add_the_training_rows_scored_out_of_fold(tiny: pd.DataFrame, tmp_path: Path) -> None:
    texts, labels = tiny["text"].tolist(), tiny["label"].tolist()
    # three validation rows, all labelled wrong: alone they push the temperature up (softer probabilities)
    wrong = {"negative": "positive", "positive": "neutral", "neutral": "negative"}
    val_x, val_y = texts[:3], [wrong[y] for y in labels[:3]]
    alone = TextClassifier("tfidf", C=100.0).fit(texts, labels, X_val=val_x, y_val=val_y)
    pooled = TextClassifier("tfidf", C=100.0, calibration_folds=3).fit(texts, labels, X_val=val_x, y_val=val_y)
    assert pooled.temperature_ < alone.temperature_
    pooled.save(tmp_path / "m")
    loaded = TextClassifier.load(tmp_path / "m")
    assert loaded.calibration_folds == 3 and loaded.temperature_ == pytest.approx(pooled.temperature_)


def _skewed_texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Binary texts, 80% ``reply``: a weak cue word each way and random filler."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(40)]
    texts, labels = [], []
    for _ in range(n):
        label = "reply" if rng.random() < 0.8 else "no_reply"
        cue = "help" if (label == "reply") == (rng.random() < 0.7) else "thanks"
        texts.append(" ".join([cue, *rng.choice(filler, size=6)]))
        labels.append(label)
    return texts, labels


def test_platt_calibration_restores_the_base_rate_that_balanced_weights_shift(tmp_path: Path) -> None:
    train_x, train_y = _skewed_texts(600, 0)
    val_x, val_y = _skewed_texts(300, 1)
    test_x, test_y = _skewed_texts(2000, 2)
    truth = np.asarray(test_y) == "no_reply"
    spec = {"kind": "tfidf", "min_df": 1}
    fitted = {
        method: TextClassifier(spec, class_weight="balanced", calibration=method).fit(
            train_x, train_y, X_val=val_x, y_val=val_y
        )
        for method in ("temperature", "platt")
    }

    def mean_p_and_nll(model: TextClassifier) -> tuple[float, float]:
        p = model.predict_proba(test_x)[:, list(model.classes_).index("no_reply")]
        return float(p.mean()), float(-np.mean(np.where(truth, np.log(p), np.log1p(-p))))

    (mean_t, nll_t), (mean_p, nll_p) = mean_p_and_nll(fitted["temperature"]), mean_p_and_nll(fitted["platt"])
    assert mean_t > truth.mean() + 0.1  # balanced weights: a temperature cannot undo the shift
    assert abs(mean_p - truth.mean()) < abs(mean_t - truth.mean()) / 3
    assert nll_p < nll_t
    # fitted by maximum likelihood with an intercept, the mean probability equals the calibration rows' rate
    val_p = fitted["platt"].predict_proba(val_x)[:, list(fitted["platt"].classes_).index("no_reply")]
    assert val_p.mean() == pytest.approx(np.mean(np.asarray(val_y) == "no_reply"), abs=1e-3)
    platt = fitted["platt"]
    # predictions follow the calibrated probabilities: the rare label only where it is the more likely one
    proba = platt.predict_proba(test_x)
    assert platt.predict(test_x).tolist() == platt.classes_[proba.argmax(axis=1)].tolist()
    assert (platt.predict(test_x) == "no_reply").mean() < (fitted["temperature"].predict(test_x) == "no_reply").mean()
    platt.save(tmp_path / "m")
    loaded = TextClassifier.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(test_x[:50]), platt.predict_proba(test_x[:50]))
    assert loaded.calibration == "platt" and np.any(loaded.bias_ != 0)
    assert "Platt calibration" in (tmp_path / "m" / "README.md").read_text()


def test_rescale_top_sets_the_top_probability_and_never_changes_the_label() -> None:
    rng = np.random.default_rng(5)
    proba = rng.dirichlet(np.ones(4) * 0.5, size=300)
    wanted = rng.random(300)
    out = rescale_top(proba, wanted)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-9)
    assert (out.argmax(axis=1) == proba.argmax(axis=1)).all() and (out >= 0).all()
    # where the wanted value keeps the top class on top, it is taken as is; elsewhere it is raised just enough
    top, second = np.sort(proba, axis=1)[:, -1], np.sort(proba, axis=1)[:, -2]
    feasible = wanted > second / (1 - top + second) + 1e-6
    np.testing.assert_allclose(out.max(axis=1)[feasible], wanted[feasible], atol=1e-12)
    assert (out.max(axis=1)[~feasible] > wanted[~feasible]).all() and (~feasible).any()
    # the other classes keep their ratios
    ratio_in, ratio_out = np.sort(proba, axis=1)[:, :-1], np.sort(out, axis=1)[:, :-1]
    np.testing.assert_allclose(ratio_out / ratio_out.sum(1, keepdims=True), ratio_in / ratio_in.sum(1, keepdims=True),
                               atol=1e-9)


def test_isotonic_calibration_maps_the_top_confidence_and_keeps_the_labels(tmp_path: Path) -> None:
    import json

    from triage.errors import ArtifactError
    from triage.metrics import expected_calibration_error

    train_x, train_y = _skewed_texts(600, 0)
    val_x, val_y = _skewed_texts(300, 1)
    test_x = _skewed_texts(500, 2)[0]
    spec = {"kind": "tfidf", "min_df": 1}
    fitted = {method: TextClassifier(spec, class_weight="balanced", calibration=method).fit(
        train_x, train_y, X_val=val_x, y_val=val_y) for method in ("temperature", "isotonic")}
    iso, temp = fitted["isotonic"], fitted["temperature"]
    assert iso.temperature_ == pytest.approx(temp.temperature_)  # the likelihood temperature first, then the map
    assert iso.predict(test_x).tolist() == temp.predict(test_x).tolist()
    np.testing.assert_allclose(iso.predict_proba(test_x).sum(axis=1), 1.0, atol=1e-9)
    # on the rows it was fitted on, the map gives the mean confidence its accuracy and a lower ECE than T alone
    correct = iso.predict(val_x) == np.asarray(val_y)
    top = iso.predict_proba(val_x).max(axis=1)
    assert top.mean() == pytest.approx(correct.mean(), abs=0.01)
    assert expected_calibration_error(iso.predict_proba(val_x), correct) < expected_calibration_error(
        temp.predict_proba(val_x), correct) / 2
    iso.save(tmp_path / "m")
    loaded = TextClassifier.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(test_x), iso.predict_proba(test_x))
    assert "isotonic map of the top label's confidence" in (tmp_path / "m" / "README.md").read_text()
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["calibration"]["isotonic"]["y"] = config["calibration"]["isotonic"]["y"][::-1]  # decreasing: tampered
    config_path.write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match=r"calibration\.isotonic' must map increasing confidences"):
        TextClassifier.load(tmp_path / "m")
    del config["calibration"]["isotonic"]
    config_path.write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match=r"calibration\.isotonic' must hold lists 'x' and 'y'"):
        TextClassifier.load(tmp_path / "m")


def test_two_class_temperature_bias_is_platt_scaling() -> None:
    from triage.needs_human import _recalibrate

    rng = np.random.default_rng(3)
    margin = rng.normal(size=400) * 3
    truth = rng.random(400) < 1 / (1 + np.exp(-(0.5 * margin - 1.0)))
    temperature, bias = fit_temperature_bias(np.stack([np.zeros(400), margin], axis=1), truth.astype(int))
    slope, intercept = _recalibrate(margin, truth)
    assert bias[0] == 0.0
    assert 1 / temperature == pytest.approx(slope, abs=1e-3) and bias[1] == pytest.approx(intercept, abs=1e-3)


def test_platt_calibration_is_refused_with_abstention_and_damaged_biases_fail_to_load(
    tfidf_model: TextClassifier, tmp_path: Path
) -> None:
    import json

    from triage.errors import ArtifactError

    with pytest.raises(InputError, match="'platt' does not combine with abstain"):
        TextClassifier("tfidf", calibration="platt", abstain={"oos_label": "oos"}).fit(["a b", "c d"] * 4, ["x", "y"] * 4)
    with pytest.raises(InputError, match="calibration must be one of 'temperature', 'top_label', 'platt', 'isotonic', 'none'"):
        TextClassifier("tfidf", calibration="beta").fit(["a b", "c d"] * 4, ["x", "y"] * 4)
    tfidf_model.save(tmp_path / "m")
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["calibration"]["bias"] = [0.0, 1.0]  # three labels, two biases
    config_path.write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match=r"calibration\.bias' must hold 3 finite numbers"):
        TextClassifier.load(tmp_path / "m")

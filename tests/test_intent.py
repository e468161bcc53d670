"""Intent models: out-of-scope abstention, top-3 and in-scope/out-of-scope metrics, recipes, reproducibility.

A tiny tfidf model trained on our own fixtures (four customer-care intents plus a few out-of-scope
queries) in well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from triage.classifier import ABSTAIN_LABEL, AbstainParams, TextClassifier, choose_threshold
from triage.errors import ArtifactError, InputError, RecipeError
from triage.evaluation import evaluate_classifier, model_metrics, parse_splits
from triage.metrics import expected_calibration_error, out_of_scope_metrics, top_k_accuracy
from triage.recipes import load_recipe

REPO = Path(__file__).resolve().parent.parent
TRAIN = REPO / "data" / "fixtures" / "intent_tiny.csv"
VAL = REPO / "data" / "fixtures" / "intent_tiny_val.csv"
INTENTS = ["cancel_subscription", "refund", "reset_password", "track_order"]
OUT_OF_DOMAIN = ["what is the weather in paris tomorrow", "sing me a song", "who is the president of brazil"]
IN_DOMAIN = ["where is my parcel", "i want a refund", "forgot my password again", "cancel my plan"]
TFIDF = {"kind": "tfidf", "min_df": 1}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(TRAIN), pd.read_csv(VAL)


def _fit(data: tuple[pd.DataFrame, pd.DataFrame], **params) -> TextClassifier:
    train, val = data
    settings = {"C": 10.0, "calibration": "none", "task": "intent", "abstain": {"oos_label": "oos", "max_in_scope_loss": 0.0}}
    settings.update(params)
    return TextClassifier(TFIDF, **settings).fit(
        train["text"].tolist(), train["label"].tolist(), X_val=val["text"].tolist(), y_val=val["label"].tolist()
    )


@pytest.fixture(scope="module")
def model(data) -> TextClassifier:
    return _fit(data)


# ------------------------------------------------------------------------------------------- abstention


@pytest.mark.parametrize("oos_class", [False, True])
def test_out_of_domain_is_unknown_and_in_domain_is_not(data, oos_class: bool) -> None:
    clf = _fit(data, abstain={"oos_label": "oos", "max_in_scope_loss": 0.0, "oos_class": oos_class})
    assert clf.predict(OUT_OF_DOMAIN).tolist() == [ABSTAIN_LABEL] * 3
    assert clf.predict(IN_DOMAIN).tolist() == ["track_order", "refund", "reset_password", "cancel_subscription"]
    # the out-of-scope rows are never a known intent
    assert clf.classes_.tolist() == INTENTS


def test_predict_proba_is_a_distribution_over_known_intents_only(data) -> None:
    for oos_class in (False, True):
        clf = _fit(data, calibration="temperature", abstain={"oos_label": "oos", "oos_class": oos_class})
        proba = clf.predict_proba(OUT_OF_DOMAIN + IN_DOMAIN)
        assert proba.shape == (7, 4)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
        assert (proba >= 0).all()
        # an abstention does not change which known intent ranks first
        kept = clf.predict(IN_DOMAIN) != ABSTAIN_LABEL
        assert (clf.classes_[proba[3:].argmax(axis=1)][kept] == clf.predict(IN_DOMAIN)[kept]).all()


def test_threshold_is_chosen_on_validation_and_reported(model: TextClassifier, data) -> None:
    train, val = data
    report = model.abstain_report_
    assert report["chosen_on"] == "validation"
    assert (report["n_in_scope"], report["n_oos"]) == (int((val["label"] != "oos").sum()), int((val["label"] == "oos").sum()))
    # max_in_scope_loss 0: the threshold is the lowest score of a correctly predicted in-scope val text
    in_scope = val[val["label"] != "oos"]
    scores = model.abstention_score_features(model.transform(in_scope["text"].tolist()))
    right = model.predict_proba(in_scope["text"].tolist()).argmax(axis=1) == np.searchsorted(model.classes_, in_scope["label"])
    assert model.threshold_ == pytest.approx(scores[right].min())
    assert report["in_scope_accuracy"] == report["in_scope_accuracy_without_abstention"]
    assert report["oos_recall"] == 1.0


def test_a_fixed_threshold_is_used_as_given(data) -> None:
    clf = _fit(data, abstain={"oos_label": "oos", "threshold": 0.99})
    assert clf.threshold_ == 0.99
    assert clf.abstain_report_["chosen_on"] == "recipe"
    assert set(clf.predict(IN_DOMAIN)) == {ABSTAIN_LABEL}  # no tiny-model probability reaches 0.99


def test_threshold_survives_save_and_load(data, tmp_path: Path) -> None:
    clf = _fit(data, calibration="temperature", abstain={"oos_label": "oos", "method": "energy", "oos_class": True})
    clf.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["labels"] == INTENTS
    assert config["abstain"]["threshold"] == clf.threshold_
    assert config["abstain"]["method"] == "energy" and config["abstain"]["oos_class"] is True
    loaded = TextClassifier.load(tmp_path / "m")
    texts = OUT_OF_DOMAIN + IN_DOMAIN
    assert loaded.threshold_ == clf.threshold_
    assert loaded.abstain_ == clf.abstain_
    np.testing.assert_array_equal(loaded.predict(texts), clf.predict(texts))
    np.testing.assert_array_equal(loaded.predict_proba(texts), clf.predict_proba(texts))
    assert "abstains" in (tmp_path / "m" / "README.md").read_text()


def test_an_oos_class_without_oos_rows_still_saves_and_loads(data, tmp_path: Path) -> None:
    train, val = data
    in_scope = train[train["label"] != "oos"]
    clf = TextClassifier(TFIDF, C=10.0, task="intent", abstain={"oos_label": "oos", "oos_class": True}).fit(
        in_scope["text"].tolist(), in_scope["label"].tolist(), X_val=val["text"].tolist(), y_val=val["label"].tolist()
    )
    clf.save(tmp_path / "m")
    loaded = TextClassifier.load(tmp_path / "m")
    assert loaded.classes_.tolist() == INTENTS
    np.testing.assert_array_equal(loaded.predict(OUT_OF_DOMAIN + IN_DOMAIN), clf.predict(OUT_OF_DOMAIN + IN_DOMAIN))


def test_models_saved_before_abstention_existed_still_load(tmp_path: Path, data) -> None:
    train, _ = data
    clf = TextClassifier(TFIDF, C=10.0, task="intent").fit(train["text"].tolist(), train["label"].tolist())
    clf.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert "abstain" not in config  # the key is optional: format_version 1 as before
    loaded = TextClassifier.load(tmp_path / "m")
    assert loaded.abstain_ is None
    np.testing.assert_array_equal(loaded.predict(IN_DOMAIN), clf.predict(IN_DOMAIN))
    shipped = REPO / "models" / "sentiment-tfidf"
    if (shipped / "config.json").is_file():
        assert TextClassifier.load(shipped).predict(["thanks, sorted!"]).tolist()[0] in {"negative", "neutral", "positive"}


def test_a_damaged_abstain_section_is_refused(model: TextClassifier, tmp_path: Path) -> None:
    model.save(tmp_path / "m")
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["abstain"]["threshold"] = "high"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match=r"config.json: key 'abstain' must hold a numeric 'threshold'"):
        TextClassifier.load(tmp_path / "m")


def test_a_model_without_abstain_never_says_unknown(data) -> None:
    train, _ = data
    clf = TextClassifier(TFIDF, C=10.0, task="intent").fit(train["text"].tolist(), train["label"].tolist())
    assert "oos" in clf.classes_.tolist()  # without `abstain`, oos is an ordinary class
    assert ABSTAIN_LABEL not in clf.predict(OUT_OF_DOMAIN + IN_DOMAIN).tolist()
    with pytest.raises(InputError, match="does not abstain"):
        clf.abstention_score_features(clf.transform(IN_DOMAIN))


def test_two_seeded_trainings_give_identical_predictions(data) -> None:
    texts = OUT_OF_DOMAIN + IN_DOMAIN + data[1]["text"].tolist()
    first = _fit(data, calibration="temperature", random_state=7)
    second = _fit(data, calibration="temperature", random_state=7)
    np.testing.assert_array_equal(first.predict(texts), second.predict(texts))
    np.testing.assert_array_equal(first.predict_proba(texts), second.predict_proba(texts))
    assert first.threshold_ == second.threshold_


def test_choose_threshold_hand_computed() -> None:
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    correct = np.array([True] * 8 + [False] * 2)  # accuracy 0.8 without abstention
    # 0.2 of accuracy may go: 2 correct rows (0.4, 0.3) abstain, the threshold is the 6th best correct score
    assert choose_threshold(scores, correct, max_loss=0.2) == 0.5
    assert choose_threshold(scores, correct, max_loss=0.0) == 0.3
    assert choose_threshold(scores, np.zeros(10, dtype=bool), max_loss=0.1) == float("-inf")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "knn"}, r"abstain.method must be one of \['max_prob', 'energy'\], found 'knn'"),
        ({"oos_label": "unknown"}, "cannot be 'unknown'"),
        ({"max_in_scope_loss": 1.5}, r"max_in_scope_loss must be in \[0, 1\)"),
        ({"margin": 2}, r"unknown key\(s\) \['margin'\]"),
    ],
)
def test_bad_abstain_params_are_named(params: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        AbstainParams.from_dict(params)


def test_only_out_of_scope_and_one_intent_is_not_enough() -> None:
    with pytest.raises(InputError, match="at least 2 distinct labels.*besides the out-of-scope label 'oos'"):
        TextClassifier(TFIDF, abstain={"oos_label": "oos"}).fit(["a b", "c d", "e f"], ["x", "oos", "x"])


# ------------------------------------------------------------------------------------------- metrics


def test_top3_accuracy_hand_computed() -> None:
    classes = ["a", "b", "c", "d", "e"]
    proba = np.array(
        [
            [0.5, 0.2, 0.1, 0.1, 0.1],  # true a: rank 1
            [0.1, 0.2, 0.3, 0.4, 0.0],  # true b: rank 3
            [0.4, 0.3, 0.2, 0.1, 0.0],  # true d: rank 4
            [0.2, 0.2, 0.2, 0.2, 0.2],  # true e: all tied, counts as top-1
        ]
    )
    assert top_k_accuracy(["a", "b", "d", "e"], proba, classes, k=3) == 0.75
    assert top_k_accuracy(["a", "b", "d", "e"], proba, classes, k=1) == 0.5
    # out-of-scope rows have no rank and are left out; none left -> None
    assert top_k_accuracy(["a", "oos"], proba[:2], classes, k=3) == 1.0
    assert top_k_accuracy(["oos"], proba[:1], classes, k=3) is None


def test_in_scope_accuracy_and_oos_recall_hand_computed() -> None:
    truth = ["a", "a", "b", "b", "oos", "oos", "oos", "oos"]
    predicted = ["a", "unknown", "b", "a", "unknown", "oos", "a", "b"]
    m = out_of_scope_metrics(truth, predicted)
    assert m["in_scope_accuracy"] == 0.5  # a, b right; an abstention on an in-scope row is wrong
    assert m["oos_recall"] == 0.5  # "unknown" and an "oos" class both count as abstaining
    assert m["oos_precision"] == pytest.approx(2 / 3)
    assert (m["n_in_scope"], m["n_oos"]) == (4, 4)
    assert out_of_scope_metrics(["a"], ["a"])["oos_recall"] is None


def test_model_metrics_report_top3_and_oos_keys(model: TextClassifier, data) -> None:
    _, val = data
    m = model_metrics(model, val["text"].tolist(), val["label"].tolist())
    assert {"n", "accuracy", "macro_f1", "macro_recall", "ece", "per_class", "top3_accuracy",
            "in_scope_accuracy", "oos_recall"} <= set(m)
    assert m["n"] == len(val)
    assert (m["n_in_scope"], m["n_oos"]) == (10, 4)
    assert m["oos_recall"] == 1.0 and m["in_scope_accuracy"] == 1.0 and m["accuracy"] == 1.0
    assert m["top3_accuracy"] == 1.0
    # the out-of-scope rows are scored as the label the model gives them when right
    assert m["per_class"][ABSTAIN_LABEL]["support"] == 4 and m["per_class"][ABSTAIN_LABEL]["recall"] == 1.0


def test_parse_splits() -> None:
    assert parse_splits("test+oos_test") == ["test", "oos_test"]
    assert parse_splits("val") == ["val"]
    with pytest.raises(InputError, match="joined by"):
        parse_splits("val+")


def test_evaluate_joins_held_out_clinc_splits(model: TextClassifier, data, tmp_path: Path) -> None:
    """Outside evaluation: a folder with only CLINC150's held-out file, in- and out-of-scope scored together."""
    _, val = data
    folder = tmp_path / "heldout" / "clinc150"
    folder.mkdir(parents=True)
    pairs = [[t, label] for t, label in zip(val["text"], val["label"], strict=True)]
    payload = {"oos_test": [p for p in pairs if p[1] == "oos"], "test": [p for p in pairs if p[1] != "oos"]}
    (folder / "data_full_test.json").write_text(json.dumps(payload))
    model.save(tmp_path / "m")
    result = CliRunner().invoke(
        __import__("triage.cli", fromlist=["app"]).app,
        ["evaluate", str(tmp_path / "m"), "--dataset", "clinc150", "--split", "test+oos_test",
         "--data-dir", str(tmp_path / "heldout"), "--output", str(tmp_path / "metrics.json")],
    )
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert (m["n"], m["n_in_scope"], m["n_oos"]) == (14, 10, 4)
    assert m["split"] == "test+oos_test"
    assert {"in_scope_accuracy", "oos_recall", "top3_accuracy"} <= set(m)
    only_in_scope = evaluate_classifier(tmp_path / "m", dataset="clinc150", split="test",
                                        data_dir=tmp_path / "heldout", plot=tmp_path / "cm.png")
    assert only_in_scope["n"] == 10 and "oos_recall" not in only_in_scope


def test_evaluate_keeps_only_the_listed_labels(model: TextClassifier, data, tmp_path: Path) -> None:
    _, val = data
    file = tmp_path / "mixed.csv"
    frame = val.copy()
    frame.loc[len(frame)] = ["hello there", None]  # a row with no label at all
    frame.to_csv(file, index=False)
    model.save(tmp_path / "m")
    m = evaluate_classifier(tmp_path / "m", file=file, labels="refund,track_order", plot=tmp_path / "cm.png")
    assert m["n"] == int(val["label"].isin(["refund", "track_order"]).sum())
    m = evaluate_classifier(tmp_path / "m", file=file, labels="model", plot=tmp_path / "cm.png")
    assert m["n"] == len(val)


# ------------------------------------------------------------------------------------------- recipes


def _recipe(tmp_path: Path, abstain: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(f"name: x\ntask: intent\nencoder: tfidf\ndata: {{train: {{file: {TRAIN}}}}}\n{abstain}")
    return path


@pytest.mark.parametrize(
    ("abstain", "message"),
    [
        ("abstain: {method: knn}\n", r"abstain.method: Input should be 'max_prob' or 'energy' \(found 'knn'\)"),
        ("abstain: {oos_label: unknown}\n", r"abstain: Value error, oos_label cannot be 'unknown'"),
        ("abstain: {max_in_scope_loss: 2}\n", r"abstain.max_in_scope_loss: Input should be less than 1"),
        ("abstain: {oos_label: oos, patience: 3}\n", r"abstain.patience: Extra inputs are not permitted"),
        ("abstain: yes\n", r"abstain: Input should be a valid dictionary"),
    ],
)
def test_bad_abstain_section_in_a_recipe(tmp_path: Path, abstain: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(_recipe(tmp_path, abstain))


def test_recipe_with_abstain_trains_an_abstaining_model(tmp_path: Path) -> None:
    from triage.training import train_recipe

    path = tmp_path / "r.yaml"
    path.write_text(
        "name: tiny-intent\ntask: intent\nencoder: {kind: tfidf, min_df: 1}\nhead: {C: 10}\ncalibration: none\n"
        "abstain: {oos_label: oos, max_in_scope_loss: 0.0}\n"
        f"data:\n  train: {{file: {TRAIN}}}\n  validation: {{file: {VAL}}}\n"
    )
    run = train_recipe(path, output=tmp_path / "m")
    assert run.metrics["validation"]["oos_recall"] == 1.0
    assert run.metrics["validation"]["in_scope_accuracy"] == 1.0
    loaded = TextClassifier.load(tmp_path / "m")
    assert loaded.predict(OUT_OF_DOMAIN).tolist() == [ABSTAIN_LABEL] * 3
    assert json.loads((tmp_path / "m" / "config.json").read_text())["abstain"]["report"]["chosen_on"] == "validation"


# ------------------------------------------------------------------------------------------ top-label calibration


def test_top_label_temperature_matches_confidence_to_being_right() -> None:
    from scipy.special import softmax

    from triage.classifier import fit_top_label_temperature

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(400, 5)) * 4
    correct = rng.random(400) < 0.5  # right half the time whatever the logits say: over-confident
    t = fit_top_label_temperature(logits, correct)

    def loss(temperature: float) -> float:
        top = np.clip(softmax(logits / temperature, axis=1).max(axis=1), 1e-12, 1 - 1e-12)
        return float(-np.mean(np.where(correct, np.log(top), np.log(1 - top))))

    assert t > 1.0
    assert loss(t) <= min(loss(g) for g in np.geomspace(0.05, 20, 200)) + 1e-6
    assert expected_calibration_error(softmax(logits / t, axis=1), correct) < 0.5 * expected_calibration_error(
        softmax(logits, axis=1), correct)
    # always right: the confidence is pushed up (a smaller temperature)
    assert fit_top_label_temperature(logits, np.ones(400, dtype=bool)) < 1.0


def test_top_label_calibration_keeps_the_abstention_of_temperature(data, tmp_path: Path) -> None:
    abstain = {"oos_label": "oos", "max_in_scope_loss": 0.0, "oos_class": True}
    plain = _fit(data, calibration="temperature", abstain=abstain)
    top = _fit(data, calibration="top_label", abstain=abstain)
    texts = OUT_OF_DOMAIN + IN_DOMAIN
    # the abstention score keeps the likelihood temperature, so the same texts abstain at the same threshold
    assert top.abstain_temperature_ == pytest.approx(plain.temperature_)
    assert top.threshold_ == pytest.approx(plain.threshold_)
    assert top.predict(texts).tolist() == plain.predict(texts).tolist()
    assert top.temperature_ != pytest.approx(plain.temperature_)
    proba = top.predict_proba(texts)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == plain.predict_proba(texts).argmax(axis=1)).all()
    # saved and loaded: same probabilities and labels; the model card names the method
    top.save(tmp_path / "m")
    loaded = TextClassifier.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(texts), proba, rtol=1e-6)
    assert loaded.predict(texts).tolist() == top.predict(texts).tolist()
    assert "top-label temperature calibration" in (tmp_path / "m" / "README.md").read_text()


@pytest.mark.parametrize("key, value", [("temperature", -1.0), ("temperature", "hot"), ("abstain_temperature", 0)])
def test_a_damaged_temperature_is_refused(model: TextClassifier, tmp_path: Path, key: str, value: object) -> None:
    model.save(tmp_path / "m")
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["calibration"][key] = value
    config_path.write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match=rf"calibration\.{key}' must be a finite number above 0"):
        TextClassifier.load(tmp_path / "m")

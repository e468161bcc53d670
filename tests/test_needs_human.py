"""The needs-human head: threshold, binary metrics, recipes with a labeller, training and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from twcs_layout import threads, write_twcs_layout

from triage.classifier import TextClassifier
from triage.errors import InputError, RecipeError
from triage.evaluation import evaluate_classifier
from triage.needs_human import (
    DEFAULT_THRESHOLD,
    BrandPrior,
    choose_threshold,
    human_probability,
    model_threshold,
    needs_human_examples,
    needs_human_metrics,
    needs_human_proba,
)
from triage.recipes import Recipe, load_recipe
from triage.training import prepare_data, train_recipe

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "data" / "fixtures" / "needs_human_tiny.csv"
SMALL_TFIDF = {"kind": "tfidf", "min_df": 1, "max_features": 5000, "char_ngram_range": [2, 4]}
CLASSES = ["human", "self_service"]


def test_choose_threshold_maximises_f1_of_human() -> None:
    labels = ["human", "human", "self_service", "human", "self_service", "self_service"]
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.1])
    # cut at 0.6: tp 3, fp 1 -> F1 6/7; at 0.8: tp 2 -> F1 0.8; at 0.1: F1 0.667
    assert choose_threshold(labels, scores) == 0.6
    assert choose_threshold(["human", "human"], np.array([0.2, 0.9])) == DEFAULT_THRESHOLD  # one class only
    with pytest.raises(InputError, match="one score per label"):
        choose_threshold(["human"], np.array([0.2, 0.3]))


def test_tied_scores_are_one_cut() -> None:
    # three mentions share 0.5: a threshold takes all three or none (F1 0.4 at 0.5), never only the human one
    # (which would score F1 2/3 and win as the higher threshold); so 0.2 (F1 2/3) is the answer
    labels = ["human", "self_service", "self_service", "human"]
    assert choose_threshold(labels, np.array([0.5, 0.5, 0.5, 0.2])) == 0.2


def test_needs_human_metrics_at_the_threshold() -> None:
    truth = ["human", "human", "self_service", "self_service"]
    p_human = np.array([0.9, 0.4, 0.6, 0.1])
    proba = np.stack([p_human, 1 - p_human], axis=1)
    m = needs_human_metrics(truth, proba, CLASSES, threshold=0.5)
    assert m["n"] == 4 and m["roc_auc"] == pytest.approx(0.75) and m["threshold"] == 0.5
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    low = needs_human_metrics(truth, proba, CLASSES, threshold=0.35)
    assert (low["precision"], low["recall"]) == pytest.approx((2 / 3, 1.0))
    assert low["roc_auc"] == m["roc_auc"]  # the ranking does not depend on the threshold
    assert needs_human_metrics(["human"], proba[:1], CLASSES, threshold=0.5)["roc_auc"] is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"train": {"dataset": "banking77", "labeller": "needs_human"}}, "labeller 'needs_human' works on dataset"),
        ({"train": {"file": "x.csv", "labeller": "needs_human"}}, "labeller 'needs_human' works on dataset"),
        ({"train": {"dataset": "twcs", "labeller": "needs_human", "label_map": {"a": "b"}}}, "do not apply"),
        ({"train": {"dataset": "twcs", "labeller": "everything"}}, "labeller"),
    ],
)
def test_recipe_labeller_is_validated(tmp_path: Path, data: dict, message: str) -> None:
    recipe = {"name": "n", "task": "needs_human", "encoder": "tfidf", "data": data}
    path = tmp_path / "r.yaml"
    path.write_text(json.dumps(recipe))
    with pytest.raises(RecipeError, match=message):
        load_recipe(path)


def test_shipped_recipes_use_the_labeller() -> None:
    for tier in ("tfidf", "static", "minilm"):
        recipe = load_recipe(REPO / "training" / f"needs-human-{tier}.yaml")
        assert recipe.task == "needs_human" and recipe.data.train.labeller == "needs_human"
        assert recipe.data.internal_split and recipe.encoder["kind"] == tier


def test_tiny_model_evaluates_on_a_twcs_layout_folder(tmp_path: Path) -> None:
    tiny = pd.read_csv(TINY)
    model = TextClassifier(SMALL_TFIDF, task="needs_human").fit(tiny["text"].tolist(), tiny["label"].tolist())
    assert model.classes_.tolist() == CLASSES
    model.save(tmp_path / "model", training={"threshold": 0.45})
    write_twcs_layout(tmp_path / "heldout")

    m = evaluate_classifier(tmp_path / "model", dataset="twcs", split="all", data_dir=tmp_path / "heldout",
                            output=tmp_path / "metrics.json")
    expected = threads()["expected"]
    assert m["n"] == int(expected.notna().sum()) == 16
    assert m["threshold"] == 0.45
    assert m["roc_auc"] > 0.8  # refunds/charges vs how-to questions: the fixture separates
    assert 0.0 <= m["f1"] <= 1.0 and {"precision", "recall", "ece", "average_precision"} <= set(m)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["roc_auc"] == m["roc_auc"] and saved["n"] == 16
    # the labels came from the brand replies in the folder, not from a label column
    examples = needs_human_examples("twcs", "all", data_dir=tmp_path / "heldout")
    assert sorted(examples.labels) == sorted(label for label in expected if label is not None)


def test_threshold_travels_with_the_model(tmp_path: Path) -> None:
    tiny = pd.read_csv(TINY)
    model = TextClassifier(SMALL_TFIDF, task="needs_human").fit(tiny["text"].tolist(), tiny["label"].tolist())
    assert model_threshold(model) == DEFAULT_THRESHOLD
    model.decision_threshold_ = 0.3
    assert model_threshold(model) == 0.3
    model.save(tmp_path / "m", training={"threshold": 0.3})
    loaded = TextClassifier.load(tmp_path / "m")
    assert model_threshold(loaded) == 0.3
    p = human_probability(loaded, ["@AcmeHelp refund my double charge", "@AcmeHelp how do I change the app language?"])
    assert p[0] > p[1]


def test_needs_human_examples_rejects_other_datasets_and_splits(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs_human labels are derived"):
        needs_human_examples("banking77", "train")
    write_twcs_layout(tmp_path)
    with pytest.raises(InputError, match="twcs splits"):
        needs_human_examples("twcs", "dev", data_dir=tmp_path)


def _recipe(data_dir: Path) -> Recipe:
    return Recipe.model_validate({
        "name": "needs-human-tiny",
        "task": "needs_human",
        "encoder": SMALL_TFIDF,
        "data": {"train": {"dataset": "twcs", "labeller": "needs_human", "data_dir": str(data_dir)},
                 "internal_split": True},
    })


def test_train_recipe_splits_by_thread_and_evaluate_agrees(tmp_path: Path) -> None:
    write_twcs_layout(tmp_path / "data", copies=6)
    recipe = _recipe(tmp_path / "data")
    sets = prepare_data(recipe)
    train_threads = set(sets.train.frame["thread_id"])
    assert not train_threads & set(sets.test.frame["thread_id"])
    assert not train_threads & set(sets.validation.frame["thread_id"])
    assert len(sets.test) > 0 and len(sets.train) > len(sets.test)

    run = train_recipe(recipe, output=tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["task"] == "needs_human" and config["labels"] == CLASSES
    assert config["training"]["threshold"] == run.model.decision_threshold_
    assert "validation" in config["training"]["threshold_rule"]
    saved = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert {"roc_auc", "f1", "precision", "recall", "threshold", "ece"} <= set(saved["test"])

    evaluated = evaluate_classifier(tmp_path / "model", dataset="twcs", split="test", data_dir=tmp_path / "data",
                                    plot=tmp_path / "cm.png")
    assert evaluated["n"] == saved["test"]["n"] == len(sets.test)
    assert evaluated["f1"] == pytest.approx(saved["test"]["f1"], abs=1e-12)
    assert evaluated["threshold"] == config["training"]["threshold"]


def test_extra_train_is_training_only(tmp_path: Path) -> None:
    write_twcs_layout(tmp_path / "main", copies=3)
    write_twcs_layout(tmp_path / "extra", files=("kaggle",), copies=2)
    data = {
        "train": {"dataset": "twcs", "labeller": "needs_human", "data_dir": str(tmp_path / "main")},
        "internal_split": True,
        "dedupe": False,
        "extra_train": [{"dataset": "twcs", "labeller": "needs_human", "data_dir": str(tmp_path / "extra")}],
    }
    recipe = Recipe.model_validate({"name": "x", "task": "needs_human", "encoder": SMALL_TFIDF, "data": data})
    with_extra = prepare_data(recipe)
    without = prepare_data(recipe.model_copy(update={"data": recipe.data.model_copy(update={"extra_train": []})}))
    n_extra = len(needs_human_examples("twcs", "all", data_dir=tmp_path / "extra"))
    assert len(with_extra.train) == len(without.train) + n_extra - with_extra.excluded + without.excluded
    assert len(with_extra.test) == len(without.test) and len(with_extra.validation) == len(without.validation)


def test_brand_prior_shrinks_small_brands_and_ignores_unknown_ones() -> None:
    brands = ["Big"] * 20 + ["Small"] + ["Other"] * 19
    labels = ["human"] * 20 + ["human"] + ["self_service"] * 19
    prior = BrandPrior.fit(brands, labels, strength=5)
    big, small, unknown, none = prior.shift(["BIG", "small", "Nobody", None])
    assert big > small > 0 and unknown == 0 and none == 0  # one mention moves a brand only a little
    assert prior.counts == {"big": 20, "other": 19, "small": 1}
    assert BrandPrior.from_dict(json.loads(json.dumps(prior.to_dict()))) == prior
    with pytest.raises(InputError, match="one brand"):
        BrandPrior.fit(["a"], ["human", "human"])


def test_recipe_needs_human_section_only_for_its_task(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(json.dumps({"name": "s", "task": "sentiment", "encoder": "tfidf", "needs_human": {},
                                "data": {"train": {"dataset": "tweeteval_sentiment"}}}))
    with pytest.raises(RecipeError, match="needs_human section applies to task needs_human only"):
        load_recipe(path)


def test_brand_prior_is_stored_and_used_at_evaluation(tmp_path: Path) -> None:
    write_twcs_layout(tmp_path / "data", copies=6)
    run = train_recipe(_recipe(tmp_path / "data"), output=tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    spec = config["training"]["needs_human"]
    assert spec["input"] == "text + brand"
    # in the fixture BetaCare hands 4 of its 5 conversations to a person, AcmeHelp 4 of 11
    shifts = spec["brand_prior"]["shifts"]
    assert shifts["betacare"] > 0 > shifts["acmehelp"]
    loaded = TextClassifier.load(tmp_path / "model")
    text = ["@AcmeHelp my invoice looks odd"]
    beta, acme = needs_human_proba(loaded, text, ["BetaCare"]), needs_human_proba(loaded, text, ["AcmeHelp"])
    assert beta[0] > acme[0]
    np.testing.assert_allclose(needs_human_proba(loaded, text, ["BetaCare"]),
                               needs_human_proba(run.model, text, ["BetaCare"]), rtol=1e-9)
    shared = needs_human_proba(loaded, brands=["BetaCare"], features=loaded.transform(text))  # one encoding pass
    np.testing.assert_allclose(shared, beta, rtol=1e-12)
    saved = json.loads((tmp_path / "model" / "metrics.json").read_text())
    evaluated = evaluate_classifier(tmp_path / "model", dataset="twcs", split="test", data_dir=tmp_path / "data",
                                    plot=tmp_path / "cm.png")
    assert evaluated["brand_prior_used"] and evaluated["n"] == saved["test"]["n"]
    # the same probabilities as at training time: evaluation fed the brands to the prior too
    assert evaluated["ece"] == pytest.approx(saved["test"]["ece"], abs=1e-9)


def test_cross_fitted_recalibration_uses_out_of_fold_scores() -> None:
    # Labels unrelated to the texts: a tfidf head fits its own training rows, so in-sample scores would look
    # informative; scored out of fold they carry nothing, and the recalibration must flatten them.
    from triage.labelled import Examples
    from triage.needs_human import fit_needs_human

    rng = np.random.default_rng(0)
    words = ["card", "app", "order", "login", "refund", "screen", "account", "delivery", "update", "store"]
    texts = [" ".join(rng.choice(words, size=4)) + f" case {i}" for i in range(80)]
    labels = rng.choice(CLASSES, size=80).tolist()
    frame = pd.DataFrame({"text": texts, "label": labels, "brand": None, "thread_id": [f"t{i}" for i in range(80)]})
    train = Examples(texts, labels, frame, "random")
    model = TextClassifier(SMALL_TFIDF, task="needs_human", C=100.0, calibration="none").fit(texts, labels)
    in_sample = human_probability(model, texts)
    assert np.mean((in_sample >= 0.5) == (np.asarray(labels) == "human")) > 0.95  # it memorised its rows

    info = fit_needs_human(model, train, None, brand_prior=False, cross_fit_folds=4)
    calibration = info["needs_human"]["calibration"]
    assert "80 training mentions scored out of fold (4 thread-grouped folds)" in calibration["fitted_on"]
    assert calibration["slope"] < 0.5  # out-of-fold scores are noise: close to a constant
    p = needs_human_proba(model, texts)
    assert np.ptp(p) < np.ptp(in_sample) / 2
    assert "out of fold" in info["threshold_rule"]

    # without cross-fitting and without validation data nothing is recalibrated
    plain = fit_needs_human(model, train, None, brand_prior=False)
    assert "calibration" not in plain["needs_human"] and plain["threshold"] == DEFAULT_THRESHOLD

"""Training from recipes on the real datasets: exclusion, dedupe, internal split, evaluate agreement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage.errors import InputError
from triage.evaluation import evaluate_classifier
from triage.labelled import load_examples
from triage.paths import resolve_data_dir
from triage.recipes import Recipe
from triage.text import match_key
from triage.training import prepare_data, train_recipe

pytestmark = pytest.mark.skipif(
    not (resolve_data_dir() / "tweeteval_sentiment").is_dir(), reason="../shared/data is not beside the repository"
)
SMALL_TFIDF = {"kind": "tfidf", "max_features": 20000, "char_ngram_range": [2, 4]}


def _recipe(**data) -> Recipe:
    return Recipe.model_validate({"name": "t", "task": "sentiment", "encoder": SMALL_TFIDF, "data": data})


def test_tweeteval_val_is_removed_from_semeval_training_data() -> None:
    recipe = _recipe(
        train={"dataset": "semeval2017_task4a_english", "splits": ["twitter_2016dev", "twitter_2016devtest"]},
        exclude=[{"dataset": "tweeteval_sentiment", "splits": ["val"]}],
    )
    sets = prepare_data(recipe)
    val_keys = {match_key(t) for t in load_examples(dataset="tweeteval_sentiment", splits=["val"]).texts}
    train_keys = [match_key(t) for t in sets.train.texts]
    assert sets.excluded > 50  # TweetEval val was built from these files (80 of its tweets are here)
    assert not val_keys & set(train_keys)
    assert len(train_keys) == len(set(train_keys))  # dedupe
    assert sets.n_loaded == 1999 + 2000
    assert len(sets.train) == sets.n_loaded - sets.excluded - sets.duplicates


def test_nothing_left_to_train_on_is_an_error() -> None:
    recipe = _recipe(
        train={"dataset": "umsab_sentiment_english", "splits": ["val"]},
        exclude=[{"dataset": "tweeteval_sentiment", "splits": ["val"]}],  # umsab val is a subset of it
    )
    with pytest.raises(InputError, match="no training texts left"):
        prepare_data(recipe)


@pytest.mark.slow
def test_internal_split_training_and_evaluate_agree(tmp_path: Path) -> None:
    recipe = _recipe(train={"dataset": "twitter_airline_sentiment", "splits": ["all"]}, internal_split=True)
    sets = prepare_data(recipe)
    total = sets.n_loaded
    assert abs(len(sets.test) / total - 0.2) < 0.02 and abs(len(sets.validation) / total - 0.1) < 0.02
    test_ids = set(sets.test.frame["tweet_id"])
    assert not test_ids & set(sets.train.frame["tweet_id"])

    run = train_recipe(recipe, output=tmp_path / "airline")
    saved = json.loads((tmp_path / "airline" / "metrics.json").read_text())
    assert saved["test"]["n"] == len(sets.test)
    # `triage evaluate --split test` re-derives exactly the rows training held out
    evaluated = evaluate_classifier(tmp_path / "airline", dataset="twitter_airline_sentiment", split="test",
                                    plot=tmp_path / "cm.png")
    assert evaluated["n"] == saved["test"]["n"]
    assert evaluated["macro_recall"] == pytest.approx(saved["test"]["macro_recall"], abs=1e-12)
    # a real model: well above the 1/3 of chance on 3 classes, and calibrated
    assert run.metrics["test"]["macro_recall"] > 0.6
    assert run.metrics["test"]["ece"] < 0.1


def test_evaluate_on_a_held_out_layout_folder(tmp_path: Path) -> None:
    """A --data-dir holding only TweetEval-style test files loads as split `test`."""
    from triage.classifier import TextClassifier

    train = load_examples(dataset="umsab_sentiment_english", splits=["train"])
    TextClassifier(SMALL_TFIDF, task="sentiment").fit(train.texts, train.labels).save(tmp_path / "m")
    folder = tmp_path / "heldout" / "tweeteval_sentiment"
    folder.mkdir(parents=True)
    val = load_examples(dataset="umsab_sentiment_english", splits=["val"])
    (folder / "test_text.txt").write_text("\n".join(val.texts[:50]) + "\n")
    codes = {"negative": "0", "neutral": "1", "positive": "2"}
    (folder / "test_labels.txt").write_text("\n".join(codes[label] for label in val.labels[:50]) + "\n")
    m = evaluate_classifier(tmp_path / "m", dataset="tweeteval_sentiment", split="test",
                            data_dir=tmp_path / "heldout", output=tmp_path / "metrics.json")
    assert m["n"] == 50
    assert json.loads((tmp_path / "metrics.json").read_text())["macro_recall"] == m["macro_recall"]
    assert Path(m["confusion_png"]).is_file()

"""Duplicate decision: the pair scorer fits, saves and loads identically; grouped CV; lookup in an index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from triage.duplicates import (
    DuplicateScorer,
    best_f1_threshold,
    cross_validate_duplicates,
    duplicate_of,
    pair_features,
    paraphrase_pairs,
)
from triage.errors import ArtifactError, NotFittedError
from triage.index import MentionIndex

A = ["my order never arrived", "app keeps crashing on login", "how do I reset my password",
     "refund for the broken headphones", "the site is down again", "charged twice for one order",
     "cannot log in to the app", "where is my parcel", "password reset link expired", "site not loading"]
B = ["order never came", "the app crashes when I log in", "reset password how", "headphones broke want refund",
     "site down?", "double charge on my card", "love the new colours", "great service thanks",
     "what time do you open", "my cat is asleep"]
Y = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]


def test_features_have_names_and_bounded_values() -> None:
    X, names = pair_features(A, B, encoders={})
    assert names == ["jaccard", "length_diff"] and X.shape == (10, 2)
    assert (X >= 0).all() and (X <= 1).all() and X[4, 0] > X[9, 0]


def test_fit_save_load_same_probabilities(tmp_path: Path) -> None:
    scorer = DuplicateScorer(encoders=(), C=10.0, cv=2).fit(A, B, Y)
    assert scorer.feature_names_ == ["cos_tfidf", "jaccard", "length_diff"]
    proba = scorer.predict_proba(A, B)
    assert proba.shape == (10,) and (proba[:5].mean() > proba[5:].mean())
    assert 0 < scorer.threshold_ < 1
    scorer.save(tmp_path / "dup")
    loaded = DuplicateScorer.load(tmp_path / "dup")
    np.testing.assert_array_equal(loaded.predict_proba(A, B), proba)
    np.testing.assert_array_equal(loaded.predict(A, B), proba >= scorer.threshold_)
    assert {p.suffix for p in (tmp_path / "dup").rglob("*") if p.is_file()} == {".json", ".safetensors"}  # no pickle
    # a tampered TF-IDF file is refused, naming it
    vocabulary = tmp_path / "dup" / "tfidf" / "vocabulary.json"
    vocabulary.write_text(vocabulary.read_text().replace("order", "ordre", 1))
    with pytest.raises(ArtifactError, match=r"vocabulary\.json"):
        DuplicateScorer.load(tmp_path / "dup")
    with pytest.raises(ArtifactError, match="not a saved duplicate scorer"):
        DuplicateScorer.load(tmp_path)
    with pytest.raises(NotFittedError):
        DuplicateScorer(encoders=()).predict_proba(A, B)


def test_best_f1_threshold() -> None:
    threshold, f1 = best_f1_threshold([0, 0, 1, 1, 1], [0.1, 0.6, 0.5, 0.8, 0.9])
    assert (threshold, round(f1, 4)) == (0.5, 0.8571)


def test_duplicate_of_with_cosine_and_with_a_scorer(static_encoder) -> None:
    index = MentionIndex(static_encoder).add_batch(
        ["1", "2"], ["@AcmeHelp is the site down again?", "@AcmeHelp I was charged twice for one order"],
        links=["https://status.acme", "https://help/billing"], brands=["AcmeHelp"] * 2)
    queries = ["@AcmeHelp site down again??", "I love my new jacket"]
    by_cosine = duplicate_of(index, queries, threshold=0.8)
    assert by_cosine[0].id == "1" and by_cosine[0].is_duplicate and by_cosine[0].link == "https://status.acme"
    assert not by_cosine[1].is_duplicate
    scorer = DuplicateScorer(encoders=(), C=10.0, cv=2).fit(A, B, Y)
    scored = duplicate_of(index, queries, scorer=scorer)
    assert scored[0].id == "1" and 0 <= scored[0].probability <= 1
    assert scored[0].probability > scored[1].probability
    assert duplicate_of(index, queries, brand="OtherBrand") == [None, None]
    assert set(scored[0].to_dict()) >= {"id", "similarity", "link"}


@pytest.mark.slow
def test_pit2015_dev_grouped_cv_beats_cosine_alone(static_encoder) -> None:
    pairs = paraphrase_pairs("dev")
    assert len(pairs) == 4142 and pairs["label"].sum() == 1470  # 585 debatable pairs dropped
    from sklearn.metrics import average_precision_score

    unique = list(dict.fromkeys(pairs["text"].tolist() + pairs["text_pair"].tolist()))
    from triage.text import normalize_batch

    vectors = static_encoder.encode(normalize_batch(unique))
    where = {t: i for i, t in enumerate(unique)}
    cosine = np.einsum("ij,ij->i", vectors[[where[t] for t in pairs["text"]]], vectors[[where[t] for t in pairs["text_pair"]]])
    cosine_ap = average_precision_score(pairs["label"], cosine)
    result = cross_validate_duplicates(lambda: DuplicateScorer(encoders=("static",)), pairs["text"].tolist(),
                                       pairs["text_pair"].tolist(), pairs["label"].tolist(), pairs["topic_id"].tolist())
    assert result["n"] == 4142 and result["folds"] == 5
    assert result["average_precision"] > cosine_ap + 0.03
    assert result["f1"] > 0.6
    json.dumps(result)

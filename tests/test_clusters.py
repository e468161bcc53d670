"""Repeated-question clusters: the chunked community detection equals a brute-force implementation."""

from __future__ import annotations

import numpy as np
import pytest

from triage.clusters import community_detection, repeated_questions
from triage.errors import InputError


def brute_force(X: np.ndarray, threshold: float, min_size: int) -> list[list[int]]:
    """The same rule, the whole similarity matrix at once and plain Python loops."""
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = (X @ X.T).astype(np.float32)
    n = len(X)
    neighbours = [{j for j in range(n) if S[i, j] >= np.float32(threshold)} | {i} for i in range(n)]
    order = sorted((i for i in range(n) if len(neighbours[i]) >= min_size), key=lambda i: (-len(neighbours[i]), i))
    taken: set[int] = set()
    clusters = []
    for centre in order:
        if centre in taken:
            continue
        members = [j for j in neighbours[centre] if j not in taken]
        if len(members) < min_size:
            continue
        members.sort(key=lambda j: (j != centre, -float(S[centre, j]), j))
        taken.update(members)
        clusters.append(members)
    return sorted(clusters, key=len, reverse=True)


@pytest.mark.parametrize(("seed", "threshold", "min_size", "chunk"), [(0, 0.8, 2, 7), (1, 0.7, 3, 64), (2, 0.9, 2, 1000)])
def test_chunked_equals_brute_force_on_random_vectors(seed: int, threshold: float, min_size: int, chunk: int) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((12, 16))
    X = (centres[rng.integers(0, 12, 300)] + 0.4 * rng.standard_normal((300, 16))).astype(np.float32)
    got = community_detection(X, threshold=threshold, min_size=min_size, chunk_size=chunk)
    assert got == brute_force(X, threshold, min_size)
    assert len(got) > 1
    flat = [i for c in got for i in c]
    assert len(flat) == len(set(flat))  # no mention in two clusters


def test_repeated_questions_report() -> None:
    X = np.array([[1, 0, 0], [0.98, 0.2, 0], [0.97, 0.24, 0], [0, 1, 0], [0, 0.99, 0.1], [0, 0, 1]], dtype=np.float32)
    clusters = repeated_questions(
        ["a", "b", "c", "d", "e", "f"], ["app down?", "is the app down", "app not loading", "refund", "refund pls", "hi"],
        X, created_at=["2020-03-02T10:00:00Z", "2020-03-01T10:00:00Z", "2020-03-03T10:00:00Z", None,
                       "2020-03-05T10:00:00Z", None],
        links=["https://status", None, "https://status", None, None, None], threshold=0.9, min_size=2,
    )
    assert [c.size for c in clusters] == [3, 2]
    first = clusters[0]
    assert first.cluster_id == 0 and set(first.member_ids) == {"a", "b", "c"}
    assert (first.first_seen, first.last_seen) == ("2020-03-01T10:00:00Z", "2020-03-03T10:00:00Z")
    assert first.self_service_share == pytest.approx(2 / 3) and first.top_link == "https://status"
    assert first.representative_id == first.member_ids[0]
    faq = clusters[1]  # a repeated question nobody answered with a link: an FAQ candidate
    assert faq.self_service_share == 0 and faq.top_link is None and faq.first_seen == faq.last_seen


def test_bad_input() -> None:
    assert community_detection(np.zeros((0, 4))) == []
    with pytest.raises(InputError, match="2-d"):
        community_detection(np.ones(4))
    with pytest.raises(InputError, match="min_size"):
        community_detection(np.ones((2, 4)), min_size=0)
    with pytest.raises(InputError, match="one of each"):
        repeated_questions(["a"], ["x", "y"], np.ones((1, 2)))

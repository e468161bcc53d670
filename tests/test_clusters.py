"""Repeated-question clusters: the chunked community detection equals a brute-force implementation; the report
fields; `triage clusters` on a real CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from triage.cli import app
from triage.clusters import cluster_mentions, community_detection, repeated_questions
from triage.errors import InputError

runner = CliRunner()


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
    with pytest.raises(InputError, match="texts has 2 values for 1 mentions"):
        cluster_mentions(["a"], ["x", "y"], encoder="static")
    with pytest.raises(InputError, match="until '2020-13-01' is not a time"):
        cluster_mentions(["a"], ["x"], encoder="static", until="2020-13-01")
    # nothing left to cluster: no encoding, every row says why
    assert cluster_mentions(["a", "b"], ["", "@Brand ?"], encoder="static") == ([], ["no text", "fewer than 2 words"])


# The static encoder's cosines run lower than MiniLM's (the command's default threshold is set for MiniLM).
STATIC = ["--encoder", "static", "--threshold", "0.75"]


def _mentions(path: Path) -> Path:
    """Three brands' worth of repeated questions (3 wordings x 3 copies each), an empty row, a row with no words
    and a Twitter-time row."""
    questions = {
        ("AcmeHelp", "parcel"): ["my parcel never arrived", "where is my parcel", "parcel has not arrived yet"],
        ("AcmeHelp", "login"): ["I can't log in to the app", "app login keeps failing", "login not working on the app"],
        ("OtherCo", "parcel"): ["my parcel never arrived", "parcel still not here", "where's my parcel"],
    }
    rows = []
    for (brand, topic), texts in questions.items():
        for text in texts:
            for day in (1, 2, 3):
                rows.append({"id": f"{brand}-{topic}-{len(rows)}", "text": f"@{brand} {text}" + "!" * (day - 1),
                             "brand": brand, "created_at": f"2020-03-0{day}T10:00:00Z",
                             "link": "https://help/parcel" if topic == "parcel" and day == 1 else None})
    rows.append({"id": "empty", "text": "", "brand": "AcmeHelp", "created_at": None, "link": None})
    rows.append({"id": "short", "text": "@AcmeHelp ??", "brand": "AcmeHelp", "created_at": None, "link": None})
    rows.append({"id": "old", "text": "@AcmeHelp thanks for the help!", "brand": "AcmeHelp",
                 "created_at": "Tue Oct 31 22:10:47 +0000 2017", "link": None})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_clusters_command_writes_clusters_and_a_row_per_mention(tmp_path: Path, static_encoder) -> None:
    source = _mentions(tmp_path / "mentions.csv")
    result = runner.invoke(app, ["clusters", str(source), "-o", str(tmp_path / "c.parquet"), "--members",
                                 str(tmp_path / "m.csv"), *STATIC])
    assert result.exit_code == 0, result.output
    found = pd.read_parquet(tmp_path / "c.parquet")
    assert found["size"].tolist() == [9, 9, 9] and found["cluster_id"].tolist() == [0, 1, 2]
    by_topic = {json.loads(m)[0].split("-")[0] + "-" + json.loads(m)[0].split("-")[1]: row
                for m, row in zip(found["member_ids"], found.itertuples(), strict=True)}
    assert set(by_topic) == {"AcmeHelp-parcel", "AcmeHelp-login", "OtherCo-parcel"}
    for key, row in by_topic.items():
        assert all(m.startswith(key) for m in json.loads(row.member_ids)) and row.brand == key.split("-")[0]
        assert (row.first_seen, row.last_seen) == ("2020-03-01T10:00:00Z", "2020-03-03T10:00:00Z")
    assert by_topic["AcmeHelp-parcel"].self_service_share == pytest.approx(1 / 3)
    assert pd.isna(by_topic["AcmeHelp-login"].top_link)  # a repeated question with no link: an FAQ candidate
    members = pd.read_csv(tmp_path / "m.csv", keep_default_na=False)
    assert len(members) == 30 and members["id"].tolist()[-3:] == ["empty", "short", "old"]
    reasons = members.set_index("id")["left_out"]
    assert reasons["empty"] == "no text" and reasons["short"] == "fewer than 2 words" and reasons["old"] == ""
    assert (members["cluster_id"] != "").sum() == 27 and members["is_representative"].sum() == 3
    assert "3 repeated questions" in " ".join(result.output.split())


def test_clusters_across_brands_and_in_a_time_window(tmp_path: Path, static_encoder) -> None:
    source = _mentions(tmp_path / "mentions.csv")
    merged = runner.invoke(app, ["clusters", str(source), "-o", str(tmp_path / "all.csv"), *STATIC,
                                 "--all-brands"])
    assert merged.exit_code == 0, merged.output
    sizes = pd.read_csv(tmp_path / "all.csv")["size"].tolist()
    assert sizes[0] == 18 and sum(sizes) == 27  # both brands' parcel questions in one group
    window = runner.invoke(app, ["clusters", str(source), "--members", str(tmp_path / "w.jsonl"), *STATIC, "--since", "2020-03-02", "--until", "2020-03-03T00:00:00Z", "--min-size", "2"])
    assert window.exit_code == 0, window.output
    members = pd.read_json(tmp_path / "w.jsonl", lines=True).set_index("id")
    assert members.loc["old", "left_out"] == "before since" and members.loc["empty", "left_out"] == "no text"
    inside = members[members["left_out"].isna()]
    assert len(inside) == 9 and inside["cluster_id"].notna().all()  # the day-2 copies only
    assert set(members[members["cluster_id"].notna()].index) == set(inside.index)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "since 'yesterday' is not a time; give ISO-8601"),
        (["--time-column", "text"], "created_at[0] is '@AcmeHelp my parcel never arrived', expected an ISO-8601 time"),
        (["-o", "out.txt"], "out.txt"),
        (["--text-column", "body"], "no column 'body'"),
    ],
)
def test_clusters_command_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    source = _mentions(tmp_path / "mentions.csv")
    result = runner.invoke(app, ["clusters", str(source), "--encoder", "static", *args])
    assert result.exit_code == 1 and message in " ".join(result.output.split()) and "Traceback" not in result.output


def test_a_big_batch_is_warned_about_before_the_pairwise_work(monkeypatch, caplog, static_encoder) -> None:
    import triage.clusters as clusters_module

    monkeypatch.setattr(clusters_module, "_LARGE_GROUP", 2)
    texts = ["@Acme my parcel never arrived", "@Acme where is my parcel", "@Other my parcel is late"]
    with caplog.at_level("WARNING", logger="triage.clusters"):
        cluster_mentions(["1", "2", "3"], texts, encoder="static", brands=["Acme", "Acme", "Other"])
    assert not caplog.records  # per brand, the largest group (2) is not above the limit
    with caplog.at_level("WARNING", logger="triage.clusters"):
        cluster_mentions(["1", "2", "3"], texts, encoder="static")
    assert "3 mentions are compared pairwise" in caplog.text and "narrow the batch" in caplog.text

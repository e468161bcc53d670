"""`triage index build|add|query|stats|train-duplicates` and `triage evaluate` on indexes and duplicate scorers,
on small folders written here in the layout of the held-out parts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from triage.cli import app

runner = CliRunner()

ANSWERED = pd.DataFrame({
    "mention_id": ["1", "2", "3", "4"],
    "body": ["@AcmeHelp my parcel never arrived", "@AcmeHelp how do I reset my password",
             "@AcmeHelp the app crashes when I open it", "@OtherCo my parcel never arrived"],
    "help_link": ["https://help.acme/parcel", "https://help.acme/password", None, "https://help.other/parcel"],
    "brand": ["AcmeHelp", "AcmeHelp", "AcmeHelp", "OtherCo"],
})

GOOGLE = "https://web.archive.org/web/20200401204521/https://support.google.com/accounts/answer/7299973"
ROCKSTAR = "https://support.rockstargames.com/categories/200013106?step=23ac27d2"


def conversation(session: str, company: str, message: str, doc_id: str, url: str) -> dict:
    return {
        "agentURL": {"doc_id": doc_id, "turn": "2", "tweet_ID": "1", "url": url, "url_utterance": f"see {url}"},
        "dialogContent": [{"client": "someone", "datetime": "2020-03-20T10:00:00.000Z", "message": message,
                           "tweet_ID": "2"}],
        "dialogHeader": {"company": company, "conversationDateTime": "2020-03-20T10:00:00.000Z", "duration": "01:00:00.0",
                         "messageCount": "2", "sessionID": session},
    }


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding only held-out files: PIT-2015 test.data + test.label, IBM test.json; and a PIT dev."""
    root = tmp_path_factory.mktemp("held_out")
    pit = root / "pit2015_twitter_paraphrase"
    pit.mkdir()
    rows = [  # topic, s1, s2, expert score (test) / votes (dev)
        ("1", "Ciara", "Ciara is performing tonight", "Ciara performs tonight on TV", 5, "(5, 0)"),
        ("1", "Ciara", "Ciara is performing tonight", "Ciara will be on stage tonight", 4, "(4, 1)"),
        ("1", "Ciara", "Ciara is performing tonight", "I had pizza for lunch", 0, "(0, 5)"),
        ("2", "Heat", "The Heat won the game", "Heat win the game", 5, "(5, 0)"),
        ("2", "Heat", "The Heat won the game", "I hate the heat this summer", 1, "(1, 4)"),
        ("2", "Heat", "The Heat won the game", "Heat game tonight maybe", 3, "(2, 3)"),
        ("3", "iPhone", "The new iPhone is out", "New iPhone released today", 5, "(4, 1)"),
        ("3", "iPhone", "The new iPhone is out", "my phone battery died", 0, "(0, 5)"),
        ("4", "Rain", "It is raining in London", "Rain all day in London", 4, "(3, 2)"),
        ("4", "Rain", "It is raining in London", "London has great museums", 1, "(1, 4)"),
        ("5", "Oscars", "Who won the Oscars", "Oscar winners announced", 4, "(4, 1)"),
        ("5", "Oscars", "Who won the Oscars", "I need new shoes", 0, "(0, 5)"),
    ]
    gold = {5: "true", 4: "true", 3: "----", 1: "false", 0: "false"}
    (pit / "test.data").write_text("".join(f"{t}\t{n}\t{a}\t{b}\t{s}\tx\ty\n" for t, n, a, b, s, _ in rows))
    (pit / "test.label").write_text("".join(f"{gold[s]}\t{s / 5:.1f}\n" for *_, s, _ in rows))
    (pit / "dev.data").write_text("".join(f"{t}\t{n}\t{a}\t{b}\t{v}\tx\ty\n" for t, n, a, b, _, v in rows))
    ibm = root / "ibm_twitter_customer_care"
    ibm.mkdir()
    test = [
        conversation("t1", "Google", "@gmail I am locked out of my gmail account and cannot recover my password",
                     "1665", GOOGLE),
        conversation("t2", "RockstarSupport", "@RockstarSupport I lost my phone with the 2-step authenticator app, "
                     "how do I remove 2 step verification from my account", "8065", ROCKSTAR),
        conversation("t3", "Google", "@Google my gmail password does not work anymore", "1665", GOOGLE),
    ]
    (ibm / "test.json").write_text(json.dumps(test))
    return root


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory, static_encoder) -> Path:
    root = tmp_path_factory.mktemp("index_cli")
    source = root / "answered.csv"
    ANSWERED.to_csv(source, index=False)
    result = runner.invoke(app, ["index", "build", str(source), "-o", str(root / "idx"), "--encoder", "static",
                                 "--id-column", "mention_id", "--text-column", "body", "--link-column", "help_link"])
    assert result.exit_code == 0, result.output
    assert "mentions" in result.output and "static" in result.output
    return root / "idx"


def test_stats_and_query(index_dir: Path) -> None:
    result = runner.invoke(app, ["index", "stats", str(index_dir), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["mentions"] == 4 and stats["brands"] == {"AcmeHelp": 3, "OtherCo": 1} and stats["with_link"] == 3
    result = runner.invoke(app, ["index", "query", str(index_dir), "@AcmeHelp where is my parcel??", "--brand",
                                 "AcmeHelp", "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)[0]
    assert answer["neighbours"][0]["id"] == "1" and len(answer["neighbours"]) == 2
    assert {n["brand"] for n in answer["neighbours"]} == {"AcmeHelp"}
    assert answer["links"][0]["link"] == "https://help.acme/parcel"
    table = runner.invoke(app, ["index", "query", str(index_dir), "parcel missing", "--brand", "Nobody"])
    assert table.exit_code == 0 and "no answered mention" in table.output


def test_query_says_when_links_are_not_one_brands(index_dir: Path) -> None:
    everyone = runner.invoke(app, ["index", "query", str(index_dir), "parcel missing", "--json"])
    assert everyone.exit_code == 0, everyone.output
    assert "2 brands and no --brand" in " ".join(everyone.stderr.split())  # rich wraps at the terminal width
    assert {n["brand"] for n in json.loads(everyone.stdout)[0]["neighbours"]} == {"AcmeHelp", "OtherCo"}
    typo = runner.invoke(app, ["index", "query", str(index_dir), "parcel missing", "--brand", "acmehelp"])
    assert typo.exit_code == 0, typo.output
    note = " ".join(typo.stderr.split())
    assert "'acmehelp' has no answered mention" in note and "did you mean AcmeHelp?" in note
    assert "no answered mention of brand acmehelp" in typo.stdout
    one = runner.invoke(app, ["index", "query", str(index_dir), "parcel missing", "--brand", "OtherCo"])
    assert one.exit_code == 0 and "note:" not in one.stderr


def test_add_replaces_and_grows(index_dir: Path, tmp_path: Path) -> None:
    extra = tmp_path / "more.jsonl"
    extra.write_text('{"id": "3", "text": "@AcmeHelp app crashes on start", "link": "https://help.acme/app"}\n'
                     '{"id": "5", "text": "@AcmeHelp cancel my subscription", "link": "https://help.acme/cancel"}\n')
    result = runner.invoke(app, ["index", "add", str(index_dir), str(extra)])
    assert result.exit_code == 0, result.output
    assert "4 -> 5 mentions (1 replaced)" in result.output
    stats = json.loads(runner.invoke(app, ["index", "stats", str(index_dir), "--json"]).output)
    assert stats["mentions"] == 5 and stats["with_link"] == 5


def test_rows_without_text_stop_the_build_or_are_left_out_with_skip_empty(tmp_path: Path, static_encoder) -> None:
    source = tmp_path / "answered.csv"
    pd.DataFrame({"id": ["a", "b", "c", "d"], "text": ["@AcmeHelp parcel late", "", "@AcmeHelp reset password", " "],
                  "link": ["https://help.acme/parcel", "https://help.acme/x", "https://help.acme/password", None]}
                 ).to_csv(source, index=False)
    stopped = runner.invoke(app, ["index", "build", str(source), "-o", str(tmp_path / "idx"), "--encoder", "static"])
    assert stopped.exit_code == 1 and not (tmp_path / "idx").exists()
    message = " ".join(stopped.output.split())
    assert "row 2 (id 'b') has no text (2 rows in all)" in message and "--skip-empty" in message
    built = runner.invoke(app, ["index", "build", str(source), "-o", str(tmp_path / "idx"), "--encoder", "static",
                                "--skip-empty"])
    assert built.exit_code == 0, built.output
    assert "left out 2 row(s) with no text (ids b, d)" in " ".join(built.output.split())
    stats = json.loads(runner.invoke(app, ["index", "stats", str(tmp_path / "idx"), "--json"]).output)
    assert stats["mentions"] == 2 and stats["with_link"] == 2


@pytest.mark.slow
def test_evaluate_links_on_a_held_out_layout(held_out: Path, tmp_path: Path, static_encoder) -> None:
    build = runner.invoke(app, ["index", "build", "--dataset", "ibm_twitter_customer_care", "--split", "dev",
                                "--encoder", "static", "-o", str(tmp_path / "links")])
    assert build.exit_code == 0, build.output
    out = tmp_path / "links.json"
    result = runner.invoke(app, ["evaluate", str(tmp_path / "links"), "--dataset", "ibm_twitter_customer_care",
                                 "--split", "test", "--data-dir", str(held_out), "--output", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert {"hit_at_1", "hit_at_5", "n"} <= set(metrics) and metrics["n"] == 3
    assert metrics["memory"] == 525 and not metrics["leave_one_out"]
    assert metrics["hit_at_5"] == 1.0 and metrics["hit_at_1"] >= 2 / 3  # typical questions with frequent links
    assert "hit_at_1" in result.output and "brand-most-frequent" in result.output
    # dev itself: leave-one-conversation-out
    dev = runner.invoke(app, ["evaluate", str(tmp_path / "links"), "--dataset", "ibm_twitter_customer_care",
                              "--split", "dev", "--output", str(tmp_path / "dev.json")])
    assert dev.exit_code == 0, dev.output
    dev_metrics = json.loads((tmp_path / "dev.json").read_text())
    assert dev_metrics["n"] == 525 and dev_metrics["leave_one_out"] and dev_metrics["hit_at_1"] < 0.6


def test_evaluate_duplicates_with_an_index_and_a_scorer(held_out: Path, index_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pit.json"
    result = runner.invoke(app, ["evaluate", str(index_dir), "--dataset", "pit2015_twitter_paraphrase", "--split",
                                 "test", "--data-dir", str(held_out), "--output", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert {"f1", "average_precision", "threshold", "n"} <= set(metrics)
    assert metrics["n"] == 11 and metrics["threshold"] == pytest.approx(0.62)  # the debatable pair is dropped
    assert metrics["average_precision"] > 0.7
    scorer = tmp_path / "dup"
    trained = runner.invoke(app, ["index", "train-duplicates", "-o", str(scorer), "--data-dir", str(held_out)])
    assert trained.exit_code == 0, trained.output
    result = runner.invoke(app, ["evaluate", str(scorer), "--dataset", "pit2015_twitter_paraphrase", "--split", "test",
                                 "--data-dir", str(held_out), "--output", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 11 and metrics["decided_by"] == "duplicate_scorer" and 0 <= metrics["f1"] <= 1
    wrong = runner.invoke(app, ["evaluate", str(scorer), "--dataset", "ibm_twitter_customer_care", "--split", "dev"])
    assert wrong.exit_code == 1 and "needs an index folder" in wrong.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["index", "stats", "no_such_index"], "no_such_index does not exist. Build one with `triage index build`"),
        (["index", "build", "-o", "x"], "give either an INPUT file or --dataset"),
        (["index", "query", "no_such_index", "hello"], "no_such_index"),
    ],
)
def test_errors_are_one_clear_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output

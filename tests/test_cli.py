"""The command line end to end on our fixtures: train from a user's file, evaluate, score, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from triage.cli import app

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "data" / "fixtures" / "sentiment_tiny.csv"
VAL_FIXTURE = REPO / "data" / "fixtures" / "sentiment_tiny_val.csv"
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    # the user's own labelled mentions, with their own column names, as Parquet
    frame = pd.read_csv(FIXTURE).rename(columns={"text": "body", "label": "mood"})
    frame.to_parquet(root / "mine.parquet")
    recipe = root / "mine.yaml"
    recipe.write_text(
        "name: mine\ntask: sentiment\nencoder: {kind: tfidf}\nhead: {C: 50}\n"
        f"data:\n  train: {{file: {root / 'mine.parquet'}, text_column: body, label_column: mood}}\n"
        f"  validation: {{file: {VAL_FIXTURE}}}\n"
    )
    result = runner.invoke(app, ["train", str(recipe), "--output", str(root / "model")])
    assert result.exit_code == 0, result.output
    assert "validation" in result.output
    return root


def test_train_writes_a_model_with_metrics(trained: Path) -> None:
    metrics = json.loads((trained / "model" / "metrics.json").read_text())
    assert metrics["validation"]["n"] == 9
    assert metrics["validation"]["accuracy"] >= 6 / 9  # unseen texts: most right
    config = json.loads((trained / "model" / "config.json").read_text())
    assert config["training"]["n_train"] == 24
    assert config["training"]["licence"] == "user-supplied file"


def test_evaluate_on_a_file_writes_stable_keys_and_a_png(trained: Path) -> None:
    out = trained / "metrics.json"
    result = runner.invoke(app, ["evaluate", str(trained / "model"), "--file", str(FIXTURE), "--output", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert {"n", "accuracy", "macro_f1", "macro_recall", "ece", "per_class"} <= set(metrics)
    assert metrics["n"] == 24 and metrics["accuracy"] == 1.0
    assert Path(metrics["confusion_png"]).read_bytes()[:4] == b"\x89PNG"
    assert metrics["reliability_png"] == str(trained / "metrics_reliability.png")
    assert Path(metrics["reliability_png"]).read_bytes()[:4] == b"\x89PNG"
    assert sum(b["n"] for b in metrics["reliability"]) == metrics["n"]
    assert "macro_recall" in result.output and "reliability diagram" in result.output


def test_score_keeps_every_row(trained: Path, tmp_path: Path) -> None:
    source = tmp_path / "m.csv"
    pd.DataFrame({"id": ["1", "2", "3"], "text": ["@AcmeHelp thanks, great!", "", "@AcmeHelp awful, never again"]}).to_csv(
        source, index=False
    )
    result = runner.invoke(app, ["score", str(source), "-o", str(tmp_path / "o.parquet"), "--model", str(trained / "model")])
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(tmp_path / "o.parquet")
    assert scored["id"].tolist() == ["1", "2", "3"]
    assert scored["error"].notna().tolist() == [False, True, False]
    assert "error: text is missing" in result.output  # an empty CSV cell is a missing text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nope.yaml"], "recipe file not found"),
        (["evaluate", "no_such_model", "--file", str(FIXTURE)], "model folder not found"),
        (["evaluate", "no_such_model"], "give either --dataset"),
        (["score", "nope.csv", "-o", "x.parquet", "--model", "no_such_model"], "model folder not found"),
        (["datasets", "no_such_dataset"], "no_such_dataset"),
    ],
)
def test_errors_are_one_clear_line_and_exit_1(args: list[str], message: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "error:" in result.output and message in result.output
    assert "Traceback" not in result.output


def test_evaluate_on_an_unlabelled_dataset_says_what_to_do(trained: Path) -> None:
    # a sentiment model against twcs: no label to score against, and the error names the ways that work
    result = runner.invoke(app, ["evaluate", str(trained / "model"), "--dataset", "twcs", "--split", "all"])
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "error: twcs is unlabelled" in message and "--file PATH --label-column NAME" in message
    assert "Traceback" not in result.output


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("train", "evaluate", "score", "datasets"):
        assert command in result.output


def test_help_paragraphs_reflow_to_the_terminal_width() -> None:
    # the docstring's hard line breaks must not survive: on a wide terminal a sentence stays on one line
    result = runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert any("threshold and n of the duplicate decision" in line for line in lines), result.output

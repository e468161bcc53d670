"""Batch scoring: every input row gets exactly one output row, bad rows keep an error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from triage.classifier import TextClassifier
from triage.errors import InputError
from triage.scoring import score_file

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "sentiment_tiny.csv"


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    tiny = pd.read_csv(FIXTURE)
    return TextClassifier("tfidf", task="sentiment").fit(tiny["text"].tolist(), tiny["label"].tolist())


MENTIONS = [
    {"id": "a1", "text": "@AcmeHelp thank you, brilliant service!"},
    {"id": "a2", "text": "   "},
    {"id": "a3", "text": "x" * 6000},
    {"id": None, "text": "no id here"},
    {"id": "a1", "text": "@AcmeHelp repeated id"},
    {"id": "a6", "text": "@AcmeHelp my order never arrived, awful"},
    {"id": "007", "text": "@AcmeHelp where is the invoice"},
]


def _check_result(result: pd.DataFrame, model: TextClassifier) -> None:
    assert len(result) == len(MENTIONS)
    assert result["id"].tolist()[:3] == ["a1", "a2", "a3"]
    assert result["id"].tolist()[6] == "007"  # ids are kept as text, leading zeros included
    errors = result["error"].tolist()
    assert errors[0] is None or pd.isna(errors[0])
    assert "empty" in errors[1]
    assert "longer than 5,000" in errors[2]
    assert "id is missing" in errors[3]
    assert "repeats an earlier row" in errors[4]
    ok = result["error"].isna()
    assert ok.tolist() == [True, False, False, False, False, True, True]
    assert result.loc[ok, "sentiment"].tolist() == model.predict([MENTIONS[i]["text"] for i in (0, 5, 6)]).tolist()
    assert result.loc[~ok, "sentiment_positive"].isna().all()
    np.testing.assert_allclose(result.loc[ok, ["sentiment_negative", "sentiment_neutral", "sentiment_positive"]].sum(1), 1.0)


def test_csv_in_parquet_out_with_small_chunks(model: TextClassifier, tmp_path: Path) -> None:
    source = tmp_path / "mentions.csv"
    pd.DataFrame(MENTIONS).to_csv(source, index=False)
    summary = score_file(source, tmp_path / "out.parquet", model=model, chunksize=2)
    result = pq.read_table(tmp_path / "out.parquet").to_pandas()
    _check_result(result, model)
    assert summary.rows == 7 and summary.scored == 3 and summary.errors == 4
    assert sum(summary.labels.values()) == 3
    # the example kept per label is a scored row with the highest probability of that label
    for label, (p, mention_id, _text) in summary.examples.items():
        scored = result[result["error"].isna()]
        assert p == pytest.approx(scored[f"sentiment_{label}"].max())
        assert mention_id in set(scored["id"])


def test_jsonl_in_csv_out(model: TextClassifier, tmp_path: Path) -> None:
    source = tmp_path / "mentions.jsonl"
    source.write_text("\n".join(json.dumps(m) for m in MENTIONS) + "\n")
    score_file(source, tmp_path / "out.csv", model=model)
    result = pd.read_csv(tmp_path / "out.csv", dtype={"id": str}, keep_default_na=False, na_values=[""])
    result["error"] = result["error"].where(result["error"].notna(), None)
    _check_result(result, model)


def test_parquet_in_with_wrong_types(model: TextClassifier, tmp_path: Path) -> None:
    table = pa.table({"tweet_id": [1, 2, 3], "body": ["@AcmeHelp thanks!", None, "@AcmeHelp awful"]})
    pq.write_table(table, tmp_path / "in.parquet")
    score_file(tmp_path / "in.parquet", tmp_path / "out.parquet", model=model, text_column="body", id_column="tweet_id")
    result = pd.read_parquet(tmp_path / "out.parquet")
    assert result["id"].tolist() == ["1", "2", "3"]
    assert result["error"].tolist()[1] == "text is missing"


def test_jsonl_with_non_string_text(model: TextClassifier, tmp_path: Path) -> None:
    source = tmp_path / "m.jsonl"
    source.write_text('{"id": 1, "text": 42}\n{"id": 2, "text": ["a"]}\n{"id": 3, "text": "@AcmeHelp thanks"}\n')
    score_file(source, tmp_path / "out.parquet", model=model)
    errors = pd.read_parquet(tmp_path / "out.parquet")["error"].tolist()
    assert errors[0] == "text must be a string (found int)"
    assert errors[1] == "text must be a string (found list)"
    assert pd.isna(errors[2])


def test_missing_column_names_the_option(model: TextClassifier, tmp_path: Path) -> None:
    source = tmp_path / "m.csv"
    pd.DataFrame({"id": [1], "body": ["hi"]}).to_csv(source, index=False)
    with pytest.raises(InputError, match=r"no column 'text'.*--text-column"):
        score_file(source, tmp_path / "o.csv", model=model)
    assert not (tmp_path / "o.csv").exists()
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.jsonl", '{"id": 1, "text": "ok"}\n{"id": 2, "text": \n', r"broken.jsonl:2: not valid JSON"),
        ("list.jsonl", "[1, 2]\n", "expected a JSON object"),
        ("empty.csv", "", "the file is empty"),
        ("notes.txt", "hello", "unsupported file extension"),
    ],
)
def test_broken_inputs(model: TextClassifier, tmp_path: Path, name: str, content: str, message: str) -> None:
    source = tmp_path / name
    source.write_text(content)
    with pytest.raises(InputError, match=message):
        score_file(source, tmp_path / "out.csv", model=model)


def test_missing_input_and_bad_output(model: TextClassifier, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        score_file(tmp_path / "nope.csv", tmp_path / "out.csv", model=model)
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(InputError, match="folder.csv: is a folder, not a file"):
        score_file(tmp_path / "folder.csv", tmp_path / "out.csv", model=model)
    source = tmp_path / "m.csv"
    pd.DataFrame(MENTIONS[:1]).to_csv(source, index=False)
    with pytest.raises(InputError, match="unsupported file extension"):
        score_file(source, tmp_path / "out.xlsx", model=model)
    with pytest.raises(InputError, match="overwrite the input"):
        score_file(source, source, model=model)


def test_csv_with_bare_carriage_returns_and_crlf(model: TextClassifier, tmp_path: Path) -> None:
    # real twcs exports: a bare \r inside unquoted text must not split the row; CRLF line ends too
    source = tmp_path / "m.csv"
    source.write_bytes(b"id,text\r\n1,@AcmeHelp first line\rsecond part\r\n2,@AcmeHelp thanks\r\n")
    summary = score_file(source, tmp_path / "out.parquet", model=model)
    result = pd.read_parquet(tmp_path / "out.parquet")
    assert summary.rows == 2 and result["id"].tolist() == ["1", "2"] and result["error"].isna().all()

"""TriagePipeline: one flow from mentions to results, bad rows kept, one encoding pass per encoder, duplicates,
PII redaction, save/load round trip, fairness on real mentions, clear errors for broken pipeline folders."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.classifier import TextClassifier
from triage.errors import ArtifactError
from triage.index import MentionIndex
from triage.pipeline import PIPELINE_FILE, TriagePipeline
from triage.policy import load_policy, parse_policy
from triage.schema import Mention

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "data" / "fixtures"
CONSUMER = REPO / "models" / "defaults" / "policy-consumer.yaml"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SMALL_TFIDF = {"kind": "tfidf", "min_df": 1, "max_features": 5000, "char_ngram_range": [2, 4]}


def _fit(path: Path, task: str, encoder: dict | str = SMALL_TFIDF, **kwargs) -> TextClassifier:
    frame = pd.read_csv(path)
    return TextClassifier(encoder, task=task, C=20.0, **kwargs).fit(frame["text"].tolist(), frame["label"].tolist())


@pytest.fixture(scope="module")
def parts(static_encoder) -> dict:
    """Tiny models trained on the project's fixtures, an index of answered mentions, a lenient policy."""
    intent = _fit(FIXTURES / "pipeline_intents.csv", "intent")
    sentiment = _fit(FIXTURES / "sentiment_tiny.csv", "sentiment")
    needs_human = _fit(FIXTURES / "needs_human_tiny.csv", "needs_human")
    needs_human.decision_threshold_ = 0.9  # the tiny head is unsure: only clear cases go to a person here
    no_reply = _fit(FIXTURES / "no_reply_tiny.csv", "no_reply", encoder="static")
    index = MentionIndex("static")
    index.add_batch(
        ["a1", "a2", "a3"],
        ["@AcmeHelp the promo code SAVE10 does not work at checkout", "@AcmeHelp how do I change my delivery address",
         "@OtherBrand the promo code SAVE10 does not work at checkout"],
        links=["https://help.example.com/promo-codes", None, "https://other.example.com/codes"],
        brands=["AcmeHelp", "AcmeHelp", "OtherBrand"],
    )
    raw = yaml.safe_load(CONSUMER.read_text())
    raw["thresholds"] = {"review": 0.2, "auto": 0.3}  # tiny models give modest confidences
    policy = parse_policy(raw, source="test")
    return {"intent": intent, "sentiment": sentiment, "needs_human": needs_human, "no_reply": no_reply,
            "index": index, "policy": policy}


@pytest.fixture(scope="module")
def pipeline(parts: dict) -> TriagePipeline:
    return TriagePipeline(**parts)


def test_every_input_row_gets_a_result_in_order(pipeline: TriagePipeline) -> None:
    rows = [
        {"id": "1", "text": "@AcmeHelp where is my order, it has not arrived yet"},
        {"id": "2", "text": "   "},
        {"text": "no id here"},
        {"id": "4", "text": 12345},
        {"id": "1", "text": "a repeated id"},
        Mention(id="6", text="@AcmeHelp how do I reset my password"),
        "not a mention",
        {"id": "8", "text": "x" * 5001},
    ]
    results = pipeline.predict(rows, now=NOW)
    assert [r.id for r in results] == ["1", "2", "row 2", "4", "1", "6", "row 6", "8"]
    errors = [r.error for r in results]
    assert errors[0] is None and errors[5] is None
    assert "empty" in errors[1] and "id" in errors[2] and "string" in errors[3]
    assert "repeats an earlier mention" in errors[4] and "expected a mention" in errors[6] and "5,000" in errors[7]
    assert all(r.action is None for r in results if r.error)
    assert all(r.versions["pipeline"] == "default@1" for r in results)


def test_a_clear_request_gets_its_self_service_link(pipeline: TriagePipeline) -> None:
    result = pipeline.predict({"id": "t", "text": "@AcmeHelp how do I reset my password in the app?"}, now=NOW)[0]
    assert result.intent.label == "recover_password"
    assert result.action == "self_service" and result.link == "https://help.example.com/account/password-reset"
    assert result.intent.top[0][0] == "recover_password" and len(result.intent.top) == 3
    assert set(result.sentiment.scores) == {"negative", "neutral", "positive"}
    assert 0.0 <= result.needs_human <= 1.0 and result.reasons


def test_pii_goes_to_a_private_channel_and_is_never_returned(pipeline: TriagePipeline) -> None:
    card = "4111 1111 1111 1111"
    result = pipeline.predict({"id": "p", "text": f"@AcmeHelp my payment failed, card {card}, email me at jo@example.org"},
                              now=NOW)[0]
    assert result.action == "human" and set(result.pii) == {"card", "email"}
    assert any("private" in reason for reason in result.reasons)
    dumped = result.model_dump_json()
    assert card not in dumped and "jo@example.org" not in dumped
    assert "[card]" in result.redacted_text


def test_a_repeated_question_gets_the_answer_already_given(pipeline: TriagePipeline) -> None:
    text = "@AcmeHelp the promo code SAVE10 does not work at checkout!"
    acme, other, unknown = pipeline.predict([
        {"id": "d1", "text": text, "brand": "AcmeHelp"},
        {"id": "d2", "text": text, "brand": "ThirdBrand"},  # no answered mention of that brand
        {"id": "a1", "text": text, "brand": "AcmeHelp"},  # the stored mention itself is never its own duplicate
    ], now=NOW)
    assert acme.duplicate_of is not None and acme.duplicate_of.id == "a1"
    assert acme.duplicate_of.similarity >= pipeline.config.duplicates.threshold
    assert acme.action == "self_service" and acme.link == "https://help.example.com/promo-codes"
    assert other.duplicate_of is None
    assert unknown.duplicate_of is None  # a1's only same-brand neighbours are itself and a2 (no link)


def test_a_mention_that_says_nothing_repeats_nothing(parts: dict) -> None:
    index = MentionIndex("static")
    index.add_batch(["q1"], ["@AcmeHelp ???"], links=["https://help.example.com/x"], brands=["AcmeHelp"])
    index.add_batch(["q2"], ["@AcmeHelp the promo code SAVE10 does not work at checkout"],
                    links=["https://help.example.com/promo-codes"], brands=["AcmeHelp"])
    base = TriagePipeline(**{**parts, "index": index})
    rows = [{"id": "s", "text": "@AcmeHelp ??", "brand": "AcmeHelp"},
            {"id": "l", "text": "@AcmeHelp the promo code SAVE10 does not work at checkout!", "brand": "AcmeHelp"}]
    short, long = base.predict(rows, now=NOW)
    assert short.duplicate_of is None  # "??" is a near-copy of q1, yet it repeats nothing and gets no q1 link
    assert short.link != "https://help.example.com/x" and not any("answered similar" in r for r in short.reasons)
    assert long.duplicate_of is not None and long.duplicate_of.id == "q2"
    lenient = TriagePipeline(**{**parts, "index": index}, config=base.config.model_copy(
        update={"duplicates": base.config.duplicates.model_copy(update={"min_words": 0})}))
    short = lenient.predict(rows[:1], now=NOW)[0]
    assert short.duplicate_of is not None and short.duplicate_of.id == "q1"


def test_heads_and_index_share_one_pass_per_encoder(pipeline: TriagePipeline, monkeypatch) -> None:
    from triage.encoders import StaticEncoder, TfidfEncoder

    calls: list[str] = []
    for cls in (StaticEncoder, TfidfEncoder):
        original = cls.encode
        monkeypatch.setattr(cls, "encode", lambda self, t, _o=original, **kw: calls.append(self.kind) or _o(self, t, **kw))
    pipeline.predict([{"id": "1", "text": "@AcmeHelp thanks, all sorted!", "brand": "AcmeHelp"},
                      {"id": "2", "text": "@AcmeHelp my refund never came", "brand": "AcmeHelp"}], now=NOW)
    # three tfidf heads fitted on their own data; the static no_reply head and the static index share one pass
    assert sorted(calls) == ["static", "tfidf", "tfidf", "tfidf"]


def test_save_then_load_gives_identical_results(pipeline: TriagePipeline, tmp_path: Path) -> None:
    rows = [{"id": str(i), "text": t, "brand": "AcmeHelp"} for i, t in enumerate([
        "@AcmeHelp where is my parcel", "@AcmeHelp my card was charged twice, refund me", "@AcmeHelp thank you!",
        "@AcmeHelp the promo code SAVE10 does not work at checkout", "@AcmeHelp my payment failed at checkout",
    ])]
    before = [r.model_dump() for r in pipeline.predict(rows, now=NOW)]
    folder = pipeline.save(tmp_path / "pipe")
    assert (folder / PIPELINE_FILE).is_file() and (folder / "policy.yaml").is_file()
    loaded = TriagePipeline.load(folder)
    assert [r.model_dump() for r in loaded.predict(rows, now=NOW)] == before
    pipeline.save(tmp_path / "pipe")  # saving over a pipeline folder replaces it whole
    assert TriagePipeline.load(tmp_path / "pipe" / PIPELINE_FILE).versions_ == loaded.versions_


def test_broken_pipeline_folders_fail_with_the_key_and_the_fix(pipeline: TriagePipeline, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="pipeline file not found"):
        TriagePipeline.load(tmp_path)
    folder = pipeline.save(tmp_path / "pipe")
    config = yaml.safe_load((folder / PIPELINE_FILE).read_text())
    (folder / PIPELINE_FILE).write_text(yaml.safe_dump({**config, "sentimnet": "x"}))
    with pytest.raises(ArtifactError, match="sentimnet"):
        TriagePipeline.load(folder)
    (folder / PIPELINE_FILE).write_text(yaml.safe_dump({**config, "needs_human": "models/missing"}))
    with pytest.raises(ArtifactError, match="needs_human 'models/missing' not found"):
        TriagePipeline.load(folder)
    (folder / PIPELINE_FILE).write_text(yaml.safe_dump({**config, "sentiment": "models/intent"}))
    with pytest.raises(ArtifactError, match="sentiment model has labels"):
        TriagePipeline.load(folder)
    (folder / PIPELINE_FILE).write_text(yaml.safe_dump(config))
    head = folder / "models" / "intent" / "head.skops"
    head.write_bytes(head.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match="head.skops"):
        TriagePipeline.load(folder)


@pytest.fixture(scope="module")
def real_mentions() -> list[dict]:
    """Real customer tweets from twcs (../shared/data), with their brands, plus one without a brand."""
    from triage.no_reply import no_reply_frame

    frame = no_reply_frame().head(40)
    rows = [{"id": t, "text": x, "brand": b} for t, x, b in zip(frame["tweet_id"], frame["text"], frame["brand"], strict=True)]
    return rows + [{"id": "no-brand", "text": rows[0]["text"]}]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(followers=st.lists(st.one_of(st.none(), st.integers(0, 50_000_000)), min_size=41, max_size=41),
       verified=st.lists(st.one_of(st.none(), st.booleans()), min_size=41, max_size=41))
def test_followers_and_verified_never_change_a_result(pipeline: TriagePipeline, real_mentions, followers, verified) -> None:
    base = [r.model_dump() for r in pipeline.predict(real_mentions, now=NOW)]
    varied = [{**m, "followers": f, "verified": v} for m, f, v in zip(real_mentions, followers, verified, strict=True)]
    assert [r.model_dump() for r in pipeline.predict(varied, now=NOW)] == base


def test_the_shipped_consumer_policy_loads_into_a_pipeline(parts: dict) -> None:
    policy = load_policy(CONSUMER)
    pipe = TriagePipeline(**{**parts, "policy": policy})
    result = pipe.predict({"id": "1", "text": "@AcmeHelp hello"}, now=NOW)[0]
    assert result.error is None and result.versions["policy"] == policy.version_tag
    assert json.loads(result.model_dump_json())["id"] == "1"


def test_score_a_plain_csv_with_the_pipeline(pipeline: TriagePipeline, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from triage.cli import app
    from triage.scoring import RESULT_COLUMNS

    folder = pipeline.save(tmp_path / "pipe")
    source = tmp_path / "mentions.csv"
    source.write_text("id,text\n1,@AcmeHelp how do I reset my password?\n2,\n3,@AcmeHelp thanks!\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["score", str(source), "-o", str(tmp_path / "out.csv"), "--pipeline", str(folder)])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "out.csv", dtype={"id": str})
    assert out.columns.tolist() == [name for name, _ in RESULT_COLUMNS]
    assert out["id"].tolist() == ["1", "2", "3"]
    assert out.loc[0, "action"] == "self_service" and out.loc[0, "link"].endswith("/account/password-reset")
    assert out.loc[1, "error"] == "text is missing" and pd.isna(out.loc[1, "action"])
    assert json.loads(out.loc[0, "reasons"]) and json.loads(out.loc[0, "versions"])["pipeline"] == "default@1"


def test_scoring_reads_every_mention_field_present_and_keeps_a_row_per_input(pipeline: TriagePipeline, tmp_path: Path) -> None:
    from triage.scoring import score_file

    source = tmp_path / "mentions.csv"
    source.write_text(
        "tweet_id,body,brand,created_at,in_reply_to,followers,verified\n"
        "10,@AcmeHelp the promo code SAVE10 does not work at checkout,AcmeHelp,Tue Oct 31 22:10:47 +0000 2017,,120,False\n"
        "11,@AcmeHelp still not working after I tried that,AcmeHelp,2017-10-31T22:12:00Z,9.0,5,True\n"
        "12,@AcmeHelp my card 4111 1111 1111 1111 was declined,AcmeHelp,not a date,,,\n"
        "10,@AcmeHelp a repeated id in another chunk,AcmeHelp,,,,\n",
        encoding="utf-8",
    )
    summary = score_file(source, tmp_path / "out.parquet", pipeline=pipeline, text_column="body", id_column="tweet_id",
                         chunksize=2)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert summary.rows == len(out) == 4 and out["id"].tolist() == ["10", "11", "12", "10"]
    assert out.loc[0, "duplicate_of"] == "a1" and out.loc[0, "action"] == "self_service"  # brand column read
    assert out.loc[1, "action"] == "human"  # in_reply_to read: a follow-up saying the fix failed stays with a person
    assert "created_at" in out.loc[2, "error"]  # an unreadable date is named, the row kept
    assert "repeats an earlier row" in out.loc[3, "error"]
    assert "4111" not in out.to_json()
    assert summary.errors == 2 and sum(summary.labels.values()) == 2


def test_pipeline_evaluation_on_twcs_weak_labels(pipeline: TriagePipeline, tmp_path: Path) -> None:
    from twcs_layout import threads, write_twcs_layout
    from typer.testing import CliRunner

    from triage.cli import app

    write_twcs_layout(tmp_path / "heldout")
    folder = pipeline.save(tmp_path / "pipe")
    result = CliRunner().invoke(app, ["evaluate", str(folder), "--dataset", "twcs", "--split", "all",
                                      "--data-dir", str(tmp_path / "heldout"), "--output", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "m.json").read_text())
    expected = threads()["expected"]
    assert m["n"] == int(expected.notna().sum())
    assert sum(sum(row.values()) for row in m["confusion"].values()) == m["n"]
    assert set(m["confusion"]) == {"human", "self_service"}
    humans = m["confusion"]["human"]
    agreed = humans["human"] + m["confusion"]["self_service"]["self_service"]  # no_reply agrees with no answered mention
    assert m["agreement"] == pytest.approx(agreed / m["n"])
    assert m["human_recall"] == pytest.approx(humans["human"] / sum(humans.values()))
    rates = [p["automation_rate"] for p in m["curve"]]
    assert rates == sorted(rates)  # a higher needs-human threshold never sends more mentions to a person
    assert Path(m["deflection_png"]).is_file() and Path(m["deflection_png"]).stat().st_size > 5000
    assert {"agreement", "automation_rate", "error_rate"} <= set(m["without_in_reply_to"])


def test_signals_carry_the_brands_suggested_link(pipeline: TriagePipeline) -> None:
    branded, other, plain = pipeline.signals([
        {"id": "s1", "text": "@AcmeHelp my discount code is rejected at checkout", "brand": "AcmeHelp"},
        {"id": "s2", "text": "@OtherBrand my discount code is rejected at checkout", "brand": "OtherBrand"},
        {"id": "s3", "text": "my discount code is rejected at checkout"},
    ], now=NOW)
    assert branded.suggested_link.link == "https://help.example.com/promo-codes"  # AcmeHelp's only link
    assert branded.suggested_link.support == 1 and branded.suggested_link.similarity > 0.3
    assert other.suggested_link.link == "https://other.example.com/codes"  # never another brand's link
    assert plain.suggested_link is None  # no brand, no suggestion


def test_a_mention_without_a_brand_addresses_its_first_named_handle(pipeline: TriagePipeline) -> None:
    from triage.pipeline import _addressed_handle

    assert _addressed_handle("@12345 @AcmeHelp my order") == "AcmeHelp"  # anonymised customers are skipped
    assert _addressed_handle("mail me at jo@example.com") is None and _addressed_handle("no handle") is None
    inferred, given = pipeline.signals([
        {"id": "b1", "text": "@AcmeHelp my discount code is rejected at checkout"},
        {"id": "b2", "text": "@AcmeHelp my discount code is rejected at checkout", "brand": "OtherBrand"},
    ], now=NOW)
    assert inferred.mention.brand == "AcmeHelp" and inferred.suggested_link.link == "https://help.example.com/promo-codes"
    assert given.mention.brand == "OtherBrand"  # a given brand is kept
    off = TriagePipeline(intent=pipeline.intent, sentiment=pipeline.sentiment, policy=pipeline.policy,
                         index=pipeline.index, config=pipeline.config.model_copy(update={"infer_brand": False}))
    assert off.signals([{"id": "b3", "text": "@AcmeHelp my discount code"}], now=NOW)[0].mention.brand is None


def test_twcs_column_names_are_read_as_mention_fields() -> None:
    from triage.scoring import mentions_from_frame

    frame = pd.DataFrame({"tweet_id": ["5"], "text": ["@AcmeHelp iPhone 6s"], "author_id": ["115712"],
                          "in_response_to_tweet_id": ["4.0"], "inbound": ["True"]})
    [row] = mentions_from_frame(frame, id_column="tweet_id")
    assert row == {"id": "5", "text": "@AcmeHelp iPhone 6s", "author": "115712", "in_reply_to": "4"}
    both = frame.assign(in_reply_to="9")  # the Mention name wins over the alias
    assert mentions_from_frame(both, id_column="tweet_id")[0]["in_reply_to"] == "9"


def test_an_index_that_keeps_handles_encodes_its_own_text(parts: dict, monkeypatch) -> None:
    from triage.encoders import StaticEncoder

    index = MentionIndex("static", keep_handles=True)
    index.add_batch(["k1"], ["@AcmeHelp the promo code SAVE10 does not work at checkout"],
                    links=["https://help.example.com/promo-codes"], brands=["AcmeHelp"])
    seen: list[list[str]] = []
    original = StaticEncoder.encode
    monkeypatch.setattr(StaticEncoder, "encode", lambda self, t, **kw: seen.append(list(t)) or original(self, t, **kw))
    TriagePipeline(**{**parts, "index": index}).predict(
        [{"id": "1", "text": "@AcmeHelp the promo code SAVE10 fails", "brand": "AcmeHelp"}], now=NOW)
    # the no_reply head sees '@user ...'; the index is not fed those vectors but encodes the handle as written
    assert ["@user the promo code SAVE10 fails"] in seen and ["@AcmeHelp the promo code SAVE10 fails"] in seen

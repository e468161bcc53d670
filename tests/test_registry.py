"""Tests for triage.registry: the manifest, the real datasets, held-out layouts and parse errors."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path

import pytest

from triage.errors import DatasetError
from triage.paths import resolve_data_dir
from triage.registry import available_splits, dataset_info, list_datasets, load_dataset

DATA_DIR = resolve_data_dir()
real_data = pytest.mark.skipif(
    not DATA_DIR.is_dir(), reason=f"real datasets not found at {DATA_DIR} (set TRIAGE_DATA_DIR to their root)"
)

FOLDERS = {
    "tweeteval_sentiment",
    "semeval2017_task4a_english",
    "umsab_sentiment_english",
    "twitter_airline_sentiment",
    "banking77",
    "clinc150",
    "bitext_customer_support",
    "twcs",
    "ibm_twitter_customer_care",
    "pit2015_twitter_paraphrase",
    "quora_question_pairs_sample",
}
SENTIMENT = {"negative", "neutral", "positive"}

_loaded: dict[str, object] = {}


def real(name: str):
    """Load a real dataset once per test session (the whole set takes a few seconds)."""
    if name not in _loaded:
        _loaded[name] = load_dataset(name)
    return _loaded[name]


# ---- manifest


def test_registry_has_one_entry_per_folder():
    assert set(list_datasets()) == FOLDERS
    assert {dataset_info(name).folder for name in list_datasets()} == FOLDERS


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_manifest_entry_is_complete(name):
    spec = dataset_info(name)
    assert spec.licence and spec.parser and spec.task and spec.text_columns
    assert "text" in spec.columns and "label" in spec.columns
    for split, split_spec in spec.splits.items():
        assert re.fullmatch(r"[A-Za-z0-9_]+", split), split
        assert split_spec.files


@pytest.mark.parametrize(
    ("name", "split", "files"),
    [
        ("tweeteval_sentiment", "test", ("test_text.txt", "test_labels.txt")),
        ("tweeteval_sentiment", "train", ("train_text.txt", "train_labels.txt")),
        ("umsab_sentiment_english", "test", ("test_text.txt", "test_labels.txt")),
        ("semeval2017_task4a_english", "test", ("SemEval2017-task4-test.subtask-A.english.txt",)),
        ("semeval2017_task4a_english", "sms_2013test", ("sms-2013test-A.tsv",)),
        ("banking77", "test", ("test.csv",)),
        ("clinc150", "test", ("data_full_test.json",)),
        ("clinc150", "oos_test", ("data_full_test.json",)),
        ("clinc150", "plus_oos_train", ("data_oos_plus_train_val.json",)),
        ("ibm_twitter_customer_care", "test", ("test.json",)),
        ("ibm_twitter_customer_care", "train", ("train.json",)),
        ("pit2015_twitter_paraphrase", "test", ("test.data", "test.label")),
        ("pit2015_twitter_paraphrase", "train", ("train.data",)),
        ("twitter_airline_sentiment", "all", ("Tweets.csv",)),
        ("quora_question_pairs_sample", "all", ("sample_train.csv",)),
        (
            "bitext_customer_support",
            "all",
            ("Bitext_Sample_Customer_Service_Training_Dataset.csv", "TrainingdatasetBitextsample.csv"),
        ),
        (
            "twcs",
            "all",
            ("kaggle_sample/sample.csv", "first5000/twcs.csv", "spotifycares_requests/support_requests.csv"),
        ),
    ],
)
def test_manifest_names_original_files(name, split, files):
    assert dataset_info(name).splits[split].files == files


def test_clinc_test_keys_and_availability():
    spec = dataset_info("clinc150")
    assert (spec.splits["test"].key, spec.splits["oos_test"].key) == ("test", "oos_test")
    assert spec.splits["test"].availability == "held_out"
    assert dataset_info("ibm_twitter_customer_care").splits["train"].availability == "not_obtained"


# ---- real data

ROW_COUNTS = [
    ("tweeteval_sentiment", "val", 2000),
    ("umsab_sentiment_english", "train", 1839),
    ("umsab_sentiment_english", "val", 324),
    ("semeval2017_task4a_english", "twitter_2013train", 9684),
    ("semeval2017_task4a_english", "twitter_2013dev", 1654),
    ("semeval2017_task4a_english", "twitter_2013test", 3547),
    ("semeval2017_task4a_english", "twitter_2014sarcasm", 86),
    ("semeval2017_task4a_english", "twitter_2014test", 1853),
    ("semeval2017_task4a_english", "twitter_2015train", 489),
    ("semeval2017_task4a_english", "twitter_2015test", 2390),
    ("semeval2017_task4a_english", "twitter_2016train", 6000),
    ("semeval2017_task4a_english", "twitter_2016dev", 1999),
    ("semeval2017_task4a_english", "twitter_2016devtest", 2000),
    # SOURCE.md counts 20,633 lines: 20,631 with 4 fields, 1 with 3 and 1 with 2. The 3-field line (11064) is
    # a tweet whose text breaks before its closing quote; the 2-field line (11065) is the rest of that text
    # plus the trailing empty 4th field. They are merged into one row, so 20,633 lines -> 20,632 tweets.
    ("semeval2017_task4a_english", "twitter_2016test", 20632),
    ("semeval2017_task4a_english", "sms_2013test", 2094),
    ("semeval2017_task4a_english", "livejournal_2014test", 1142),
    ("twitter_airline_sentiment", "all", 11660),
    ("banking77", "train", 10003),
    ("clinc150", "train", 15000),
    ("clinc150", "val", 3000),
    ("clinc150", "oos_train", 100),
    ("clinc150", "oos_val", 100),
    ("clinc150", "plus_train", 15000),
    ("clinc150", "plus_val", 3000),
    ("clinc150", "plus_oos_train", 250),
    ("clinc150", "plus_oos_val", 100),
    ("bitext_customer_support", "all", 6515 + 17214),
    ("twcs", "all", 83 + 3939 + 12181),
    ("ibm_twitter_customer_care", "dev", 525),
    ("pit2015_twitter_paraphrase", "dev", 4727),
    ("quora_question_pairs_sample", "all", 85),
]


@real_data
@pytest.mark.parametrize(("name", "split", "rows"), ROW_COUNTS)
def test_real_row_counts(name, split, rows):
    assert real(name)[split].num_rows == rows


@real_data
def test_real_splits_are_exactly_the_present_ones():
    expected = {}
    for name, split, _ in ROW_COUNTS:
        expected.setdefault(name, []).append(split)
    for name in FOLDERS:
        assert list(real(name)) == expected[name], name
        assert available_splits(name) == expected[name]


@real_data
@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_real_columns_and_types(name):
    spec = dataset_info(name)
    for split, ds in real(name).items():
        assert tuple(ds.column_names) == spec.columns, split
        sample = ds.select(range(0, ds.num_rows, max(1, ds.num_rows // 50)))
        assert all(isinstance(t, str) for t in sample["text"])
        labels = sample["label"]
        if spec.label_column is None:
            assert set(labels) == {None}
        else:
            assert all(isinstance(label, str) and label for label in labels)
        if spec.labels is not None:
            assert set(ds["label"]) <= set(spec.labels)


@real_data
@pytest.mark.parametrize(
    ("name", "split", "counts"),
    [
        ("tweeteval_sentiment", "val", {"negative": 312, "neutral": 869, "positive": 819}),
        ("umsab_sentiment_english", "train", {"negative": 613, "neutral": 613, "positive": 613}),
        ("umsab_sentiment_english", "val", {"negative": 108, "neutral": 108, "positive": 108}),
        ("twitter_airline_sentiment", "all", {"negative": 7323, "neutral": 2464, "positive": 1873}),
        (
            "semeval2017_task4a_english",
            "twitter_2013train",
            {"neutral": 4586, "positive": 3640, "negative": 1458},
        ),
        (
            "semeval2017_task4a_english",
            "twitter_2014sarcasm",
            {"negative": 40, "positive": 33, "neutral": 13},
        ),
        (
            "semeval2017_task4a_english",
            "twitter_2016test",
            {"neutral": 10342, "positive": 7059, "negative": 3231},
        ),
        ("semeval2017_task4a_english", "sms_2013test", {"neutral": 1208, "positive": 492, "negative": 394}),
        (
            "semeval2017_task4a_english",
            "livejournal_2014test",
            {"positive": 427, "neutral": 411, "negative": 304},
        ),
        ("quora_question_pairs_sample", "all", {"not_duplicate": 54, "duplicate": 31}),
        # (3,2) 522 + (4,1) 537 + (5,0) 411; (2,3) 585; (1,4) 924 + (0,5) 1748
        ("pit2015_twitter_paraphrase", "dev", {"paraphrase": 1470, "debatable": 585, "not_paraphrase": 2672}),
    ],
)
def test_real_label_distributions(name, split, counts):
    assert Counter(real(name)[split]["label"]) == counts


@real_data
def test_real_semeval_text_is_decoded():
    ds = real("semeval2017_task4a_english")
    for split in ds:
        assert not any("\\u" in text for text in ds[split]["text"]), split
    first = ds["twitter_2013train"][0]
    assert first["tweet_id"] == "264183816548130816"
    assert first["text"] == "Gas by my house hit $3.39!!!! I\u2019m going to Chapel Hill on Sat. :)"
    assert ds["twitter_2013dev"][0]["text"].startswith(
        "Won the match #getin . Plus, tomorrow is a very busy day,"
    )
    assert set(ds["sms_2013test"]["tweet_id"]) == {None}


@real_data
def test_real_semeval_broken_tweet_is_merged_and_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="triage.registry"):
        ds = load_dataset("semeval2017_task4a_english", splits=["twitter_2016test"])["twitter_2016test"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "twitter-2016test-A.txt" in warnings[0] and "line 11065" in warnings[0]
    (row,) = [r for r in ds if r["tweet_id"] == "638435681832960000"]
    assert row["label"] == "neutral"
    assert row["text"].startswith('" @SkyNews: Kanye West:') and row["text"].endswith('President!\n"')


@real_data
def test_real_airline_columns():
    ds = real("twitter_airline_sentiment")["all"]
    reasons = Counter(ds["negativereason"])
    assert reasons[None] == 4337 and reasons["Customer Service Issue"] == 2311 and reasons["longlines"] == 138
    assert "" not in reasons
    assert Counter(ds["brand"]) == {
        "United": 3049,
        "US Airways": 2312,
        "American": 2223,
        "Southwest": 1915,
        "Delta": 1764,
        "Virgin America": 397,
    }
    assert len(set(ds["tweet_id"])) == 11530


@real_data
def test_real_banking77_labels_match_categories():
    ds = real("banking77")["train"]
    counts = Counter(ds["label"])
    categories = json.loads((DATA_DIR / "banking77" / "categories.json").read_text(encoding="utf-8"))
    assert set(counts) == set(categories) and len(counts) == 77
    assert (min(counts.values()), max(counts.values())) == (35, 187)


@real_data
def test_real_bitext_normalisation():
    ds = real("bitext_customer_support")["all"]
    assert len(set(ds["label"])) == 27 and len(set(ds["category"])) == 11
    by_file = {}
    for row in ds.select_columns(["source_file", "category", "raw_category", "label", "raw_label"]):
        by_file.setdefault(row["source_file"], []).append(row)
    small = by_file["Bitext_Sample_Customer_Service_Training_Dataset.csv"]
    large = by_file["TrainingdatasetBitextsample.csv"]
    assert (len(small), len(large)) == (6515, 17214)
    assert Counter(r["category"] for r in small)["INVOICE"] == 528
    assert Counter(r["category"] for r in large)["INVOICE"] == 1984
    assert Counter(r["raw_category"] for r in large)["INVOICES"] == 1984
    assert Counter(r["category"] for r in large)["SHIPPING_ADDRESS"] == 165
    assert Counter(r["label"] for r in large)["check_invoice"] == 823
    assert Counter(r["raw_label"] for r in large)["check_invoices"] == 823
    assert {r["label"] for r in small} == {r["label"] for r in large}
    assert not any(text.startswith("\ufeff") for text in ds["text"])
    assert ds[0]["text"] == "I have problems with canceling an order" and ds[0]["flags"] == "BM"


@real_data
def test_real_clinc_domains():
    ds = real("clinc150")
    assert len(set(ds["train"]["label"])) == 150 and set(ds["oos_train"]["label"]) == {"oos"}
    assert len(set(ds["train"]["domain"])) == 10 and set(ds["oos_val"]["domain"]) == {None}


@real_data
def test_real_ibm_conversations():
    ds = real("ibm_twitter_customer_care")["dev"]
    assert len(set(ds["brand"])) == 24 and len(set(ds["label"])) == 243
    assert Counter(ds["brand"]).most_common(1) == [("RockstarSupport", 89)]
    assert sum(len(json.loads(turns)) for turns in ds["turns"]) == 686
    first = ds[0]
    assert first["conversation_id"] == "LgwAXtbbEm0mBvDrGmjk" and first["label"] == "1770"
    assert first["tweet_id"] == "1245425308704149506" and first["url"].endswith("answer/185111")
    assert first["text"].startswith("@TeamYouTube Hello dear youtube officers")


@real_data
def test_real_twcs_rows_and_brands():
    ds = real("twcs")["all"]
    files = Counter(ds["source_file"])
    assert files == {
        "kaggle_sample/sample.csv": 83,
        "first5000/twcs.csv": 3939,
        "spotifycares_requests/support_requests.csv": 12181,
    }
    rows = ds.to_list()
    # bare carriage returns inside text stay inside their rows (the row counts above would break otherwise)
    assert any("\r" in r["text"] for r in rows if r["source_file"] == "first5000/twcs.csv")
    assert sum("\r" in r["text"] for r in rows if r["source_file"].startswith("spotify")) >= 1
    assert all(isinstance(r["inbound"], bool) for r in rows)
    assert not any(r["in_response_to_tweet_id"] and "." in r["in_response_to_tweet_id"] for r in rows)
    kaggle = [r for r in rows if r["source_file"] == "kaggle_sample/sample.csv"]
    assert Counter(r["inbound"] for r in kaggle) == {True: 43, False: 40}
    assert not any(
        r["in_response_to_tweet_id"] and r["in_response_to_tweet_id"].endswith("\r") for r in kaggle
    )
    first5000 = [r for r in rows if r["source_file"] == "first5000/twcs.csv"]
    assert first5000[0]["tweet_id"] == "1" and first5000[0]["in_response_to_tweet_id"] == "3"
    assert first5000[0]["brand"] == "sprintcare" and first5000[1]["brand"] == "sprintcare"  # reply to tweet 1
    outbound = Counter(r["brand"] for r in first5000 if not r["inbound"])
    assert outbound.most_common(2) == [("ChipotleTweets", 162), ("AmazonHelp", 141)]
    assert all(r["brand"] == r["author_id"] for r in rows if not r["inbound"])
    spotify = Counter(r["brand"] for r in rows if r["source_file"].startswith("spotify"))
    assert spotify["SpotifyCares"] > 12000


# ---- held-out layouts


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def test_tweeteval_test_only(tmp_path):
    write(tmp_path / "tweeteval_sentiment" / "test_text.txt", "I love it \nmeh\n@user worst day ever\n")
    write(tmp_path / "tweeteval_sentiment" / "test_labels.txt", "2\n1\n0\n")
    ds = load_dataset("tweeteval_sentiment", data_dir=tmp_path)
    assert list(ds) == ["test"]
    assert ds["test"].to_list() == [
        {"text": "I love it ", "label": "positive"},
        {"text": "meh", "label": "neutral"},
        {"text": "@user worst day ever", "label": "negative"},
    ]


def test_umsab_test_only_without_trailing_newline(tmp_path):
    write(tmp_path / "umsab_sentiment_english" / "test_text.txt", "good\nbad")
    write(tmp_path / "umsab_sentiment_english" / "test_labels.txt", "2\n0")
    assert load_dataset("umsab_sentiment_english", data_dir=tmp_path)["test"]["label"] == [
        "positive",
        "negative",
    ]


def test_semeval_2017_test_only(tmp_path):
    write(
        tmp_path / "semeval2017_task4a_english" / "SemEval2017-task4-test.subtask-A.english.txt",
        "801989080477154944\tneutral\t#ArianaGrande Ari By Ariana Grande\\u002c 80% Full\t\n"
        "801989272341453952\tpositive\tI\\u2019m so happy\n",
    )
    ds = load_dataset("semeval2017_task4a_english", data_dir=tmp_path)
    assert list(ds) == ["test"]
    assert ds["test"]["text"] == ["#ArianaGrande Ari By Ariana Grande, 80% Full", "I\u2019m so happy"]
    assert ds["test"]["tweet_id"] == ["801989080477154944", "801989272341453952"]


def test_banking77_test_only(tmp_path):
    write(
        tmp_path / "banking77" / "test.csv",
        "text,category\r\nHow do I locate my card?,card_arrival\r\n"
        '"two\nlines, quoted",lost_or_stolen_card\r\n',
    )
    ds = load_dataset("banking77", data_dir=tmp_path)
    assert list(ds) == ["test"]
    assert ds["test"].to_list() == [
        {"text": "How do I locate my card?", "label": "card_arrival"},
        {"text": "two\nlines, quoted", "label": "lost_or_stolen_card"},
    ]


def test_clinc_test_only(tmp_path):
    content = {"oos_test": [["how do i fly a kite", "oos"]], "test": [["what is my balance", "balance"]] * 3}
    write(
        tmp_path / "clinc150" / "data_full_test.json", json.dumps(content, indent=4, separators=(", ", ": "))
    )
    ds = load_dataset("clinc150", data_dir=tmp_path)
    assert list(ds) == ["test", "oos_test"]
    assert ds["test"].num_rows == 3 and ds["oos_test"][0] == {
        "text": "how do i fly a kite",
        "label": "oos",
        "domain": None,
    }
    write(tmp_path / "clinc150" / "domains.json", json.dumps({"banking": ["balance"]}))
    assert set(load_dataset("clinc150", data_dir=tmp_path, splits=["test"])["test"]["domain"]) == {"banking"}


def ibm_conversation(session: str, doc_id: str) -> dict:
    return {
        "agentURL": {
            "doc_id": doc_id,
            "turn": "3",
            "tweet_ID": "99",
            "url": "https://example.com/doc",
            "url_utterance": "see",
        },
        "dialogContent": [
            {
                "client": "alice",
                "datetime": "2020-01-01T00:00:00.000Z",
                "message": "@Brand my app crashes",
                "tweet_ID": "1",
            },
            {
                "agent": "Brand",
                "datetime": "2020-01-01T00:01:00.000Z",
                "message": "@alice which version?",
                "tweet_ID": "2",
            },
            {
                "client1": "bob",
                "datetime": "2020-01-01T00:02:00.000Z",
                "message": "@Brand me too",
                "tweet_ID": "3",
            },
        ],
        "dialogHeader": {
            "company": "BrandHelp",
            "conversationDateTime": "2020-01-01T00:00:00.000Z",
            "duration": "00:02:00.0",
            "messageCount": "4",
            "sessionID": session,
        },
    }


def test_ibm_test_only(tmp_path):
    write(tmp_path / "ibm_twitter_customer_care" / "test.json", json.dumps([ibm_conversation("s1", "42")]))
    ds = load_dataset("ibm_twitter_customer_care", data_dir=tmp_path)
    assert list(ds) == ["test"]
    row = ds["test"][0]
    assert row["conversation_id"] == "s1" and row["brand"] == "BrandHelp" and row["label"] == "42"
    assert row["text"] == "@Brand my app crashes\n@Brand me too"
    assert row["tweet_id"] == "99" and row["url"] == "https://example.com/doc"
    assert len(json.loads(row["turns"])) == 3 and row["created_at"] == "2020-01-01T00:00:00.000Z"


def test_pit2015_test_only(tmp_path):
    folder = tmp_path / "pit2015_twitter_paraphrase"
    lines = [
        ("4", "1st QB", "EJ Manuel the 1st QB to go", "EJ Manuel is the 1st QB gone", "5"),
        ("4", "1st QB", "EJ Manuel the 1st QB to go", "Who is the QB", "3"),
        ("4", "1st QB", "EJ Manuel the 1st QB to go", "I like pizza", "0"),
    ]
    write(folder / "test.data", "".join("\t".join([*line, "tag1", "tag2"]) + "\n" for line in lines))
    write(folder / "test.label", "true\t1.0000\n----\t0.6000\nfalse\t0.0000\n")
    ds = load_dataset("pit2015_twitter_paraphrase", data_dir=tmp_path)
    assert list(ds) == ["test"]
    test = ds["test"]
    assert test["label"] == ["paraphrase", "debatable", "not_paraphrase"]
    assert (
        test["score"] == [5, 3, 0] and test["votes"] == [None] * 3 and test["similarity"] == [1.0, 0.6, 0.0]
    )
    assert test["text_pair"][0] == "EJ Manuel is the 1st QB gone" and test["topic_name"] == ["1st QB"] * 3


AIRLINE_HEADER = (
    "tweet_id,airline_sentiment,airline_sentiment_confidence,negativereason,negativereason_confidence,"
    "airline,airline_sentiment_gold,name,negativereason_gold,retweet_count,text,tweet_coord,tweet_created,"
    "tweet_location,user_timezone\n"
)


def test_airline_other_rows(tmp_path):
    write(
        tmp_path / "twitter_airline_sentiment" / "Tweets.csv",
        AIRLINE_HEADER
        + '1,negative,1.0,Late Flight,0.7,Delta,,ann,,0,"@Delta late\nagain",,2015-02-24 11:35:52 -0800,,\n'
        + "2,positive,0.6,,,United,,bob,,0,@united thanks!,,2015-02-24 11:36:00 -0800,,\n",
    )
    ds = load_dataset("twitter_airline_sentiment", data_dir=tmp_path)
    assert list(ds) == ["all"]
    rows = ds["all"].to_list()
    assert [r["text"] for r in rows] == ["@Delta late\nagain", "@united thanks!"]
    assert [r["negativereason"] for r in rows] == ["Late Flight", None]
    assert [r["negativereason_confidence"] for r in rows] == [0.7, None]
    assert [r["brand"] for r in rows] == ["Delta", "United"] and rows[0]["tweet_id"] == "1"


def test_bitext_with_bom(tmp_path):
    folder = tmp_path / "bitext_customer_support"
    write(
        folder / "Bitext_Sample_Customer_Service_Training_Dataset.csv",
        "\ufeffflags,utterance,category,intent\nB,where is my invoice,INVOICE,check_invoice\n",
    )
    write(
        folder / "TrainingdatasetBitextsample.csv",
        '\ufeffflags,utterance,category,intent\nBL,"show invoices, please",INVOICES,check_invoices\n',
    )
    rows = load_dataset("bitext_customer_support", data_dir=tmp_path)["all"].to_list()
    assert [(r["category"], r["label"]) for r in rows] == [("INVOICE", "check_invoice")] * 2
    assert rows[1]["raw_label"] == "check_invoices" and rows[1]["raw_category"] == "INVOICES"
    assert rows[0]["flags"] == "B" and rows[1]["source_file"] == "TrainingdatasetBitextsample.csv"


def test_twcs_layouts(tmp_path):
    folder = tmp_path / "twcs"
    write(
        folder / "kaggle_sample" / "sample.csv",
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\r\n"
        "10,AcmeCare,False,Wed Oct 11 13:25:49 +0000 2017,@501 Sorry! DM us,,11\r\n"
        '11,501,True,Wed Oct 11 13:00:09 +0000 2017,"@AcmeCare broken\nagain",10,\r\n'
        "12,BetaHelp,False,Wed Oct 11 13:30:00 +0000 2017,@507 on it,,25\r\n",
    )
    write(
        folder / "first5000" / "twcs.csv",
        ",tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        '0,20,502,True,Tue Oct 31 22:10:47 +0000 2017,@acmecare hello\r\rthere,"21,22",\n'
        "1,23,503,True,Tue Oct 31 22:11:00 +0000 2017,@503 @OtherBrand hi,,20.0\n"
        "2,24,505,True,Tue Oct 31 22:12:00 +0000 2017,thanks a lot,,10.0\n"
        "3,25,507,True,Tue Oct 31 22:13:00 +0000 2017,@AcmeCare anyone?,12,\n",
    )
    write(
        folder / "spotifycares_requests" / "support_requests.csv",
        ",index,tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        "0,541,30,504,True,Tue Oct 31 23:36:20 +0000 2017,no handle here,,\n",
    )
    rows = load_dataset("twcs", data_dir=tmp_path)["all"].to_list()
    assert [r["tweet_id"] for r in rows] == ["10", "11", "12", "20", "23", "24", "25", "30"]
    # outbound: the author; inbound: replied-to brand, replying brand, known @brand (any case), other @handle
    assert [r["brand"] for r in rows] == [
        "AcmeCare",
        "AcmeCare",
        "BetaHelp",
        "AcmeCare",
        "OtherBrand",
        "AcmeCare",
        "BetaHelp",
        None,
    ]
    assert rows[0]["in_response_to_tweet_id"] == "11" and rows[1]["in_response_to_tweet_id"] is None
    assert rows[1]["text"] == "@AcmeCare broken\nagain" and rows[0]["inbound"] is False
    assert rows[3]["text"] == "@acmecare hello\r\rthere" and rows[3]["response_tweet_id"] == "21,22"
    assert rows[4]["in_response_to_tweet_id"] == "20" and rows[4]["source_file"] == "first5000/twcs.csv"
    assert {r["label"] for r in rows} == {None}


def test_data_dir_env_var_is_honoured(tmp_path, monkeypatch):
    write(tmp_path / "banking77" / "test.csv", "text,category\nhello,greeting\n")
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path))
    assert available_splits("banking77") == ["test"]
    assert load_dataset("banking77")["test"]["label"] == ["greeting"]


# ---- errors


def test_unknown_dataset_lists_known_names():
    with pytest.raises(DatasetError, match="banking77") as info:
        load_dataset("no_such_dataset")
    assert "no_such_dataset" in str(info.value) and "twcs" in str(info.value)


def test_missing_split_file_names_file_folder_and_available(tmp_path):
    write(tmp_path / "banking77" / "test.csv", "text,category\nhello,greeting\n")
    with pytest.raises(DatasetError) as info:
        load_dataset("banking77", data_dir=tmp_path, splits=["train"])
    message = str(info.value)
    assert (
        "train.csv" in message
        and str(tmp_path / "banking77") in message
        and "available there: test" in message
    )


def test_unknown_split_name(tmp_path):
    write(tmp_path / "banking77" / "test.csv", "text,category\nhello,greeting\n")
    with pytest.raises(DatasetError, match="validation"):
        load_dataset("banking77", data_dir=tmp_path, splits=["validation"])


@pytest.mark.parametrize("create_folder", [True, False])
def test_folder_without_files(tmp_path, create_folder):
    if create_folder:
        write(tmp_path / "clinc150" / "README.txt", "nothing here")
    with pytest.raises(DatasetError) as info:
        load_dataset("clinc150", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "clinc150") in message and "none of them" in message
    assert "data_full_train_val.json" in message and "data_full_test.json" in message


def test_incomplete_split_is_not_loaded(tmp_path):
    write(tmp_path / "pit2015_twitter_paraphrase" / "test.data", "1\tt\ta\tb\t4\tx\ty\n")
    with pytest.raises(DatasetError, match=r"found test\.data\.") as info:
        load_dataset("pit2015_twitter_paraphrase", data_dir=tmp_path)
    assert "test.label" in str(info.value)
    with pytest.raises(DatasetError, match=r"missing file\(s\) test\.label .*available there: none"):
        load_dataset("pit2015_twitter_paraphrase", data_dir=tmp_path, splits=["test"])


@pytest.mark.parametrize(
    ("dataset", "file", "content", "expected"),
    [
        # a line with one field among tweet lines
        (
            "semeval2017_task4a_english",
            "twitter-2013dev-A.txt",
            "1\tneutral\tok\njust text\n",
            ["line 2", "3 tab"],
        ),
        (
            "semeval2017_task4a_english",
            "twitter-2013dev-A.txt",
            "1\tneutral\tok\n2\tmeh\tno\n",
            ["line 2", "'meh'"],
        ),
        ("semeval2017_task4a_english", "twitter-2013dev-A.txt", "x1\tneutral\tok\n", ["line 1", "tweet id"]),
        (
            "semeval2017_task4a_english",
            "sms-2013test-A.tsv",
            "1\t2\tneutral\tok\n1\tneutral\tok\n",
            ["line 2", "4 tab"],
        ),
        ("banking77", "test.csv", "utterance,category\nhello,greeting\n", ["'text'", "header"]),
        ("banking77", "test.csv", 'text,category\n"a\nb",x\nc,d,e\n', ["line 4", "3 fields"]),
        ("banking77", "test.csv", 'text,category\nok,x\n"never closed,y\n', ["line 3"]),
        ("banking77", "test.csv", b"text,category\nok,x\ncaf\xe9,y\n", ["line 3", "UTF-8"]),
        ("clinc150", "data_full_test.json", '{"test": [["a", "b"],\n ["c" "d"]]}', ["line 2", "JSON"]),
        (
            "clinc150",
            "data_full_test.json",
            '{"oos_test": [],\n "test": [\n  ["a", "b"],\n  ["c"]\n]}',
            ["line 4", "item 1"],
        ),
        ("ibm_twitter_customer_care", "test.json", '[{"dialogHeader": {}}\n]', ["line 1", "conversation 0"]),
        (
            "pit2015_twitter_paraphrase",
            "train.data",
            "1\tt\ta\tb\t(3, 2)\tx\ty\n1\tt\ta\tb\tyes\tx\ty\n",
            ["line 2", "'yes'"],
        ),
        (
            "quora_question_pairs_sample",
            "sample_train.csv",
            '"id","qid1","qid2","question1","question2","is_duplicate"\n"0","1","2","a","b","2"\n',
            ["line 2"],
        ),
        (
            "twitter_airline_sentiment",
            "Tweets.csv",
            AIRLINE_HEADER + "1,angry,1.0,,,Delta,,a,,0,hi,,t,,\n",
            ["line 2", "'angry'"],
        ),
        (
            "twitter_airline_sentiment",
            "Tweets.csv",
            AIRLINE_HEADER + "1,neutral,high,,,Delta,,a,,0,hi,,t,,\n",
            ["line 2", "'high'"],
        ),
        ("umsab_sentiment_english", "test_labels.txt", "0\n7\n", ["line 2", "'7'"]),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, dataset, file, content, expected):
    folder = tmp_path / dataset_info(dataset).folder
    write(folder / file, content)
    if dataset == "umsab_sentiment_english":
        write(folder / "test_text.txt", "a\nb\n")
    with pytest.raises(DatasetError) as info:
        load_dataset(dataset, data_dir=tmp_path)
    message = str(info.value)
    assert file in message
    for part in expected:
        assert part in message


def test_twcs_bad_inbound_reports_physical_line(tmp_path):
    folder = tmp_path / "twcs"
    header = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    write(folder / "kaggle_sample" / "sample.csv", header + '1,a,True,t,"two\nlines",,\n2,b,maybe,t,x,,\n')
    write(folder / "first5000" / "twcs.csv", "," + header)
    write(folder / "spotifycares_requests" / "support_requests.csv", ",index," + header)
    with pytest.raises(DatasetError, match=r"sample\.csv, line 4: expected True or False"):
        load_dataset("twcs", data_dir=tmp_path)


def test_text_and_label_files_must_align(tmp_path):
    write(tmp_path / "tweeteval_sentiment" / "test_text.txt", "a\nb\nc\n")
    write(tmp_path / "tweeteval_sentiment" / "test_labels.txt", "0\n1\n")
    with pytest.raises(DatasetError, match=r"test_text\.txt has 3 lines but .*test_labels\.txt has 2"):
        load_dataset("tweeteval_sentiment", data_dir=tmp_path)


def test_pit2015_label_file_must_align(tmp_path):
    folder = tmp_path / "pit2015_twitter_paraphrase"
    write(folder / "test.data", "1\tt\ta\tb\t4\tx\ty\n")
    write(folder / "test.label", "true\t0.8\nfalse\t0.0\n")
    with pytest.raises(DatasetError, match=r"test\.label has 2"):
        load_dataset("pit2015_twitter_paraphrase", data_dir=tmp_path)

"""The dataset registry: which real datasets exist, where their files are, and one loader for all of them.

The manifest is ``data/registry.yaml`` (one entry per dataset folder: licence, parser, text and label columns,
task, and the files of every split by their original names, including the held-out ones that are not in the
development folder). :func:`load_dataset` turns any folder with that layout into a ``datasets.DatasetDict``
with at least a ``text`` (str) and a ``label`` (str, or None for unlabelled data) column per split. A folder
with the same layout but other files (for example only the held-out ``test.csv``) loads the same way.

Parsing is strict: a row that cannot be parsed raises :class:`~triage.errors.DatasetError` naming the file,
the 1-based line number, what was expected and what was found; nothing is dropped silently. The one known
defect of the sources that is repaired (a SemEval-2016 tweet broken over two lines) is logged as a warning.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from triage.errors import DatasetError
from triage.paths import REPO_ROOT, resolve_data_dir

if TYPE_CHECKING:
    import os

    import datasets

__all__ = [
    "REGISTRY_PATH",
    "SplitSpec",
    "DatasetSpec",
    "list_datasets",
    "dataset_info",
    "available_splits",
    "load_dataset",
    "load_files",
]

logger = logging.getLogger(__name__)

REGISTRY_PATH = REPO_ROOT / "data" / "registry.yaml"

Availability = Literal["provided", "held_out", "not_obtained"]
Row = dict[str, Any]

_SPLIT_NAME = re.compile(r"[A-Za-z0-9_]+")

# Column name -> `datasets.Value` dtype of every split a parser produces. The manifest's `columns` must match.
_SCHEMAS: dict[str, dict[str, str]] = {
    "tweeteval": {"text": "string", "label": "string"},
    "semeval2017": {"tweet_id": "string", "text": "string", "label": "string"},
    "airline": {
        "tweet_id": "string",
        "text": "string",
        "label": "string",
        "label_confidence": "float64",
        "brand": "string",
        "negativereason": "string",
        "negativereason_confidence": "float64",
        "author": "string",
        "created_at": "string",
    },
    "banking77": {"text": "string", "label": "string"},
    "clinc150": {"text": "string", "label": "string", "domain": "string"},
    "bitext": {
        "text": "string",
        "label": "string",
        "raw_label": "string",
        "category": "string",
        "raw_category": "string",
        "flags": "string",
        "source_file": "string",
    },
    "twcs": {
        "tweet_id": "string",
        "author_id": "string",
        "inbound": "bool",
        "created_at": "string",
        "text": "string",
        "response_tweet_id": "string",
        "in_response_to_tweet_id": "string",
        "brand": "string",
        "label": "string",
        "source_file": "string",
    },
    "ibm_care": {
        "conversation_id": "string",
        "brand": "string",
        "text": "string",
        "turns": "string",
        "label": "string",
        "url": "string",
        "tweet_id": "string",
        "created_at": "string",
    },
    "pit2015": {
        "topic_id": "string",
        "topic_name": "string",
        "text": "string",
        "text_pair": "string",
        "label": "string",
        "raw_label": "string",
        "votes": "int64",
        "score": "int64",
        "similarity": "float64",
    },
    "quora": {
        "pair_id": "string",
        "qid1": "string",
        "qid2": "string",
        "text": "string",
        "text_pair": "string",
        "label": "string",
    },
}


# ------------------------------------------------------------------------------------------------------------
# The manifest
# ------------------------------------------------------------------------------------------------------------


class SplitSpec(BaseModel):
    """One split of a dataset: its files by their original names, relative to the dataset folder.

    ``key`` selects one key of a JSON object file (CLINC150 keeps several splits in one file).
    ``availability`` says whether the files are in the development folder (``provided``), kept apart for
    evaluation (``held_out``) or too large to ship (``not_obtained``); any split loads once its files are
    present.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    files: tuple[str, ...] = Field(min_length=1, description="file names, relative to the dataset folder")
    key: str | None = Field(default=None, description="the key of a JSON object file that holds this split")
    availability: Availability = Field(default="provided", description="provided / held_out / not_obtained")
    options: dict[str, Any] = Field(default_factory=dict, description="parser settings for this split")


class DatasetSpec(BaseModel):
    """A read-only view of one entry of ``data/registry.yaml``.

    Example:
        >>> spec = dataset_info("banking77")
        >>> spec.task, spec.splits["test"].files
        ('intent', ('test.csv',))
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="registry name, used by load_dataset")
    folder: str = Field(description="folder under the dataset root")
    licence: str = Field(description="the licence as the folder's SOURCE.md states it")
    parser: str = Field(description="parser in triage/registry.py")
    task: str = Field(description="what the labels are for: sentiment, intent, paraphrase, ...")
    text_columns: tuple[str, ...] = Field(description="source column(s) holding the text")
    label_column: str | None = Field(description="source column holding the label; None when unlabelled")
    labels: tuple[str, ...] | None = Field(default=None, description="allowed labels; None for an open set")
    columns: tuple[str, ...] = Field(description="the columns of every loaded split, in order")
    extra_files: tuple[str, ...] = Field(default=(), description="optional side files read when present")
    options: dict[str, Any] = Field(default_factory=dict, description="parser settings")
    splits: dict[str, SplitSpec] = Field(description="split name -> files")

    @field_validator("parser")
    @classmethod
    def _known_parser(cls, value: str) -> str:
        if value not in _PARSERS:
            raise ValueError(f"unknown parser {value!r}; expected one of {sorted(_PARSERS)}")
        return value

    @field_validator("splits")
    @classmethod
    def _valid_split_names(cls, value: dict[str, SplitSpec]) -> dict[str, SplitSpec]:
        bad = [name for name in value if not _SPLIT_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"split names must use only letters, digits and underscores, found {bad}")
        if not value:
            raise ValueError("expected at least one split")
        return value

    @model_validator(mode="after")
    def _columns_match_parser(self) -> DatasetSpec:
        expected = tuple(_SCHEMAS[self.parser])
        if self.columns != expected:
            raise ValueError(
                f"columns must be {list(expected)} for parser {self.parser!r}, found {list(self.columns)}"
            )
        return self

    def all_files(self) -> list[str]:
        """Every file name any split of this dataset reads, in manifest order, without repeats."""
        return list(dict.fromkeys(name for split in self.splits.values() for name in split.files))


@lru_cache(maxsize=8)
def _read_registry(path: Path) -> dict[str, DatasetSpec]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"cannot read the dataset registry {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise DatasetError(f"the dataset registry {path} is not valid YAML: {exc}") from exc
    entries = raw.get("datasets") if isinstance(raw, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise DatasetError(
            f"{path}: expected a mapping under the key 'datasets', found {type(entries).__name__}"
        )
    specs: dict[str, DatasetSpec] = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise DatasetError(f"{path}: dataset {name!r}: expected a mapping, found {type(entry).__name__}")
        try:
            specs[str(name)] = DatasetSpec(name=str(name), **entry)
        except ValidationError as exc:
            raise DatasetError(f"{path}: dataset {name!r} does not validate: {exc}") from exc
    return specs


def _registry() -> dict[str, DatasetSpec]:
    return _read_registry(REGISTRY_PATH)


def list_datasets() -> list[str]:
    """Return the names of every dataset in the registry, in manifest order.

    Example:
        >>> "banking77" in list_datasets()
        True
    """
    return list(_registry())


def dataset_info(name: str) -> DatasetSpec:
    """Return the manifest entry of dataset ``name``.

    Raises:
        DatasetError: ``name`` is not in the registry (the message lists the known names).

    Example:
        >>> dataset_info("twcs").splits["all"].files[0]
        'kaggle_sample/sample.csv'
    """
    specs = _registry()
    if name not in specs:
        raise DatasetError(
            f"unknown dataset {name!r}; expected one of: {', '.join(specs)} (see {REGISTRY_PATH})"
        )
    return specs[name]


def available_splits(name: str, *, data_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Return the splits of dataset ``name`` whose files are all present under the dataset root.

    Args:
        name: a registry name (see :func:`list_datasets`).
        data_dir: the root holding the dataset folders; default ``$TRIAGE_DATA_DIR`` or ``../shared/data``.

    Example:
        >>> available_splits("banking77")  # the development folder holds train.csv only
        ['train']
    """
    spec = dataset_info(name)
    folder = resolve_data_dir(data_dir) / spec.folder
    return [split for split, s in spec.splits.items() if all((folder / f).is_file() for f in s.files)]


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    splits: Sequence[str] | None = None,
) -> datasets.DatasetDict:
    """Load dataset ``name`` from ``<data_dir>/<folder>`` as a ``datasets.DatasetDict``.

    Every split has a ``text`` (str) and a ``label`` (str, or None for unlabelled data) column plus the
    task columns listed in the manifest (``dataset_info(name).columns``).

    Args:
        name: a registry name (see :func:`list_datasets`).
        data_dir: the root holding the dataset folders; default ``$TRIAGE_DATA_DIR`` or ``../shared/data``.
        splits: the split names to load; default every split whose files are present.

    Raises:
        DatasetError: unknown dataset or split; a requested split's files are missing (the message names them
            and the splits that are available); the folder holds no complete split; a file cannot be
            parsed (the message names the file, the line, what was expected and what was found).

    Example:
        >>> ds = load_dataset("tweeteval_sentiment", splits=["val"])
        >>> ds["val"].num_rows, sorted(set(ds["val"]["label"]))
        (2000, ['negative', 'neutral', 'positive'])
    """
    import datasets

    spec = dataset_info(name)
    folder = resolve_data_dir(data_dir) / spec.folder
    present = available_splits(name, data_dir=data_dir)
    if splits is None:
        if not present:
            found = [f for f in spec.all_files() if (folder / f).is_file()]
            by_files: dict[tuple[str, ...], list[str]] = {}
            for split, split_spec in spec.splits.items():
                by_files.setdefault(split_spec.files, []).append(split)
            expected = "; ".join(f"{' + '.join(f)} -> {', '.join(s)}" for f, s in by_files.items())
            raise DatasetError(
                f"dataset {name!r}: no split is complete in {folder}: expected the files of at least one "
                f"split ({expected}), found {', '.join(found) if found else 'none of them'}. "
                f"Point --data-dir or TRIAGE_DATA_DIR at the root folder that holds '{spec.folder}/'."
            )
        wanted = present
    else:
        if isinstance(splits, str):
            splits = [splits]
        wanted = list(dict.fromkeys(splits))
        unknown = [s for s in wanted if s not in spec.splits]
        if unknown:
            raise DatasetError(
                f"dataset {name!r} has no split(s) {unknown}; expected some of: {', '.join(spec.splits)}"
            )
        for split in wanted:
            missing = [f for f in spec.splits[split].files if not (folder / f).is_file()]
            if missing:
                raise DatasetError(
                    f"dataset {name!r}, split {split!r}: missing file(s) {', '.join(missing)} in {folder}; "
                    f"splits available there: {', '.join(present) if present else 'none'}"
                )
    parse = _PARSERS[spec.parser]
    schema = _SCHEMAS[spec.parser]
    features = datasets.Features({column: datasets.Value(dtype) for column, dtype in schema.items()})
    context = _Context(spec=spec, folder=folder)
    loaded = {}
    for split in wanted:
        rows = parse(context, spec.splits[split])
        columns = {column: [row[column] for row in rows] for column in schema}
        loaded[split] = datasets.Dataset.from_dict(columns, features=features)
        logger.debug("loaded %s/%s: %d rows from %s", name, split, len(rows), folder)
    return datasets.DatasetDict(loaded)


def load_files(
    name: str,
    files: Sequence[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    folder: str | os.PathLike[str] | None = None,
) -> datasets.Dataset:
    """Load some files of dataset ``name`` (for example the twcs excerpts a folder happens to hold) as one
    ``datasets.Dataset`` with the dataset's columns, parsed together (twcs brands resolve across files).

    Args:
        name: a registry name.
        files: file names relative to the dataset folder, in the order to read them.
        data_dir: the dataset root; the files are read from ``<data_dir>/<dataset folder>``.
        folder: read the files from this folder instead (the dataset folder itself).

    Raises:
        DatasetError: unknown dataset, no files given, or a file that is missing or cannot be parsed.

    Example:
        >>> load_files("twcs", ["kaggle_sample/sample.csv"]).num_rows
        83
    """
    import datasets

    spec = dataset_info(name)
    base = Path(folder).expanduser().resolve() if folder is not None else resolve_data_dir(data_dir) / spec.folder
    files = [files] if isinstance(files, str) else list(files)
    if not files:
        raise DatasetError(f"dataset {name!r}: no files to load; expected some of {spec.all_files()}")
    missing = [f for f in files if not (base / f).is_file()]
    if missing:
        raise DatasetError(f"dataset {name!r}: missing file(s) {', '.join(missing)} in {base}")
    schema = _SCHEMAS[spec.parser]
    features = datasets.Features({column: datasets.Value(dtype) for column, dtype in schema.items()})
    rows = _PARSERS[spec.parser](_Context(spec=spec, folder=base), SplitSpec(files=tuple(files)))
    return datasets.Dataset.from_dict({c: [row[c] for row in rows] for c in schema}, features=features)


# ------------------------------------------------------------------------------------------------------------
# Reading helpers
# ------------------------------------------------------------------------------------------------------------


@dataclass
class _Context:
    """What a parser needs: the manifest entry, the folder, and a cache of parsed JSON files."""

    spec: DatasetSpec
    folder: Path
    _json: dict[Path, tuple[Any, str]] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.folder / name

    def json(self, path: Path) -> tuple[Any, str]:
        """Parse ``path`` once per load; return the object and the text (for line numbers in errors)."""
        if path not in self._json:
            text = _read_text(path)
            try:
                self._json[path] = (json.loads(text), text)
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"{path}, line {exc.lineno}, column {exc.colno}: expected valid JSON, "
                    f"found an error: {exc.msg}"
                ) from exc
        return self._json[path]


def _show(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _row_error(path: Path, line: int | None, expected: str, found: object) -> DatasetError:
    where = f"{path}, line {line}" if line is not None else str(path)
    return DatasetError(f"{where}: expected {expected}, found {_show(found)}")


def _read_text(path: Path) -> str:
    """Read ``path`` as UTF-8, dropping a byte-order mark; invalid bytes raise with their line number."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(
            f"{path}, line {line}: expected UTF-8 text, found the bytes {data[exc.start : exc.end]!r} "
            f"at byte {exc.start}; re-save the file as UTF-8"
        ) from exc


def _lines(text: str) -> list[str]:
    """Split on ``\\n`` only (tweets may hold other line separators), drop trailing blank lines and CRs."""
    lines = text.split("\n")
    while lines and lines[-1] in ("", "\r"):
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


_BARE_CR = re.compile(r"\r(?!\n)")
_CR_STANDIN = "\ue000"  # a private-use character stands in for a bare CR while the csv module reads


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Read a CSV file; return the header and ``(line, fields)`` per record, ``line`` being where it starts.

    Only ``\\n`` and ``\\r\\n`` end a record: some TWCS excerpts hold bare carriage returns inside unquoted
    text (pandas' ``lineterminator='\\n'`` behaviour, with exact line numbers for errors).
    """
    text = _read_text(path)
    has_bare_cr = _BARE_CR.search(text) is not None
    if has_bare_cr:
        if _CR_STANDIN in text:
            raise DatasetError(f"{path}: expected no U+E000 character in a file with bare carriage returns")
        text = _BARE_CR.sub(_CR_STANDIN, text)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    end = 0
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            if not fields:  # a blank line is no record
                continue
            if has_bare_cr:
                fields = [value.replace(_CR_STANDIN, "\r") for value in fields]
            if header is None:
                header = fields
                continue
            if len(fields) != len(header):
                raise _row_error(
                    path,
                    start,
                    f"{len(header)} comma-separated fields (the header has {len(header)})",
                    f"{len(fields)} fields: {fields}",
                )
            records.append((start, fields))
    except csv.Error as exc:
        raise DatasetError(
            f"{path}, line {reader.line_num}: expected valid CSV, found an error: {exc}"
        ) from exc
    if header is None:
        raise DatasetError(f"{path}: expected a CSV header line, found an empty file")
    return header, records


def _column_index(path: Path, header: list[str], names: Sequence[str]) -> dict[str, int]:
    missing = [name for name in names if name not in header]
    if missing:
        raise DatasetError(f"{path}: expected the column(s) {missing} in the header, found {header}")
    return {name: header.index(name) for name in names}


def _check_label(spec: DatasetSpec, label: str, path: Path, line: int | None) -> str:
    if spec.labels is not None and label not in spec.labels:
        raise _row_error(path, line, f"a label in {list(spec.labels)}", label)
    return label


def _number(value: str, path: Path, line: int, column: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise _row_error(path, line, f"a number in column {column!r}", value) from None


def _optional_number(value: str, path: Path, line: int, column: str) -> float | None:
    return None if value == "" else _number(value, path, line, column)


_WS = re.compile(r"\s*")


def _json_line(text: str, steps: Sequence[str | int]) -> int | None:
    """Return the 1-based line where the JSON value at ``steps`` (keys / indexes) starts; None if lost."""
    decoder = json.JSONDecoder()
    try:
        pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
        for step in steps:
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]  # past '[' or '{'
            if isinstance(step, int):
                for _ in range(step):
                    _, pos = decoder.raw_decode(text, pos)
                    pos = _WS.match(text, _WS.match(text, pos).end() + 1).end()  # type: ignore[union-attr]
            else:
                while True:
                    key, pos = decoder.raw_decode(text, pos)
                    pos = _WS.match(text, _WS.match(text, pos).end() + 1).end()  # type: ignore[union-attr]
                    if key == step:
                        break
                    _, pos = decoder.raw_decode(text, pos)
                    pos = _WS.match(text, _WS.match(text, pos).end() + 1).end()  # type: ignore[union-attr]
    except (ValueError, AttributeError):
        return None
    return text.count("\n", 0, pos) + 1


# ------------------------------------------------------------------------------------------------------------
# Parsers: (context, split) -> rows with exactly the keys of the parser's schema
# ------------------------------------------------------------------------------------------------------------


def _parse_tweeteval(ctx: _Context, split: SplitSpec) -> list[Row]:
    """TweetEval layout: ``<split>_text.txt`` one tweet a line, ``<split>_labels.txt`` one integer a line."""
    text_path, label_path = ctx.path(split.files[0]), ctx.path(split.files[1])
    label_map = {str(k): str(v) for k, v in ctx.spec.options.get("label_map", {}).items()}
    mapping_path = ctx.path("mapping.txt")
    if "mapping.txt" in ctx.spec.extra_files and mapping_path.is_file():
        file_map = {}
        for number, line in enumerate(_lines(_read_text(mapping_path)), start=1):
            fields = line.split("\t")
            if len(fields) != 2:
                raise _row_error(mapping_path, number, "2 tab-separated fields (integer, label)", line)
            file_map[fields[0].strip()] = fields[1].strip()
        if file_map != label_map:
            raise DatasetError(
                f"{mapping_path}: expected the mapping {label_map} of the registry, found {file_map}"
            )
    texts = _lines(_read_text(text_path))
    raw_labels = _lines(_read_text(label_path))
    if len(texts) != len(raw_labels):
        raise DatasetError(
            f"{text_path} has {len(texts)} lines but {label_path} has {len(raw_labels)}: "
            "expected one label per tweet, line for line"
        )
    rows = []
    for number, (text, raw) in enumerate(zip(texts, raw_labels, strict=True), start=1):
        label = label_map.get(raw.strip())
        if label is None:
            raise _row_error(label_path, number, f"one of the integer labels {sorted(label_map)}", raw)
        rows.append({"text": text, "label": _check_label(ctx.spec, label, label_path, number)})
    return rows


_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode_escapes(text: str) -> str:
    """Turn the literal ``\\uXXXX`` escapes of the SemEval files (``\\u2019``, ``\\u002c``) into text."""
    if "\\u" not in text:
        return text
    decoded = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if _SURROGATE.search(decoded):  # an escaped surrogate pair -> one character; a lone half -> U+FFFD
        decoded = decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return decoded


def _parse_semeval2017(ctx: _Context, split: SplitSpec) -> list[Row]:
    """SemEval-2017 Task 4A gold files, tab-separated, no header.

    ``layout: twitter`` (default): ``tweet_id, label, text`` with an optional 4th field (empty or a date in
    twitter-2016test); ``layout: message`` (SMS, LiveJournal): ``id, id, label, text``.
    """
    path = ctx.path(split.files[0])
    layout = split.options.get("layout", "twitter")
    lines = _lines(_read_text(path))
    # In a file whose rows end with a 4th field, a 3-field line followed by a 2-field line is one tweet broken
    # over two lines (twitter-2016test line 11064): the 4th field moved to the continuation line.
    four_field_file = sum(1 for line in lines if line.count("\t") == 3) > len(lines) // 2
    rows: list[Row] = []
    previous_fields = 0
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if layout == "message":
            if len(fields) != 4:
                raise _row_error(path, number, "4 tab-separated fields (id, id, label, text)", line)
            tweet_id, label, text = None, fields[2], fields[3]
        else:
            if (
                four_field_file
                and len(fields) == 2
                and previous_fields == 3
                and rows
                and not fields[0].strip().isdigit()
            ):
                rows[-1]["text"] += "\n" + _decode_escapes(fields[0])
                logger.warning(
                    "%s, line %d: a tweet broken over two lines in the source; merged into line %d's row",
                    path,
                    number,
                    number - 1,
                )
                previous_fields = 0
                continue
            if len(fields) not in (3, 4):
                raise _row_error(
                    path,
                    number,
                    "3 tab-separated fields (tweet_id, label, text) and an optional 4th",
                    f"{len(fields)} field(s): {line}",
                )
            tweet_id, label, text = fields[0], fields[1], fields[2]
            if not tweet_id.isdigit():
                raise _row_error(path, number, "a numeric tweet id in the first field", tweet_id)
        previous_fields = len(fields)
        rows.append(
            {
                "tweet_id": tweet_id,
                "text": _decode_escapes(text),
                "label": _check_label(ctx.spec, label, path, number),
            }
        )
    return rows


def _parse_airline(ctx: _Context, split: SplitSpec) -> list[Row]:
    """Kaggle ``Tweets.csv`` (Twitter US Airline Sentiment), 15 columns."""
    path = ctx.path(split.files[0])
    text_column, label_column = ctx.spec.text_columns[0], str(ctx.spec.label_column)
    header, records = _read_csv(path)
    names = [
        "tweet_id",
        label_column,
        "airline_sentiment_confidence",
        "negativereason",
        "negativereason_confidence",
        "airline",
        "name",
        text_column,
        "tweet_created",
    ]
    col = _column_index(path, header, names)
    rows = []
    for line, f in records:
        reason = f[col["negativereason"]]
        rows.append(
            {
                "tweet_id": f[col["tweet_id"]],
                "text": f[col[text_column]],
                "label": _check_label(ctx.spec, f[col[label_column]], path, line),
                "label_confidence": _number(
                    f[col["airline_sentiment_confidence"]], path, line, "airline_sentiment_confidence"
                ),
                "brand": f[col["airline"]],
                "negativereason": reason or None,
                "negativereason_confidence": _optional_number(
                    f[col["negativereason_confidence"]], path, line, "negativereason_confidence"
                ),
                "author": f[col["name"]] or None,
                "created_at": f[col["tweet_created"]] or None,
            }
        )
    return rows


def _parse_banking77(ctx: _Context, split: SplitSpec) -> list[Row]:
    """BANKING77 ``train.csv`` / ``test.csv``: header ``text,category``."""
    path = ctx.path(split.files[0])
    text_column, label_column = ctx.spec.text_columns[0], str(ctx.spec.label_column)
    header, records = _read_csv(path)
    col = _column_index(path, header, [text_column, label_column])
    rows = []
    for line, f in records:
        label = f[col[label_column]]
        if not label:
            raise _row_error(path, line, f"an intent in column {label_column!r}", label)
        rows.append({"text": f[col[text_column]], "label": label})
    return rows


def _clinc_domains(ctx: _Context) -> dict[str, str]:
    path = ctx.path("domains.json")
    if "domains.json" not in ctx.spec.extra_files or not path.is_file():
        return {}
    domains, _ = ctx.json(path)
    if not isinstance(domains, dict) or not all(isinstance(v, list) for v in domains.values()):
        raise _row_error(path, 1, "an object of domain -> list of intents", type(domains).__name__)
    return {str(intent): str(domain) for domain, intents in domains.items() for intent in intents}


def _parse_clinc150(ctx: _Context, split: SplitSpec) -> list[Row]:
    """CLINC150 (oos-eval): a JSON object of split key -> list of ``[text, intent]`` pairs."""
    path = ctx.path(split.files[0])
    data, text = ctx.json(path)
    key = split.key or ""
    if not isinstance(data, dict) or key not in data:
        found = list(data) if isinstance(data, dict) else type(data).__name__
        raise _row_error(path, None, f"a JSON object with the key {key!r}", found)
    items = data[key]
    if not isinstance(items, list):
        raise _row_error(
            path, _json_line(text, [key]), f"a list of [text, intent] pairs under {key!r}", items
        )
    domains = _clinc_domains(ctx)
    rows = []
    for index, item in enumerate(items):
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item)):
            line = _json_line(text, [key, index])
            raise _row_error(path, line, f"a [text, intent] pair of strings (item {index} of {key!r})", item)
        rows.append({"text": item[0], "label": item[1], "domain": domains.get(item[1])})
    return rows


def _parse_bitext(ctx: _Context, split: SplitSpec) -> list[Row]:
    """Bitext sample CSVs (UTF-8 with BOM, header ``flags,utterance,category,intent``); names normalised."""
    text_column, label_column = ctx.spec.text_columns[0], str(ctx.spec.label_column)
    category_map = dict(ctx.spec.options.get("category_map", {}))
    intent_map = dict(ctx.spec.options.get("intent_map", {}))
    rows = []
    for name in split.files:
        path = ctx.path(name)
        header, records = _read_csv(path)
        col = _column_index(path, header, ["flags", text_column, "category", label_column])
        for line, f in records:
            raw_intent, raw_category = f[col[label_column]], f[col["category"]]
            rows.append(
                {
                    "text": f[col[text_column]],
                    "label": _check_label(ctx.spec, intent_map.get(raw_intent, raw_intent), path, line),
                    "raw_label": raw_intent,
                    "category": category_map.get(raw_category, raw_category),
                    "raw_category": raw_category,
                    "flags": f[col["flags"]],
                    "source_file": name,
                }
            )
    return rows


_TWCS_COLUMNS = (
    "tweet_id",
    "author_id",
    "inbound",
    "created_at",
    "text",
    "response_tweet_id",
    "in_response_to_tweet_id",
)
_ID = re.compile(r"\d+")
_FLOAT_ID = re.compile(r"(\d+)(?:\.0+)?")  # pandas re-saves write in_response_to_tweet_id as 3.0
_ID_LIST = re.compile(r"\d+(?:,\d+)*")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]+)")


def _parse_twcs(ctx: _Context, split: SplitSpec) -> list[Row]:
    """TWCS excerpts: the 7 Kaggle columns, after any extra leading pandas index columns; no labels."""
    rows: list[Row] = []
    for name in split.files:
        path = ctx.path(name)
        header, records = _read_csv(path)
        col = _column_index(path, header, _TWCS_COLUMNS)
        for line, f in records:
            tweet_id, inbound = f[col["tweet_id"]], f[col["inbound"]]
            if not _ID.fullmatch(tweet_id):
                raise _row_error(path, line, "a numeric tweet_id", tweet_id)
            if inbound.lower() not in ("true", "false"):
                raise _row_error(path, line, "True or False in column 'inbound'", inbound)
            reply_to = f[col["in_response_to_tweet_id"]]
            match = _FLOAT_ID.fullmatch(reply_to)
            if reply_to and match is None:
                raise _row_error(
                    path, line, "a tweet id (or nothing) in column 'in_response_to_tweet_id'", reply_to
                )
            responses = f[col["response_tweet_id"]]
            if responses and not _ID_LIST.fullmatch(responses):
                raise _row_error(
                    path, line, "comma-separated tweet ids in column 'response_tweet_id'", responses
                )
            rows.append(
                {
                    "tweet_id": tweet_id,
                    "author_id": f[col["author_id"]],
                    "inbound": inbound.lower() == "true",
                    "created_at": f[col["created_at"]] or None,
                    "text": f[col["text"]],
                    "response_tweet_id": responses or None,
                    "in_response_to_tweet_id": match.group(1) if match else None,
                    "brand": None,
                    "label": None,
                    "source_file": name,
                }
            )
    _resolve_twcs_brands(rows)
    return rows


def _resolve_twcs_brands(rows: list[Row]) -> None:
    """Set ``brand``: the author of an outbound (brand) tweet; for a customer tweet, the brand it addresses.

    For a customer tweet, in order: the author of the brand tweet it replies to, the author of a brand tweet
    that replies to it, the first @handle that is a brand seen in the data, the first non-numeric @handle
    (customer ids are anonymised numbers in TWCS); else None.
    """
    brand_of_tweet = {row["tweet_id"]: row["author_id"] for row in rows if not row["inbound"]}
    known = {handle.lower(): handle for handle in brand_of_tweet.values()}
    for row in rows:
        if not row["inbound"]:
            row["brand"] = row["author_id"]
            continue
        brand = brand_of_tweet.get(row["in_response_to_tweet_id"] or "")
        if brand is None and row["response_tweet_id"]:
            brand = next(
                (brand_of_tweet[i] for i in row["response_tweet_id"].split(",") if i in brand_of_tweet), None
            )
        if brand is None:
            handles = _MENTION.findall(row["text"])
            brand = next((known[h.lower()] for h in handles if h.lower() in known), None)
            if brand is None:
                brand = next((h for h in handles if not h.isdigit()), None)
        row["brand"] = brand


def _parse_ibm_care(ctx: _Context, split: SplitSpec) -> list[Row]:
    """IBM care conversations: a JSON list of {dialogHeader, dialogContent, agentURL}; one row each."""
    path = ctx.path(split.files[0])
    data, text = ctx.json(path)
    if not isinstance(data, list):
        raise _row_error(path, 1, "a JSON list of conversations", type(data).__name__)
    rows = []
    for index, item in enumerate(data):
        try:
            dialog_header, content, agent_url = item["dialogHeader"], item["dialogContent"], item["agentURL"]
            customer_turns = []
            for turn in content:
                role = next((k for k in turn if k == "agent" or k.startswith("client")), None)
                if role is None:
                    raise KeyError("a 'client' or 'agent' key in every dialogContent turn")
                if role != "agent":
                    customer_turns.append(str(turn["message"]))
            row = {
                "conversation_id": str(dialog_header["sessionID"]),
                "brand": str(dialog_header["company"]),
                "text": "\n".join(customer_turns),
                "turns": json.dumps(content, ensure_ascii=False),
                "label": str(agent_url["doc_id"]),
                "url": agent_url.get("url"),
                "tweet_id": None if agent_url.get("tweet_ID") is None else str(agent_url["tweet_ID"]),
                "created_at": dialog_header.get("conversationDateTime"),
            }
        except (KeyError, TypeError, AttributeError) as exc:
            raise _row_error(
                path,
                _json_line(text, [index]),
                f"conversation {index} with dialogHeader.sessionID/company, "
                "dialogContent turns with a message, "
                f"and agentURL.doc_id ({exc})",
                item,
            ) from exc
        rows.append(row)
    return rows


_VOTES = re.compile(r"\((\d), (\d)\)")
_GOLD = {"true": "paraphrase", "false": "not_paraphrase", "----": "debatable"}


def _paraphrase_from_votes(positive: int) -> str:
    # README: (3,2) (4,1) (5,0) paraphrase; (2,3) debatable; (1,4) (0,5) not.
    return "paraphrase" if positive >= 3 else "debatable" if positive == 2 else "not_paraphrase"


def _paraphrase_from_score(score: int) -> str:
    # test.label marks expert scores 4-5 true, 3 ---- (debatable), 0-2 false (SOURCE.md, checked per line).
    return "paraphrase" if score >= 4 else "debatable" if score == 3 else "not_paraphrase"


def _parse_pit2015(ctx: _Context, split: SplitSpec) -> list[Row]:
    """PIT-2015 ``*.data`` (7 tab-separated fields), plus ``test.label`` (label TAB score) for test."""
    path = ctx.path(split.files[0])
    lines = _lines(_read_text(path))
    gold: list[tuple[str, float]] | None = None
    if len(split.files) > 1:
        label_path = ctx.path(split.files[1])
        gold = []
        for number, line in enumerate(_lines(_read_text(label_path)), start=1):
            fields = line.split("\t")
            if len(fields) != 2 or fields[0] not in _GOLD:
                raise _row_error(label_path, number, "true|false|---- <TAB> a 0-1 score", line)
            gold.append((_GOLD[fields[0]], _number(fields[1], label_path, number, "score")))
        if len(gold) != len(lines):
            raise DatasetError(
                f"{path} has {len(lines)} lines but {label_path} has {len(gold)}: expected one label per pair"
            )
    rows = []
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if len(fields) != 7:
            raise _row_error(
                path,
                number,
                "7 tab-separated fields "
                "(Topic_Id, Topic_Name, Sent_1, Sent_2, Label, Sent_1_tag, Sent_2_tag)",
                f"{len(fields)} field(s): {line}",
            )
        raw = fields[4]
        votes = score = None
        similarity: float | None = None
        if match := _VOTES.fullmatch(raw):
            votes = int(match.group(1))
            label = _paraphrase_from_votes(votes)
        elif raw.isdigit() and int(raw) <= 5:
            score = int(raw)
            label = _paraphrase_from_score(score)
        else:
            raise _row_error(
                path, number, "a Label like '(3, 2)' (crowd votes) or a digit 0-5 (expert score)", raw
            )
        if gold is not None:
            label, similarity = gold[number - 1]
        rows.append(
            {
                "topic_id": fields[0],
                "topic_name": fields[1],
                "text": fields[2],
                "text_pair": fields[3],
                "label": _check_label(ctx.spec, label, path, number),
                "raw_label": raw,
                "votes": votes,
                "score": score,
                "similarity": similarity,
            }
        )
    return rows


def _parse_quora(ctx: _Context, split: SplitSpec) -> list[Row]:
    """Quora Question Pairs in the Kaggle ``train.csv`` format (id, qid1, qid2, question1/2, is_duplicate)."""
    path = ctx.path(split.files[0])
    first, second = ctx.spec.text_columns
    label_column = str(ctx.spec.label_column)
    header, records = _read_csv(path)
    col = _column_index(path, header, ["id", "qid1", "qid2", first, second, label_column])
    rows = []
    for line, f in records:
        raw = f[col[label_column]]
        if raw not in ("0", "1"):
            raise _row_error(path, line, f"0 or 1 in column {label_column!r}", raw)
        rows.append(
            {
                "pair_id": f[col["id"]],
                "qid1": f[col["qid1"]],
                "qid2": f[col["qid2"]],
                "text": f[col[first]],
                "text_pair": f[col[second]],
                "label": "duplicate" if raw == "1" else "not_duplicate",
            }
        )
    return rows


_PARSERS: dict[str, Callable[[_Context, SplitSpec], list[Row]]] = {
    "tweeteval": _parse_tweeteval,
    "semeval2017": _parse_semeval2017,
    "airline": _parse_airline,
    "banking77": _parse_banking77,
    "clinc150": _parse_clinc150,
    "bitext": _parse_bitext,
    "twcs": _parse_twcs,
    "ibm_care": _parse_ibm_care,
    "pit2015": _parse_pit2015,
    "quora": _parse_quora,
}

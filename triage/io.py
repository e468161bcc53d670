"""Reading and writing tables of mentions: CSV, JSONL and Parquet, chosen by file extension.

Readers stream in chunks so files larger than memory can be scored; writers append chunk by chunk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from triage.errors import InputError

__all__ = [
    "TableFormat",
    "table_format",
    "count_rows",
    "read_table",
    "iter_table",
    "TableWriter",
    "parse_time",
    "iso_times",
]

TableFormat = Literal["csv", "jsonl", "parquet"]
TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"
"""Twitter's ``created_at`` format (twcs): ``Tue Oct 31 22:10:47 +0000 2017``."""

_EXTENSIONS: dict[str, TableFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def table_format(path: str | os.PathLike[str]) -> TableFormat:
    """Return the table format implied by ``path``'s extension.

    Example:
        >>> table_format("mentions.parquet")
        'parquet'
    """
    suffix = Path(path).suffix.lower()
    try:
        return _EXTENSIONS[suffix]
    except KeyError:
        raise InputError(
            f"{path}: unsupported file extension {suffix or '(none)'!r}; "
            "expected .csv, .jsonl (or .ndjson/.json lines) or .parquet"
        ) from None


def _check_exists(path: Path) -> None:
    if path.is_file():
        return
    what = ("is a folder, not a file" if path.is_dir()
            else "is not a regular file (a device, pipe or socket)" if path.exists() else "file not found")
    raise InputError(f"{path}: {what}; pass the path of a CSV, JSONL or Parquet file")


def _clean_csv_chunk(frame: pd.DataFrame) -> pd.DataFrame:
    # CSVs are read with '\n' as the only record end (some real exports carry bare '\r' inside
    # unquoted text), so a CRLF file leaves a '\r' at the end of its last header and last field.
    frame.columns = [str(c).rstrip("\r") for c in frame.columns]
    last = frame.columns[-1] if len(frame.columns) else None
    if last is not None and frame[last].dtype == object:
        frame[last] = frame[last].map(lambda v: v.rstrip("\r") if isinstance(v, str) else v)
    return frame


def count_rows(path: str | os.PathLike[str]) -> int | None:
    """Cheap row count for progress bars: exact for Parquet (metadata), the number of line ends for CSV
    and JSONL (an estimate: quoted line breaks count too), ``None`` when the file cannot be read.
    """
    path = Path(path)
    fmt = table_format(path)
    try:
        if fmt == "parquet":
            return pq.ParquetFile(path).metadata.num_rows
        lines = 0
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                lines += block.count(b"\n")
        return max(lines - (1 if fmt == "csv" else 0), 0)
    except (pa.ArrowInvalid, OSError):
        return None


def iter_table(
    path: str | os.PathLike[str], *, chunksize: int = 2048, columns: Sequence[str] | None = None
) -> Iterator[pd.DataFrame]:
    """Yield ``path`` as DataFrames of at most ``chunksize`` rows, every value kept as read.

    CSV columns are read as strings (``None`` for empty cells) so ids such as ``00123`` survive.
    Raises :class:`InputError` naming the file when it is missing, not a table, or broken.
    """
    path = Path(path)
    _check_exists(path)
    fmt = table_format(path)
    try:
        if fmt == "parquet":
            parquet = pq.ParquetFile(path)
            for batch in parquet.iter_batches(batch_size=chunksize, columns=list(columns) if columns else None):
                yield batch.to_pandas()
        elif fmt == "csv":
            reader = pd.read_csv(
                path,
                chunksize=chunksize,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                lineterminator="\n",
                encoding="utf-8-sig",
            )
            for chunk in reader:
                chunk = _clean_csv_chunk(chunk)
                chunk = chunk.astype(object).where(chunk.notna(), None)
                yield chunk[list(columns)] if columns else chunk
        else:
            yield from _iter_jsonl(path, chunksize=chunksize, columns=columns)
    except (pa.ArrowInvalid, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: cannot be read as {fmt}: {exc}") from exc
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty; expected a header row and at least one row") from None


def _iter_jsonl(path: Path, *, chunksize: int, columns: Sequence[str] | None) -> Iterator[pd.DataFrame]:
    rows: list[dict] = []
    with path.open(encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{line_no}: not valid JSON ({exc.msg}); expected one JSON object per line") from None
            if not isinstance(record, dict):
                raise InputError(f"{path}:{line_no}: expected a JSON object, found {type(record).__name__}")
            rows.append(record)
            if len(rows) >= chunksize:
                frame = pd.DataFrame(rows)
                yield frame[list(columns)] if columns else frame
                rows = []
    if rows:
        frame = pd.DataFrame(rows)
        yield frame[list(columns)] if columns else frame


def read_table(path: str | os.PathLike[str], *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a whole CSV, JSONL or Parquet file into one DataFrame (see :func:`iter_table`)."""
    chunks = list(iter_table(path, chunksize=65536, columns=columns))
    if not chunks:
        return pd.DataFrame(columns=list(columns) if columns else [])
    return pd.concat(chunks, ignore_index=True)


class TableWriter:
    """Append DataFrames to a CSV or Parquet file (format from the extension), creating parents.

    Writes to ``<name>.partial`` and renames on :meth:`close`, so a crash never leaves a
    half-written file under the final name.

    Example:
        >>> with TableWriter("out.parquet") as w:   # doctest: +SKIP
        ...     w.write(frame)
    """

    def __init__(self, path: str | os.PathLike[str], *, schema: pa.Schema | None = None) -> None:
        self.path = Path(path)
        self.format = table_format(self.path)
        if self.format == "jsonl" and self.path.suffix.lower() == ".json":
            raise InputError(f"{self.path}: write JSON lines to a .jsonl file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".partial")
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = schema  # fixed column types: a first chunk of nulls cannot decide them
        self._rows = 0
        self._started = False

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame``; every chunk must have the same columns."""
        if self.format == "parquet":
            table = pa.Table.from_pandas(frame, preserve_index=False, schema=self._schema)
            if self._parquet is None:
                self._schema = table.schema
                self._parquet = pq.ParquetWriter(self._tmp, self._schema)
            else:
                table = table.cast(self._schema)
            self._parquet.write_table(table)
        elif self.format == "csv":
            frame.to_csv(self._tmp, mode="a" if self._started else "w", header=not self._started, index=False)
        else:
            with self._tmp.open("a" if self._started else "w", encoding="utf-8") as handle:
                frame.to_json(handle, orient="records", lines=True, force_ascii=False)
        self._started = True
        self._rows += len(frame)

    @property
    def rows(self) -> int:
        """Rows written so far."""
        return self._rows

    def close(self) -> None:
        """Finish the file and move it to its final name."""
        if self._parquet is not None:
            self._parquet.close()
        if not self._started:
            self._tmp.touch()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop the partial file (used when scoring fails half-way)."""
        if self._parquet is not None:
            self._parquet.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def parse_time(text: str) -> datetime:
    """An ISO-8601 time (``2020-03-17T16:54:32Z``) or Twitter's ``created_at`` (``Tue Oct 31 22:10:47 +0000 2017``).

    Raises:
        ValueError: ``text`` is neither.
    """
    text = text.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.strptime(text, TWITTER_TIME)


def iso_times(values: Sequence[object] | None, n: int, *, name: str = "created_at") -> list[str | None]:
    """``n`` times as ISO-8601 UTC strings to the second (``2020-03-17T16:54:32Z``), None where missing.

    Takes str (see :func:`parse_time`), ``datetime`` or pandas ``Timestamp`` values (no zone: UTC); None, NaN,
    NaT and blank strings are missing.

    Raises:
        InputError: not one value per mention, or a value that is not a time (the message names the item).
    """
    if values is None:
        return [None] * n
    if isinstance(values, str | bytes):
        raise InputError(f"{name} must be a list with one time per mention, got a single str.")
    items = list(values)
    if len(items) != n:
        raise InputError(f"{name} has {len(items)} values for {n} mentions; pass one per mention.")
    out: list[str | None] = []
    for i, value in enumerate(items):
        if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
            out.append(None)
            continue
        if isinstance(value, str):
            if not value.strip():
                out.append(None)
                continue
            try:
                value = parse_time(value)
            except ValueError:
                raise InputError(
                    f"{name}[{i}] is {value.strip()!r}, expected an ISO-8601 time such as 2020-03-17T16:54:32Z "
                    "(or Twitter's Tue Oct 31 22:10:47 +0000 2017)."
                ) from None
        if not isinstance(value, datetime):  # pandas Timestamp is a datetime
            raise InputError(f"{name}[{i}] is {type(value).__name__}, expected an ISO-8601 str or a datetime.")
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        out.append(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return out

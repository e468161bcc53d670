"""``triage index ...``: build, grow, query and describe an index of answered mentions (thin typer wrappers)."""

from __future__ import annotations

import difflib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TimeElapsedColumn,
)
from rich.progress import (
    TextColumn as ProgressLabel,
)
from rich.table import Table

from triage.clusters import MENTION_THRESHOLD
from triage.errors import InputError

__all__ = ["index_app", "read_answered", "read_mentions", "clusters"]

logger = logging.getLogger(__name__)

index_app = typer.Typer(
    name="index",
    help="The memory of answered mentions: duplicates and self-service links.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs reflow to the terminal width; `code` renders
)
console = Console(stderr=True)
out = Console()

Columns = dict[str, str | None]


def _clear(func: Any) -> Any:
    # Imported lazily: triage.cli imports this module to register the sub-app.
    from triage.cli import _clear_errors

    return _clear_errors(func)


def read_mentions(path: Path, columns: Columns) -> Any:
    """Read mentions from a CSV/JSONL/Parquet file into ``id, text, link, brand, created_at`` (every row kept;
    a text may be empty).

    ``columns`` maps those names to the file's columns (``None``: the file has no such column). A missing id
    column numbers the rows.
    """
    import pandas as pd

    from triage.io import read_table

    frame = read_table(path)
    text_column = columns.get("text") or "text"
    if text_column not in frame.columns:
        raise InputError(f"{path}: no column {text_column!r} (columns: {', '.join(map(str, frame.columns))}); "
                         "pass --text-column.")
    out_frame = pd.DataFrame({"text": frame[text_column].astype(object)})
    for name in ("id", "link", "brand", "created_at"):
        column = columns.get(name)
        if column and column in frame.columns:
            out_frame[name] = frame[column].astype(object).where(frame[column].notna(), None)
        elif column and name == "id" and column != "id":
            raise InputError(f"{path}: no id column {column!r}; pass --id-column.")
        else:
            out_frame[name] = None
    if out_frame["id"].isna().all():
        out_frame["id"] = [str(i) for i in range(len(out_frame))]
        logger.warning("%s has no id column: rows are numbered from 0", path)
    out_frame["id"] = [str(v) for v in out_frame["id"]]
    out_frame["text"] = [v if isinstance(v, str) else "" for v in out_frame["text"]]
    for name in ("link", "brand", "created_at"):
        out_frame[name] = [None if v is None else str(v) for v in out_frame[name]]
    return out_frame


def read_answered(path: Path, columns: Columns, *, skip_empty: bool = False) -> Any:
    """:func:`read_mentions` for an index: a row with an empty text is an error naming the row, or with
    ``skip_empty`` is left out with a warning that counts them and names the first ids.
    """
    out_frame = read_mentions(path, columns)
    empty = [i for i, text in enumerate(out_frame["text"]) if not text.strip()]
    if empty and not skip_empty:
        i = empty[0]
        more = f" ({len(empty):,} rows in all)" if len(empty) > 1 else ""
        raise InputError(f"{path}: row {i + 1} (id {out_frame['id'].iloc[i]!r}) has no text{more}; answered mentions "
                         "need their text: fill or remove it, or pass --skip-empty to leave such rows out.")
    if empty:
        ids = out_frame["id"].iloc[empty[:5]].tolist()
        logger.warning("%s: left out %d row(s) with no text (ids %s%s)", path, len(empty), ", ".join(ids),
                       ", ..." if len(empty) > 5 else "")
        out_frame = out_frame.drop(index=out_frame.index[empty]).reset_index(drop=True)
    return out_frame


def _options_columns(id_column: str, text_column: str, link_column: str, brand_column: str, time_column: str) -> Columns:
    return {"id": id_column, "text": text_column, "link": link_column, "brand": brand_column, "created_at": time_column}


@contextmanager
def _encoding_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr while mentions are encoded; yields the ``on_progress(done, total)`` to pass on."""
    columns = (SpinnerColumn(), ProgressLabel(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def _add_with_progress(index: Any, frame: Any, label: str) -> None:
    """``index.add_batch`` of the answered mentions in ``frame`` with a progress bar over the encoding."""
    with _encoding_progress(label) as update:
        index.add_batch(frame["id"].tolist(), frame["text"].tolist(), links=frame["link"].tolist(),
                        brands=frame["brand"].tolist(), created_at=frame["created_at"].tolist(), on_progress=update)


SkipEmpty = Annotated[bool, typer.Option("--skip-empty", help="Leave out rows with no text (a warning counts them) "
                                                              "instead of stopping at the first.")]
IdColumn = Annotated[str, typer.Option("--id-column", help="Column with the mention id.")]
TextColumn = Annotated[str, typer.Option("--text-column", help="Column with the mention text.")]
LinkColumn = Annotated[str, typer.Option("--link-column", help="Column with the link it was answered with.")]
BrandColumn = Annotated[str, typer.Option("--brand-column", help="Column with the brand.")]
TimeColumn = Annotated[str, typer.Option("--time-column", help="Column with the ISO-8601 time.")]


@index_app.command("build")
@_clear
def build(
    input_path: Annotated[Path | None, typer.Argument(metavar="[INPUT]", help="Answered mentions: CSV, JSONL or Parquet.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Index folder (replaced, crash-safe).")] = Path("index"),
    dataset: Annotated[str | None, typer.Option("--dataset", help="Or: ibm_twitter_customer_care conversations.")] = None,
    split: Annotated[str, typer.Option("--split", help="Split of --dataset.")] = "dev",
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Dataset root for --dataset.")] = None,
    encoder: Annotated[str, typer.Option("--encoder", help="minilm, static or finetuned.")] = "minilm",
    id_column: IdColumn = "id",
    text_column: TextColumn = "text",
    link_column: LinkColumn = "link",
    brand_column: BrandColumn = "brand",
    time_column: TimeColumn = "created_at",
    skip_empty: SkipEmpty = False,
    exact_limit: Annotated[int, typer.Option("--exact-limit", min=1, help="Exact search below this many mentions.")] = 20_000,
    duplicate_threshold: Annotated[
        float | None, typer.Option("--duplicate-threshold", help="Cosine from which a mention repeats a stored one.")
    ] = None,
    keep_handles: Annotated[bool, typer.Option(
        "--keep-handles/--user-handles",
        help="Encode @handles as written (better help links: the handle names the product) or as @user (shares "
             "the pipeline heads' encoding pass).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Build an index of answered mentions from a file (text and link columns) or the IBM care conversations."""
    from triage.cli import _setup_logging
    from triage.index import MentionIndex
    from triage.links import LinkSettings, care_conversations

    _setup_logging(verbose)
    if (input_path is None) == (dataset is None):
        raise InputError("give either an INPUT file or --dataset ibm_twitter_customer_care")
    if dataset is not None:
        if dataset != "ibm_twitter_customer_care":
            raise InputError(f"--dataset builds from ibm_twitter_customer_care conversations, got {dataset!r}.")
        frame = care_conversations(split, data_dir=data_dir)
    else:
        frame = read_answered(input_path, _options_columns(id_column, text_column, link_column, brand_column, time_column),
                              skip_empty=skip_empty)
    index = MentionIndex(encoder, exact_limit=exact_limit, keep_handles=keep_handles)
    _add_with_progress(index, frame, f"encoding with {encoder}")
    settings: dict[str, Any] = {"links": LinkSettings().to_dict()}
    if duplicate_threshold is not None:
        settings["duplicates"] = {"threshold": duplicate_threshold}
    index.save(output, settings=settings)
    _print_stats(index.stats(), title=f"{output}")


@index_app.command("add")
@_clear
def add(
    index_dir: Annotated[Path, typer.Argument(help="Index folder.")],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Answered mentions: CSV, JSONL or Parquet.")],
    id_column: IdColumn = "id",
    text_column: TextColumn = "text",
    link_column: LinkColumn = "link",
    brand_column: BrandColumn = "brand",
    time_column: TimeColumn = "created_at",
    skip_empty: SkipEmpty = False,
) -> None:
    """Add answered mentions to an index (an id already stored is replaced) and save it again."""
    from triage.index import MentionIndex

    index = MentionIndex.load(index_dir)
    frame = read_answered(input_path, _options_columns(id_column, text_column, link_column, brand_column, time_column),
                          skip_empty=skip_empty)
    before = len(index)
    replaced = sum(i in index for i in frame["id"])
    _add_with_progress(index, frame, "adding")
    index.save(index_dir, settings=index.settings)
    out.print(f"{index_dir}: {before:,} -> {len(index):,} mentions ({replaced:,} replaced)")


@index_app.command("query")
@_clear
def query(
    index_dir: Annotated[Path, typer.Argument(help="Index folder.")],
    texts: Annotated[list[str], typer.Argument(help="One or more mentions to look up.")],
    brand: Annotated[str | None, typer.Option("--brand", help="Only answered mentions of this brand.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="Neighbours and links per mention.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the nearest answered mentions and the suggested self-service links for each text."""
    from triage.index import MentionIndex
    from triage.links import LinkSuggester

    index = MentionIndex.load(index_dir)
    _note_brand_scope(index.brands, brand)
    vectors = index.encode(texts) if len(index) else None
    found = index.query(texts, k=k, brand=brand, vectors=vectors)
    links = LinkSuggester(index).suggest(texts, brand, k=k, vectors=vectors)
    if as_json:
        payload = [{"text": t, "neighbours": [n.to_dict() for n in nb], "links": [s.to_dict() for s in sl]}
                   for t, nb, sl in zip(texts, found, links, strict=True)]
        out.print_json(json.dumps(payload, ensure_ascii=False))
        return
    for text, neighbours, suggested in zip(texts, found, links, strict=True):
        table = Table(title=f"{text[:80]}" + (f"  [brand {brand}]" if brand else ""))
        for column in ("similarity", "id", "brand", "link", "text"):
            table.add_column(column, overflow="fold" if column in ("text", "link") else "ellipsis",
                             justify="right" if column == "similarity" else "left")
        for n in neighbours:
            table.add_row(f"{n.similarity:.3f}", n.id, n.brand or "", n.link or "", " ".join(n.text.split())[:120])
        if not neighbours:
            table.add_row("-", "", "", "", "no answered mention" + (f" of brand {brand}" if brand else ""))
        out.print(table)
        if suggested:
            links_table = Table(title="suggested links")
            for column in ("score", "support", "link"):
                links_table.add_column(column, justify="right" if column != "link" else "left",
                                       overflow="fold")
            for s in suggested:
                links_table.add_row(f"{s.score:.3f}", str(s.support), s.link)
            out.print(links_table)


def _note_brand_scope(brands: dict[str, int], brand: str | None) -> None:
    """Say on stderr when the answer will not be one brand's own: no --brand over several brands, or a brand
    the index does not hold (with the nearest spellings it does hold)."""
    if brand is None and len(brands) > 1:
        console.print(f"[yellow]note:[/] the index holds {len(brands)} brands and no --brand was given: neighbours "
                      "and links come from every brand; pass --brand to keep to one brand's answers.")
    elif brand is not None and brand not in brands:
        lowered = {b.lower(): b for b in brands}
        close = [lowered[b] for b in difflib.get_close_matches(brand.lower(), list(lowered), n=3, cutoff=0.5)]
        if close:
            hint = f"did you mean {', '.join(close)}?"
        elif brands:
            hint = f"it holds {', '.join(sorted(brands)[:10])}{' ...' if len(brands) > 10 else ''}"
        else:
            hint = "it holds no brand"
        console.print(f"[yellow]note:[/] brand {brand!r} has no answered mention in this index ({hint}); "
                      "brand names match exactly, as `triage index stats` lists them.")


@index_app.command("stats")
@_clear
def stats(
    index_dir: Annotated[Path, typer.Argument(help="Index folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Describe an index: mentions, encoder, search mode, brands, links, bytes per mention."""
    from triage.index import MentionIndex

    info = MentionIndex.load(index_dir).stats()
    if as_json:
        out.print_json(json.dumps(info))
        return
    _print_stats(info, title=str(index_dir))


@index_app.command("train-duplicates")
@_clear
def train_duplicates(
    output: Annotated[Path, typer.Option("--output", "-o", help="Scorer folder.")] = Path("models/duplicates-pit2015"),
    split: Annotated[str, typer.Option("--split", help="PIT-2015 split to train on.")] = "dev",
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Dataset root.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Train the duplicate pair scorer on PIT-2015 pairs (debatable pairs dropped) and save it."""
    from triage.cli import _setup_logging
    from triage.duplicates import DuplicateScorer, paraphrase_pairs

    _setup_logging(verbose)
    pairs = paraphrase_pairs(split, data_dir=data_dir)
    with console.status(f"training on {len(pairs):,} PIT-2015 {split} pairs ..."):
        scorer = DuplicateScorer().fit(pairs["text"].tolist(), pairs["text_pair"].tolist(), pairs["label"].tolist(),
                                       groups=pairs["topic_id"].tolist())
    scorer.save(output)
    out.print(f"{output}: {scorer.n_train_:,} pairs, threshold {scorer.threshold_:.3f}, features "
              f"{', '.join(scorer.feature_names_)}")


def _print_stats(info: dict[str, Any], *, title: str) -> None:
    table = Table(title=title)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    encoder = info["encoder"]
    rows = [
        ("mentions", f"{info['mentions']:,}"),
        ("encoder", "precomputed vectors" if encoder is None else encoder["kind"]),
        ("dimension", str(info["dim"])),
        ("text encoded", info["text"]),
        ("search", info["search"] + (f" ({info['ivf_lists']} lists)" if info["ivf_lists"] else "")),
        ("with a link", f"{info['with_link']:,} ({info['distinct_links']:,} distinct links)"),
        ("brands", ", ".join(f"{b}: {n:,}" for b, n in sorted(info["brands"].items(), key=lambda kv: -kv[1])[:10])
         + (" ..." if len(info["brands"]) > 10 else "")),
        ("bytes per mention", "-" if info["bytes_per_mention"] is None else f"{info['bytes_per_mention']:,.0f}"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    out.print(table)


@_clear
def clusters(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Mentions: CSV, JSONL or Parquet.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the clusters here (CSV, JSONL or Parquet; one row per cluster).")] = None,
    members: Annotated[Path | None, typer.Option(
        "--members", help="Write one row per input mention here: its cluster_id (empty: in none) and why a row was "
                          "left out.")] = None,
    encoder: Annotated[str, typer.Option("--encoder", help="minilm, static or finetuned.")] = "minilm",
    threshold: Annotated[float, typer.Option(
        "--threshold", min=-1.0, max=1.0, help="Cosine similarity from which two mentions ask the same thing (set for "
                                                "MiniLM, benchmarks/clusters.md).")] = MENTION_THRESHOLD,
    min_size: Annotated[int, typer.Option("--min-size", min=1, help="Smallest cluster reported.")] = 3,
    min_words: Annotated[int, typer.Option(
        "--min-words", min=0, help="Leave out mentions with fewer words besides handles and links (\"@Brand ?\" and "
                                   "\"@Brand thanks!\" embed close together whatever they mean).")] = 2,
    per_brand: Annotated[bool, typer.Option(
        "--per-brand/--all-brands", help="Group only mentions of the same brand (the brand column), or all together.")
    ] = True,
    since: Annotated[str | None, typer.Option("--since", help="Only mentions at or after this ISO-8601 time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only mentions before this ISO-8601 time.")] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="Clusters printed (largest first).")] = 10,
    id_column: IdColumn = "id",
    text_column: TextColumn = "text",
    link_column: LinkColumn = "link",
    brand_column: BrandColumn = "brand",
    time_column: TimeColumn = "created_at",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Repeated questions in a batch of mentions: groups of near-duplicates with their size, first and last seen,
    a representative text and the share answered with a self-service link (big groups with no link are FAQ
    candidates). Mentions are compared by what they say without handles and links. Rows with no text, fewer
    than --min-words words, or outside --since/--until are in no cluster."""
    from triage.cli import _setup_logging
    from triage.clusters import cluster_mentions, clusters_frame, membership
    from triage.io import TableWriter

    _setup_logging(verbose)
    for path in (output, members):
        if path is not None:
            TableWriter(path)  # a file type it cannot write is refused now, not after the encoding
    frame = read_mentions(input_path, _options_columns(id_column, text_column, link_column, brand_column, time_column))

    def values(name: str) -> list[str | None]:  # missing as None (pandas may hold them as NaN)
        return [v if isinstance(v, str) else None for v in frame[name].tolist()]

    with _encoding_progress(f"encoding with {encoder}") as update:
        try:
            found, reasons = cluster_mentions(
                frame["id"].tolist(), frame["text"].tolist(), encoder=encoder, created_at=values("created_at"),
                links=values("link"), brands=values("brand") if per_brand else None, threshold=threshold,
                min_size=min_size, min_words=min_words, since=since, until=until, on_progress=update)
        except InputError as exc:
            raise InputError(f"{input_path}: {exc}") from None
    kept = sum(reason is None for reason in reasons)
    if kept < len(frame):
        left = Counter(r for r in reasons if r is not None)
        logger.warning("%s: %d of %d rows left out (%s)", input_path, len(frame) - kept, len(frame),
                       ", ".join(f"{reason}: {count:,}" for reason, count in left.most_common()))
    if output is not None:
        with TableWriter(output) as writer:
            writer.write(clusters_frame(found))
    if members is not None:
        table = membership(frame["id"].tolist(), found)
        table["left_out"] = reasons
        with TableWriter(members) as writer:
            writer.write(table)
    clustered = sum(c.size for c in found)
    summary = Table(title=f"{len(found):,} repeated questions in {input_path} ({clustered:,} of {kept:,} mentions; "
                          f"cosine >= {threshold}, {min_size} or more{', per brand' if per_brand else ''})")
    branded = any(c.brand is not None for c in found)
    for column in ("id", "size", *(("brand",) if branded else ()), "first seen", "last seen", "with link",
                   "representative"):
        summary.add_column(column, justify="right" if column in ("id", "size", "with link") else "left",
                           overflow="fold" if column == "representative" else "ellipsis")
    for c in found[:top]:
        summary.add_row(str(c.cluster_id), f"{c.size:,}", *((c.brand or "",) if branded else ()), _minutes(c.first_seen),
                        _minutes(c.last_seen), f"{c.self_service_share:.0%}", " ".join(c.representative.split())[:140])
    if top:
        out.print(summary)
    written = [str(p) for p in (output, members) if p is not None]
    if written:
        console.print(f"written: {', '.join(written)}")


def _minutes(time: str | None) -> str:
    """``2020-03-01T10:00:00Z`` as ``2020-03-01 10:00`` (UTC) for a table; empty when unknown."""
    return "" if time is None else time[:16].replace("T", " ")

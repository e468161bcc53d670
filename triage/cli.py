"""The ``triage`` command line: thin typer wrappers around the library.

Every command turns a :class:`~triage.errors.TriageError` into one red line and exit code 1.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from triage.errors import TriageError
from triage.paths import MODELS_DIR

app = typer.Typer(
    name="triage",
    help="Intent, sentiment, needs-a-human and one action for every social customer-care mention.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs reflow to the terminal width; `code` renders
)
console = Console(stderr=True)
out = Console()

DEFAULT_PIPELINE = MODELS_DIR / "defaults"


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )
    for noisy in ("httpx", "urllib3", "filelock", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _clear_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TriageError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(code=130) from None

    return wrapper


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens step by step.")]
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Dataset root (default: $TRIAGE_DATA_DIR, else ../shared/data beside the repo)."),
]


@app.command()
@_clear_errors
def train(
    recipe: Annotated[Path, typer.Argument(help="Recipe file, e.g. training/sentiment-tfidf.yaml.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Model folder (default: the recipe's).")] = None,
    data_dir: DataDir = None,
    verbose: Verbose = False,
) -> None:
    """Train a model from a recipe file and save it as an artifact folder."""
    _setup_logging(verbose)
    from triage.finetune import finetune_progress
    from triage.training import train_recipe

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        progress.add_task(f"training {recipe}", total=None)
        steps = progress.add_task("fine-tuning MiniLM, steps", total=None, visible=False)  # a finetuned encoder shows it
        with finetune_progress(lambda step, total: progress.update(steps, completed=step, total=total, visible=True)):
            run = train_recipe(recipe, data_dir=data_dir, output=output, show_progress=False)
    table = Table(title=f"{run.output}  ({run.n_train:,} training texts, {run.seconds:.1f}s)")
    parts = [m for split in ("validation", "test") if (m := run.metrics.get(split))]
    keys = ["accuracy", "macro_f1", "macro_recall", "ece"] + [
        k for k in ("top3_accuracy", "in_scope_accuracy", "oos_recall") if any(m.get(k) is not None for m in parts)
    ]
    for column in ("split", "n", *keys):
        table.add_column(column, justify="right" if column != "split" else "left")
    for split in ("validation", "test"):
        m = run.metrics.get(split)
        if m:
            table.add_row(split, f"{m['n']:,}", *("-" if m.get(k) is None else f"{m[k]:.3f}" for k in keys))
    out.print(table)


@app.command()
@_clear_errors
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="A trained model folder.")],
    dataset: Annotated[str | None, typer.Option("--dataset", help="Registry dataset name (see `triage datasets`).")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Split to evaluate on, e.g. val, test, all.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Or: your own labelled CSV/JSONL/Parquet file.")] = None,
    text_column: Annotated[str, typer.Option("--text-column")] = "text",
    label_column: Annotated[str, typer.Option("--label-column")] = "label",
    data_dir: DataDir = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the metrics as JSON here.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Confusion-matrix PNG path; the reliability diagram goes beside it.")] = None,
    labels: Annotated[
        str | None,
        typer.Option("--labels", help="Keep only rows with these labels (comma-separated), or 'model' for the model's own."),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Evaluate a model: n, accuracy, macro_f1, macro_recall, ece and a per-class report.

    An index or duplicate scorer folder: on pit2015_twitter_paraphrase, f1, average_precision, threshold and n
    of the duplicate decision; on ibm_twitter_customer_care (an index), hit_at_1, hit_at_5 and n of link
    suggestion with the dev conversations of the default data root as memory.

    Intent models add top3_accuracy; data with out-of-scope rows (clinc150) adds in_scope_accuracy and
    oos_recall. Join splits with '+': --split test+oos_test.
    """
    _setup_logging(verbose)
    from triage.evaluation import evaluate_classifier

    if (model_dir / "pipeline.yaml").is_file() or (model_dir.suffix in (".yaml", ".yml") and model_dir.is_file()):
        _evaluate_pipeline(model_dir, dataset=dataset, split=split, data_dir=data_dir, output=output, plot=plot)
        return
    if (dataset is None) == (file is None):
        raise TriageError("give either --dataset NAME --split SPLIT or --file PATH")
    with console.status("evaluating ..."):
        m = evaluate_classifier(
            model_dir, dataset=dataset, split=split, file=file, text_column=text_column,
            label_column=label_column, data_dir=data_dir, output=output, plot=plot, labels=labels,
        )
    if "per_class" not in m:  # an index or a duplicate scorer (triage.evaluation.evaluate_lookup)
        keys = [k for k in ("f1", "average_precision", "threshold", "hit_at_1", "hit_at_5", "reachable") if k in m]
        summary = Table(title=f"{model_dir} on {m['dataset']} [{m['split']}]")
        for key in ("n", *keys):
            summary.add_column(key, justify="right")
        summary.add_row(f"{m['n']:,}", *("-" if m[k] is None else f"{m[k]:.4f}" for k in keys))
        out.print(summary)
        if "brand_most_frequent" in m:
            b = m["brand_most_frequent"]
            console.print(f"brand-most-frequent baseline: hit@1 {b['hit_at_1']:.4f}, hit@5 {b['hit_at_5']:.4f}")
        if output:
            console.print(f"metrics: {output}")
        return
    summary = Table(title=f"{model_dir} on {m['dataset']} [{m['split']}]")
    shown = [k for k in ("accuracy", "macro_f1", "macro_recall", "ece", "top3_accuracy", "in_scope_accuracy", "oos_recall",
                         "roc_auc", "f1", "precision", "recall", "threshold")
             if m.get(k) is not None]
    for key in ("n", *shown):
        summary.add_column(key, justify="right")
    summary.add_row(f"{m['n']:,}", *(f"{m[k]:.4f}" for k in shown))
    out.print(summary)
    per_class = Table(title="per class")
    for column in ("label", "precision", "recall", "f1", "support"):
        per_class.add_column(column, justify="left" if column == "label" else "right")
    for label, row in m["per_class"].items():
        per_class.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    out.print(per_class)
    if m["unknown_labels"]:
        console.print(f"[yellow]labels the model does not know:[/] {m['unknown_labels']}")
    console.print(f"confusion matrix: {m['confusion_png']}"
                  + (f"; reliability diagram: {m['reliability_png']}" if m.get("reliability_png") else "")
                  + (f"; metrics: {output}" if output else ""))


def _evaluate_pipeline(folder: Path, *, dataset: str | None, split: str | None, data_dir: Path | None,
                       output: Path | None, plot: Path | None) -> None:
    """`triage evaluate PIPELINE --dataset twcs --split test`: actions against the care teams' weak labels."""
    from triage.pipeline_eval import evaluate_pipeline_on_twcs

    if dataset != "twcs" or split is None:
        raise TriageError("a pipeline is evaluated on twcs weak labels: --dataset twcs --split test (or all, validation)")
    plot = plot or (output.with_name(output.stem + "_deflection.png") if output else Path(f"deflection_{folder.name}_{split}.png"))
    with console.status("triaging the labelled mentions ..."):
        m = evaluate_pipeline_on_twcs(folder, split=split, data_dir=data_dir, plot=plot)
    table = Table(title=f"{folder} on twcs [{split}] (weak labels)")
    keys = ("agreement", "automation_rate", "error_rate", "human_recall")
    for key in ("n", *keys):
        table.add_column(key, justify="right")
    table.add_row(f"{m['n']:,}", *(f"{m[k]:.3f}" if m[k] is not None else "-" for k in keys))
    table.add_row("no in_reply_to", *(f"{m['without_in_reply_to'][k]:.3f}" if m["without_in_reply_to"][k] is not None
                                      else "-" for k in keys))
    out.print(table)
    confusion = Table(title="weak label x action")
    confusion.add_column("label")
    for action in ("self_service", "no_reply", "human"):
        confusion.add_column(action, justify="right")
    for label, row in m["confusion"].items():
        confusion.add_row(label, *(str(row[a]) for a in ("self_service", "no_reply", "human")))
    out.print(confusion)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(m, indent=2, default=str) + "\n", encoding="utf-8")
    console.print(f"deflection curve: {m['deflection_png']}" + (f"; metrics: {output}" if output else ""))


@app.command()
@_clear_errors
def score(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Mentions: CSV, JSONL or Parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Results: .parquet or .csv.")],
    text_column: Annotated[str, typer.Option("--text-column", help="Column with the mention text.")] = "text",
    id_column: Annotated[str, typer.Option("--id-column", help="Column with the mention id.")] = "id",
    pipeline: Annotated[
        Path, typer.Option("--pipeline", help="Pipeline folder (pipeline.yaml): every TriageResult field per row.")
    ] = DEFAULT_PIPELINE,
    model: Annotated[
        Path | None, typer.Option("--model", help="Score with one classifier folder instead of the pipeline.")
    ] = None,
    chunksize: Annotated[int, typer.Option("--chunksize", min=1, help="Rows per chunk.")] = 2048,
    verbose: Verbose = False,
) -> None:
    """Triage a mentions file: one output row per input row (action, link, queue, priority, intent, sentiment,
    needs_human, duplicate, PII, reasons), unscorable rows kept with an error.

    The input needs an id and a text column; every other Mention field present as a column of the same name
    (brand, author, created_at, channel, in_reply_to, followers, verified) is read too. With --model, the
    output is that model's label and probabilities instead.
    """
    _setup_logging(verbose)
    from triage.scoring import score_file

    columns = (SpinnerColumn(), TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("score", total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        summary = score_file(input_path, output, model=model, pipeline=None if model is not None else pipeline,
                             text_column=text_column, id_column=id_column, chunksize=chunksize, on_progress=update)
        progress.update(task, completed=summary.rows, total=summary.rows)
    used = model.name if model is not None else f"pipeline {pipeline}"
    out.print(
        f"{summary.rows:,} mentions -> {output} with {used} ({summary.rows_per_second:,.0f} rows/s): "
        f"{summary.scored:,} scored, {summary.errors:,} kept with an error"
    )
    table = Table()
    table.add_column("label")
    table.add_column("mentions", justify="right")
    table.add_column("share", justify="right")
    for label, count in summary.labels.most_common():
        table.add_row(label, f"{count:,}", f"{count / max(summary.rows, 1):.1%}")
    for reason, count in summary.error_reasons.most_common():
        table.add_row(f"[red]error: {reason}[/]", f"{count:,}", f"{count / max(summary.rows, 1):.1%}")
    out.print(table)
    if summary.queues:
        queues = Table(title="human queues")
        queues.add_column("queue")
        queues.add_column("mentions", justify="right")
        for queue, count in summary.queues.most_common():
            queues.add_row(queue, f"{count:,}")
        out.print(queues)
    if summary.examples:
        examples = Table(title="most confident mention per " + ("label" if model is not None else "action"))
        for column in ("label", "p", "id", "text"):
            examples.add_column(column, overflow="fold" if column == "text" else "ellipsis")
        for label, (p, mention_id, text) in sorted(summary.examples.items()):
            shown = " ".join(text.split())
            examples.add_row(label, f"{p:.2f}", mention_id, shown[:140] + ("…" if len(shown) > 140 else ""))
        out.print(examples)


@app.command()
@_clear_errors
def datasets(
    name: Annotated[str | None, typer.Argument(help="Show one dataset's splits and columns.")] = None,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the dataset registry (or one dataset's splits, rows and columns)."""
    from triage.registry import dataset_info, list_datasets, load_dataset

    if name is None:
        table = Table(title="dataset registry")
        for column in ("name", "task", "licence"):
            table.add_column(column)
        for dataset in list_datasets():
            info = dataset_info(dataset)
            table.add_row(dataset, str(getattr(info, "task", "")), str(getattr(info, "licence", "")))
        out.print(table)
        return
    loaded = load_dataset(name, data_dir=data_dir)
    described = {split: {"rows": part.num_rows, "columns": part.column_names} for split, part in loaded.items()}
    if as_json:
        out.print_json(json.dumps(described))
        return
    table = Table(title=name)
    for column in ("split", "rows", "columns"):
        table.add_column(column)
    for split, row in described.items():
        table.add_row(split, f"{row['rows']:,}", ", ".join(row["columns"]))
    out.print(table)


from triage.index_cli import clusters, index_app  # noqa: E402  (registered after _clear_errors, which it uses)

app.add_typer(index_app, name="index")
app.command("clusters")(clusters)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="triage")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Train a classifier from a recipe: load data, remove excluded texts, split, fit, evaluate, save."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triage.artifacts import fingerprint
from triage.classifier import TextClassifier
from triage.errors import InputError
from triage.evaluation import model_metrics
from triage.labelled import Examples, internal_split, load_examples, split_keys
from triage.recipes import DataSource, Recipe, load_recipe
from triage.text import match_key

__all__ = ["TrainingRun", "TrainingData", "prepare_data", "train_recipe", "examples_from_source", "concat_examples"]

logger = logging.getLogger(__name__)


@dataclass
class TrainingRun:
    """What :func:`train_recipe` produced."""

    model: TextClassifier
    output: Path
    metrics: dict
    seconds: float
    n_train: int


def examples_from_source(source: DataSource, *, data_dir: str | os.PathLike[str] | None = None) -> Examples:
    """Load the labelled texts a recipe's :class:`~triage.recipes.DataSource` names (weak labels when the
    source has a ``labeller``)."""
    if source.labeller == "needs_human":
        from triage.needs_human import needs_human_examples

        default = ["all"] if source.dataset == "twcs" else ["dev"]
        parts = [needs_human_examples(source.dataset, split, data_dir=source.data_dir or data_dir)
                 for split in (source.splits or default)]
        return concat_examples(parts)
    if source.labeller == "no_reply":
        from triage.no_reply import no_reply_examples

        return concat_examples([no_reply_examples(source.dataset, split, data_dir=source.data_dir or data_dir)
                                for split in (source.splits or ["all"])])
    return load_examples(
        dataset=source.dataset,
        splits=source.splits,
        file=source.file,
        text_column=source.text_column,
        label_column=source.label_column,
        data_dir=source.data_dir or data_dir,
        label_map=source.label_map or None,
        labels=source.labels,
    )


def concat_examples(parts: list[Examples]) -> Examples:
    """One :class:`~triage.labelled.Examples` from several, rows in order; the sources joined by ``+``."""
    import pandas as pd

    parts = [part for part in parts if part is not None]
    frame = pd.concat([part.frame for part in parts], ignore_index=True)
    return Examples(frame["text"].tolist(), frame["label"].tolist(), frame, " + ".join(p.source for p in parts))


def _fit_needs_human(recipe: Recipe, model: TextClassifier, train: Examples, validation: Examples | None) -> dict:
    """Brand prior, recalibration and decision threshold of a needs-human model (see triage.needs_human)."""
    from triage.needs_human import fit_needs_human
    from triage.recipes import NeedsHumanSection

    params = recipe.needs_human or NeedsHumanSection()
    return fit_needs_human(model, train, validation, brand_prior=params.brand_prior,
                           strength=params.brand_prior_strength, cross_fit_folds=params.cross_fit_folds)


def _licence(source: DataSource) -> str:
    if source.dataset is None:
        return "user-supplied file"
    from triage.registry import dataset_info

    return str(dataset_info(source.dataset).licence)


@dataclass
class TrainingData:
    """The examples a recipe trains, validates and tests on, and what was removed from training."""

    train: Examples
    validation: Examples | None
    test: Examples | None
    n_loaded: int
    excluded: int
    duplicates: int


def _keep_first(keys: list[str], banned: set[str]) -> np.ndarray:
    seen: set[str] = set()
    keep = np.zeros(len(keys), dtype=bool)
    for i, key in enumerate(keys):
        if key and key not in banned and key not in seen:
            keep[i] = True
            seen.add(key)
    return keep


def prepare_data(recipe: Recipe, *, data_dir: str | os.PathLike[str] | None = None) -> TrainingData:
    """Load a recipe's data, split it, and clean the training part.

    Order: (1) the deterministic internal split, when asked, on the rows as loaded (so ``triage evaluate
    --split test`` sees exactly the test rows); (2) training texts that also occur in an ``exclude`` source,
    the validation or the test data (matched by :func:`~triage.text.match_key`) are removed; (3) repeated
    training texts keep only their first row (when ``dedupe``).

    Raises:
        InputError: when nothing is left to train on.
    """
    data = recipe.data
    train = examples_from_source(data.train, data_dir=data_dir)
    n_loaded = len(train)
    validation = examples_from_source(data.validation, data_dir=data_dir) if data.validation else None
    test = examples_from_source(data.test, data_dir=data_dir) if data.test else None
    if data.internal_split:
        parts = internal_split(split_keys(train.frame))
        validation = validation if validation is not None else train.subset(parts == "validation")
        test = test if test is not None else train.subset(parts == "test")
        train = train.subset(parts == "train")
    if data.extra_train:
        extra = [examples_from_source(source, data_dir=data_dir) for source in data.extra_train]
        n_loaded += sum(len(part) for part in extra)
        train = concat_examples([train, *extra])

    banned: set[str] = set()
    for source in data.exclude:
        banned.update(match_key(t) for t in examples_from_source(source, data_dir=data_dir).texts)
    for part in (validation, test):
        if part is not None:
            banned.update(match_key(t) for t in part.texts)
    keys = [match_key(t) for t in train.texts]
    not_banned = np.array([key not in banned for key in keys], dtype=bool)
    keep = _keep_first(keys, banned) if data.dedupe else not_banned
    excluded = int((~not_banned).sum())
    duplicates = int(not_banned.sum() - keep.sum())
    train = train.subset(keep)
    if len(train) == 0:
        raise InputError(
            f"{recipe.name}: no training texts left after removing {excluded} that also occur in the "
            "exclude/validation/test data; check the recipe's data section"
        )
    logger.info(
        "%s: %d training texts (%d loaded, %d also in exclude/validation/test, %d repeated texts dropped)",
        recipe.name, len(train), n_loaded, excluded, duplicates,
    )
    return TrainingData(train, validation, test, n_loaded, excluded, duplicates)


def train_recipe(
    recipe: Recipe | str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    show_progress: bool = False,
) -> TrainingRun:
    """Train, evaluate on the validation (and test) data and save the model a recipe describes.

    Args:
        recipe: a :class:`~triage.recipes.Recipe` or the path of a recipe YAML file.
        data_dir: dataset root overriding the default (``TRIAGE_DATA_DIR`` or ``../shared/data``).
        output: model folder overriding the recipe's.
        show_progress: show encoder progress bars.
    """
    recipe_path = None
    if not isinstance(recipe, Recipe):
        recipe_path = str(recipe)
        recipe = load_recipe(recipe)
    data = recipe.data
    sets = prepare_data(recipe, data_dir=data_dir)
    train, validation, test = sets.train, sets.validation, sets.test

    model = TextClassifier(
        encoder=recipe.encoder,
        **recipe.head.model_dump(),  # C, class_weight, max_iter, tol: TextClassifier's own parameter names
        calibration=recipe.calibration,
        calibration_folds=recipe.calibration_folds,
        normalize=recipe.normalize,
        task=recipe.task,
        random_state=recipe.seed,
        abstain=recipe.abstain.model_dump() if recipe.abstain else None,
    )
    start = time.perf_counter()
    model.fit(
        train.texts,
        train.labels,
        X_val=validation.texts if validation else None,
        y_val=validation.labels if validation else None,
        show_progress=show_progress,
    )
    seconds = time.perf_counter() - start
    threshold_info: dict = {}
    if recipe.task == "needs_human":
        threshold_info = _fit_needs_human(recipe, model, train, validation)

    metrics: dict = {}
    for name, part in (("validation", validation), ("test", test)):
        if part is not None and len(part):
            brands = part.frame["brand"].tolist() if "brand" in part.frame.columns else None
            figures = model_metrics(model, part.texts, part.labels, brands=brands)
            figures["source"] = part.source
            metrics[name] = figures
    metrics["training_seconds"] = round(seconds, 2)

    training_info = {
        "name": recipe.name,
        "recipe": recipe_path or "(in memory)",
        "dataset": data.train.dataset or data.train.file,
        "splits": data.train.splits,
        "licence": _licence(data.train),
        "n_train": len(train),
        "excluded": f"{sets.excluded} texts also in {[s.dataset or s.file for s in data.exclude] + ['validation/test']}",
        "repeated_texts_dropped": sets.duplicates,
        "validation": validation.source + (" (internal split)" if data.internal_split and not data.validation else "")
        if validation else "none",
        "fingerprint": fingerprint(train.texts, train.labels),
        "seed": recipe.seed,
        "training_seconds": round(seconds, 2),
        **threshold_info,
    }
    if data.extra_train:
        training_info["extra_train"] = [f"{s.dataset or s.file}[{'+'.join(s.splits or ['default'])}]"
                                        + (f" ({s.labeller} weak labels)" if s.labeller else "")
                                        for s in data.extra_train]
    out = Path(output) if output else recipe.output_dir()
    model.save(out, metrics=metrics, training=training_info)
    return TrainingRun(model=model, output=out, metrics=metrics, seconds=seconds, n_train=len(train))

"""Training recipes: YAML files validated by pydantic (an error names the key, the value and what is allowed).

A recipe names its data (a registry dataset or the user's own CSV/JSONL/Parquet file), the encoder
tier, the head's hyper-parameters, the seed and where the model goes. Example::

    name: sentiment-tfidf
    task: sentiment
    encoder: {kind: tfidf}
    data:
      train: {dataset: semeval2017_task4a_english, splits: [twitter_2013train, twitter_2016train]}
      exclude: [{dataset: tweeteval_sentiment, splits: [val]}]
      validation: {dataset: tweeteval_sentiment, splits: [val]}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from triage.errors import RecipeError
from triage.paths import MODELS_DIR
from triage.yaml_config import read_yaml_mapping, validation_message

__all__ = ["DataSource", "DataSection", "HeadParams", "AbstainSection", "NeedsHumanSection", "Recipe", "load_recipe"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSource(_Strict):
    """Labelled texts from a registry dataset (``dataset`` + ``splits``) or a file (``file``)."""

    dataset: str | None = Field(default=None, description="Registry dataset name, e.g. tweeteval_sentiment.")
    splits: list[str] | None = Field(default=None, description="Registry splits to concatenate; default all.")
    file: str | None = Field(default=None, description="CSV, JSONL or Parquet file with text and label columns.")
    text_column: str = Field(default="text", description="Column holding the text.")
    label_column: str = Field(default="label", description="Column holding the label.")
    data_dir: str | None = Field(default=None, description="Dataset root; default --data-dir/TRIAGE_DATA_DIR/../shared/data.")
    label_map: dict[str, str] = Field(default_factory=dict, description="Rename labels, e.g. {'0': negative}.")
    labels: list[str] | None = Field(default=None, description="Keep only rows with these labels (after label_map).")
    labeller: Literal["needs_human", "no_reply"] | None = Field(
        default=None,
        description="Derive the labels with labelling functions instead of reading label_column: needs_human "
        "(triage/weak_labels.py) labels twcs or ibm_twitter_customer_care mentions human / self_service; "
        "no_reply (triage/no_reply.py) labels twcs mentions by whether a brand answered them, and airline "
        "praise / complaints.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        if (self.dataset is None) == (self.file is None):
            raise ValueError("give exactly one of 'dataset' (a registry name) or 'file' (a path)")
        if self.labeller is not None:
            allowed = {"needs_human": ("twcs", "ibm_twitter_customer_care"),
                       "no_reply": ("twcs", "twitter_airline_sentiment")}[self.labeller]
            if self.dataset not in allowed:
                raise ValueError(f"labeller {self.labeller!r} works on dataset {' or '.join(allowed)}, "
                                 f"found {self.dataset or self.file!r}")
            if self.label_map or self.labels is not None:
                raise ValueError("label_map and labels do not apply to weak labels (labeller); remove them")
        return self


class DataSection(_Strict):
    """Which texts train, validate and test the model."""

    train: DataSource
    validation: DataSource | None = Field(default=None, description="Calibration and early figures; else split off.")
    test: DataSource | None = Field(default=None, description="Extra evaluation reported in metrics.json.")
    exclude: list[DataSource] = Field(default_factory=list, description="Texts removed from train (matched by text).")
    internal_split: bool = Field(
        default=False,
        description="Split train deterministically into train/validation/test (10%/20%, by tweet_id or text hash), "
        "the same split `triage evaluate --split validation|test` derives for datasets that ship only `all`.",
    )
    dedupe: bool = Field(default=True, description="Drop repeated texts (same match key), keeping the first.")
    extra_train: list[DataSource] = Field(
        default_factory=list,
        description="More training data added after the internal split (never validated or tested on), "
        "e.g. another dataset's weak labels.",
    )


class HeadParams(_Strict):
    """Hyper-parameters of the logistic-regression head."""

    C: float = Field(default=1.0, gt=0)
    class_weight: Literal["balanced"] | None = "balanced"
    max_iter: int = Field(default=2000, ge=10)
    tol: float = Field(default=1e-6, gt=0, lt=1, description="Stopping tolerance of the head's solver; the "
                       "default lets it converge, so a recipe gives the same model on every machine.")


class AbstainSection(_Strict):
    """Out-of-scope abstention: the model predicts ``unknown`` when a text fits none of its labels.

    Rows labelled ``oos_label`` in the training or validation data are out-of-scope examples, not a class
    (unless ``oos_class``). See :class:`triage.classifier.AbstainParams`.
    """

    oos_label: str = Field(default="oos", min_length=1, description="Label of the out-of-scope rows in the data.")
    method: Literal["max_prob", "energy"] = Field(default="max_prob", description="The in-scope score.")
    threshold: float | None = Field(default=None, description="Abstain below this score; null: chosen at training.")
    max_in_scope_loss: float = Field(
        default=0.01, ge=0, lt=1, description="In-scope accuracy the chosen threshold may cost on validation data."
    )
    oos_class: bool = Field(default=False, description="Also train the out-of-scope rows as a head class.")

    @model_validator(mode="after")
    def _not_the_abstain_label(self) -> AbstainSection:
        if self.oos_label == "unknown":
            raise ValueError("oos_label cannot be 'unknown': that is the label the model predicts when it abstains")
        return self


class NeedsHumanSection(_Strict):
    """How a needs-human model turns its text head into the ``needs_human`` probability.

    With ``brand_prior`` the model also learns each brand's habit from the training labels (how often that
    brand moves a mention to a person, shrunk toward the overall rate by ``brand_prior_strength`` pseudo-
    mentions) and adds it to the text head's log-odds; the sum is recalibrated on the validation data (see
    :mod:`triage.needs_human`). The text head itself sees the customer's text only.
    """

    brand_prior: bool = Field(default=True, description="Add the addressed brand's learned habit to the text score.")
    brand_prior_strength: float = Field(default=5.0, ge=0, description="Pseudo-mentions at the overall rate per brand.")
    cross_fit_folds: int = Field(
        default=0, ge=0, le=20,
        description="Also recalibrate (and choose the threshold) on the training mentions scored out of fold, "
        "with this many thread-grouped folds (0: validation mentions only).",
    )


class Recipe(_Strict):
    """One model: data, encoder tier, head, calibration, seed, output folder."""

    name: str = Field(description="Model name; the default output is models/<name>.")
    task: str = Field(description="What the labels mean: sentiment, intent, needs_human, ...")
    encoder: dict[str, Any] = Field(description="Encoder spec: {kind: tfidf|static|minilm, ...params}.")
    head: HeadParams = Field(default_factory=HeadParams)
    abstain: AbstainSection | None = Field(default=None, description="Out-of-scope abstention (intent models).")
    needs_human: NeedsHumanSection | None = Field(
        default=None, description="Brand prior and recalibration of a needs_human model (task needs_human only)."
    )
    calibration: Literal["temperature", "top_label", "platt", "isotonic", "none"] = Field(
        default="temperature",
        description="temperature: one temperature; top_label: one temperature fitted to the top label's "
        "confidence on every calibration row (out-of-scope rows count as wrong); platt: a temperature and one "
        "bias per label (heads trained with class_weight balanced on skewed labels need the biases to match the "
        "base rate); isotonic: the temperature, then a non-decreasing map of the top label's confidence to how often "
        "it is right (the label never changes); none.",
    )
    calibration_folds: int = Field(
        default=0, ge=0, le=20,
        description="Also fit the temperature on the training rows scored by this many cross-validation folds "
        "(0: the validation rows only).",
    )
    normalize: bool = True
    seed: int = 0
    data: DataSection
    output: str | None = Field(default=None, description="Output folder; relative paths are taken from the repo root.")
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _encoder_shorthand(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(values.get("encoder"), str):
            values = {**values, "encoder": {"kind": values["encoder"]}}
        return values

    @model_validator(mode="after")
    def _needs_human_section(self) -> Recipe:
        if self.needs_human is not None and self.task != "needs_human":
            raise ValueError(f"the needs_human section applies to task needs_human only, found task {self.task!r}")
        return self

    @model_validator(mode="after")
    def _known_encoder(self) -> Recipe:
        from triage.encoders import ENCODER_KINDS as kinds
        if self.encoder.get("kind") not in kinds:
            raise ValueError(f"encoder.kind must be one of {list(kinds)}, found {self.encoder.get('kind')!r}")
        return self

    def output_dir(self) -> Path:
        """Where the trained model is written."""
        if self.output is None:
            return MODELS_DIR / self.name
        out = Path(self.output)
        return out if out.is_absolute() else MODELS_DIR.parent / out


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read and validate a recipe file.

    Raises:
        RecipeError: naming the file, the key, the value found and what is allowed.
    """
    path = Path(path)
    raw = read_yaml_mapping(
        path,
        kind="recipe",
        error=RecipeError,
        example="training/sentiment-tfidf.yaml",
        missing_hint="recipes live in training/ (e.g. training/sentiment-tfidf.yaml)",
        keys="name, task, encoder, data",
    )
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(f"{path}: invalid recipe: " + validation_message(exc, Recipe, plain=False)) from None

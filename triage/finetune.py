"""The ``finetuned`` tier: full fine-tuning of the all-MiniLM-L6-v2 weights for one task.

The body (transformer + mean pooling + normalisation) is trained end to end (AdamW, linear warm-up and
decay), on the GPU when one is present, else on the CPU, with one of two objectives:

- ``classification`` (the default): a cosine-softmax classification layer and cross-entropy;
- ``contrastive`` (SetFit-style): a supervised contrastive loss over the batch, which pulls mentions of one
  label together and pushes the others apart. Batches hold ``per_label`` mentions of each of their labels so
  every mention has positives. No layer is trained with the body; the class centroids of the tuned
  embeddings stand in for it.

Either way the calibrated head of the classifier is then fitted on the tuned embeddings. The tuned body is saved as a sentence-transformers folder (``model.safetensors`` plus
config and tokenizer), so the rest of the library uses it like any MiniLM encoder: a
:class:`FinetunedEncoder` is a :class:`~triage.encoders.MiniLMEncoder` whose ``fit`` takes labels and
tunes the weights, and the classifier's calibrated linear head sits on top of the tuned embeddings.

Training is seeded: the same seed, data and device give the same weights.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from triage.encoders import MiniLMEncoder, _check_texts
from triage.errors import InputError

__all__ = ["FinetuneParams", "finetune_minilm", "finetune_progress", "head_probabilities", "FinetunedEncoder"]

logger = logging.getLogger(__name__)

_ON_STEP: contextvars.ContextVar[Callable[[int, int], None] | None] = contextvars.ContextVar(
    "triage_finetune_on_step", default=None
)


@contextlib.contextmanager
def finetune_progress(on_step: Callable[[int, int], None]) -> Iterator[None]:
    """Within the block, every fine-tuning run (however deep in ``fit`` or ``train_recipe``) calls
    ``on_step(step, total)`` after each optimiser step, for a progress bar: a one-epoch CPU run over 47k
    tweets takes about half an hour."""
    token = _ON_STEP.set(on_step)
    try:
        yield
    finally:
        _ON_STEP.reset(token)


@dataclass
class FinetuneParams:
    """Hyper-parameters of one fine-tuning run."""

    epochs: float = 1.0
    learning_rate: float = 5e-5
    batch_size: int = 32
    max_length: int = 64
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    scale: float = 20.0
    """Logit scale of the cosine-softmax layer (embeddings are unit length)."""
    freeze_embeddings: bool = False
    """Keep the word-embedding table (half of MiniLM's 22.7M weights) as pretrained: on 2 CPU cores a step
    is about 40% faster (no dense gradient and AdamW update of the 30,522 x 384 table)."""
    objective: str = "classification"
    """``classification`` (cosine-softmax layer, cross-entropy) or ``contrastive`` (SetFit-style supervised
    contrastive loss on the embeddings; ``scale`` is its inverse temperature)."""
    per_label: int = 4
    """Contrastive objective: mentions of one label drawn together into a batch (at least 2)."""
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FinetuneParams:
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"unknown fine-tuning parameters {sorted(unknown)}; allowed: {sorted(cls.__dataclass_fields__)}")
        return cls(**values)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise InputError(f"unknown fine-tuning objective {self.objective!r}; use one of {list(OBJECTIVES)}")
        if self.objective == "contrastive" and not 2 <= self.per_label <= self.batch_size:
            raise InputError(f"per_label must be between 2 and the batch size ({self.batch_size}) for the "
                             f"contrastive objective, got {self.per_label}")


OBJECTIVES = ("classification", "contrastive")


def label_batches(target: np.ndarray, batch_size: int, per_label: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of batches for the contrastive objective: each label's mentions, shuffled, are cut into
    groups of ``per_label``; the groups are shuffled and packed ``batch_size // per_label`` to a batch.
    Every mention appears once; a mention is without a positive only where its label has one mention left."""
    groups = []
    for label in np.unique(target):
        members = rng.permutation(np.flatnonzero(target == label))
        groups += [members[i : i + per_label] for i in range(0, len(members), per_label)]
    order = rng.permutation(len(groups))
    per_batch = max(1, batch_size // per_label)
    return [np.concatenate([groups[g] for g in order[i : i + per_batch]]) for i in range(0, len(order), per_batch)]


def supervised_contrastive_loss(embeddings: Any, target: Any, scale: float) -> Any:
    """Supervised contrastive loss (Khosla et al., 2020) of unit-length ``embeddings``: for each mention
    with at least one other mention of its label in the batch, the mean over those positives of
    ``-log softmax`` of its similarity among all other mentions; averaged over such mentions (0 when none)."""
    import torch

    logits = scale * embeddings @ embeddings.T
    self_mask = torch.eye(len(target), dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (target[:, None] == target[None, :]) & ~self_mask
    count = positive.sum(dim=1)
    anchors = count > 0
    if not bool(anchors.any()):
        return embeddings.sum() * 0.0
    mean_positive = log_prob.masked_fill(~positive, 0.0).sum(dim=1)[anchors] / count[anchors]
    return -mean_positive.mean()


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def finetune_minilm(
    texts: Sequence[str],
    labels: Sequence[str],
    output_dir: str | os.PathLike[str],
    *,
    params: FinetuneParams | None = None,
    base_model: str | None = None,
    device: str | None = None,
    max_steps: int | None = None,
) -> Path:
    """Fine-tune MiniLM on labelled texts and save the tuned body as a sentence-transformers folder.

    Args:
        texts, labels: training data (labels are strings).
        output_dir: where the tuned model folder is written (replaced if present).
        params: hyper-parameters (defaults: 1 epoch, lr 5e-5, batch 32).
        base_model: a local sentence-transformers folder; default the packaged all-MiniLM-L6-v2.
        device: ``"cpu"``/``"cuda"``; default CUDA when available.
        max_steps: stop after this many optimiser steps (tests and smoke runs).

    Returns:
        The output folder.
    """
    import torch

    from triage.encoders import (
        _resolve_device,
        _resolve_model,
        load_sentence_transformer,
        quiet_transformers_bars,
    )

    params = params or FinetuneParams()
    texts = list(texts)
    labels = [str(label) for label in labels]
    if len(texts) != len(labels) or not texts:
        raise InputError(f"need one label per text and at least one text; got {len(texts)} texts, {len(labels)} labels")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise InputError(f"need at least 2 distinct labels to fine-tune, found {classes}")
    target = torch.tensor([classes.index(label) for label in labels])
    device = _resolve_device(device)
    source, _ = _resolve_model(base_model)

    _seed_everything(params.seed)
    model = load_sentence_transformer(source, device)
    model.float()  # train in float32 even when the weights were stored in float16
    model.max_seq_length = params.max_length
    if params.freeze_embeddings:
        for module in model.modules():
            if hasattr(module, "word_embeddings"):
                module.word_embeddings.weight.requires_grad_(False)
    dimension = (getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()
    head = torch.nn.Linear(dimension, len(classes), bias=True).to(device)
    model.train()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    parameters = [
        {"params": [p for n, p in trainable if not any(k in n for k in ("bias", "LayerNorm"))],
         "weight_decay": params.weight_decay},
        {"params": [p for n, p in trainable if any(k in n for k in ("bias", "LayerNorm"))],
         "weight_decay": 0.0},
        {"params": head.parameters(), "weight_decay": 0.0},
    ]
    optimiser = torch.optim.AdamW(parameters, lr=params.learning_rate)
    steps_per_epoch = math.ceil(len(texts) / params.batch_size)
    total = max(1, int(round(steps_per_epoch * params.epochs)))
    if max_steps is not None:
        total = min(total, max_steps)
    warmup = int(total * params.warmup_ratio)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    order_rng = np.random.default_rng(params.seed)
    contrastive = params.objective == "contrastive"
    step, start, running = 0, time.perf_counter(), 0.0
    tokenize = getattr(model, "preprocess", model.tokenize)  # sentence-transformers 6 renamed it
    on_step = _ON_STEP.get()
    if on_step is not None:
        on_step(0, total)
    if device == "cpu" and total * params.batch_size > 20_000:
        logger.warning("fine-tuning MiniLM on the CPU: %d steps of %d texts; on a few cores that takes tens of minutes "
                       "or more (a GPU machine takes minutes)", total, params.batch_size)
    while step < total:
        if contrastive:
            batches = label_batches(target.numpy(), params.batch_size, params.per_label, order_rng)
        else:
            order = order_rng.permutation(len(texts))
            batches = [order[i : i + params.batch_size] for i in range(0, len(order), params.batch_size)]
        for batch in batches:
            if step >= total:
                break
            features = tokenize([texts[i] for i in batch])
            features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
            embeddings = model(features)["sentence_embedding"]
            if contrastive:
                loss = supervised_contrastive_loss(embeddings, target[batch].to(device), params.scale)
            else:
                weight = torch.nn.functional.normalize(head.weight, dim=1)
                logits = params.scale * embeddings @ weight.T + head.bias
                loss = torch.nn.functional.cross_entropy(logits, target[batch].to(device))
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            step += 1
            value = float(loss.detach())
            running = 0.9 * running + 0.1 * value if step > 1 else value
            if on_step is not None:
                on_step(step, total)
            if step % 50 == 0 or step == total:
                logger.info("fine-tuning step %d/%d, loss %.3f, %.1f texts/s", step, total, running,
                            step * params.batch_size / (time.perf_counter() - start))
    model.eval()
    if contrastive:
        # the class centroids of the tuned embeddings stand in for the layer the other objective trains
        vectors = model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_tensor=True,
                               show_progress_bar=False)
        with torch.no_grad():
            for index in range(len(classes)):
                head.weight[index] = vectors[target.to(vectors.device) == index].mean(dim=0)
            head.bias.zero_()
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    with quiet_transformers_bars():
        model.save(str(staging), safe_serialization=True)
    _save_head(staging, head, classes, params.scale)
    if output_dir.exists():
        shutil.rmtree(output_dir)
    os.replace(staging, output_dir)
    logger.info("fine-tuned MiniLM for %d steps in %.0f s -> %s", total, time.perf_counter() - start, output_dir)
    return output_dir


HEAD_WEIGHTS = "classification_head.safetensors"
HEAD_CONFIG = "classification_head.json"


def _save_head(folder: Path, head: Any, classes: list[str], scale: float) -> None:
    import json

    from safetensors.torch import save_file

    save_file({"weight": head.weight.detach().cpu().contiguous(), "bias": head.bias.detach().cpu().contiguous()},
              str(folder / HEAD_WEIGHTS))
    (folder / HEAD_CONFIG).write_text(json.dumps({"classes": classes, "scale": scale}, indent=2) + "\n")


def head_probabilities(folder: str | os.PathLike[str], embeddings: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Probabilities from the cosine-softmax layer trained with the body, or from the class centroids of a
    body tuned with the contrastive objective (for checks and benchmarks; models use the calibrated
    logistic-regression head instead)."""
    import json

    from safetensors.numpy import load_file
    from scipy.special import softmax

    folder = Path(folder)
    config = json.loads((folder / HEAD_CONFIG).read_text())
    tensors = load_file(str(folder / HEAD_WEIGHTS))
    weight = tensors["weight"] / np.linalg.norm(tensors["weight"], axis=1, keepdims=True)
    logits = config["scale"] * embeddings @ weight.T + tensors["bias"]
    return config["classes"], softmax(logits, axis=1)


_TUNED_FOLDERS: list[Path] = []  # temporary folders of the weights tuned in this process


@atexit.register
def _remove_tuned_folders() -> None:
    """Remove the temporary weight folders of this process's fine-tunings (90 MB each) when it exits: a saved model
    holds its own copy, and no encoder outlives the process."""
    while _TUNED_FOLDERS:
        shutil.rmtree(_TUNED_FOLDERS.pop(), ignore_errors=True)


class FinetunedEncoder(MiniLMEncoder):
    """MiniLM whose weights are fine-tuned on the task's labels by :meth:`fit` (dense float32, 384 dims).

    Args:
        epochs, learning_rate, batch_size, max_length, freeze_embeddings, objective, per_label, seed:
            fine-tuning hyper-parameters (see :class:`FinetuneParams`).
        device: ``"cpu"``/``"cuda"``; ``None`` picks CUDA when available.
        model: the folder of tuned weights: set by ``fit``, or given to reuse weights tuned elsewhere
            (``fit`` then tunes nothing); saved inside the model folder.
        max_steps: cap on optimiser steps (smoke runs).

    Example:
        >>> enc = FinetunedEncoder(epochs=1).fit(texts, labels)   # doctest: +SKIP
    """

    kind: ClassVar[str] = "finetuned"
    supervised: ClassVar[bool] = True
    _params: ClassVar[tuple[str, ...]] = (
        "model", "device", "batch_size", "epochs", "learning_rate", "max_length", "freeze_embeddings", "objective",
        "per_label", "seed", "max_steps",
    )

    def __init__(
        self,
        *,
        model: str | None = None,
        device: str | None = None,
        batch_size: int = 32,
        epochs: float = 1.0,
        learning_rate: float = 5e-5,
        max_length: int = 64,
        freeze_embeddings: bool = False,
        objective: str = "classification",
        per_label: int = 4,
        seed: int = 0,
        max_steps: int | None = None,
    ) -> None:
        super().__init__(model=model, device=device, batch_size=batch_size)
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.max_length = max_length
        self.freeze_embeddings = freeze_embeddings
        self.objective = objective
        self.per_label = per_label
        self.seed = seed
        self.max_steps = max_steps
        self._fit_params()  # a bad objective or per_label fails here, before any data is read

    def _fit_params(self) -> FinetuneParams:
        return FinetuneParams(epochs=self.epochs, learning_rate=self.learning_rate, batch_size=self.batch_size,
                              max_length=self.max_length, freeze_embeddings=self.freeze_embeddings,
                              objective=self.objective, per_label=self.per_label, seed=self.seed)

    def fit(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> Self:
        """Fine-tune the packaged MiniLM on ``texts``/``labels``; the tuned weights go to a temporary
        folder until the model is saved (saving copies them into the model folder). The temporary folder is
        removed when the process exits."""
        texts = _check_texts(texts)
        if self.model is not None:
            # weights tuned elsewhere (say, on a GPU machine) are reused as they are
            logger.info("finetuned encoder: reusing the tuned weights in %s", self.model)
            return self
        if labels is None:
            raise InputError("the finetuned encoder learns from labels: call fit(texts, labels)")
        params = self._fit_params()
        scratch = Path(tempfile.mkdtemp(prefix="triage-finetuned-"))
        _TUNED_FOLDERS.append(scratch)
        folder = scratch / "model"
        finetune_minilm(texts, labels, folder, params=params, device=self.device, max_steps=self.max_steps)
        self.model = str(folder)
        return self

"""Model artifacts: self-describing folders that load without unpickling.

Layout of a classifier folder::

    config.json   task, labels, encoder spec, head params, temperature (and biases), library versions,
                  training-data fingerprint, sha256 of every other file; optional ``abstain`` (method,
                  out-of-scope label, threshold and how it was chosen) for a model that can answer ``unknown``
    head.skops    the linear head (skops, loaded with an explicit allow-list of types)
    encoder/      the fitted encoder (its own encoder.json + safetensors/JSON weights)
    metrics.json  validation/test figures written at training time
    README.md     the model card

A missing, mismatched or tampered file raises :class:`~triage.errors.ArtifactError` naming the file
and the fix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from triage.errors import ArtifactError, InputError
from triage.integrity import file_sha256, library_versions
from triage.metrics import ABSTAIN_LABEL

if TYPE_CHECKING:
    from triage.classifier import TextClassifier

__all__ = [
    "FORMAT_VERSION",
    "fingerprint",
    "save_classifier",
    "load_classifier",
    "read_config",
    "write_model_card",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CONFIG = "config.json"
HEAD = "head.skops"
ENCODER_DIR = "encoder"
METRICS = "metrics.json"
CARD = "README.md"
RETRAIN_HINT = "retrain it with `triage train <recipe>` (or `make demo` for the default models)"

# The only types a head file may contain; anything else means it is not ours.
_TRUSTED_HEAD_TYPES = {
    "sklearn.linear_model._logistic.LogisticRegression",
    "numpy.ndarray",
    "numpy.dtype",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
}

_PACKAGES = ("scikit-learn", "scipy", "skops", "torch", "transformers", "sentence-transformers", "model2vec",
             "safetensors")


def fingerprint(texts: Iterable[str], labels: Iterable[Any] | None = None) -> str:
    """sha256 over the training texts (and labels) in order: identifies the exact training data.

    Example:
        >>> fingerprint(["a"], ["x"]) == fingerprint(["a"], ["x"]) != fingerprint(["a"], ["y"])
        True
    """
    digest = hashlib.sha256()
    labels_iter = iter(labels) if labels is not None else None
    for text in texts:
        digest.update(str(text).encode("utf-8"))
        digest.update(b"\x1f")
        if labels_iter is not None:
            digest.update(str(next(labels_iter)).encode("utf-8"))
        digest.update(b"\x1e")
    return "sha256:" + digest.hexdigest()


def _digest(path: Path) -> str:
    return "sha256:" + file_sha256(path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n", encoding="utf-8")


def replace_folder(staging: Path, path: Path) -> None:
    """Move the complete folder ``staging`` to ``path``; an existing ``path`` is moved aside first and removed only
    once the new folder is in place, so a crash leaves the old or the new folder, never a half-written one."""
    if path.exists():
        backup = path.with_name(f".{path.name}.old")
        shutil.rmtree(backup, ignore_errors=True)
        os.replace(path, backup)
        os.replace(staging, path)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(staging, path)


def _training_facts(model: TextClassifier, training: dict | None) -> dict:
    """``training`` plus what the model learned after its head (a needs-human decision threshold, brand prior
    and recalibration), so a model saved without a recipe keeps them."""
    facts = dict(training or {})
    threshold = getattr(model, "decision_threshold_", None)
    if threshold is not None:
        facts.setdefault("threshold", float(threshold))
    spec = getattr(model, "needs_human_", None)
    if spec:
        facts.setdefault("needs_human", spec)
    return facts


def save_classifier(
    model: TextClassifier, path: str | os.PathLike[str], *, metrics: dict | None = None, training: dict | None = None
) -> Path:
    """Write ``model`` as an artifact folder at ``path`` (replacing an older one only once complete).

    Args:
        model: a fitted :class:`~triage.classifier.TextClassifier`.
        path: destination folder.
        metrics: figures to store in ``metrics.json`` and quote in the model card.
        training: facts about the training run (dataset, licence, n, fingerprint, recipe, seconds).
    """
    from triage.classifier import check_is_fitted

    check_is_fitted(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a model folder is shared like any other output
    try:
        model.encoder_.save(staging / ENCODER_DIR)
        sio.dump(model.head_, staging / HEAD)
        _write_json(staging / METRICS, metrics or {})
        config = {
            "format_version": FORMAT_VERSION,
            "kind": "text_classifier",
            "task": model.task,
            "labels": [str(c) for c in model.classes_],
            "encoder": model.encoder_.saved_spec(f"{ENCODER_DIR}/"),  # tuned weights: named inside the folder
            "normalize": bool(model.normalize),
            "head": {
                "type": "logistic_regression",
                "C": model.C,
                "class_weight": model.class_weight,
                "max_iter": model.max_iter,
                "tol": model.tol,
                "random_state": model.random_state,
            },
            "calibration": {"method": model.calibration, "temperature": model.temperature_,
                            "folds": int(getattr(model, "calibration_folds", 0)),
                            "bias": [float(b) for b in getattr(model, "bias_", np.zeros(len(model.classes_)))],
                            **({"abstain_temperature": float(model.abstain_temperature_)}
                               if getattr(model, "abstain_temperature_", None) is not None else {}),
                            **({"isotonic": {"x": [float(v) for v in model.isotonic_[0]],
                                             "y": [float(v) for v in model.isotonic_[1]]}}
                               if getattr(model, "isotonic_", None) is not None else {})},
            "training": _training_facts(model, training),
            "versions": library_versions(*_PACKAGES),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": {},
        }
        files = sorted(p for p in staging.rglob("*") if p.is_file() and p.name != CARD)
        abstain = getattr(model, "abstain_", None)
        if abstain is not None:
            # optional key (format_version 1 models without it never abstain)
            config["abstain"] = {
                **abstain.to_dict(),
                "threshold": float(model.threshold_),
                "configured_threshold": abstain.threshold,
                "abstain_label": ABSTAIN_LABEL,
                "report": getattr(model, "abstain_report_", {}),
            }
        config["files"] = {p.relative_to(staging).as_posix(): _digest(p) for p in files}
        _write_json(staging / CONFIG, config)
        write_model_card(staging, config, metrics or {})
        replace_folder(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("saved %s model to %s", model.task, path)
    return path


def read_config(path: str | os.PathLike[str]) -> dict:
    """Read and check an artifact's ``config.json`` (existence, JSON, format version)."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path}: model folder not found; {RETRAIN_HINT}, or pass the folder of a trained model")
    config_path = path / CONFIG
    if not config_path.is_file():
        raise ArtifactError(f"{config_path}: missing; this folder is not a triage model — {RETRAIN_HINT}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{config_path}: not valid JSON ({exc}); the file is damaged — {RETRAIN_HINT}") from None
    if not isinstance(config, dict) or config.get("format_version") != FORMAT_VERSION:
        found = config.get("format_version") if isinstance(config, dict) else type(config).__name__
        raise ArtifactError(
            f"{config_path}: format_version {found!r}, expected {FORMAT_VERSION}; "
            f"this model was written by another triage version — {RETRAIN_HINT}"
        )
    for key in ("kind", "task", "labels", "encoder", "files"):
        if key not in config:
            raise ArtifactError(f"{config_path}: key {key!r} is missing; the file is damaged — {RETRAIN_HINT}")
    return config


def _verify_files(path: Path, files: dict[str, str]) -> None:
    for name, expected in files.items():
        file = path / name
        if not file.is_file():
            raise ArtifactError(f"{file}: missing from the model folder; {RETRAIN_HINT}")
        actual = _digest(file)
        if actual != expected:
            raise ArtifactError(
                f"{file}: sha256 does not match config.json (the file was changed after saving); "
                f"restore the original folder or {RETRAIN_HINT}"
            )


def _check_versions(config: dict, path: Path) -> None:
    saved = config.get("versions", {})
    current = library_versions(*_PACKAGES)
    for name in ("scikit-learn", "model2vec", "sentence-transformers"):
        if name in saved and name in current and saved[name] != current[name]:
            logger.warning(
                "%s was saved with %s %s but %s is installed; predictions may differ slightly",
                path, name, saved[name], current[name],
            )


def load_classifier(path: str | os.PathLike[str]) -> TextClassifier:
    """Load a classifier folder written by :func:`save_classifier`, verifying every file first."""
    from triage.classifier import TextClassifier
    from triage.encoders import load_encoder

    path = Path(path)
    config = read_config(path)
    if config["kind"] != "text_classifier":
        raise ArtifactError(f"{path / CONFIG}: kind {config['kind']!r} is not a text classifier; pass a classifier folder")
    _verify_files(path, config["files"])
    _check_versions(config, path)
    head_path = path / HEAD
    try:
        untrusted = set(sio.get_untrusted_types(file=head_path))
    except Exception as exc:  # skops raises several types for a damaged zip
        raise ArtifactError(f"{head_path}: cannot be read as a skops file ({exc}); {RETRAIN_HINT}") from None
    unexpected = untrusted - _TRUSTED_HEAD_TYPES
    if unexpected:
        raise ArtifactError(f"{head_path}: contains unexpected types {sorted(unexpected)}; refusing to load it — {RETRAIN_HINT}")
    head = sio.load(head_path, trusted=sorted(untrusted))
    if not isinstance(head, LogisticRegression):
        raise ArtifactError(f"{head_path}: holds a {type(head).__name__}, expected a LogisticRegression head — {RETRAIN_HINT}")
    abstain = _read_abstain(config, path)
    head_labels = [str(c) for c in head.classes_]
    # a model that abstains may have an out-of-scope head class; it is never one of the model's labels
    oos_label = abstain[0].oos_label if abstain else None
    labels = [label for label in head_labels if label != oos_label]
    if labels != [str(c) for c in config["labels"]]:
        raise ArtifactError(
            f"{path / CONFIG}: labels {config['labels']} do not match the head's classes {head_labels}; "
            f"the folder mixes files from different models — {RETRAIN_HINT}"
        )
    encoder = load_encoder(path / ENCODER_DIR)
    head_params = config.get("head", {})
    calibration = config.get("calibration", {})
    model = TextClassifier(
        encoder=encoder.spec(),  # as loaded: tuned weights are those inside the folder, not where they were tuned
        C=head_params.get("C", 1.0),
        class_weight=head_params.get("class_weight", "balanced"),
        max_iter=head_params.get("max_iter", 2000),
        tol=head_params.get("tol", 1e-4),  # artifacts written before the key were fitted at scikit-learn's default
        calibration=calibration.get("method", "temperature"),
        calibration_folds=int(calibration.get("folds", 0)),
        normalize=config.get("normalize", True),
        task=config["task"],
        random_state=head_params.get("random_state", 0),
        abstain=abstain[0] if abstain else None,
    )
    n_features = getattr(head, "n_features_in_", None)
    if n_features is not None and n_features != encoder.dim:
        raise ArtifactError(
            f"{path / ENCODER_DIR}: encoder gives {encoder.dim} features but the head expects {n_features}; "
            f"the folder mixes files from different models — {RETRAIN_HINT}"
        )
    model.encoder_ = encoder
    model.head_ = head
    model.known_columns_ = np.array([i for i, label in enumerate(head_labels) if label != oos_label], dtype=np.intp)
    model.classes_ = head.classes_[model.known_columns_]
    model.temperature_ = _read_temperature(calibration, "temperature", path, default=1.0)
    model.abstain_temperature_ = _read_temperature(calibration, "abstain_temperature", path, default=None)
    model.bias_ = _read_bias(calibration, len(model.classes_), path)
    model.isotonic_ = _read_isotonic(calibration, path)
    model.abstain_ = abstain[0] if abstain else None
    if abstain:
        model.threshold_ = abstain[1]
        model.abstain_report_ = config["abstain"].get("report", {})
    model.config_ = config
    model.path_ = path
    return model


def _read_temperature(calibration: dict, key: str, path: Path, *, default: float | None) -> float | None:
    """A calibration temperature of ``config.json``: a finite number above 0 (``default`` when absent)."""
    value = calibration.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value <= 0:
        raise ArtifactError(
            f"{path / CONFIG}: key 'calibration.{key}' must be a finite number above 0, found {value!r}; "
            f"the file is damaged — {RETRAIN_HINT}"
        )
    return float(value)


def _read_bias(calibration: dict, n_labels: int, path: Path) -> np.ndarray:
    """The per-label calibration biases (``calibration: platt``); zeros for models saved without them."""
    bias = calibration.get("bias")
    if bias is None:
        return np.zeros(n_labels)
    if (not isinstance(bias, list) or len(bias) != n_labels
            or not all(isinstance(b, int | float) and np.isfinite(b) for b in bias)):
        raise ArtifactError(
            f"{path / CONFIG}: key 'calibration.bias' must hold {n_labels} finite numbers, one per label; "
            f"the file is damaged — {RETRAIN_HINT}"
        )
    return np.asarray(bias, dtype=np.float64)


def _read_isotonic(calibration: dict, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The top-class map's knots (``calibration: isotonic``); None for models saved without one."""
    section = calibration.get("isotonic")
    if calibration.get("method") != "isotonic" and section is None:
        return None
    x = section.get("x") if isinstance(section, dict) else None
    y = section.get("y") if isinstance(section, dict) else None
    numbers = [v for v in (x, y) if isinstance(v, list) and v and all(isinstance(n, int | float) for n in v)]
    if len(numbers) != 2 or len(x) != len(y):
        raise ArtifactError(f"{path / CONFIG}: key 'calibration.isotonic' must hold lists 'x' and 'y' of equal, "
                            f"non-zero length; the file is damaged — {RETRAIN_HINT}")
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if (not (np.isfinite(xs).all() and np.isfinite(ys).all()) or (np.diff(xs) < 0).any() or (np.diff(ys) < 0).any()
            or ys.min() < 0 or ys.max() > 1):
        raise ArtifactError(f"{path / CONFIG}: key 'calibration.isotonic' must map increasing confidences 'x' to "
                            f"non-decreasing probabilities 'y' in [0, 1]; the file is damaged — {RETRAIN_HINT}")
    return xs, ys


def _read_abstain(config: dict, path: Path) -> tuple[Any, float] | None:
    """The optional ``abstain`` section: (AbstainParams, threshold), or None for a model that never abstains."""
    from triage.classifier import AbstainParams

    section = config.get("abstain")
    if section is None:
        return None
    where = f"{path / CONFIG}: key 'abstain'"
    if not isinstance(section, dict) or not isinstance(section.get("threshold"), int | float):
        raise ArtifactError(f"{where} must hold a numeric 'threshold'; the file is damaged — {RETRAIN_HINT}")
    names = ("oos_label", "method", "max_in_scope_loss", "oos_class")
    try:
        params = AbstainParams.from_dict(
            {**{k: section[k] for k in names if k in section}, "threshold": section.get("configured_threshold")}
        )
    except (InputError, TypeError) as exc:
        raise ArtifactError(f"{where} is not valid ({exc}); the file is damaged — {RETRAIN_HINT}") from None
    return params, float(section["threshold"])


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _calibration_words(calibration: dict, labels: list[str]) -> str:
    """How the probabilities were calibrated, for the model card."""
    words = f"temperature calibration (T = {calibration['temperature']:.3f}"
    bias = calibration.get("bias")
    if calibration.get("method") == "platt" and bias:
        words += "; biases " + ", ".join(f"{label} {b:+.3f}" for label, b in zip(labels, bias, strict=False))
        words = words.replace("temperature calibration", "Platt calibration", 1)
    if calibration.get("method") == "top_label":
        words = words.replace("temperature calibration", "top-label temperature calibration", 1)
    if calibration.get("method") == "isotonic" and calibration.get("isotonic"):
        words += f"; then an isotonic map of the top label's confidence, {len(calibration['isotonic']['x'])} knots"
    if calibration.get("abstain_temperature") is not None:
        words += f"; abstention score at T = {calibration['abstain_temperature']:.3f}"
    return words + ")"


def write_model_card(path: Path, config: dict, metrics: dict) -> Path:
    """Write the ``README.md`` model card: data and licence, metrics, intended use, limits."""
    training = config.get("training", {})
    lines = [
        f"# {training.get('name', config['task'])}",
        "",
        f"A `triage` {config['task']} classifier: `{config['encoder'].get('kind')}` encoder, "
        f"logistic-regression head, {_calibration_words(config['calibration'], config['labels'])}.",
        "",
        "## Labels",
        ", ".join(f"`{label}`" for label in config["labels"]),
        "",
        "## Training data",
    ]
    for key in ("dataset", "splits", "file", "excluded", "n_train", "validation", "licence", "fingerprint"):
        if key in training:
            lines.append(f"- {key}: {training[key]}")
    if training.get("threshold") is not None:
        lines += [
            "",
            "## Decision threshold",
            f"`{training.get('positive_label', 'positive')}` when its probability is at least "
            f"{float(training['threshold']):.4f} ({training.get('threshold_rule', 'set at training')}).",
        ]
        spec = training.get("needs_human") or {}
        if spec.get("brand_prior"):
            prior = spec["brand_prior"]
            lines.append(f"The score adds each addressed brand's learned habit ({len(prior.get('shifts', {}))} brands, "
                         f"shrunk by {prior.get('strength')} pseudo-mentions) to the text head's log-odds; "
                         "an unknown brand counts as average.")
        if spec.get("calibration"):
            lines.append(f"Recalibrated on {spec['calibration'].get('fitted_on', 'held-apart data')}.")
    abstain = config.get("abstain")
    if abstain:
        report = abstain.get("report", {})
        lines += [
            "",
            "## Out of scope",
            f"The model abstains (predicts `{abstain.get('abstain_label', 'unknown')}`) when its `{abstain['method']}` "
            f"score is below {abstain['threshold']:.4f}; rows labelled `{abstain['oos_label']}` in the data are "
            "out-of-scope examples" + (", also trained as a head class" if abstain.get("oos_class") else "")
            + f". Threshold chosen on: {report.get('chosen_on', 'recipe')}.",
        ]
        for key in ("in_scope_accuracy_without_abstention", "in_scope_accuracy", "oos_recall", "n_in_scope", "n_oos"):
            if report.get(key) is not None:
                lines.append(f"- {key}: {_fmt(report[key])}")
    lines += ["", "## Metrics", ""]
    if metrics:
        rows = {split: values for split, values in metrics.items() if isinstance(values, dict) and "accuracy" in values}
        columns = ["n", "accuracy", "macro_f1", "macro_recall", "ece"] + [
            key for key in ("top3_accuracy", "in_scope_accuracy", "oos_recall", "roc_auc", "average_precision",
                            "f1", "precision", "recall", "threshold")
            if any(values.get(key) is not None for values in rows.values())
        ]
        lines += ["| split | " + " | ".join(columns) + " |", "| --- " * (len(columns) + 1) + "|"]
        for split, values in rows.items():
            lines.append(f"| {split} | " + " | ".join(_fmt(values.get(key)) for key in columns) + " |")
    else:
        lines.append("No evaluation was run at training time.")
    lines += [
        "",
        "## Intended use",
        "Scoring public social-media mentions addressed to a brand's care team (English, tweet-length text), "
        "as one input to the triage decision. Probabilities are calibrated on held-apart validation data.",
        "",
        "## Limits",
        "- Trained on English tweets; other languages, long texts and other channels are out of distribution.",
        "- Sarcasm and domain-specific slang are frequent errors; check the per-class report before relying on a class.",
        "- Calibration holds for data like the validation set; re-check ECE on your own mentions.",
        "",
        "## Reproduce",
        f"`triage train {training.get('recipe', '<recipe>')}`; library versions: "
        + ", ".join(f"{k} {v}" for k, v in config.get("versions", {}).items()),
        "",
    ]
    card = path / CARD
    card.write_text("\n".join(lines), encoding="utf-8")
    return card

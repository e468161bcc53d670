"""From mentions to actions: :class:`TriagePipeline` holds the loaded parts and runs the whole flow on a batch.

The flow, once per batch (a single mention is a batch of one)::

    Mention (validated; a bad row keeps a result with its ``error``)
      -> encode once per distinct encoder, shared by every head and the index     (encode_shared)
      -> heads: intent (with abstention), sentiment, needs_human (+ brand prior), no_reply
      -> duplicate lookup and suggested help link from answered mentions of the brand (MentionIndex, links)
      -> PII scan and redaction                                                    (triage.pii)
      -> policy -> action, link, queue, priority, review, reasons                  (triage.policy)
      -> TriageResult

A pipeline folder holds ``pipeline.yaml`` naming the model folders, the index, the policy and the duplicate
settings; paths are relative to the folder (``models/defaults/pipeline.yaml`` points at the folders that
``make demo`` builds). :meth:`TriagePipeline.save` copies every part into one folder that stands alone.

Example::

    name: default
    version: "1"
    intent: ../intent-bitext-tfidf
    sentiment: ../sentiment-tfidf
    needs_human: ../needs-human-tfidf
    no_reply: ../no-reply-minilm          # optional
    index: ../index-answered              # optional: no duplicate lookup without it
    policy: policy-consumer.yaml
    duplicates: {threshold: 0.9, same_brand: true}

>>> pipeline = TriagePipeline.load("models/defaults")                     # doctest: +SKIP
>>> pipeline.predict([{"id": "1", "text": "@AcmeHelp where is my parcel?"}])[0].action  # doctest: +SKIP
'self_service'
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from triage.classifier import ABSTAIN_LABEL, TextClassifier, encode_shared
from triage.errors import ArtifactError, InputError, TriageError
from triage.pii import pii_types, redact
from triage.policy import Policy, Signals, decide, load_policy
from triage.schema import (
    DuplicateResult,
    IntentResult,
    Mention,
    SentimentResult,
    SuggestedLink,
    TriageResult,
    text_problem,
)
from triage.text import content_words

__all__ = ["PIPELINE_FILE", "DuplicateSettings", "PipelineConfig", "TriagePipeline", "HeadOutputs"]

logger = logging.getLogger(__name__)

PIPELINE_FILE = "pipeline.yaml"
ROLES = ("intent", "sentiment", "needs_human", "no_reply")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DuplicateSettings(_Strict):
    """When a mention repeats an answered one: its nearest stored mention is at least this similar."""

    threshold: float = Field(default=0.9, ge=-1.0, le=1.0, description="Cosine similarity from which it is a repeat.")
    same_brand: bool = Field(default=True, description="Only look among answered mentions of the same brand.")
    min_words: int = Field(
        default=2, ge=0,
        description="Mentions with fewer words besides handles and links (\"@Brand ?\", \"@Brand ok\") repeat nothing "
        "and get no suggested link: their meaning is in the conversation, and their embedding is mostly the handle.")


class PipelineConfig(_Strict):
    """``pipeline.yaml``: which models, index and policy a pipeline uses (paths relative to its folder)."""

    name: str = Field(default="default", min_length=1)
    version: str = Field(default="1", min_length=1)
    intent: str = Field(description="Intent model folder (task intent; may abstain with `unknown`).")
    sentiment: str = Field(description="Sentiment model folder (labels negative, neutral, positive).")
    needs_human: str | None = Field(default=None, description="Needs-human model folder (labels human, self_service).")
    no_reply: str | None = Field(default=None, description="No-reply model folder (labels no_reply, reply).")
    index: str | None = Field(default=None, description="Index of answered mentions (triage index build).")
    policy: str = Field(description="Policy YAML file.")
    help_base_url: str | None = Field(default=None, description="Replaces the policy's help_base_url.")
    duplicates: DuplicateSettings = Field(default_factory=DuplicateSettings)
    intent_top_k: int = Field(default=3, ge=1, le=20, description="Runners-up reported in intent.top.")
    infer_brand: bool = Field(
        default=True,
        description="A mention without a brand addresses the first @handle of its text (not an anonymised all-digit "
        "one): its brand prior and suggested links follow that handle.",
    )


def _read_config(folder: Path) -> PipelineConfig:
    from triage.yaml_config import read_yaml_mapping, validation_message

    file = folder / PIPELINE_FILE if folder.is_dir() else folder
    raw = read_yaml_mapping(
        file, kind="pipeline", error=ArtifactError, example=f"models/defaults/{PIPELINE_FILE}",
        missing_hint=f"a pipeline folder holds {PIPELINE_FILE} (`make demo` writes models/defaults/{PIPELINE_FILE})",
        keys="intent, sentiment, needs_human, no_reply, index, policy",
    )
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise ArtifactError(f"{file}: invalid pipeline config: " + validation_message(exc, PipelineConfig)) from None


@dataclass
class HeadOutputs:
    """What the heads and the index said about a batch of valid mentions (one entry per mention)."""

    intent: list[IntentResult]
    sentiment: list[SentimentResult]
    needs_human: list[float | None]
    no_reply: list[float | None]
    duplicate_of: list[DuplicateResult | None]
    suggested_link: list[SuggestedLink | None]


class TriagePipeline:
    """The loaded parts of the triage flow; :meth:`predict` turns mentions into :class:`TriageResult` s.

    Args:
        intent, sentiment: fitted classifiers (required).
        policy: the :class:`~triage.policy.Policy` that decides.
        needs_human, no_reply: optional fitted classifiers.
        index: an optional :class:`~triage.index.MentionIndex` of answered mentions (duplicate lookup).
        config: the :class:`PipelineConfig` (name, version, duplicate settings); a default one if omitted.
    """

    def __init__(
        self,
        *,
        intent: TextClassifier,
        sentiment: TextClassifier,
        policy: Policy,
        needs_human: TextClassifier | None = None,
        no_reply: TextClassifier | None = None,
        index: Any = None,
        config: PipelineConfig | None = None,
    ) -> None:
        self.intent = intent
        self.sentiment = sentiment
        self.needs_human = needs_human
        self.no_reply = no_reply
        self.index = index
        self.policy = policy
        self.config = config or PipelineConfig(intent="(in memory)", sentiment="(in memory)", policy="(in memory)")
        self._check_parts()

    # -- loading and saving ----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TriagePipeline:
        """Load a pipeline folder (or its ``pipeline.yaml``) and every part it names, once.

        Raises:
            ArtifactError: ``pipeline.yaml`` is missing or invalid, or a part is missing or damaged (the message
                names the key, the path and the fix).
            PolicyError: the policy file is invalid.
        """
        from triage.artifacts import load_classifier

        path = Path(path)
        folder = path if path.is_dir() else path.parent
        config = _read_config(path)

        def resolve(key: str, value: str) -> Path:
            target = Path(value) if Path(value).is_absolute() else (folder / value)
            if not target.exists():
                raise ArtifactError(
                    f"{folder / PIPELINE_FILE}: {key} {value!r} not found (looked at {target.resolve()}); "
                    "build it (`make demo` builds the default parts) or fix the path"
                )
            return target

        models: dict[str, TextClassifier | None] = {}
        for role in ROLES:
            value = getattr(config, role)
            models[role] = None if value is None else load_classifier(resolve(role, value))
        index = None
        if config.index is not None:
            from triage.index import MentionIndex

            index = MentionIndex.load(resolve("index", config.index))
        policy = load_policy(resolve("policy", config.policy), help_base_url=config.help_base_url)
        pipeline = cls(intent=models["intent"], sentiment=models["sentiment"], needs_human=models["needs_human"],
                       no_reply=models["no_reply"], index=index, policy=policy, config=config)
        pipeline.path_ = folder
        logger.info("loaded pipeline %s from %s", pipeline.versions_["pipeline"], folder)
        return pipeline

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Copy every part into ``path`` (``models/<role>/``, ``index/``, ``policy.yaml``) with a ``pipeline.yaml``
        that names them, so the folder stands alone. Written beside, then swapped in: an existing pipeline folder
        at ``path`` is replaced whole only once the new one is complete."""
        from triage.artifacts import replace_folder

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            config = self.config.model_dump()
            for role in ROLES:
                model = getattr(self, role)
                if model is None:
                    config[role] = None
                    continue
                _save_model(model, staging / "models" / role)
                config[role] = f"models/{role}"
            if self.index is not None:
                self.index.save(staging / "index")
                config["index"] = "index"
            (staging / "policy.yaml").write_text(
                yaml.safe_dump(self.policy.model_dump(mode="json", exclude_none=False), sort_keys=False), encoding="utf-8"
            )
            config["policy"] = "policy.yaml"
            config["help_base_url"] = None  # already in the saved policy
            (staging / PIPELINE_FILE).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            if path.exists() and not (path / PIPELINE_FILE).is_file():
                raise InputError(f"{path} exists and is not a pipeline folder; choose another path")
            replace_folder(staging, path)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return path

    # -- checks -----------------------------------------------------------------------------------
    def _check_parts(self) -> None:
        expected = {"sentiment": {"negative", "neutral", "positive"}, "needs_human": {"human", "self_service"},
                    "no_reply": {"no_reply", "reply"}}
        for role, labels in expected.items():
            model = getattr(self, role)
            if model is None:
                continue
            found = {str(c) for c in model.classes_}
            if not labels <= found:
                raise ArtifactError(
                    f"the {role} model has labels {sorted(found)}, expected {sorted(labels)}; "
                    f"point pipeline.yaml's {role} at a {role} model"
                )
        if not isinstance(self.policy, Policy):
            raise InputError(f"policy must be a triage.policy.Policy, found {type(self.policy).__name__}")

    @property
    def versions_(self) -> dict[str, str]:
        """Versions of the pipeline, policy, models and index, as every result carries them."""
        versions = {"pipeline": f"{self.config.name}@{self.config.version}", "policy": self.policy.version_tag}
        for role in ROLES:
            model = getattr(self, role)
            if model is not None:
                versions[role] = _model_version(model)
        if self.index is not None:
            encoder = self.index.encoder.kind if self.index.encoder is not None else "vectors"
            versions["index"] = f"{len(self.index)} answered mentions ({encoder})"
        return versions

    # -- prediction -------------------------------------------------------------------------------
    def heads(self, mentions: Sequence[Mention]) -> HeadOutputs:
        """Run the encoders once, every head and the duplicate lookup on valid mentions."""
        texts = [m.text for m in mentions]
        brands = [m.brand for m in mentions]
        roles = [r for r in ROLES if getattr(self, r) is not None]
        models = [getattr(self, r) for r in roles]
        features = dict(zip(roles, encode_shared(models, texts), strict=True))

        intent = self.intent
        proba = intent.predict_proba_features(features["intent"])
        labels = intent.predict_features(features["intent"])
        classes = [str(c) for c in intent.classes_]
        k = min(self.config.intent_top_k, len(classes))
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        intents = []
        for row, label, top in zip(proba, labels, order, strict=True):
            pairs = [(classes[j], round(float(row[j]), 6)) for j in top]
            confidence = float(row[classes.index(label)]) if label != ABSTAIN_LABEL else float(row[top[0]])
            intents.append(IntentResult(label=str(label), confidence=round(confidence, 6), top=pairs))

        sentiment_proba = self.sentiment.predict_proba_features(features["sentiment"])
        sentiment_classes = [str(c) for c in self.sentiment.classes_]
        sentiments = [
            SentimentResult(label=sentiment_classes[int(np.argmax(row))],
                            scores={c: round(float(p), 6) for c, p in zip(sentiment_classes, row, strict=True)})
            for row in sentiment_proba
        ]
        needs_human: list[float | None] = [None] * len(texts)
        if self.needs_human is not None:
            from triage.needs_human import needs_human_proba

            scores = needs_human_proba(self.needs_human, brands=brands, features=features["needs_human"])
            needs_human = [round(float(p), 6) for p in scores]
        no_reply: list[float | None] = [None] * len(texts)
        if self.no_reply is not None:
            column = [str(c) for c in self.no_reply.classes_].index("no_reply")
            no_reply = [round(float(p), 6) for p in self.no_reply.predict_proba_features(features["no_reply"])[:, column]]
        duplicates, suggestions = self._lookups(mentions, models, features)
        return HeadOutputs(intents, sentiments, needs_human, no_reply, duplicates, suggestions)

    def _lookups(self, mentions: Sequence[Mention], models: list[TextClassifier], features: dict[str, Any]
                 ) -> tuple[list[DuplicateResult | None], list[SuggestedLink | None]]:
        """Per mention: the answered mention it repeats (nearest of the same brand, at least
        ``duplicates.threshold`` similar, with a link) and the help link suggested from the brand's answered
        mentions (:class:`~triage.links.LinkSuggester`; mentions without a brand get none). A mention with fewer
        than ``duplicates.min_words`` words besides handles and links gets neither."""
        index = self.index
        n = len(mentions)
        if index is None or len(index) == 0:
            return [None] * n, [None] * n
        vectors = None
        key = index.encoder.sharing_key() if index.encoder is not None else None
        if key is not None:  # reuse a head's pass when it ran the same encoder on the same normalised texts
            for role, model in zip([r for r in ROLES if getattr(self, r) is not None], models, strict=True):
                same_text = bool(model.normalize) == index.normalize_text and not index.keep_handles
                if model.encoder_.sharing_key() == key and same_text:
                    vectors = features[role]
                    break
        if vectors is None:
            vectors = index.encode([m.text for m in mentions])
        settings = self.config.duplicates
        ids = [m.id for m in mentions]
        brands = [m.brand if settings.same_brand else None for m in mentions]
        neighbours = index.query(None, k=1, vectors=vectors, brand=brands, exclude_ids=ids)
        says_enough = [content_words(m.text) >= settings.min_words for m in mentions]
        duplicates: list[DuplicateResult | None] = []
        for found, enough in zip(neighbours, says_enough, strict=True):
            best = found[0] if found else None
            if best is None or not enough or best.similarity < settings.threshold or not best.link:
                duplicates.append(None)
            else:
                duplicates.append(DuplicateResult(id=best.id, similarity=round(min(1.0, best.similarity), 6),
                                                  link=best.link))
        suggestions: list[SuggestedLink | None] = [None] * n
        branded = [i for i, m in enumerate(mentions) if m.brand and says_enough[i]]
        if self.policy.suggested_link.enabled and branded:
            from triage.links import LinkSuggester

            if getattr(self, "_suggester", None) is None or self._suggester.index is not index:
                self._suggester = LinkSuggester(index)
            found = self._suggester.suggest(vectors=vectors[branded], brands=[mentions[i].brand for i in branded],
                                            k=1, exclude_ids=[ids[i] for i in branded])
            for i, top in zip(branded, found, strict=True):
                if top:
                    best = top[0]
                    suggestions[i] = SuggestedLink(link=best.link, score=round(best.score, 6),
                                                   similarity=None if best.best_similarity is None
                                                   else round(min(1.0, best.best_similarity), 6),
                                                   support=best.support)
        return duplicates, suggestions

    def signals(
        self,
        mentions: Iterable[Mention | Mapping[str, Any]] | Mention | Mapping[str, Any],
        *,
        now: datetime | None = None,
        regions: Sequence[str | None] | None = None,
    ) -> list[Signals | TriageResult]:
        """What the policy gets for each input, in input order: its :class:`~triage.policy.Signals`, or, for a row
        that cannot be triaged, the error result. :meth:`predict` is ``decide`` on these; evaluation reuses them to
        try several policy settings without running the models again."""
        if isinstance(mentions, Mention | Mapping):
            mentions = [mentions]
        rows = list(mentions)
        if regions is not None and len(regions) != len(rows):
            raise InputError(f"{len(rows)} mentions and {len(regions)} regions; give one region (or None) per mention")
        now = now or datetime.now(UTC)
        versions = self.versions_
        out: list[Signals | TriageResult | None] = [None] * len(rows)
        valid: list[tuple[int, Mention]] = []
        seen: set[str] = set()
        for position, row in enumerate(rows):
            mention, problem = _validate(row, position)
            if mention is None:
                out[position] = TriageResult.failed(_row_id(row, position), problem, versions=versions)
            elif mention.id in seen:
                out[position] = TriageResult.failed(
                    mention.id, f"id {mention.id!r} repeats an earlier mention of this batch; ids must be unique",
                    versions=versions)
            else:
                seen.add(mention.id)
                if mention.brand is None and self.config.infer_brand:
                    handle = _addressed_handle(mention.text)
                    if handle is not None:
                        mention = mention.model_copy(update={"brand": handle})
                valid.append((position, mention))
        if valid:
            heads = self.heads([m for _, m in valid])
            threshold = None
            if self.needs_human is not None:
                from triage.needs_human import model_threshold

                threshold = model_threshold(self.needs_human)
            for j, (position, mention) in enumerate(valid):
                try:
                    out[position] = Signals(
                        mention=mention, intent=heads.intent[j], sentiment=heads.sentiment[j],
                        needs_human=heads.needs_human[j], needs_human_threshold=threshold,
                        duplicate_of=heads.duplicate_of[j], no_reply=heads.no_reply[j], pii=pii_types(mention.text),
                        suggested_link=heads.suggested_link[j],
                        region=regions[position] if regions is not None else None, now=now,
                    )
                except (TriageError, ValueError) as exc:  # one mention's bad signal must not sink the batch
                    logger.warning("mention %s could not be triaged: %s", mention.id, exc)
                    out[position] = TriageResult.failed(mention.id, str(exc), versions=versions)
        return [item for item in out if item is not None]

    def decide(self, signals: Signals | TriageResult, *, policy: Policy | None = None) -> TriageResult:
        """The result for one item of :meth:`signals` under this pipeline's policy (or another one)."""
        if isinstance(signals, TriageResult):
            return signals
        policy = policy or self.policy
        versions = {**self.versions_, "policy": policy.version_tag}
        try:
            decision = decide(policy, signals)
        except (TriageError, ValueError) as exc:
            logger.warning("mention %s could not be triaged: %s", signals.mention.id, exc)
            return TriageResult.failed(signals.mention.id, str(exc), versions=versions)
        return decision.to_result(signals, versions=versions, redacted_text=redact(signals.mention.text))

    def predict(
        self,
        mentions: Iterable[Mention | Mapping[str, Any]] | Mention | Mapping[str, Any],
        *,
        now: datetime | None = None,
        regions: Sequence[str | None] | None = None,
    ) -> list[TriageResult]:
        """Triage a batch of mentions: one :class:`TriageResult` per input, in input order.

        Args:
            mentions: :class:`~triage.schema.Mention` objects or dicts with its fields (a single one is a batch
                of one). A row that is not a valid mention, or repeats an id of the batch, gets a result with
                ``error`` set and no action; the others are triaged.
            now: the decision time (crisis windows for mentions without ``created_at``); default: now, UTC.
            regions: per mention, where it comes from (for crisis events), when known.

        Returns:
            A list of results; ``redacted_text`` is the only form of the text they carry.
        """
        return [self.decide(item) for item in self.signals(mentions, now=now, regions=regions)]

    def __repr__(self) -> str:
        return f"TriagePipeline({', '.join(f'{k}={v!r}' for k, v in self.versions_.items())})"


_HANDLE = re.compile(r"(?<![\w@])@(\w{1,15})\b")


def _addressed_handle(text: str) -> str | None:
    """The first @handle of a text that is a name, not an anonymised number (twcs writes customers as @12345)."""
    for match in _HANDLE.finditer(text):
        if not match.group(1).isdigit():
            return match.group(1)
    return None


def _row_id(row: Any, position: int) -> str:
    value = row.get("id") if isinstance(row, Mapping) else getattr(row, "id", None)
    if value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and not value.strip()):
        return f"row {position}"
    return str(value)


def _validate(row: Any, position: int) -> tuple[Mention | None, str]:
    if isinstance(row, Mention):
        return row, ""
    if not isinstance(row, Mapping):
        return None, f"row {position}: expected a mention (a mapping with id and text), found {type(row).__name__}"
    problem = text_problem(row.get("text"))
    if problem is not None:  # the same words as the rest of the library, not pydantic's
        return None, problem
    try:
        return Mention.model_validate(dict(row)), ""
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'mention'}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        return None, problems


def _model_version(model: TextClassifier) -> str:
    config = getattr(model, "config_", None) or {}
    training = config.get("training", {})
    name = training.get("name") or (Path(model.path_).name if getattr(model, "path_", None) else model.task)
    fingerprint = str(training.get("fingerprint", ""))[:12]
    return f"{name}@{fingerprint}" if fingerprint else str(name)


def _save_model(model: TextClassifier, target: Path) -> None:
    """Copy a loaded model's folder as it is (its files keep their sha256); save an in-memory one."""
    source = getattr(model, "path_", None)
    if source is not None and Path(source).is_dir():
        shutil.copytree(source, target)
    else:
        model.save(target)


"""How well the whole pipeline decides: agreement of its actions with what real care teams did.

The reference is the needs-human weak labels of :mod:`triage.weak_labels` (``human``: the brand moved the
customer to a person or a private channel; ``self_service``: it answered publicly with a link or steps) on twcs
threads kept apart from training. For every labelled mention the pipeline's action is compared with the label:

- ``agreement``: ``human`` -> action ``human``, ``self_service`` -> action ``self_service``; every labelled
  mention was answered by its team, so ``no_reply`` agrees with neither (``no_reply_rate`` counts them);
- ``automation_rate``: the share of mentions the pipeline handles without a person (the deflection);
  ``automatic_rate``: the same without the proposals marked ``review`` (a person confirms those);
- ``error_rate``: among the automated mentions, the share a care team gave to a person (the cost of deflecting);
- the confusion matrix (weak label x action) and the deflection curve: automation and error rates as the
  needs-human threshold moves, with the models run once (:meth:`~triage.pipeline.TriagePipeline.signals`).

Conversation context is measured by deciding the same mentions once more with ``in_reply_to`` removed.

Example:
    >>> report = evaluate_pipeline_on_twcs(pipeline, split="test")   # doctest: +SKIP
    >>> report["agreement"], report["automation_rate"]                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from triage.errors import InputError
from triage.metrics import save_figure

if TYPE_CHECKING:
    from triage.pipeline import TriagePipeline
    from triage.policy import Signals
    from triage.schema import TriageResult

__all__ = ["ACTIONS", "twcs_mentions", "action_metrics", "deflection_curve", "evaluate_pipeline",
           "evaluate_pipeline_on_twcs", "plot_deflection"]

logger = logging.getLogger(__name__)

ACTIONS = ("self_service", "no_reply", "human")
AUTOMATED = ("self_service", "no_reply")
DEFAULT_GRID = tuple(round(x, 2) for x in np.linspace(0.05, 0.95, 19))


def twcs_mentions(split: str = "test", *, data_dir: str | os.PathLike[str] | None = None) -> tuple[list[dict], list[str]]:
    """The weakly labelled twcs customer mentions of ``split`` (``all`` or the internal ``train`` /
    ``validation`` / ``test`` threads) as Mention dicts (``id``, ``text``, ``brand``, ``created_at``,
    ``in_reply_to`` from the tweets' own columns) and their labels."""
    from triage.needs_human import needs_human_examples
    from triage.scoring import _mention_id, _time
    from triage.weak_labels import load_twcs_tweets

    examples = needs_human_examples("twcs", split, data_dir=data_dir)
    tweets = load_twcs_tweets(data_dir).set_index("tweet_id")
    mentions = []
    for tweet_id, text, brand in zip(examples.frame["tweet_id"], examples.texts, examples.frame["brand"], strict=True):
        row: dict[str, Any] = {"id": str(tweet_id), "text": text}
        if isinstance(brand, str) and brand:
            row["brand"] = brand
        if tweet_id in tweets.index:
            tweet = tweets.loc[tweet_id]
            if isinstance(tweet.get("created_at"), str):
                row["created_at"] = _time(tweet["created_at"])
            parent = tweet.get("in_response_to_tweet_id")
            if isinstance(parent, str | float | int) and not (isinstance(parent, float) and np.isnan(parent)):
                row["in_reply_to"] = str(_mention_id(parent))
        mentions.append(row)
    return mentions, list(examples.labels)


def action_metrics(labels: Sequence[str], results: Sequence[TriageResult]) -> dict[str, Any]:
    """Agreement, automation and error rates and the confusion matrix of actions against weak labels."""
    if len(labels) != len(results):
        raise InputError(f"{len(labels)} labels for {len(results)} results; give one label per result")
    rows = [(str(y), r.action) for y, r in zip(labels, results, strict=True) if r.error is None]
    n = len(rows)
    if n == 0:
        raise InputError("no mention could be triaged: nothing to evaluate")
    label_names = sorted({y for y, _ in rows})
    confusion = {y: {a: sum(1 for yy, aa in rows if yy == y and aa == a) for a in ACTIONS} for y in label_names}
    # every labelled mention was answered by its team: no_reply agrees with neither label
    agree = sum(1 for y, a in rows if y == a)
    automated = [(y, a) for y, a in rows if a in AUTOMATED]
    wrong = sum(1 for y, _ in automated if y == "human")
    humans = sum(1 for y, _ in rows if y == "human")
    return {
        "n": n,
        "errors": len(results) - n,
        "agreement": agree / n,
        "automation_rate": len(automated) / n,
        "automatic_rate": sum(1 for r in results if r.error is None and r.action in AUTOMATED and not r.review) / n,
        "error_rate": wrong / len(automated) if automated else 0.0,
        "no_reply_rate": sum(1 for _, a in rows if a == "no_reply") / n,
        "human_recall": sum(1 for y, a in rows if y == "human" and a == "human") / humans if humans else None,
        "action_shares": {a: sum(1 for _, aa in rows if aa == a) / n for a in ACTIONS},
        "confusion": confusion,
    }


def deflection_curve(
    pipeline: TriagePipeline, signals: Sequence[Signals | TriageResult], labels: Sequence[str],
    grid: Sequence[float] = DEFAULT_GRID,
) -> list[dict[str, float]]:
    """Automation and error rates for each needs-human threshold of ``grid`` (the rest of the policy as it is)."""
    from triage.policy import NeedsHumanRule

    curve = []
    for threshold in grid:
        policy = pipeline.policy.model_copy(update={"needs_human": NeedsHumanRule(threshold=float(threshold))})
        m = action_metrics(labels, [pipeline.decide(s, policy=policy) for s in signals])
        curve.append({"needs_human_threshold": float(threshold), "automation_rate": m["automation_rate"],
                      "error_rate": m["error_rate"], "agreement": m["agreement"]})
    return curve


def _without_context(signals: Sequence[Signals | TriageResult]) -> list[Signals | TriageResult]:
    from dataclasses import replace

    from triage.policy import Signals

    return [replace(s, mention=s.mention.model_copy(update={"in_reply_to": None})) if isinstance(s, Signals) else s
            for s in signals]


def evaluate_pipeline(
    pipeline: TriagePipeline, mentions: Sequence[dict], labels: Sequence[str], *,
    grid: Sequence[float] = DEFAULT_GRID, plot: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """:func:`action_metrics` at the policy's own setting, the same without conversation context
    (``without_in_reply_to``), the deflection curve, and its PNG when ``plot`` is given."""
    signals = pipeline.signals(mentions)
    results = [pipeline.decide(s) for s in signals]
    report = action_metrics(labels, results)
    plain = action_metrics(labels, [pipeline.decide(s) for s in _without_context(signals)])
    report["without_in_reply_to"] = {k: plain[k] for k in ("agreement", "automation_rate", "error_rate", "human_recall")}
    report["with_in_reply_to"] = sum(1 for m in mentions if m.get("in_reply_to"))
    report["curve"] = deflection_curve(pipeline, signals, labels, grid)
    report["versions"] = pipeline.versions_
    if plot is not None:
        report["deflection_png"] = str(plot_deflection(report["curve"], plot, operating=report))
    return report


def evaluate_pipeline_on_twcs(
    pipeline: TriagePipeline | str | os.PathLike[str], *, split: str = "test",
    data_dir: str | os.PathLike[str] | None = None, plot: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate_pipeline` on the weakly labelled twcs mentions of ``split`` under ``data_dir``."""
    from triage.pipeline import TriagePipeline

    if not isinstance(pipeline, TriagePipeline):
        pipeline = TriagePipeline.load(pipeline)
    mentions, labels = twcs_mentions(split, data_dir=data_dir)
    report = evaluate_pipeline(pipeline, mentions, labels, plot=plot)
    report.update({"dataset": "twcs", "split": split})
    return report


def plot_deflection(curve: Sequence[dict[str, float]], path: str | os.PathLike[str], *,
                    operating: dict[str, Any] | None = None) -> Path:
    """The deflection curve as a PNG: error rate (automated mentions a team gave to a person) against
    automation rate, one point per needs-human threshold, the policy's own setting marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    xs = [p["automation_rate"] for p in curve]
    ys = [p["error_rate"] for p in curve]
    ax.plot(xs, ys, marker="o", color="#2b6cb0", label="needs-human threshold sweep")
    for p in curve[:: max(1, len(curve) // 6)]:
        ax.annotate(f"{p['needs_human_threshold']:.2f}", (p["automation_rate"], p["error_rate"]), fontsize=7,
                    textcoords="offset points", xytext=(4, -10))
    if operating is not None:
        ax.scatter([operating["automation_rate"]], [operating["error_rate"]], s=90, color="#c53030", zorder=3,
                   label=f"policy as shipped (agreement {operating['agreement']:.2f})")
    ax.set_xlabel("automation rate (share of mentions handled without a person)")
    ax.set_ylabel("error rate (automated, but the team gave it to a person)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(0.6, max(ys, default=0) + 0.05))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Deflection curve on held-out twcs threads")
    return save_figure(fig, path, dpi=120)

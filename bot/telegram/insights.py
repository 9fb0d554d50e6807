"""What the newsroom learns from its readers: the /stats chart and the
/unanswered groups. Pure functions over the chat state and the store."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from retrieval.model.embedder import Embedder


def last_days(days: int, today: datetime | None = None) -> list[str]:
    today = today or datetime.now(UTC)
    return [(today - timedelta(days=i)).strftime("%Y-%m-%d") for i in range(days - 1, -1, -1)]


CHART_LABELS = ("title", "questions", "answered", "added")


def chart_png(
    days: Sequence[str],
    questions: Sequence[int],
    answered: Sequence[int],
    added: Sequence[int],
    *,
    labels: Mapping[str, str] | None = None,
    rtl: bool = False,
    day_label: Callable[[str], str] = lambda d: d[5:],
) -> bytes:
    """A small three-panel PNG: questions per day, the share answered, articles
    added. ``labels`` name the panels (:data:`CHART_LABELS`) in the reader's
    language; ``rtl`` lays the chart out right to left (time runs leftwards, the
    axis labels on the right). Matplotlib shapes Arabic text itself (libraqm)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    label = {"title": f"Last {len(days)} days (UTC)", "questions": "questions",
             "answered": "answered", "added": "articles added", **(labels or {})}  # fmt: skip
    fig = Figure(figsize=(7, 5.2), dpi=100)
    axes = fig.subplots(3, 1, sharex=True)
    x = np.arange(len(days))
    share = [a / q if q else np.nan for q, a in zip(questions, answered, strict=True)]
    axes[0].bar(x, questions, color="#3b6ea5")
    axes[0].set_ylabel(label["questions"])
    axes[1].plot(x, share, marker="o", markersize=3, color="#2e8b57")
    axes[1].set_ylim(0, 1.05)
    axes[1].set_ylabel(label["answered"])
    axes[2].bar(x, added, color="#b5651d")
    axes[2].set_ylabel(label["added"])
    ticks = list(range(0, len(days), max(1, len(days) // 6)))
    axes[2].set_xticks(ticks, [day_label(days[i]) for i in ticks])
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
        if rtl:
            ax.yaxis.tick_right()
            ax.yaxis.set_label_position("right")
            ax.yaxis.label.set(rotation=-90, verticalalignment="bottom")  # reads downwards
            ax.spines[["top", "left"]].set_visible(False)
        else:
            ax.spines[["top", "right"]].set_visible(False)
    if rtl:
        axes[2].invert_xaxis()  # shared: every panel's time runs right to left
    fig.suptitle(label["title"])
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


@dataclass(frozen=True)
class Group:
    example: str  # the most recent question of the group
    count: int
    others: tuple[str, ...]
    members: tuple[int, ...] = ()  # positions of the group's questions in the input


def group_questions(
    questions: Sequence[str], embedder: Embedder, threshold: float = 0.88, limit: int = 10
) -> list[Group]:
    """Questions grouped by meaning (greedy, by cosine to each group's first, i.e.
    most recent, question), most frequent first."""
    kept = [i for i, q in enumerate(questions) if q.strip()]
    texts = [questions[i].strip() for i in kept]
    if not texts:
        return []
    vectors = embedder.embed_queries(texts)
    leaders: list[int] = []
    members: dict[int, list[int]] = {}
    for i, v in enumerate(vectors):
        if leaders:
            sims = vectors[leaders] @ v
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                members[leaders[best]].append(i)
                continue
        leaders.append(i)
        members[i] = [i]
    groups = [
        Group(
            texts[lead],
            len(idx),
            tuple(dict.fromkeys(texts[j] for j in idx[1:]))[:3],
            tuple(kept[j] for j in idx),
        )
        for lead, idx in members.items()
    ]
    groups.sort(key=lambda g: -g.count)  # stable: among equals, the most recent first
    return groups[:limit]

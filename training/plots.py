"""PNG plots of a training run and of retrieval recall, for reports and the admin.

Figures are built with matplotlib's object interface and the Agg canvas: no global pyplot state,
so two threads (or a web process) can draw at once, and no display is needed.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from training.evaluation import RECALL_KS


def loss_curves_png(history: Sequence[Mapping[str, Any]]) -> bytes:
    """Training loss per epoch and, where measured, validation recall@5 both ways."""
    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    epochs = [entry["epoch"] for entry in history]
    axes.plot(epochs, [entry["train_loss"] for entry in history], marker="o", color="tab:blue", label="train loss")
    axes.set_xlabel("epoch")
    axes.set_ylabel("contrastive loss")
    axes.grid(alpha=0.3)
    recall_keys = [key for key in ("val_t2i_recall@5", "val_i2t_recall@5") if history and key in history[0]]
    if recall_keys:
        recall_axes = axes.twinx()
        for key, colour in zip(recall_keys, ("tab:orange", "tab:green"), strict=False):
            recall_axes.plot(epochs, [entry[key] for entry in history], marker="s", color=colour, label=key)
        recall_axes.set_ylabel("validation recall@5")
        recall_axes.set_ylim(0, 1.02)
        lines, labels = axes.get_legend_handles_labels()
        more_lines, more_labels = recall_axes.get_legend_handles_labels()
        axes.legend(lines + more_lines, labels + more_labels, loc="center right", fontsize="small")
    else:
        axes.legend(loc="upper right", fontsize="small")
    axes.set_title("Training")
    return _png(figure)


def recall_png(series: Mapping[str, Mapping[str, float]], title: str = "Recall@k, whole split") -> bytes:
    """Grouped bars of recall@1/5/10 in both directions, one bar per labelled model (e.g. before, after)."""
    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    names = [f"{direction}_recall@{k}" for direction in ("t2i", "i2t") for k in RECALL_KS]
    labels = list(series)
    width = 0.8 / max(1, len(labels))
    for index, label in enumerate(labels):
        positions = [slot + (index - (len(labels) - 1) / 2) * width for slot in range(len(names))]
        values = [series[label].get(name, 0.0) for name in names]
        bars = axes.bar(positions, values, width=width, label=label)
        axes.bar_label(bars, labels=[f"{value:.2f}" for value in values], fontsize="x-small", padding=1)
    axes.set_xticks(range(len(names)))
    axes.set_xticklabels([name.replace("_recall", "\nrecall") for name in names], fontsize="small")
    axes.set_ylim(0, 1.1)
    axes.set_ylabel("recall")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")
    axes.set_title(title)
    return _png(figure)


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

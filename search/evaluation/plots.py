"""A PNG of a search evaluation: per mode, nDCG@10, recall@24 and MRR for each kind of query.

Drawn when the report is made, by the command (workers and development checkouts install
matplotlib; web images do not), and stored with it, so the admin shows it without matplotlib.
Figures use matplotlib's object interface and the Agg canvas, as training/plots.py does.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from search.evaluation.runs import MRR, NDCG, RECALL

METRICS = (NDCG, RECALL, MRR)


def modes_png(
    modes: Mapping[str, Mapping[str, float]], kinds: Mapping[str, Mapping[str, Mapping[str, float]]]
) -> bytes:
    """One panel per mode: grouped bars of the three metrics, for all queries and for each kind."""
    figure = Figure(figsize=(9.6, 2.8 * max(1, len(modes))), dpi=100)
    for row, mode in enumerate(modes, 1):
        axes = figure.add_subplot(len(modes), 1, row)
        groups = {"all": modes[mode], **kinds.get(mode, {})}
        width = 0.8 / len(METRICS)
        for index, metric in enumerate(METRICS):
            positions = [slot + (index - (len(METRICS) - 1) / 2) * width for slot in range(len(groups))]
            values = [float(figures.get(metric, 0.0)) for figures in groups.values()]
            axes.bar(positions, values, width=width, label=metric)
        axes.set_xticks(range(len(groups)))
        axes.set_xticklabels(
            [
                f"{name}\n({int(figures.get('queries', 0))})" if name != "all" else "all"
                for name, figures in groups.items()
            ],
            fontsize="x-small",
        )
        axes.set_ylim(0, 1.05)
        axes.grid(axis="y", alpha=0.3)
        axes.set_title(f"{mode}", fontsize="small")
        axes.legend(loc="upper right", fontsize="x-small", ncols=3)
    FigureCanvasAgg(figure)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

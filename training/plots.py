"""Charts logged with every training run: lift curve, calibration, PR curve, importances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from training.metrics import lift_curve, reliability_curve


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    return plt, fig, ax


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_charts(
    folder: Path,
    curves: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]],
    importances: dict[str, pd.Series],
) -> dict[str, Path]:
    """Write the PNG charts into `folder`; returns name -> path."""
    from sklearn.metrics import precision_recall_curve

    folder.mkdir(parents=True, exist_ok=True)
    charts: dict[str, Path] = {}
    for target, (labels, scored) in curves.items():
        plt, fig, ax = _figure()
        for name, scores in scored.items():
            curve = lift_curve(labels, scores)
            ax.plot(curve["share"] * 100, curve["lift"], marker=".", label=name)
        ax.axhline(1, color="grey", lw=0.8)
        ax.set(xlabel="top % of customers by score", ylabel="cumulative lift",
               title=f"lift curve: {target}")  # fmt: skip
        ax.legend()
        charts[f"lift_{target}"] = _save(plt, fig, folder / f"lift_{target}.png")
        plt, fig, ax = _figure()
        for name, scores in scored.items():
            curve = reliability_curve(labels, scores)
            ax.plot(curve["mean_score"], curve["observed"], marker="o", label=name)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfectly calibrated")
        ax.set(xlabel="mean predicted probability", ylabel="observed rate",
               title=f"reliability (calibration): {target}")  # fmt: skip
        ax.legend()
        charts[f"calibration_{target}"] = _save(plt, fig, folder / f"calibration_{target}.png")
        plt, fig, ax = _figure()
        for name, scores in scored.items():
            if len(np.unique(labels)) == 2:
                precision, recall, _ = precision_recall_curve(labels, scores)
                ax.plot(recall, precision, label=name)
        ax.set(xlabel="recall", ylabel="precision", title=f"precision-recall: {target}")
        ax.legend()
        charts[f"pr_{target}"] = _save(plt, fig, folder / f"pr_{target}.png")
    for name, importance in importances.items():
        top = importance.head(20)[::-1]
        plt, fig, ax = _figure()
        ax.barh(top.index, top.to_numpy())
        ax.set(xlabel="gain", title=f"feature importance: {name}")
        ax.tick_params(axis="y", labelsize=7)
        charts[f"importance_{name}"] = _save(plt, fig, folder / f"importance_{name}.png")
    return charts

"""Plotting helpers for the notebooks: seaborn figures that read without the code.

Every helper takes a tidy DataFrame, requires a title and axis labels (with units), and returns
the matplotlib ``Figure``; :func:`save_figure` writes it as PNG and SVG.

Example:
    >>> import pandas as pd, tempfile
    >>> df = pd.DataFrame({"mode": ["rule", "hybrid"], "f1": [0.8, 0.9]})
    >>> fig = bar(df, x="mode", y="f1", title="F1 per verifier mode", xlabel="mode", ylabel="F1 (0-1)")
    >>> [p.suffix for p in save_figure(fig, "f1", tempfile.mkdtemp())]
    ['.png', '.svg']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

if not matplotlib.get_backend().lower().startswith(("module://matplotlib_inline", "nbagg", "widget", "ipympl")):
    matplotlib.use("Agg")  # headless outside a notebook kernel: scripts and tests have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# Hard (rule) and soft (llm) constraints keep one colour in every figure, whichever comes first in the data:
# seaborn's colorblind orange and blue.
KIND_COLORS: dict[str, tuple[float, float, float]] = {
    "rule": sns.color_palette("colorblind")[1],
    "llm": sns.color_palette("colorblind")[0],
}


def kind_palette(values: Sequence[str]) -> dict[str, tuple[float, float, float]] | None:
    """Colours for hue values that name constraint kinds (``rule``, ``llm (soft)``, ...); None if some value
    names no kind.

    Example:
        >>> palette = kind_palette(["llm (soft)", "rule (hard)"])
        >>> palette["rule (hard)"] == KIND_COLORS["rule"], palette["llm (soft)"] == KIND_COLORS["llm"]
        (True, True)
        >>> kind_palette(["rule", "hybrid"]) is None
        True
    """
    palette = {}
    for value in values:
        kind = str(value).split()[0] if str(value).strip() else ""
        if kind not in KIND_COLORS:
            return None
        palette[value] = KIND_COLORS[kind]
    return palette or None


def _hue_colours(df: pd.DataFrame, hue: str | None) -> dict[str, Any]:
    """``palette`` and ``hue_order`` for seaborn: fixed colours and rule-first order when the hue is a kind."""
    if hue is None:
        return {}
    values = list(dict.fromkeys(df[hue].dropna()))
    palette = kind_palette(values)
    if palette is None:
        return {}
    return {"palette": palette, "hue_order": sorted(values, key=lambda v: list(KIND_COLORS).index(str(v).split()[0]))}


def set_theme() -> None:
    """One look for every notebook figure (seaborn whitegrid, readable font sizes).

    Example:
        >>> set_theme()
    """
    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight", "svg.fonttype": "none"})


def _outside_legend(ax, legend_title: str | None) -> None:
    """Legend to the right of the axes, where it cannot hide bars or lines."""
    if ax.get_legend() is not None:
        sns.move_legend(
            ax,
            "upper left",
            bbox_to_anchor=(1.01, 1),
            frameon=False,
            title=legend_title if legend_title is not None else ax.get_legend().get_title().get_text(),
        )


def _finish(fig: Figure, ax, title: str, xlabel: str, ylabel: str, legend_title: str | None = None) -> Figure:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _outside_legend(ax, legend_title)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, name: str, figures_dir: str | Path, dpi: int = 120) -> list[Path]:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` and ``.svg``; returns both paths.

    The figure stays open so the notebook still shows it inline.

    Example:
        >>> import tempfile
        >>> fig, _ = plt.subplots()
        >>> len(save_figure(fig, "empty", tempfile.mkdtemp()))
        2
    """
    if not _NAME.match(name):
        raise ValueError(f"figure name {name!r}: use letters, digits, '.', '-', '_' (it becomes a file name)")
    folder = Path(figures_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.svg"]
    fig.savefig(paths[0], dpi=dpi)
    fig.savefig(paths[1])
    return paths


def bar(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    hue: str | None = None,
    horizontal: bool = False,
    order: Sequence[str] | None = None,
    ylim: tuple[float, float] | None = None,
    annotate: bool = True,
    width: float = 7.0,
    height: float = 4.0,
) -> Figure:
    """Bars of ``y`` per ``x`` (optionally split by ``hue``), values written on the bars.

    With ``horizontal=True`` the categories run down the y axis (long names stay readable);
    ``xlabel``/``ylabel`` always describe the category axis and the value axis respectively.

    Example:
        >>> df = pd.DataFrame({"group": ["length", "format"], "n": [3, 5]})
        >>> bar(df, "group", "n", title="t", xlabel="group", ylabel="constraints").axes[0].get_title()
        't'
    """
    fig, ax = plt.subplots(figsize=(width, height))
    if horizontal:
        sns.barplot(data=df, y=x, x=y, hue=hue, order=order, ax=ax, orient="h", errorbar=None, **_hue_colours(df, hue))
        if ylim:
            ax.set_xlim(*ylim)
        ax.set_title(title)
        ax.set_ylabel(xlabel)
        ax.set_xlabel(ylabel)
    else:
        sns.barplot(data=df, x=x, y=y, hue=hue, order=order, ax=ax, errorbar=None, **_hue_colours(df, hue))
        if ylim:
            ax.set_ylim(*ylim)
        ax.tick_params(axis="x", labelrotation=30 if df[x].astype(str).str.len().max() > 8 else 0)
    if pd.api.types.is_integer_dtype(df[y]):  # counts: no 0.25-record ticks
        (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    if annotate:
        for container in ax.containers:
            ax.bar_label(container, fmt="%.3g", fontsize=8, padding=2)
    if horizontal:
        _outside_legend(ax, hue)
        fig.tight_layout()
        return fig
    return _finish(fig, ax, title, xlabel, ylabel, legend_title=hue)


def histogram(
    df: pd.DataFrame,
    x: str,
    *,
    title: str,
    xlabel: str,
    ylabel: str = "count",
    hue: str | None = None,
    bins: int | str = "auto",
    log_x: bool = False,
    width: float = 7.0,
    height: float = 4.0,
) -> Figure:
    """Distribution of ``x`` (optionally one layer per ``hue``).

    Example:
        >>> df = pd.DataFrame({"words": [10, 20, 20, 40]})
        >>> histogram(df, "words", title="t", xlabel="words").axes[0].get_xlabel()
        'words'
    """
    fig, ax = plt.subplots(figsize=(width, height))
    sns.histplot(
        data=df,
        x=x,
        hue=hue,
        bins=bins,
        ax=ax,
        log_scale=log_x,
        element="step" if hue else "bars",
        **_hue_colours(df, hue),
    )
    return _finish(fig, ax, title, xlabel, ylabel)


def lines(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    hue: str | None = None,
    markers: bool = True,
    ylim: tuple[float, float] | None = None,
    width: float = 7.0,
    height: float = 4.0,
) -> Figure:
    """Curves of ``y`` over ``x`` (e.g. reward per training step), one per ``hue``.

    Example:
        >>> df = pd.DataFrame({"step": [1, 2], "reward": [0.2, 0.4]})
        >>> lines(df, "step", "reward", title="t", xlabel="step", ylabel="reward").axes[0].get_ylabel()
        'reward'
    """
    fig, ax = plt.subplots(figsize=(width, height))
    sns.lineplot(data=df, x=x, y=y, hue=hue, marker="o" if markers else None, ax=ax, errorbar=None)
    if pd.api.types.is_integer_dtype(df[x]):  # steps: no step 1.5
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ylim:
        ax.set_ylim(*ylim)
    return _finish(fig, ax, title, xlabel, ylabel, legend_title=hue)


# The training log's reward columns, in legend order: the reward a step's completions got, then its components.
REWARD_COLUMNS: tuple[str, ...] = ("reward", "verif/rule_score", "verif/judge_score", "verif/unverifiable")


def reward_components(steps: pd.DataFrame) -> pd.DataFrame:
    """Tidy ``step, component, value`` rows of the reward and its logged components. Columns equal at every step
    are one curve, labelled with all their names (``reward = verif/rule_score`` in rule mode), so no line hides
    exactly under another.

    Example:
        >>> steps = pd.DataFrame({"step": [1, 2], "reward": [0.2, 0.4], "verif/rule_score": [0.2, 0.4]})
        >>> reward_components(steps)["component"].unique().tolist()
        ['reward = verif/rule_score']
    """
    present = [c for c in REWARD_COLUMNS if c in steps and steps[c].notna().any()]
    groups: list[list[str]] = []
    for column in present:
        same = next((g for g in groups if steps[g[0]].round(9).equals(steps[column].round(9))), None)
        if same is None:
            groups.append([column])
        else:
            same.append(column)
    frame = steps[["step", *present]].rename(columns={g[0]: " = ".join(g) for g in groups})
    kept = [" = ".join(g) for g in groups]
    return frame.melt(id_vars="step", value_vars=kept, var_name="component", value_name="value").dropna()


def heatmap(
    table: pd.DataFrame,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    fmt: str = ".2f",
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    colorbar_label: str = "",
    missing_label: str = "n/a",
    width: float = 8.0,
    height: float | None = None,
) -> Figure:
    """A matrix (rows x columns) as a heatmap with its values written in the cells; NaN cells are grey
    and say ``missing_label``.

    Example:
        >>> t = pd.DataFrame({"rule": [1.0, 0.5]}, index=["empty", "echo"])
        >>> heatmap(t, title="t", xlabel="mode", ylabel="probe").axes[0].get_title()
        't'
    """
    height = height or max(2.5, 0.45 * len(table) + 1.5)
    fig, ax = plt.subplots(figsize=(width, height))
    values = table.astype(float)
    sns.heatmap(
        values,
        annot=True,
        fmt=fmt,
        vmin=vmin,
        vmax=vmax,
        cmap=cmap,
        ax=ax,
        cbar_kws={"label": colorbar_label} if colorbar_label else None,
        linewidths=0.5,
    )
    ax.grid(False)
    ax.set_facecolor("#eeeeee")  # an empty cell is "no value", never a colour of the scale
    for (i, j), missing in np.ndenumerate(values.isna().to_numpy()):
        if missing:
            ax.text(j + 0.5, i + 0.5, missing_label, ha="center", va="center", color="#777777", fontsize=9)
    return _finish(fig, ax, title, xlabel, ylabel)


def scatter(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    hue: str | None = None,
    diagonal: bool = False,
    width: float = 6.0,
    height: float = 5.0,
) -> Figure:
    """Points of ``y`` against ``x``; ``diagonal`` draws y = x (e.g. judge probability vs. truth).

    Example:
        >>> df = pd.DataFrame({"a": [0.1, 0.9], "b": [0.2, 0.8]})
        >>> scatter(df, "a", "b", title="t", xlabel="a", ylabel="b", diagonal=True).axes[0].get_xlabel()
        'a'
    """
    fig, ax = plt.subplots(figsize=(width, height))
    sns.scatterplot(data=df, x=x, y=y, hue=hue, ax=ax)
    if diagonal:
        lo = min(df[x].min(), df[y].min())
        hi = max(df[x].max(), df[y].max())
        ax.plot([lo, hi], [lo, hi], ls="--", color="grey", lw=1, label="y = x")
        ax.legend()
    return _finish(fig, ax, title, xlabel, ylabel, legend_title=hue)


__all__ = [
    "KIND_COLORS",
    "REWARD_COLUMNS",
    "bar",
    "heatmap",
    "histogram",
    "kind_palette",
    "lines",
    "reward_components",
    "save_figure",
    "scatter",
    "set_theme",
]

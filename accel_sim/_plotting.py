"""Figures without pyplot: library code draws on :class:`matplotlib.figure.Figure` objects,
so it never switches the caller's matplotlib backend (``matplotlib.use``) or registers
figures with pyplot; ``Figure.savefig`` writes PNGs with the Agg renderer by itself."""

from __future__ import annotations

from typing import Any

__all__ = ["subplots"]


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    """``(figure, axes)`` like ``pyplot.subplots`` (``figsize`` and ``dpi`` go to the
    figure, the rest to :meth:`Figure.subplots`)."""
    from matplotlib.figure import Figure

    fig_kw = {k: kwargs.pop(k) for k in ("figsize", "dpi", "layout") if k in kwargs}
    fig = Figure(**fig_kw)
    return fig, fig.subplots(nrows, ncols, **kwargs)

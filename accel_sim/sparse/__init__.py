"""N:M and transposable N:M sparsity masks (Hubara et al., NeurIPS 2021)."""

from __future__ import annotations

from ._masks import mask_diversity, nm_mask, transposable_mask

__all__ = ["mask_diversity", "nm_mask", "transposable_mask"]

"""N:M and transposable N:M sparsity masks and sparse training of the digits networks."""

from __future__ import annotations

from ._masks import mask_diversity, nm_mask, transposable_mask
from ._training import (
    FLGW,
    NM,
    Dense,
    Scheme,
    TrainingRun,
    TrainResult,
    flgw_mask,
    padded_nm_mask,
    padded_transposable_mask,
    sparse_train,
    sparse_training_accuracy,
    training_accuracy,
)

__all__ = [
    "FLGW",
    "NM",
    "Dense",
    "Scheme",
    "TrainResult",
    "TrainingRun",
    "flgw_mask",
    "mask_diversity",
    "nm_mask",
    "padded_nm_mask",
    "padded_transposable_mask",
    "sparse_train",
    "sparse_training_accuracy",
    "training_accuracy",
    "transposable_mask",
]

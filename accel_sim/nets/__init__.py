"""Functional models: networks with shipped weights and their data sets, run in numpy.

``digits``: scikit-learn's 8x8 digits and the ``digits_mlp`` / ``digits_cnn`` networks
(forward pass with a hook for every weight product, accuracy, the fixed train/test split);
``digits_train``: their backward pass. Devices use them for accuracy; ``workloads`` builds
the networks' traces.
"""

from __future__ import annotations

from .digits import (
    LAYERS,
    NETWORKS,
    MatmulHook,
    accuracy,
    forward,
    load_digits,
    load_weights,
    split,
    weight_shapes,
    weights_info,
)

__all__ = ["LAYERS", "NETWORKS", "MatmulHook", "accuracy", "forward", "load_digits",
           "load_weights", "split", "weight_shapes", "weights_info"]

"""Export scikit-learn's 8x8 digits to ``accel_sim/nets/data/digits.npz`` (run once; needs sklearn).

The file holds ``X`` (1797, 64) uint8 pixel values 0..16 (row-major 8x8 images) and ``y``
(1797,) uint8 labels 0..9, in scikit-learn's order. The runtime loader
(``accel_sim.nets.digits.load_digits``) reads this file and never imports scikit-learn.

Usage: ``python tools/export_digits.py [-o accel_sim/nets/data/digits.npz]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DEFAULT_OUT = (Path(__file__).resolve().parents[1] / "accel_sim" / "nets" / "data"
               / "digits.npz")


def export(out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Write the npz and return ``(X, y)`` as stored."""
    from sklearn.datasets import load_digits

    data = load_digits()
    X = np.asarray(data.data)
    y = np.asarray(data.target)
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert np.array_equal(np.round(X), X) and X.min() >= 0 and X.max() <= 16
    assert y.min() >= 0 and y.max() <= 9
    X8, y8 = X.astype(np.uint8), y.astype(np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, X=X8, y=y8)
    return X8, y8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    out = ap.parse_args().output
    X, y = export(out)
    print(f"wrote {out}: X {X.shape} {X.dtype}, y {y.shape} {y.dtype}, "
          f"{out.stat().st_size} bytes")


if __name__ == "__main__":
    main()

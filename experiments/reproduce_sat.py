"""Reproduce SAT / BDWP (TCAD 2023): N:M training speedup and accuracy.

Same as ``accel-sim reproduce sat [--quick] -o DIR``; see
``accel_sim/reproduce/sat.py`` for what is compared and why we differ.

Usage: ``python experiments/reproduce_sat.py [--quick] [-o results/sat]``
"""

from __future__ import annotations

from _reproduce_main import main

if __name__ == "__main__":
    main("sat", __doc__.splitlines()[0])

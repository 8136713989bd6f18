"""Reproduce AMPER (ICCAD 2022): replay latency, speedup over GPU PER, energy, DQN learning.

Same as ``accel-sim reproduce amper [--quick] -o DIR``; see
``accel_sim/reproduce/amper.py`` for what is compared and why we differ.

Usage: ``python experiments/reproduce_amper.py [--quick] [-o results/amper]``
"""

from __future__ import annotations

from _reproduce_main import main

if __name__ == "__main__":
    main("amper", __doc__.splitlines()[0])

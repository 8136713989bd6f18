"""Reproduce Duplex (MICRO 2024): xPU + Logic-PIM for MoE/GQA LLM serving.

Same as ``accel-sim reproduce duplex [--quick] -o DIR``; see
``accel_sim/reproduce/duplex.py`` for what is compared and why we differ.

Usage: ``python experiments/reproduce_duplex.py [--quick] [-o results/duplex]``
"""

from __future__ import annotations

from _reproduce_main import main

if __name__ == "__main__":
    main("duplex", __doc__.splitlines()[0])

"""Reproduce LearningGroup (FPT 2022): throughput, speedup, GPU comparison, FLGW accuracy.

Same as ``accel-sim reproduce learning-group [--quick] -o DIR``; see
``accel_sim/reproduce/learning_group.py`` for what is compared and why we differ.

Usage: ``python experiments/reproduce_learning_group.py [--quick] [-o results/learning-group]``
"""

from __future__ import annotations

from _reproduce_main import main

if __name__ == "__main__":
    main("learning-group", __doc__.splitlines()[0])

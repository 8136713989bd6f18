"""Reproduce Xiao et al. 2022 (analog accuracy trends) on the digits networks.

Same as ``accel-sim reproduce analog-xiao [--quick] -o DIR``; see
``accel_sim/reproduce/analog_xiao.py`` for what is compared and why we differ.

Usage: ``python experiments/reproduce_analog_xiao.py [--quick] [-o results/analog-xiao]``
"""

from __future__ import annotations

from _reproduce_main import main

if __name__ == "__main__":
    main("analog-xiao", __doc__.splitlines()[0])

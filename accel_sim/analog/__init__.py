"""Analog in-memory matrices without a network: :class:`AnalogMatrix` programs a real matrix
onto the ``analog`` device's crossbars (any of its parameters) and simulates products with it.

>>> import numpy as np
>>> from accel_sim.analog import AnalogMatrix
>>> A = AnalogMatrix(np.eye(4), {"adc_bits": 8, "read_noise_sigma": 0.01}, seed=0)
>>> y = A @ np.ones(4)   # simulated; A.ideal @ x is exact
"""

from __future__ import annotations

from ..devices.analog import AnalogMatrix

__all__ = ["AnalogMatrix"]

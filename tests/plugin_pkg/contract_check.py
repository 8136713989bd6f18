"""Run inside the plug-in test: the third-party device passes accel_sim's contract."""

from accel_sim_toy_plugin import ToyMacArray

from accel_sim.testing import DeviceContract


class TestToyContract(DeviceContract):
    device_class = ToyMacArray

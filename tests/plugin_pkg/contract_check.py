"""Run inside the plug-in test: the third-party device, serving system and workload pass
accel_sim's shipped contracts."""

from accel_sim_toy_plugin import ToyMacArray
from accel_sim_toy_plugin.serving import ToyServer

from accel_sim.testing import DeviceContract, ServingSystemContract, WorkloadContract


class TestToyContract(DeviceContract):
    device_class = ToyMacArray


class TestToyServerContract(DeviceContract):
    device_class = ToyServer


class TestToyServerServing(ServingSystemContract):
    device_class = ToyServer


class TestToyWorkload(WorkloadContract):
    workload_name = "toy_mlp"

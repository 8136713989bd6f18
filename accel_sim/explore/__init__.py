"""Design-space exploration with Optuna: search spaces derived from device declarations,
multi-objective Bayesian optimisation with constraints, resumable and parallel studies.

>>> from accel_sim.explore import ExploreSpec, Explorer, Objective
>>> spec = ExploreSpec(workloads=("resnet50",), device="systolic", trials=50,
...                    objectives=(Objective.parse("latency"), Objective.parse("energy")))
>>> result = Explorer(spec).run()                                     # doctest: +SKIP
"""

from __future__ import annotations

from ._outputs import (
    ExplorationData,
    collect,
    draw_hypervolume,
    draw_pareto,
    pareto_table,
    write_outputs,
)
from ._pareto import hypervolume, hypervolume_history, pareto_mask
from ._run import Explorer, ExploreResult, TimedSampler, make_sampler, open_storage
from ._space import Dimension, SearchSpace
from ._spec import Constraint, ExploreSpec, Objective, load_spec_file

__all__ = [
    "Constraint",
    "Dimension",
    "ExplorationData",
    "ExploreResult",
    "ExploreSpec",
    "Explorer",
    "Objective",
    "SearchSpace",
    "TimedSampler",
    "collect",
    "draw_hypervolume",
    "draw_pareto",
    "hypervolume",
    "hypervolume_history",
    "load_spec_file",
    "make_sampler",
    "open_storage",
    "pareto_mask",
    "pareto_table",
    "write_outputs",
]

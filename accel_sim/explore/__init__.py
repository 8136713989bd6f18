"""Design-space exploration with Optuna: search spaces derived from device declarations,
multi-objective Bayesian optimisation with constraints, resumable and parallel studies.

>>> from accel_sim.explore import ExploreSpec, Explorer, Objective
>>> spec = ExploreSpec(workloads=("resnet50",), device="systolic", trials=50,
...                    objectives=(Objective.parse("latency"), Objective.parse("energy")))
>>> result = Explorer(spec).run()                                     # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from ._gp import ParEgoSampler
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
    "ParEgoSampler",
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

__getattr__, __dir__ = lazy_names(__name__, {
    "ExplorationData": "_outputs", "collect": "_outputs", "draw_hypervolume": "_outputs",
    "draw_pareto": "_outputs", "pareto_table": "_outputs", "write_outputs": "_outputs",
    "ParEgoSampler": "_gp",
    "hypervolume": "_pareto", "hypervolume_history": "_pareto", "pareto_mask": "_pareto",
    "Explorer": "_run", "ExploreResult": "_run", "open_storage": "_run",
    "TimedSampler": "_run", "make_sampler": "_run",
    "Dimension": "_space", "SearchSpace": "_space",
    "Constraint": "_spec", "ExploreSpec": "_spec", "Objective": "_spec",
    "load_spec_file": "_spec",
})

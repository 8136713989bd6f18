"""Speed of the FPGA sparse-training devices and of the functional sparse training.

1. One training-step evaluation: ``learning_group`` on IC3Net (A=4, B=1) and ``sat`` on
   ResNet-50 (batch 32), as ratios to the ``systolic`` device evaluating the same trace in the
   same run.
2. Sweeps: ``learning_group`` over G x A x B (5 x 8 x 32 = 1,280 points, a fresh trace per
   (A, B)) and ``sat`` over N:M x rows x cols x dataflow (7 x 7 x 7 x 3 = 1,029 points).
3. Functional training of the digits MLP and CNN (full epochs) under each scheme, as ratios to
   dense training in the same run.

Usage: ``python benchmarks/bench_sparse_training.py``
"""

from __future__ import annotations

import itertools
import time
from functools import partial

from _timing import median_time

from accel_sim import make_device, training_trace
from accel_sim.sparse import FLGW, NM, Dense, sparse_train
from workloads import load_workload


def main() -> None:
    ic3 = training_trace(load_workload("ic3net:agents=4,batch=1"))
    rn50 = training_trace(load_workload("resnet50:batch=32"))
    print("1. one training-step evaluation (median)")
    for name, params, trace in (("learning_group", {"groups": 4}, ic3),
                                ("sat", {"n": 2, "m": 8}, rn50)):
        dev = make_device(name, params)
        ref = make_device("systolic", {"memory_model": "ideal"})
        t_dev = median_time(partial(dev.evaluate, trace))
        t_ref = median_time(partial(ref.evaluate, trace))
        print(f"   {name:15s} {trace.name:9s} {len(trace):4d} layers: {t_dev * 1e3:7.3f} ms "
              f"(systolic, same trace: {t_ref * 1e3:.3f} ms, ratio {t_dev / t_ref:.2f})")

    print("2. sweeps")
    t0 = time.perf_counter()
    n = 0
    for a, b in itertools.product(range(3, 11), range(1, 33)):
        tr = training_trace(load_workload(f"ic3net:agents={a},batch={b}"))
        for g in (1, 2, 4, 8, 16):
            make_device("learning_group", {"groups": g}).evaluate(tr)
            n += 1
    dt = time.perf_counter() - t0
    print(f"   learning_group G x A x B: {n} points in {dt:.2f} s ({dt / n * 1e3:.3f} ms each, "
          "incl. building the traces)")
    rn18 = training_trace(load_workload("resnet18:batch=32"))
    t0 = time.perf_counter()
    n = 0
    for (nn, m), rows, cols, df in itertools.product(
            ((1, 4), (2, 4), (1, 8), (2, 8), (4, 8), (1, 16), (2, 16)),
            (8, 16, 32, 64, 128, 192, 256), (8, 16, 32, 64, 128, 192, 256),
            ("os", "ws", "switch")):
        make_device("sat", {"n": nn, "m": m, "rows": rows, "cols": cols,
                            "dataflow": df}).evaluate(rn18)
        n += 1
    dt = time.perf_counter() - t0
    print(f"   sat N:M x rows x cols x dataflow on ResNet-18: {n} points in {dt:.2f} s "
          f"({dt / n * 1e3:.3f} ms each)")

    print("3. functional sparse training (full epochs, one run each)")
    for net in ("digits_mlp", "digits_cnn"):
        base = None
        for scheme in (Dense(), NM(2, 4), NM(2, 8), NM(2, 4, scheme="transposable"),
                       NM(2, 4, scheme="transposable", method="greedy"), FLGW(4), FLGW(16)):
            t0 = time.perf_counter()
            r = sparse_train(net, scheme)
            dt = time.perf_counter() - t0
            base = dt if base is None else base
            label = scheme.label + (" greedy" if getattr(scheme, "method", "") == "greedy"
                                    else "")
            print(f"   {net} {label:24s} {dt:6.2f} s ({dt / base:4.1f}x dense)  "
                  f"test accuracy {r.test_accuracy:.4f}")


if __name__ == "__main__":
    main()

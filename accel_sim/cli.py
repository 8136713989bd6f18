"""The ``accel-sim`` command line.

Every user error (unknown name, value out of range, malformed file) prints one line
``accel-sim: error: ...`` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ._params import Config, parse_pairs
from ._registry import available_devices, devices_measuring, get_device
from .errors import AccelSimError, ConfigError, first_line

if TYPE_CHECKING:
    from typing import TypeAlias

    from optuna.storages import BaseStorage

    from .explore import ExploreSpec

    _Sub: TypeAlias = "argparse._SubParsersAction[Any]"

__all__ = ["main"]


def _kv_list(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    """``key=value`` items as a dict; a key given twice is an error (no silent last-wins)."""
    return parse_pairs(items or [], flag)


def _load(args: argparse.Namespace):
    """The workload ``-w`` names, with its ``--dim`` values."""
    from workloads import load_workload

    dims = _kv_list(args.dim, "--dim")
    return load_workload(args.workload, dims=dims or None)


# ---------------------------------------------------------------------- commands
def _cmd_workloads(args: argparse.Namespace) -> int:
    from workloads import list_workloads

    for name, info in list_workloads().items():
        print(f"{name}: {info.description}")
        for s in info.params.specs():
            unit = f" [{s.unit}]" if s.unit else ""
            head = f"{s.name}={s.default}"
            print(f"    {head:<24} {s.allowed()}{unit}  {s.doc}")
    print("\nFiles: a SCALE-Sim topology .csv (conv or GEMM format) or an .onnx model.")
    print("Syntax: -w NAME[:key=value,key=value] or -w PATH")
    return 0


def _cmd_devices(args: argparse.Namespace) -> int:
    devices = available_devices()
    if not args.device:
        width = max(len(n) for n in devices)
        for name, cls in devices.items():
            n_params = len(cls.Config.specs())
            searched = sum(1 for s in cls.Config.specs() if s.search and s.has_search_range)
            print(f"{name:<{width}}  {_describe(cls)} ({n_params} parameters, {searched} "
                  "searched by explore)")
        print("\nParameters of one device: accel-sim devices NAME")
        return 0
    cls = get_device(args.device)  # unknown names list the devices
    print(f"{cls.name}: {_describe(cls)}")
    print("  searched: explore varies it by default over the range shown; fixed: explore "
          "keeps it unless --space names it")
    for s in cls.Config.specs():
        unit = f" [{s.unit}]" if s.unit else ""
        head = f"{s.name}={s.default}"
        mode = "searched" if s.search and s.has_search_range else "fixed"
        cond = ""
        if s.active_if is not None:
            cond = f" (only when {s.active_if[0]}={','.join(map(str, s.active_if[1]))})"
        print(f"    {head:<30} {s.type.__name__:<5} {mode:<8} {s.allowed()}{unit}{cond}")
        if s.doc:
            print(f"        {s.doc}")
    return 0


def _describe(cls) -> str:
    doc_lines = (cls.__doc__ or "").strip().splitlines()
    return cls.description or (doc_lines[0] if doc_lines else "")


def _print_table(report, trace=None, limit: int = 60) -> None:
    from ._display import accuracy_line, layer_table

    print(layer_table(report, limit))
    line = accuracy_line(report.summary(), trace.task if trace is not None else None)
    if line:
        print(line)


def _cmd_run(args: argparse.Namespace) -> int:
    from ._sweep import write_rows_csv

    trace = _load(args)
    if args.training:
        from ._ir import training_trace

        trace = training_trace(trace)
    cls = get_device(args.device)
    device = cls.from_params(_kv_list(args.set, "-s"))
    report = device.evaluate(trace)
    os.makedirs(args.output, exist_ok=True)
    write_rows_csv(os.path.join(args.output, "layers.csv"), report.layer_rows())
    summary = {"workload": trace.name, "device": cls.name, **report.summary(),
               "config": device.config.to_dict()}
    with open(os.path.join(args.output, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    _print_table(report, trace)
    _note_skipped(trace)
    note = device.task_note(trace)
    if note:
        print(f"note: {note}; devices that do: "
              f"{', '.join(devices_measuring(type(trace.task)))}", file=sys.stderr)
    print(f"wrote {os.path.join(args.output, 'layers.csv')} and "
          f"{os.path.join(args.output, 'summary.json')}")
    return 0


def _note_skipped(trace) -> None:
    skipped = trace.metadata.get("skipped_ops")
    if skipped:
        ops = ", ".join(f"{k} x{v}" for k, v in skipped.items())
        print(f"note: skipped ONNX ops without MACs: {ops}", file=sys.stderr)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from ._procs import deferred_interrupts
    from ._progress import progress_bar
    from ._sweep import Grid, RowWriter, _check_jobs, estimate_seconds, iter_sweep

    if args.scheduler is not None and args.jobs is not None:
        raise ConfigError("-j/--jobs and --scheduler: choose one (with --scheduler the Dask "
                          "cluster's workers run the sweep)")
    jobs = _check_jobs(args.jobs)
    if args.max_points < 1:
        raise ConfigError(f"--max-points {args.max_points}: must be >= 1")
    trace = _load(args)
    if args.training:
        from ._ir import training_trace

        trace = training_trace(trace)
    cls = get_device(args.device)
    grid_text = _kv_list(args.grid, "--grid")
    grid = Grid.build(cls, {k: [x for x in v.split(",") if x.strip()] for k, v in
                            grid_text.items()}, _kv_list(args.set, "-s"))
    n = grid.size
    if n > args.max_points:
        est = estimate_seconds(trace, grid, jobs)
        raise ConfigError(f"--grid has {grid.shape()}, more than --max-points "
                          f"{args.max_points:,} (estimated {_duration(est)} on {jobs} "
                          "worker(s)); narrow the grid or raise --max-points")
    if (cls.Config._check is not Config._check  # cross-field rules, before anything runs
            or cls.Config.__post_init__ is not Config.__post_init__):
        with progress_bar(n, desc="checking grid", unit="cfg") as bar:
            for i, point in enumerate(grid.points()):
                grid.config(point)
                if i % 4096 == 4095:
                    bar.update(4096)
    done = 0
    try:
        with RowWriter(args.output) as out, progress_bar(n, desc="sweep", unit="cfg") as bar:
            for rows in iter_sweep(trace, cls, grid, jobs=jobs, scheduler=args.scheduler):
                with deferred_interrupts():  # a chunk's rows are written whole
                    out.write(rows)
                    done += len(rows)
                bar.update(len(rows))
    except KeyboardInterrupt as exc:
        from .errors import Interrupted

        sig = exc if isinstance(exc, Interrupted) else Interrupted(2)
        raise sig.with_detail(f"wrote {done:,} of {n:,} configurations to {args.output}"
                              ) from None
    print(f"wrote {done:,} configurations to {args.output} (units in the column names: "
          "_s seconds, _j joules, _mm2 mm^2, _w watts)")
    return 0


def _duration(seconds: float) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``, ``12 days``."""
    if seconds != seconds:  # NaN: the sample could not be evaluated
        return "unknown time"
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.3g} {unit}"
    return f"{seconds:.3g} s"


def _cmd_scalesim(args: argparse.Namespace) -> int:
    from ._display import scalesim_summary
    from ._scalesim_compat import run_scalesim_compatible

    path = run_scalesim_compatible(args.config, args.topology, args.output, gemm=args.gemm,
                                   memory_model=args.memory_model)
    print(scalesim_summary(path))
    return 0


def _explore_spec(args: argparse.Namespace) -> ExploreSpec:
    """The spec file (if any) with the flags given over it."""
    from ._options import from_args, merge
    from .explore import ExploreSpec, load_spec_file

    kw = load_spec_file(args.spec) if args.spec else {}
    kw = merge(ExploreSpec, kw, from_args(ExploreSpec, args))
    for required in ("device",) if kw.get("serve") else ("workloads", "device"):
        if required not in kw:
            flag = "-w" if required == "workloads" else "-d"
            raise ConfigError(f"explore: {flag} is required (or give it in the spec file)")
    return ExploreSpec(**kw)


def _cmd_explore(args: argparse.Namespace) -> int:
    import optuna

    from .explore import Explorer
    from .explore._outputs import pareto_table

    spec = _explore_spec(args)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = Explorer(spec).run(progress=not args.quiet)
    for note in result.notes:
        print(note)
    data = result.data
    n_done = len(data.values)
    invalid = f", {result.invalid} invalid design(s) pruned" if result.invalid else ""
    if result.stopped:
        invalid += (f", {result.stopped} stopped at a lower accuracy fidelity "
                    "(--multi-fidelity)")
    print(f"study {spec.study!r}: {n_done} complete trials ({result.ran} completed now"
          f"{invalid}, {result.wall_s:.1f} s), {int(data.feasible.sum())} feasible, "
          f"{int(data.front.sum())} on the Pareto front")
    if result.ran == 0 and n_done >= spec.trials:
        print(f"note: the study already holds {n_done} complete trials, at least --trials "
              f"{spec.trials}; nothing new ran (raise --trials to continue it)")
    if result.ran + result.stopped:
        n = result.ran + result.stopped
        print(f"sampler time: {result.sampler_time_s / n * 1e3:.1f} ms per trial "
              f"(mean over {n})")
    print(pareto_table(data))
    print(f"wrote {', '.join(sorted(result.paths))} in {spec.output}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    import optuna

    from .explore import collect, write_outputs
    from .explore._outputs import write_study_plots
    from .explore._storage import JOURNAL, SQLITE, journal_storage, rdb_storage

    target = args.target
    if os.path.isdir(target) and args.storage is None:
        journal = os.path.join(target, JOURNAL)
        db = os.path.join(target, SQLITE)
        storage: BaseStorage
        if os.path.exists(journal):
            storage, where = journal_storage(journal), journal
        elif os.path.exists(db):
            where = db
            if not _is_sqlite(db):
                raise ConfigError(f"{db}: not a SQLite database (an explore study.db was "
                                  "expected)")
            storage = rdb_storage(f"sqlite:///{os.path.abspath(db)}", 10.0)
        else:
            raise ConfigError(f"{target}: no study.db or study.journal in this folder")
        try:
            names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        except Exception as exc:  # a damaged file: sqlalchemy/json raise many kinds
            raise ConfigError(f"{where}: cannot read the study ({first_line(exc)})"
                              ) from None
        if args.study:
            name = args.study
        elif len(names) == 1:
            name = names[0]
        elif not names:
            raise ConfigError(f"{where} holds no study")
        else:
            raise ConfigError(f"{target} holds studies {', '.join(names)}: choose with --study")
        outdir = args.output or target
    else:
        if args.storage is None:
            raise ConfigError(f"{target}: not a folder; give --storage URL with a study name")
        if "://" not in args.storage and not os.path.isfile(args.storage):
            raise ConfigError(f"--storage {args.storage}: no such journal file")
        storage = (rdb_storage(args.storage, 10.0) if "://" in args.storage
                   else journal_storage(args.storage))
        name = target
        outdir = args.output or os.path.join("results", name)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise ConfigError(f"no study named {name!r} in that storage") from None
    desc = study.user_attrs.get("accel_sim", {})
    objectives = desc.get("objectives") or [f"objective{i}" for i in range(
        len(study.directions))]
    directions = desc.get("directions") or [d.name.lower() for d in study.directions]
    data = collect(study, objectives, directions)
    paths = write_outputs(data, outdir)
    extra, notes = write_study_plots(study, data, outdir)
    paths.update(extra)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {', '.join(sorted(paths))} in {outdir}")
    return 0


def _is_sqlite(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _cmd_serve(args: argparse.Namespace) -> int:
    from ._display import serve_summary
    from ._options import from_args
    from .serving import ServeConfig, serve

    cfg = ServeConfig(**from_args(ServeConfig, args))
    params = _kv_list(args.set, "-s")
    if args.devices is not None:
        if "devices" in params:
            raise ConfigError("give the device count once: --devices or -s devices=")
        params["devices"] = str(args.devices)
    device = get_device(args.device).from_params(params)
    result = serve(cfg, device)
    paths = result.write(args.output)
    print(serve_summary(result.summary))
    print(f"wrote {', '.join(os.path.basename(v) for v in paths.values())} in {args.output}")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce import get_reproduction

    run = get_reproduction(args.name)
    outdir = args.output or os.path.join("results", args.name)
    rows = run(outdir, quick=args.quick)
    with open(os.path.join(outdir, "comparison.md")) as fh:
        print(fh.read())
    bad = sum(not r.ok for r in rows)
    print(f"{len(rows) - bad}/{len(rows)} comparisons within tolerance; wrote {outdir}")
    return 0


# ---------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line errors (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"accel-sim: error: {_one_line(message)} (see {self.prog} --help)\n")

_PROGRESS_NOTE = ("Progress bars are drawn on standard error when it is a terminal; -q turns "
                  "them off.")
_RUN_DOC = ("Evaluate one workload on one device configuration; print the per-layer table "
            "(units in the headers) and write layers.csv and summary.json. Most runs take "
            "under a second. Slow: accuracy metrics, which simulate the network (analog: "
            "every weight product on the arrays, seconds; sat, learning_group on a digits "
            "network: sparse training, seconds; replay workloads with env=: DQN "
            "training runs, seconds to minutes), and -s memory_model=scalesim on systolic "
            "(seconds per large layer). " + _PROGRESS_NOTE)
_SCALESIM_DOC = ("Read a SCALE-Sim .cfg and topology, write COMPUTE_REPORT.csv. The default "
                 "--memory-model scalesim replicates SCALE-Sim's buffers exactly and is slow "
                 "(it builds SCALE-Sim's demand matrices, O(cycles x array width) memory: "
                 "AlexNet on the 32x32 scale.cfg takes about 11 s against 0.7 s with "
                 "--memory-model analytic). " + _PROGRESS_NOTE)
_SERVE_DOC = ("Simulate serving --requests requests with continuous batching. Slow for many "
              "requests: run time grows with the number of completion events (about 7 s for "
              "10,000 Mixtral requests at batch 64); the first run of a MoE model also "
              "compiles numba kernels (about 3 s, cached on disk afterwards). "
              + _PROGRESS_NOTE)
_EXPLORE_DOC = ("Search a device's parameters for the Pareto front of the objectives "
                "(Optuna). Every setting is a flag or a key of a YAML spec file. Writes "
                "trials.csv, pareto.csv, hypervolume.csv and their plots; resumes a study "
                "with the same settings. " + _PROGRESS_NOTE)
_REPRODUCE_DOC = ("Reproduce a paper's results: comparison table, CSVs and plots. Full runs "
                  "take minutes (analog-xiao: hundreds of accuracy simulations; duplex and "
                  "amper: serving simulations and DQN training runs); --quick samples less. "
                  + _PROGRESS_NOTE)

_WORKLOAD_HELP = "NAME[:key=value,...] or a .csv/.onnx path"
_DIM_HELP = ("size of a symbolic dimension of an .onnx model's inputs, e.g. --dim batch=1 "
             "--dim seq=128 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``accel-sim`` (one function per command below)."""
    p = _Parser(prog="accel-sim", description=__doc__.splitlines()[0])
    sub: _Sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_listings, _add_run, _add_sweep, _add_scalesim, _add_explore, _add_serve,
                _add_reproduce, _add_plot):
        add(sub)
    return p


def _add_listings(sub: _Sub) -> None:
    s = sub.add_parser("workloads", help="list built-in workloads and their parameters")
    s.set_defaults(func=_cmd_workloads)
    s = sub.add_parser("devices", help="list devices and every parameter")
    s.add_argument("device", nargs="?", help="show only this device")
    s.set_defaults(func=_cmd_devices)


def _add_run(sub: _Sub) -> None:
    s = sub.add_parser("run", help="evaluate one workload on one device configuration",
                       description=_RUN_DOC)
    s.add_argument("-w", "--workload", required=True, help=_WORKLOAD_HELP)
    s.add_argument("-d", "--device", required=True)
    s.add_argument("--dim", action="append", metavar="NAME=SIZE", help=_DIM_HELP)
    s.add_argument("-s", "--set", action="append", metavar="KEY=VALUE",
                   help="device parameter (repeatable)")
    s.add_argument("--training", action="store_true",
                   help="simulate a training step (forward, backward-data, backward-weight, "
                        "update)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    s.add_argument("-o", "--output", default="out", help="output directory (default: out)")
    s.set_defaults(func=_cmd_run)


def _add_sweep(sub: _Sub) -> None:
    from ._sweep import DEFAULT_MAX_POINTS

    s = sub.add_parser("sweep", help="cartesian sweep of device parameters")
    s.add_argument("-w", "--workload", required=True, help=_WORKLOAD_HELP)
    s.add_argument("-d", "--device", required=True)
    s.add_argument("--dim", action="append", metavar="NAME=SIZE", help=_DIM_HELP)
    s.add_argument("--grid", action="extend", nargs="+", required=True,
                   metavar="KEY=V1,V2,...", help="swept parameter values")
    s.add_argument("-s", "--set", action="append", metavar="KEY=VALUE",
                   help="fixed device parameter (repeatable)")
    s.add_argument("-j", "--jobs", type=int, default=None,
                   help="worker processes, >= 1 (default: all cores)")
    s.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run the grid on a running Dask distributed cluster (extra 'dask'): "
                        "same CSV as a local sweep")
    s.add_argument("--max-points", type=int, default=DEFAULT_MAX_POINTS, metavar="N",
                   help="refuse grids of more than N configurations, printing their count "
                        f"and estimated time (default {DEFAULT_MAX_POINTS})")
    s.add_argument("--training", action="store_true",
                   help="evaluate a training step of the workload")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.add_argument("-o", "--output", required=True, help="output CSV path")
    s.set_defaults(func=_cmd_sweep)


def _add_scalesim(sub: _Sub) -> None:
    s = sub.add_parser("scalesim", help="SCALE-Sim compatible run (reads its .cfg and "
                                        "topology, writes COMPUTE_REPORT.csv)",
                       description=_SCALESIM_DOC)
    s.add_argument("-c", "--config", required=True, help="SCALE-Sim .cfg file")
    s.add_argument("-t", "--topology", required=True, help="SCALE-Sim topology .csv")
    s.add_argument("--gemm", action="store_true", help="topology is in GEMM (M,N,K) format")
    s.add_argument("--memory-model", choices=("scalesim", "analytic", "ideal"),
                   default="scalesim",
                   help="scalesim: exact replica of SCALE-Sim's buffers (default; slow: it "
                        "builds SCALE-Sim's demand matrices, seconds per large layer); "
                        "analytic: vectorised closed form (same compute cycles, exact stalls "
                        "whenever no SRAM refill happens, 10-100x faster)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.add_argument("-o", "--output", required=True, help="output directory")
    s.set_defaults(func=_cmd_scalesim)


def _add_explore(sub: _Sub) -> None:
    from ._options import add_options
    from .explore import ExploreSpec

    s = sub.add_parser("explore", help="multi-objective design-space exploration (Optuna)",
                       description=_EXPLORE_DOC)
    s.add_argument("spec", nargs="?", help="YAML spec file: the same settings, named as the "
                                           "long flags (flags override it)")
    add_options(s, ExploreSpec)  # every setting, from its declaration
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_explore)


def _add_serve(sub: _Sub) -> None:
    from ._options import add_options
    from .serving import ServeConfig

    s = sub.add_parser("serve", help="simulate LLM serving with continuous batching "
                                     "(xpu, logic_pim, bankgroup_pim, bank_pim, duplex)",
                       description=_SERVE_DOC)
    s.add_argument("-d", "--device", required=True, help="an LLM serving system, e.g. duplex")
    add_options(s, ServeConfig, required=("model",))  # the scenario, from its declaration
    s.add_argument("--devices", type=int, help="devices in the system (the device "
                                               "parameter devices; default 4)")
    s.add_argument("-s", "--set", action="append", metavar="KEY=VALUE",
                   help="device parameter (repeatable), e.g. -s tp=2")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.add_argument("-o", "--output", required=True, help="output directory")
    s.set_defaults(func=_cmd_serve)


def _add_reproduce(sub: _Sub) -> None:
    from .reproduce import DESCRIPTIONS

    listing = "\n".join(f"  {name:<16} {text}" for name, text in DESCRIPTIONS.items())
    s = sub.add_parser("reproduce", help="reproduce a paper's results (comparison table, "
                                         "plots)", description=_REPRODUCE_DOC,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=f"reproductions:\n{listing}")
    s.add_argument("name", metavar="NAME", choices=sorted(DESCRIPTIONS),
                   help="one of: " + ", ".join(sorted(DESCRIPTIONS)))
    s.add_argument("--quick", action="store_true", help="fewer samples, a few minutes at most")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    s.add_argument("-o", "--output", help="output directory (default: results/NAME)")
    s.set_defaults(func=_cmd_reproduce)


def _add_plot(sub: _Sub) -> None:
    s = sub.add_parser("plot", help="redraw an exploration's tables and plots")
    s.add_argument("target", help="an explore output folder, or a study name with --storage")
    s.add_argument("--storage", help="storage URL when target is a study name")
    s.add_argument("--study", help="study to draw when the folder holds several")
    s.add_argument("-o", "--output", help="where to write (default: the folder)")
    s.set_defaults(func=_cmd_plot)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for user errors, 128 + signal number when
    stopped by SIGINT or SIGTERM)."""
    from . import _progress
    from ._procs import interruptible
    from ._progress_tqdm import progress_enabled
    from .errors import Interrupted

    try:
        with interruptible():  # Ctrl-C while the parser loads is one line too
            args = build_parser().parse_args(argv)
        quiet = getattr(args, "quiet", False)
        progress: contextlib.AbstractContextManager[None]
        if quiet:
            progress = progress_enabled(False)
        elif _progress.current() is None:  # bars on a terminal, unless a caller chose
            progress = progress_enabled(None)
        else:
            progress = contextlib.nullcontext()
        with interruptible(), progress:
            return int(args.func(args) or 0)
    except AccelSimError as exc:
        print(f"accel-sim: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        sig = exc if isinstance(exc, Interrupted) else Interrupted(2)
        detail = f": {sig.detail}" if sig.detail else ""
        print(f"accel-sim: interrupted ({sig.signal_name}){detail}", file=sys.stderr)
        return sig.exit_status
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0
    except MemoryError:
        print("accel-sim: error: out of memory (the model needs more than this machine has; "
              "try a smaller workload or a faster model setting)", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"accel-sim: error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _one_line(text: str) -> str:
    """The message on one line (errors are one line by contract; this is the last guard)."""
    return " ".join(text.split())

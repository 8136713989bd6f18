"""Layer-trace intermediate representation.

A :class:`Layer` is one operator of a network seen as a (batched, grouped) GEMM
``C[M, N] += A[M, K] @ B[K, N]``. ``A`` is the input (ifmap after im2col), ``B`` the weight
(filter) operand, ``C`` the output. A :class:`Trace` is an ordered sequence of layers with
metadata and a columnar numpy view used by vectorised device models.

Conventions (per layer):

* ``m, n, k`` describe one GEMM instance: ``m`` output rows (conv: output pixels of one image),
  ``n`` output columns (conv: filters of one group), ``k`` reduction length (conv: R*S*C/groups).
* ``groups`` independent GEMMs of that shape with distinct weights (grouped/depthwise conv:
  channel groups; attention: heads; MoE: experts).
* ``batch`` independent inputs sharing the weights (images, sequences). The effective GEMM
  per group is ``(batch*m) x n x k``.
* ``repeat`` the whole layer runs this many times (timesteps of an LSTM, identical blocks).

MACs = repeat * groups * batch * m * n * k.

Limits (checked when a :class:`Layer` or :class:`Trace` is built; a violation is a one-line
:class:`~accel_sim.errors.WorkloadError` naming the layer, the field and the limit). Devices
compute with numpy int64 and float64; the limits make both exact and overflow-free:

* every dimension (``m, n, k, groups, batch, repeat``, the ``conv`` sizes, ``sparsity_m``) is at
  most :data:`MAX_DIM` = 2**31 - 1, so the product of any two dimensions (< 2**62) fits int64
  with room for the small factors device models add (array sizes, bit widths);
* every count the IR derives is at most :data:`MAX_COUNT` = 2**53, the range in which float64
  represents every integer exactly: the dimension product ``repeat*groups*batch*m*n*k`` (the
  MACs of a matmul layer; it bounds every operand's element count), the FLOPs of a vector op,
  and the bits the layer moves (input + dense weight + output elements x their bit widths,
  the conv ifmap included), so that ``input_bytes``, ``weight_bytes`` (dense) and
  ``output_bytes`` are exact. FLOPs of a matmul, ``2 * MACs`` <= 2**54, are exact too (even);
* the totals of a trace (sum over its layers of the MACs, of the vector FLOPs and of the bits
  moved) are at most :data:`MAX_COUNT` as well, so report sums stay exact.

With every dimension >= 1, any product of a subset of the six dimensions is <= 2**53 too,
leaving int64 a factor of 2**10 for constants; products with configuration values (folds x
cycles per fold, conversions per tile) belong in float64. 2**53 MACs is about 9e15, over 4000
times one layer of a 70B-parameter LLM at 2k tokens (2e12 MACs); a larger workload is split
into layers.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, SupportsIndex, overload

import numpy as np

from .errors import WorkloadError
from .tasks import Task

__all__ = [
    "DNN_OPS",
    "MAX_COUNT",
    "MAX_DIM",
    "REPLAY_OPS",
    "ConvShape",
    "Layer",
    "OpKind",
    "Phase",
    "SparsityPattern",
    "Trace",
    "training_trace",
]


class OpKind(str, enum.Enum):
    """Operator kinds of the IR."""

    CONV = "conv"
    GROUPED_CONV = "grouped_conv"  # includes depthwise (groups == channels)
    GEMM = "gemm"  # linear / fully connected / generic matmul with a weight operand
    ATTN_SCORE = "attn_score"  # Q @ K^T (both operands are activations)
    ATTN_CONTEXT = "attn_context"  # softmax(S) @ V
    MOE_EXPERT = "moe_expert"  # expert FFN GEMMs (groups = experts)
    LSTM = "lstm"  # one cell step: gates GEMM, n = 4*hidden
    GRU = "gru"  # n = 3*hidden
    ELEMENTWISE = "elementwise"  # add, mul, activation functions
    NORM = "norm"  # layer/batch/RMS norm
    SOFTMAX = "softmax"
    POOL = "pool"
    # replay-memory operations: m = transitions operated on, n = buffer capacity, k = 1
    REPLAY_INSERT = "replay_insert"  # store m new transitions (with priorities)
    REPLAY_SAMPLE = "replay_sample"  # draw a batch of m transitions by priority
    REPLAY_UPDATE = "replay_update"  # set the priorities of m stored transitions

    @property
    def has_weights(self) -> bool:
        """Whether the B operand is a stored weight (False for attention and vector ops)."""
        return self in _WEIGHTED

    @property
    def is_matmul(self) -> bool:
        """Whether the op is a GEMM-like operator (MACs = m*n*k per instance)."""
        return self not in _VECTOR and self not in _REPLAY

    @property
    def is_replay(self) -> bool:
        """Whether the op is a replay-memory operation (no arithmetic in the DNN sense)."""
        return self in _REPLAY


_WEIGHTED = {OpKind.CONV, OpKind.GROUPED_CONV, OpKind.GEMM, OpKind.MOE_EXPERT, OpKind.LSTM,
             OpKind.GRU}
_VECTOR = {OpKind.ELEMENTWISE, OpKind.NORM, OpKind.SOFTMAX, OpKind.POOL}
_REPLAY = {OpKind.REPLAY_INSERT, OpKind.REPLAY_SAMPLE, OpKind.REPLAY_UPDATE}
#: Largest value of a layer dimension (see the module docstring).
MAX_DIM = 2**31 - 1
#: Largest count the IR derives, per layer and per trace (float64 is exact up to 2**53).
MAX_COUNT = 2**53

#: Op kinds of neural-network layers (what the DNN devices accept).
DNN_OPS = frozenset(k for k in OpKind if k not in _REPLAY)
#: Op kinds of replay-memory traces.
REPLAY_OPS = frozenset(_REPLAY)

#: FLOPs per output element of vector ops (documented approximations: an elementwise op is
#: one operation; a norm computes mean, variance, subtract, scale, shift; softmax computes
#: max, subtract, exp, sum, divide; pooling compares/adds k inputs per output).
VECTOR_FLOPS_PER_ELEMENT = {
    OpKind.ELEMENTWISE: 1.0,
    OpKind.NORM: 5.0,
    OpKind.SOFTMAX: 5.0,
    OpKind.POOL: 1.0,  # times k (window size)
}


class Phase(str, enum.Enum):
    """Training phase a layer belongs to (inference traces are all FORWARD)."""

    FORWARD = "forward"
    BACKWARD_DATA = "backward_data"
    BACKWARD_WEIGHT = "backward_weight"
    UPDATE = "update"


class SparsityPattern(str, enum.Enum):
    """Weight sparsity patterns."""

    DENSE = "dense"
    UNSTRUCTURED = "unstructured"
    NM = "nm"  # N nonzeros in every M consecutive weights along the reduction dimension
    GROUP = "group"  # learnable group mask (LearningGroup FLGW), density 1/G


@dataclass(frozen=True)
class ConvShape:
    """Convolution dimensions (one image, one group has channels/groups inputs).

    Attributes:
        ifmap_h, ifmap_w: Input height/width in pixels (before padding).
        filter_h, filter_w: Kernel height/width in pixels.
        channels: Input channels (all groups).
        filters: Output channels (all groups).
        stride: Stride in pixels (same in both directions).
        padding: Zero padding per side in pixels.
        groups: Channel groups (1 = dense conv, channels = depthwise).
        ceil_mode: Round the output size up (SCALE-Sim's ``ceil((H - R + s) / s)``) instead
            of down (PyTorch/ONNX default).
    """

    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    ceil_mode: bool = False

    def __post_init__(self) -> None:
        for name in ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "filters",
                     "stride", "groups"):
            _check_pos_int(f"conv.{name}", getattr(self, name))
        _check_int("conv.padding", self.padding, low=0)
        if max(self.ifmap_h, self.ifmap_w) + 2 * self.padding > MAX_DIM:
            raise WorkloadError(
                f"conv: padded input {self.ifmap_h + 2 * self.padding}x"
                f"{self.ifmap_w + 2 * self.padding} exceeds the IR's dimension limit "
                f"{MAX_DIM} (2**31 - 1)")
        if self.channels % self.groups or self.filters % self.groups:
            raise WorkloadError(
                f"conv.groups={self.groups} must divide channels={self.channels} "
                f"and filters={self.filters}"
            )
        if self.ifmap_h + 2 * self.padding < self.filter_h or (
            self.ifmap_w + 2 * self.padding < self.filter_w
        ):
            raise WorkloadError(
                f"conv filter {self.filter_h}x{self.filter_w} is larger than the padded input "
                f"{self.ifmap_h + 2 * self.padding}x{self.ifmap_w + 2 * self.padding}"
            )

    def _out(self, size: int, kernel: int) -> int:
        span = size + 2 * self.padding - kernel
        return (-(-span // self.stride) if self.ceil_mode else span // self.stride) + 1

    @property
    def ofmap_h(self) -> int:
        """Output height: floor (or ceil) of (H + 2P - R) / s, plus 1."""
        return self._out(self.ifmap_h, self.filter_h)

    @property
    def ofmap_w(self) -> int:
        """Output width: floor (or ceil) of (W + 2P - S) / s, plus 1."""
        return self._out(self.ifmap_w, self.filter_w)


def _check_int(name: str, value: Any, low: int = 1, high: int = MAX_DIM) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise WorkloadError(f"{name}={value!r}: expected an integer in [{low}, {high}]")
    if value < low:
        raise WorkloadError(f"{name}={value!r}: must be >= {low}")
    if value > high:
        limit = " (2**31 - 1, the IR's dimension limit)" if high == MAX_DIM else ""
        raise WorkloadError(f"{name}={value!r} out of range [{low}, {high}]{limit}")


def _check_count(where: str, what: str, value: int) -> None:
    if value > MAX_COUNT:
        raise WorkloadError(
            f"{where}: {what} = {value:.4g} exceeds the IR's limit 2**53 = {MAX_COUNT} (the "
            "largest count float64 represents exactly); split the work into more layers")


def _check_pos_int(name: str, value: Any) -> None:
    _check_int(name, value, low=1)


@dataclass(frozen=True)
class Layer:
    """One operator of a workload in GEMM view (see module docstring for conventions).

    Attributes:
        name: Layer name (unique within a trace is recommended, not required).
        op: Operator kind.
        m, n, k: GEMM view of one instance (rows, columns, reduction length).
        groups: Independent weight groups (heads, experts, channel groups).
        batch: Inputs sharing the weights.
        repeat: Times the whole layer is executed (timesteps, repeated blocks).
        conv: Convolution dimensions for conv ops (``None`` otherwise).
        input_bits, weight_bits, output_bits: Operand precisions in bits.
        weight_density: Fraction of nonzero weights in (0, 1].
        sparsity: Weight sparsity pattern.
        sparsity_n, sparsity_m: N and M of an N:M pattern (0 otherwise).
        act_density: Fraction of nonzero input activations in (0, 1].
        phase: Training phase.
        source: Name of the forward layer a training layer was derived from ("" if none).
    """

    name: str
    op: OpKind
    m: int
    n: int
    k: int
    groups: int = 1
    batch: int = 1
    repeat: int = 1
    conv: ConvShape | None = None
    input_bits: int = 16
    weight_bits: int = 16
    output_bits: int = 16
    weight_density: float = 1.0
    sparsity: SparsityPattern = SparsityPattern.DENSE
    sparsity_n: int = 0
    sparsity_m: int = 0
    act_density: float = 1.0
    phase: Phase = Phase.FORWARD
    source: str = ""

    def __post_init__(self) -> None:
        where = f"layer {self.name!r}"
        try:
            object.__setattr__(self, "op", OpKind(self.op))
            object.__setattr__(self, "phase", Phase(self.phase))
            object.__setattr__(self, "sparsity", SparsityPattern(self.sparsity))
        except ValueError as exc:
            raise WorkloadError(f"{where}: {exc}") from None
        for name in ("m", "n", "k", "groups", "batch", "repeat"):
            _check_pos_int(f"{where}: {name}", getattr(self, name))
            object.__setattr__(self, name, int(getattr(self, name)))
        if self.conv is not None and not isinstance(self.conv, ConvShape):
            raise WorkloadError(f"{where}: conv={self.conv!r} is not a ConvShape")
        for name in ("input_bits", "weight_bits", "output_bits"):
            v = getattr(self, name)
            _check_pos_int(f"{where}: {name}", v)
            if v > 64:
                raise WorkloadError(f"{where}: {name}={v} out of range [1, 64]")
        for name in ("weight_density", "act_density"):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.floating)) or not (0.0 < float(v) <= 1.0):
                raise WorkloadError(f"{where}: {name}={v!r} out of range (0, 1]")
            object.__setattr__(self, name, float(v))
        if self.sparsity is SparsityPattern.NM:
            n, m = self.sparsity_n, self.sparsity_m
            if not (isinstance(n, int) and isinstance(m, int) and 1 <= n <= m <= MAX_DIM):
                raise WorkloadError(
                    f"{where}: N:M sparsity needs 1 <= sparsity_n <= sparsity_m <= {MAX_DIM}, "
                    f"got {n}:{m}"
                )
            object.__setattr__(self, "weight_density", n / m)
        elif self.sparsity is SparsityPattern.DENSE and self.weight_density != 1.0:
            raise WorkloadError(
                f"{where}: weight_density={self.weight_density} needs a sparsity pattern "
                "(unstructured, nm or group), not dense"
            )
        counts = self._exact_counts()
        _check_count(where, "MACs = repeat*groups*batch*m*n*k" if self.op.is_matmul
                     else "repeat*groups*batch*m*n*k", counts["product"])
        _check_count(where, "FLOPs", counts["vector_flops"])
        _check_count(where, "bits moved (input + weight + output elements x bits)",
                     counts["bits"])

    def _elements(self) -> tuple[int, int, int]:
        """Exact element counts (input read once, dense weights, output), Python ints."""
        if self.conv is not None:
            c = self.conv
            inputs = self.repeat * c.ifmap_h * c.ifmap_w * c.channels * self.batch
        elif self.op.is_replay:  # one priority (or index) per transition
            inputs = self.repeat * self.groups * self.batch * self.m
        elif self.op.is_matmul:
            inputs = self.repeat * self.groups * self.batch * self.m * self.k
            if not self.op.has_weights:
                inputs += self.repeat * self.groups * self.batch * self.k * self.n
        else:
            inputs = self.repeat * self.groups * self.batch * self.m * self.n * (
                self.k if self.op is OpKind.POOL else 1)
        weights = self.groups * self.k * self.n if self.op.has_weights else 0
        outputs = self.repeat * self.groups * self.batch * self.m * (
            1 if self.op.is_replay else self.n)
        return inputs, weights, outputs

    def _exact_counts(self) -> dict[str, int]:
        """The counts the IR's limits apply to, exact (Python ints): the dimension product,
        the FLOPs of a vector op (0 otherwise) and the bits moved."""
        inputs, weights, outputs = self._elements()
        vector = 0
        if not self.op.is_matmul and not self.op.is_replay:
            per = int(VECTOR_FLOPS_PER_ELEMENT[self.op]) * (
                self.k if self.op is OpKind.POOL else 1)
            vector = per * self.repeat * self.groups * self.batch * self.m * self.n
        return {
            "product": self.repeat * self.groups * self.batch * self.m * self.n * self.k,
            "vector_flops": vector,
            "bits": (inputs * self.input_bits + weights * self.weight_bits
                     + outputs * self.output_bits),
        }

    # ------------------------------------------------------------------ derived sizes
    @property
    def macs(self) -> int:
        """Dense multiply-accumulates (0 for vector ops)."""
        if not self.op.is_matmul:
            return 0
        return self.repeat * self.groups * self.batch * self.m * self.n * self.k

    @property
    def flops(self) -> float:
        """Dense floating-point operations: 2 per MAC; vector ops per output element."""
        if self.op.is_matmul:
            return 2.0 * self.macs
        if self.op.is_replay:
            return 0.0
        per = VECTOR_FLOPS_PER_ELEMENT[self.op] * (self.k if self.op is OpKind.POOL else 1)
        return per * self.repeat * self.groups * self.batch * self.m * self.n

    @property
    def input_bytes(self) -> float:
        """Bytes of the A operand(s) read once (conv: the ifmap, not its im2col expansion).

        For attention, both operands are activations; the B operand is counted here too.
        """
        return self._elements()[0] * (self.input_bits / 8.0)

    @property
    def weight_bytes(self) -> float:
        """Bytes of stored (nonzero) weights; 0 for ops without weights."""
        if not self.op.has_weights:
            return 0.0
        return self.groups * self.k * self.n * self.weight_density * self.weight_bits / 8.0

    @property
    def output_bytes(self) -> float:
        """Bytes of the output written once."""
        return self._elements()[2] * self.output_bits / 8.0

    @property
    def bytes(self) -> float:
        """Compulsory traffic: inputs + weights + outputs, each moved once."""
        return self.input_bytes + self.weight_bytes + self.output_bytes

    def with_(self, **changes: Any) -> Layer:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------- trace
_COLUMNS = ("m", "n", "k", "groups", "batch", "repeat", "input_bits", "weight_bits",
            "output_bits", "weight_density", "act_density", "sparsity_n", "sparsity_m")
OP_CODES = {op: i for i, op in enumerate(OpKind)}
PHASE_CODES = {ph: i for i, ph in enumerate(Phase)}


@dataclass(frozen=True)
class Trace(Sequence[Layer]):
    """An ordered, immutable sequence of layers with metadata and, optionally, a task.

    Attributes:
        name: Workload name (e.g. ``"resnet50"``).
        layers: The layers in execution order.
        metadata: Free-form provenance (source file, parameters); read-only mapping. Devices
            do not read it: what they need beyond the layers is the ``task``.
        task: The functional work the trace stands for (:mod:`accel_sim.tasks`: a network and
            test set, a DQN task, an LLM iteration), or ``None``.
    """

    name: str
    layers: tuple[Layer, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    task: Task | None = None
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                     compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise WorkloadError(f"trace name must be text, got {type(self.name).__name__}")
        if isinstance(self.layers, (str, bytes)) or not isinstance(self.layers, Iterable):
            raise WorkloadError(f"trace {self.name!r}: layers must be a sequence of Layer, got "
                                f"{type(self.layers).__name__}")
        if not isinstance(self.metadata, Mapping):
            raise WorkloadError(f"trace {self.name!r}: metadata must be a mapping")
        if self.task is not None and not isinstance(self.task, Task):
            raise WorkloadError(f"trace {self.name!r}: task must be an accel_sim.tasks.Task, "
                                f"got {type(self.task).__name__}")
        layers = tuple(self.layers)
        if not layers:
            raise WorkloadError(f"trace {self.name!r} has no layers")
        for lay in layers:
            if not isinstance(lay, Layer):
                raise WorkloadError(f"trace {self.name!r}: {lay!r} is not a Layer")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        totals = {"MACs": 0, "vector FLOPs": 0, "bits moved": 0}
        for lay in layers:
            counts = lay._exact_counts()
            totals["MACs"] += lay.macs
            totals["vector FLOPs"] += counts["vector_flops"]
            totals["bits moved"] += counts["bits"]
        for what, value in totals.items():
            _check_count(f"trace {self.name!r}", f"total {what} (sum over its layers)", value)

    def __len__(self) -> int:
        return len(self.layers)

    @overload
    def __getitem__(self, i: SupportsIndex) -> Layer: ...
    @overload
    def __getitem__(self, i: slice) -> Trace: ...

    def __getitem__(self, i: SupportsIndex | slice) -> Layer | Trace:
        if isinstance(i, slice):
            return Trace(self.name, self.layers[i], self.metadata, self.task)
        return self.layers[i]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __add__(self, other: Trace) -> Trace:
        return Trace(f"{self.name}+{other.name}", self.layers + other.layers,
                     {**self.metadata, **other.metadata},
                     self.task if self.task == other.task else None)

    def __hash__(self) -> int:
        return hash((self.name, self.layers))

    def __reduce__(self) -> tuple[Any, ...]:  # for worker processes: no read-only views
        return (Trace, (self.name, self.layers, dict(self.metadata), self.task))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trace) and (self.name, self.layers) == (other.name, other.layers)

    # ------------------------------------------------------------------ columnar view
    @cached_property
    def columns(self) -> Mapping[str, np.ndarray]:
        """Read-only numpy columns, one entry per layer, for vectorised device models.

        Keys: the integer/float fields of :class:`Layer` (``m, n, k, groups, batch, repeat``,
        bit widths, densities, ``sparsity_n/m``), ``op`` and ``phase`` (integer codes, see
        ``OP_CODES``/``PHASE_CODES``), ``is_matmul``, ``has_weights``, ``macs``, ``flops``,
        ``input_bytes``, ``weight_bytes``, ``output_bytes``.
        """
        cols: dict[str, np.ndarray] = {}
        for name in _COLUMNS:
            dtype = np.float64 if "density" in name else np.int64
            cols[name] = np.array([getattr(lay, name) for lay in self.layers], dtype=dtype)
        cols["op"] = np.array([OP_CODES[lay.op] for lay in self.layers], dtype=np.int64)
        cols["phase"] = np.array([PHASE_CODES[lay.phase] for lay in self.layers], dtype=np.int64)
        cols["is_matmul"] = np.array([lay.op.is_matmul for lay in self.layers])
        cols["has_weights"] = np.array([lay.op.has_weights for lay in self.layers])
        for name in ("macs", "flops", "input_bytes", "weight_bytes", "output_bytes"):
            cols[name] = np.array([float(getattr(lay, name)) for lay in self.layers])
        for arr in cols.values():
            arr.setflags(write=False)
        return MappingProxyType(cols)

    def derived(self, key: str, build: Callable[[Trace], Any]) -> Any:
        """``build(self)``, computed once per trace and cached under ``key``.

        Device models use it for per-layer quantities that do not depend on their
        configuration (e.g. im2col address counts), so repeated evaluations stay cheap.
        """
        try:
            return self._derived[key]
        except KeyError:
            value = self._derived[key] = build(self)
            return value

    @property
    def names(self) -> tuple[str, ...]:
        """Layer names in order."""
        return tuple(lay.name for lay in self.layers)

    @property
    def macs(self) -> int:
        """Total dense MACs."""
        return sum(lay.macs for lay in self.layers)

    @property
    def flops(self) -> float:
        """Total dense FLOPs."""
        return float(sum(lay.flops for lay in self.layers))

    @property
    def bytes(self) -> float:
        """Total compulsory bytes (inputs + weights + outputs per layer)."""
        return float(sum(lay.bytes for lay in self.layers))

    def filter(self, *, phase: Phase | str | None = None, matmul_only: bool = False) -> Trace:
        """A trace with only the layers of one phase and/or only matmul layers."""
        ph = Phase(phase) if phase is not None else None
        kept = tuple(
            lay for lay in self.layers
            if (ph is None or lay.phase is ph) and (not matmul_only or lay.op.is_matmul)
        )
        return Trace(self.name, kept, self.metadata, self.task)

    def with_precision(self, bits: int) -> Trace:
        """A copy with every operand precision set to ``bits``."""
        return Trace(self.name, tuple(
            lay.with_(input_bits=bits, weight_bits=bits, output_bits=bits) for lay in self.layers
        ), self.metadata, self.task)


# ---------------------------------------------------------------------- training
def training_trace(trace: Trace, *, include_update: bool = True) -> Trace:
    """Derive a training step from a forward trace.

    For every forward GEMM-like layer ``Y[M,N] = X[M,K] @ W[K,N]`` (per group, ``M`` counting
    the batch):

    * backward-data: ``dX[M,K] = dY[M,N] @ W^T[N,K]`` -> GEMM ``(m, n, k) = (m, k, n)``, same
      batch and groups; weight sparsity is kept (the transposed sparse weights are reused, as
      in BDWP).
    * backward-weight: ``dW[K,N] = X^T[K,M] @ dY[M,N]`` -> GEMM ``(m, n, k) = (k, n, batch*m)``
      with batch 1: the batch becomes part of the reduction; the gradient is dense.
    * update: an elementwise pass over the weights (``groups * k * n`` elements, one per
      repeat of the layer's weights), if ``include_update``.

    Ops without weights (attention matmuls) get two backward-data GEMMs, one per operand:
    ``dA = dY @ B^T`` and ``dB = A^T @ dY``. Vector ops get one backward-data vector op of the
    same size. Backward layers are emitted in reverse layer order after the forward layers.
    """
    if not isinstance(trace, Trace):
        raise WorkloadError(f"training_trace takes an accel_sim.Trace, got "
                            f"{type(trace).__name__}")
    fwd = [lay for lay in trace.layers if lay.phase is Phase.FORWARD]
    if not fwd:
        raise WorkloadError(f"trace {trace.name!r} has no forward layers to differentiate")
    replay = [lay.name for lay in fwd if lay.op.is_replay]
    if replay:
        raise WorkloadError(f"trace {trace.name!r}: replay-memory ops ({', '.join(replay)}) "
                            "have no backward pass; drop --training")
    out: list[Layer] = list(fwd)
    updates: list[Layer] = []
    for lay in reversed(fwd):
        base = dict(source=lay.name, conv=None)
        if not lay.op.is_matmul:
            out.append(lay.with_(name=f"{lay.name}.bwd", phase=Phase.BACKWARD_DATA, **base))
            continue
        if lay.op.has_weights:
            out.append(lay.with_(
                name=f"{lay.name}.bwd_data", phase=Phase.BACKWARD_DATA, m=lay.m, n=lay.k,
                k=lay.n, act_density=1.0, **base))
            out.append(lay.with_(
                name=f"{lay.name}.bwd_weight", phase=Phase.BACKWARD_WEIGHT, m=lay.k, n=lay.n,
                k=lay.batch * lay.m, batch=1, weight_density=1.0,
                sparsity=SparsityPattern.DENSE, sparsity_n=0, sparsity_m=0, **base))
            if include_update:
                updates.append(Layer(
                    name=f"{lay.name}.update", op=OpKind.ELEMENTWISE, m=lay.k, n=lay.n,
                    k=1, groups=lay.groups, phase=Phase.UPDATE, source=lay.name,
                    input_bits=lay.weight_bits, weight_bits=lay.weight_bits,
                    output_bits=lay.weight_bits))
        else:
            out.append(lay.with_(
                name=f"{lay.name}.bwd_a", phase=Phase.BACKWARD_DATA, m=lay.m, n=lay.k,
                k=lay.n, **base))
            out.append(lay.with_(
                name=f"{lay.name}.bwd_b", phase=Phase.BACKWARD_DATA, m=lay.k, n=lay.n,
                k=lay.m, **base))
    out.extend(updates)
    meta = dict(trace.metadata)
    meta["training"] = True
    return Trace(trace.name, tuple(out), meta, trace.task)


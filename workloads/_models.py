"""Built-in workloads defined in code.

Conventions: CNNs follow torchvision's layer shapes (with padding) at 224x224; batch norm and
ReLU are folded into the convolutions (as in inference engines) and not listed; pooling and
the classifier are. Transformers list every GEMM, attention matmul, softmax, norm and residual
add; identical blocks are one layer each with ``repeat = number of blocks``. Grouped-query
attention is mapped per KV head: the query heads sharing a KV head are stacked as rows
(``m = q_heads_per_kv * tokens``), so a layer's operand reuse is what the hardware sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from accel_sim._ir import Layer, OpKind, Trace
from accel_sim._params import Config, param
from accel_sim.errors import ConfigError
from accel_sim.tasks import Classification, DqnLearning

from ._builder import NetBuilder, ceil_div
from ._registry import workload

_BITS = (4, 8, 16, 32)


@dataclass(frozen=True)
class CommonParams(Config):
    """Parameters every built-in workload takes."""

    batch: int = param(1, low=1, high=1 << 20, unit="inputs", doc="Batch size.")
    bits: int = param(16, choices=_BITS, unit="bit", doc="Precision of all operands.")


# ====================================================================== CNNs
@dataclass(frozen=True)
class ImageParams(CommonParams):
    """Image classifier parameters."""

    image_size: int = param(224, low=32, high=4096, unit="px", doc="Input height and width.")
    num_classes: int = param(1000, low=1, high=1 << 20, doc="Classifier outputs.")


@workload("resnet18", ImageParams, "ResNet-18 (He et al. 2016; torchvision shapes)")
def resnet18(p: ImageParams) -> list[Layer]:
    return _resnet(p, blocks=(2, 2, 2, 2), bottleneck=False)


@workload("resnet50", ImageParams, "ResNet-50 v1.5 (torchvision shapes, stride in the 3x3)")
def resnet50(p: ImageParams) -> list[Layer]:
    return _resnet(p, blocks=(3, 4, 6, 3), bottleneck=True)


def _resnet(p: ImageParams, blocks: tuple[int, ...], bottleneck: bool) -> list[Layer]:
    b = NetBuilder(p.batch, p.bits)
    h, w = b.conv("conv1", p.image_size, p.image_size, 3, 64, 7, stride=2)
    h, w = b.pool("maxpool", h, w, 64, 3, stride=2, pad=1)
    cin = 64
    expansion = 4 if bottleneck else 1
    for stage, (n_blocks, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True)):
        for i in range(n_blocks):
            stride = 2 if (i == 0 and stage > 0) else 1
            cout = width * expansion
            pre = f"layer{stage + 1}.{i}"
            if bottleneck:
                h1, w1 = b.conv(f"{pre}.conv1", h, w, cin, width, 1)
                h2, w2 = b.conv(f"{pre}.conv2", h1, w1, width, width, 3, stride=stride)
                b.conv(f"{pre}.conv3", h2, w2, width, cout, 1)
            else:
                h2, w2 = b.conv(f"{pre}.conv1", h, w, cin, width, 3, stride=stride)
                b.conv(f"{pre}.conv2", h2, w2, width, width, 3)
            if stride != 1 or cin != cout:
                b.conv(f"{pre}.downsample", h, w, cin, cout, 1, stride=stride)
            h, w, cin = h2, w2, cout
    b.pool("avgpool", h, w, cin, h, stride=1)
    b.linear("fc", 1, cin, p.num_classes)
    return b.layers


@workload("mobilenet_v2", ImageParams, "MobileNetV2 1.0 (Sandler et al. 2018)")
def mobilenet_v2(p: ImageParams) -> list[Layer]:
    b = NetBuilder(p.batch, p.bits)
    h, w = b.conv("features.0", p.image_size, p.image_size, 3, 32, 3, stride=2)
    cin = 32
    settings = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))
    idx = 1
    for t, c, n, s in settings:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            pre = f"features.{idx}"
            if t != 1:
                b.conv(f"{pre}.expand", h, w, cin, hidden, 1)
            h2, w2 = b.conv(f"{pre}.dw", h, w, hidden, hidden, 3, stride=stride, groups=hidden)
            b.conv(f"{pre}.project", h2, w2, hidden, c, 1)
            h, w, cin = h2, w2, c
            idx += 1
    b.conv(f"features.{idx}", h, w, cin, 1280, 1)
    b.pool("avgpool", h, w, 1280, h, stride=1)
    b.linear("classifier", 1, 1280, p.num_classes)
    return b.layers


# ====================================================================== transformers
def _encoder_block(b: NetBuilder, *, tokens: int, kv_len: int, hidden: int, heads: int,
                   kv_heads: int, ffn: int, blocks: int, gated: bool, pre: str = "block",
                   moe: tuple[int, int] | None = None) -> None:
    """One transformer block (repeated ``blocks`` times), ``tokens`` new tokens per sequence
    attending to ``kv_len`` keys. ``moe = (experts, top_k)`` replaces the FFN by experts."""
    hd = hidden // heads
    group = heads // kv_heads
    r = blocks
    b.vector(f"{pre}.norm1", OpKind.NORM, tokens, hidden, repeat=r)
    b.linear(f"{pre}.q_proj", tokens, hidden, heads * hd, repeat=r)
    b.linear(f"{pre}.k_proj", tokens, hidden, kv_heads * hd, repeat=r)
    b.linear(f"{pre}.v_proj", tokens, hidden, kv_heads * hd, repeat=r)
    b.matmul(f"{pre}.attn_score", OpKind.ATTN_SCORE, group * tokens, kv_len, hd,
             groups=kv_heads, repeat=r)
    b.vector(f"{pre}.softmax", OpKind.SOFTMAX, group * tokens, kv_len, groups=kv_heads,
             repeat=r)
    b.matmul(f"{pre}.attn_context", OpKind.ATTN_CONTEXT, group * tokens, hd, kv_len,
             groups=kv_heads, repeat=r)
    b.linear(f"{pre}.o_proj", tokens, heads * hd, hidden, repeat=r)
    b.vector(f"{pre}.residual1", OpKind.ELEMENTWISE, tokens, hidden, repeat=r)
    b.vector(f"{pre}.norm2", OpKind.NORM, tokens, hidden, repeat=r)
    if moe is None:
        if gated:
            b.linear(f"{pre}.ffn_gate", tokens, hidden, ffn, repeat=r)
            b.linear(f"{pre}.ffn_up", tokens, hidden, ffn, repeat=r)
            b.vector(f"{pre}.ffn_act", OpKind.ELEMENTWISE, tokens, ffn, repeat=r)
        else:
            b.linear(f"{pre}.ffn_up", tokens, hidden, ffn, repeat=r)
            b.vector(f"{pre}.ffn_act", OpKind.ELEMENTWISE, tokens, ffn, repeat=r)
        b.linear(f"{pre}.ffn_down", tokens, ffn, hidden, repeat=r)
    else:
        experts, top_k = moe
        # Uniform routing: each expert receives ceil(T * top_k / E) of the T tokens in the step
        # (all sequences of the batch together: experts see the whole batch).
        routed = ceil_div(tokens * b.batch * top_k, experts)
        b.linear(f"{pre}.router", tokens, hidden, experts, repeat=r)
        for part in ("gate", "up"):
            b.linear(f"{pre}.expert_{part}", routed, hidden, ffn, op=OpKind.MOE_EXPERT,
                     groups=experts, repeat=r, batch=1)
        b.vector(f"{pre}.expert_act", OpKind.ELEMENTWISE, routed, ffn, groups=experts,
                 repeat=r)
        b.linear(f"{pre}.expert_down", routed, ffn, hidden, op=OpKind.MOE_EXPERT,
                 groups=experts, repeat=r, batch=1)
    b.vector(f"{pre}.residual2", OpKind.ELEMENTWISE, tokens, hidden, repeat=r)


@dataclass(frozen=True)
class BertParams(CommonParams):
    """BERT-base encoder parameters."""

    seq_len: int = param(128, low=1, high=1 << 16, unit="tokens", doc="Sequence length.")


@workload("bert_base", BertParams, "BERT-base encoder (12 x 768, 12 heads, FFN 3072)")
def bert_base(p: BertParams) -> list[Layer]:
    b = NetBuilder(p.batch, p.bits)
    _encoder_block(b, tokens=p.seq_len, kv_len=p.seq_len, hidden=768, heads=12, kv_heads=12,
                   ffn=3072, blocks=12, gated=False)
    b.vector("final_norm", OpKind.NORM, p.seq_len, 768)
    b.linear("pooler", 1, 768, 768)
    return b.layers


_GPT2_SIZES = {  # layers, hidden, heads (Radford et al. 2019)
    "small": (12, 768, 12), "medium": (24, 1024, 16), "large": (36, 1280, 20),
    "xl": (48, 1600, 25),
}


@dataclass(frozen=True)
class DecoderParams(CommonParams):
    """Decoder-only language model parameters (one forward step)."""

    seq_len: int = param(1024, low=1, high=1 << 20, unit="tokens",
                         doc="Prompt length (prefill) or context length (decode).")
    stage: str = param("prefill", choices=("prefill", "decode"),
                       doc="prefill: all seq_len tokens at once; decode: one new token per "
                           "sequence attending to seq_len cached keys.")


@dataclass(frozen=True)
class Gpt2Params(DecoderParams):
    """GPT-2 parameters."""

    size: str = param("small", choices=tuple(_GPT2_SIZES), doc="Model size.")


def _decoder(p: DecoderParams, *, layers: int, hidden: int, heads: int, kv_heads: int,
             ffn: int, vocab: int, gated: bool, moe: tuple[int, int] | None = None
             ) -> list[Layer]:
    b = NetBuilder(p.batch, p.bits)
    tokens = p.seq_len if p.stage == "prefill" else 1
    kv_len = p.seq_len if p.stage == "prefill" else p.seq_len + 1
    _encoder_block(b, tokens=tokens, kv_len=kv_len, hidden=hidden, heads=heads,
                   kv_heads=kv_heads, ffn=ffn, blocks=layers, gated=gated, moe=moe)
    b.vector("final_norm", OpKind.NORM, tokens, hidden)
    # Only the last position's logits are needed to generate the next token.
    b.linear("lm_head", 1, hidden, vocab)
    return b.layers


@workload("gpt2", Gpt2Params, "GPT-2 decoder (small/medium/large/xl)")
def gpt2(p: Gpt2Params) -> list[Layer]:
    n_layers, hidden, heads = _GPT2_SIZES[p.size]
    return _decoder(p, layers=n_layers, hidden=hidden, heads=heads, kv_heads=heads,
                    ffn=4 * hidden, vocab=50257, gated=False)


@dataclass(frozen=True)
class LlamaParams(DecoderParams):
    """Llama-style decoder (defaults: Llama-3-8B, Dubey et al. 2024)."""

    layers: int = param(32, low=1, high=1024, doc="Transformer blocks.")
    hidden: int = param(4096, low=8, high=1 << 17, doc="Model width.")
    heads: int = param(32, low=1, high=1024, doc="Query heads.")
    kv_heads: int = param(8, low=1, high=1024, doc="Key/value heads (GQA groups).")
    ffn: int = param(14336, low=8, high=1 << 18, doc="SwiGLU hidden size.")
    vocab: int = param(128256, low=2, high=1 << 20, doc="Vocabulary size.")

    def _check(self) -> None:
        from accel_sim.errors import ConfigError

        if self.hidden % self.heads:
            raise ConfigError(f"llama: heads={self.heads} must divide hidden={self.hidden}")
        if self.heads % self.kv_heads:
            raise ConfigError(f"llama: kv_heads={self.kv_heads} must divide heads={self.heads}")


@workload("llama", LlamaParams, "Llama-style decoder with grouped-query attention")
def llama(p: LlamaParams) -> list[Layer]:
    return _decoder(p, layers=p.layers, hidden=p.hidden, heads=p.heads, kv_heads=p.kv_heads,
                    ffn=p.ffn, vocab=p.vocab, gated=True)


@dataclass(frozen=True)
class MixtralParams(DecoderParams):
    """Mixtral-8x7B (Jiang et al. 2024): 32 blocks, 4096 wide, GQA 32/8, 8 experts, top-2."""

    seq_len: int = param(512, low=1, high=1 << 20, unit="tokens",
                         doc="Prompt length (prefill) or context length (decode).")
    top_k: int = param(2, low=1, high=8, doc="Experts per token.")


@workload("mixtral_8x7b", MixtralParams, "Mixtral-8x7B MoE decoder (8 experts, top-2, GQA)")
def mixtral_8x7b(p: MixtralParams) -> list[Layer]:
    return _decoder(p, layers=32, hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=32000,
                    gated=True, moe=(8, p.top_k))


@dataclass(frozen=True)
class LlmIterationParams(Config):
    """One LLM serving iteration (see :func:`accel_sim.llm.iteration_trace`)."""

    #: the presets of accel_sim.llm.MODELS, spelled out so that listing workloads does not
    #: import the LLM package (tests/test_workloads.py keeps them equal)
    model: str = param("mixtral_8x7b", choices=("llama2_7b", "llama2_70b", "llama3_8b",
                                                "mixtral_8x7b", "glam", "grok1", "opt_66b",
                                                "llama3_70b"), doc="Model preset.")
    batch: int = param(32, low=0, high=1 << 16, unit="requests",
                       doc="Decode requests in the iteration.")
    kv_len: int = param(1024, low=1, high=1 << 20, unit="tokens",
                        doc="KV-cache length each decode request attends to.")
    prefill_requests: int = param(0, low=0, high=1 << 12, unit="requests",
                                  doc="Prompts prefilled in the same iteration.")
    prompt: int = param(512, low=1, high=1 << 20, unit="tokens", doc="Prompt length.")
    routing: str = param("balanced", choices=("balanced", "uniform", "zipf"),
                         doc="Expert counts: as even as possible, or drawn (seeded).")
    seed: int = param(0, low=0, high=2**31 - 1, doc="Routing seed.")

    def _check(self) -> None:
        if self.batch == 0 and self.prefill_requests == 0:
            raise ConfigError("llm_iteration: batch and prefill_requests are both 0 (an empty "
                              "iteration)")


@workload("llm_iteration", LlmIterationParams,
          "One LLM serving iteration (prefill + decode) of a model preset")
def llm_iteration(p: LlmIterationParams):
    from accel_sim.llm import Router, get_model, iteration_trace

    m = get_model(p.model)
    tokens = p.batch + p.prefill_requests * p.prompt
    counts = None
    if m.is_moe and p.routing != "balanced":
        counts = Router(m.experts, m.top_k, m.moe_layers, policy=p.routing,
                        seed=p.seed).counts(tokens)
    return iteration_trace(m, decode_kv=[p.kv_len] * p.batch,
                           prefill=[p.prompt] * p.prefill_requests, expert_counts=counts,
                           name="llm_iteration")


# ====================================================================== small networks
@dataclass(frozen=True)
class DqnParams(CommonParams):
    """DQN multilayer perceptron (CartPole-sized by default)."""

    batch: int = param(32, low=1, high=1 << 20, unit="transitions", doc="Minibatch size.")
    obs_dim: int = param(4, low=1, high=1 << 16, doc="Observation size (CartPole-v1: 4).")
    hidden: int = param(128, low=1, high=1 << 16, doc="Hidden width.")
    hidden_layers: int = param(2, low=1, high=64, doc="Hidden layers.")
    actions: int = param(2, low=1, high=1 << 12, doc="Discrete actions (CartPole-v1: 2).")


@workload("dqn_mlp", DqnParams, "DQN Q-network MLP")
def dqn_mlp(p: DqnParams) -> list[Layer]:
    b = NetBuilder(p.batch, p.bits)
    k = p.obs_dim
    for i in range(p.hidden_layers):
        b.linear(f"fc{i + 1}", 1, k, p.hidden)
        b.vector(f"relu{i + 1}", OpKind.ELEMENTWISE, 1, p.hidden)
        k = p.hidden
    b.linear("q_head", 1, k, p.actions)
    return b.layers


@dataclass(frozen=True)
class Ic3netParams(CommonParams):
    """IC3Net (Singh et al., ICLR 2019) as used by LearningGroup: shared LSTM policy."""

    agents: int = param(4, low=1, high=256, doc="Agents A (LearningGroup: 3-10).")
    batch: int = param(1, low=1, high=1 << 16, doc="Environments per step B (1-32).")
    obs_dim: int = param(64, low=1, high=1 << 16,
                         doc="Observation size per agent (assumption; task dependent).")
    hidden: int = param(128, low=1, high=1 << 14,
                        doc="LSTM hidden size (128: LearningGroup's 128x512 LSTM mask).")
    actions: int = param(5, low=1, high=1 << 10, doc="Discrete actions (predator-prey: 5).")
    comm_passes: int = param(1, low=1, high=16, doc="Communication steps per time step.")


@workload("ic3net", Ic3netParams, "IC3Net multi-agent LSTM policy (one time step)")
def ic3net(p: Ic3netParams) -> list[Layer]:
    # All agents share weights: the A agents of B environments are A*B rows of every GEMM.
    b = NetBuilder(p.batch, p.bits)
    rows = p.agents
    h = p.hidden
    b.linear("encoder", rows, p.obs_dim, h)
    b.vector("encoder_act", OpKind.ELEMENTWISE, rows, h)
    for c in range(p.comm_passes):
        b.linear(f"comm{c}", rows, h, h)  # C: mean of the other agents' hidden states
        b.vector(f"comm{c}_mean", OpKind.ELEMENTWISE, rows, h)
        b.linear(f"lstm{c}", rows, 2 * h, 4 * h, op=OpKind.LSTM)  # [x; h] -> 4 gates
        b.vector(f"lstm{c}_gates", OpKind.ELEMENTWISE, rows, 4 * h)
    b.linear("gate_head", rows, h, 2)
    b.linear("action_head", rows, h, p.actions)
    b.linear("value_head", rows, h, 1)
    return b.layers


@dataclass(frozen=True)
class DigitsMlpParams(CommonParams):
    """MLP for scikit-learn's 8x8 digits."""

    hidden: int = param(64, low=1, high=4096, doc="Hidden width.")


@workload("digits_mlp", DigitsMlpParams, "MLP 64-hidden-10 for the 8x8 digits")
def digits_mlp(p: DigitsMlpParams) -> Trace:
    b = NetBuilder(p.batch, p.bits)
    b.linear("fc1", 1, 64, p.hidden)
    b.vector("relu1", OpKind.ELEMENTWISE, 1, p.hidden)
    b.linear("fc2", 1, p.hidden, 10)
    return _with_digits_task("digits_mlp", b.layers)


@dataclass(frozen=True)
class DigitsCnnParams(CommonParams):
    """Small CNN for scikit-learn's 8x8 digits."""

    channels: int = param(16, low=1, high=1024, doc="Channels of the first conv (second: 2x).")


@workload("digits_cnn", DigitsCnnParams,
          "CNN conv3x3(c)-pool2-conv3x3(2c)-fc10 for the 8x8 digits")
def digits_cnn(p: DigitsCnnParams) -> Trace:
    b = NetBuilder(p.batch, p.bits)
    c = p.channels
    h, w = b.conv("conv1", 8, 8, 1, c, 3)
    h, w = b.pool("pool1", h, w, c, 2, stride=2)
    h, w = b.conv("conv2", h, w, c, 2 * c, 3)
    b.linear("fc", 1, h * w * 2 * c, 10)
    return _with_digits_task("digits_cnn", b.layers)


def _with_digits_task(name: str, layers: list[Layer]) -> Trace:
    """The network's layers, with its classification task when its weight shapes are those
    of the shipped weights (the default sizes): a device can then measure its accuracy."""
    from accel_sim.nets import weight_shapes

    shapes = {lay.name: (lay.k, lay.n) for lay in layers if lay.op.has_weights}
    task = Classification(name) if shapes == weight_shapes(name) else None
    return Trace(name, tuple(layers), task=task)


def _all() -> Iterator[str]:  # pragma: no cover - helper for interactive use
    from ._registry import list_workloads

    yield from list_workloads()


# ====================================================================== replay memory
@dataclass(frozen=True)
class ReplayParams(Config):
    """The replay-memory operations of one DQN training step (run on the replay devices)."""

    capacity: int = param(1_000_000, low=1, high=1 << 30, unit="transitions", log=True,
                          doc="Replay buffer slots (AMPER paper range: 1e3..1e6).")
    batch: int = param(32, low=1, high=1 << 16, unit="transitions", log=True,
                       doc="Transitions sampled per training step; their priorities are "
                           "updated after the step.")
    inserts: int = param(1, low=1, high=1 << 16, unit="transitions",
                         doc="New transitions stored per training step (1: one environment "
                             "step per gradient step).")
    env: str = param("none", choices=("none", "cartpole", "acrobot"),
                     doc="Task of the learning metric: the replay devices report accuracy = "
                         "mean return of the last 20 DQN training episodes, averaged over "
                         "runs; 'none' skips the learning runs.")
    dqn_steps: int = param(30_000, low=2_000, high=10_000_000, unit="environment steps",
                           log=True, doc="Length of each DQN run of the learning metric.")
    runs: int = param(3, low=1, high=64, doc="DQN runs (seeds) averaged by the learning metric.")

    def _check(self) -> None:
        if self.batch > self.capacity:
            raise ConfigError(f"replay: batch={self.batch} must be in [1, capacity] = "
                              f"[1, {self.capacity}]")


@workload("replay", ReplayParams,
          "Replay memory, one training step: insert, sample a batch, update its priorities")
def replay(p: ReplayParams) -> Trace:
    # priorities and indices travel as 32-bit words
    common: dict[str, Any] = {"n": p.capacity, "k": 1, "input_bits": 32, "weight_bits": 32,
                              "output_bits": 32}
    layers = (Layer("insert", OpKind.REPLAY_INSERT, m=p.inserts, **common),
              Layer("sample", OpKind.REPLAY_SAMPLE, m=p.batch, **common),
              Layer("update", OpKind.REPLAY_UPDATE, m=p.batch, **common))
    task = None if p.env == "none" else DqnLearning(
        env=p.env, capacity=p.capacity, batch=p.batch, steps=p.dqn_steps, runs=p.runs)
    return Trace("replay", layers, task=task)

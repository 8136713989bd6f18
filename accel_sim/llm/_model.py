"""LLM architectures served by the serving simulator: presets and derived sizes.

A model is a decoder-only transformer described by :class:`LlmModel` (a validated frozen
config). Sizes below are in bytes of the serving precision (``bits``, FP16 by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from .._params import Config, param
from ..errors import ConfigError, UnknownNameError

__all__ = ["MODELS", "PUBLISHED_PARAMS", "ROUTING_POLICIES", "LlmModel", "get_model"]

#: MoE routing policies of the serving scenario (:class:`accel_sim.llm.Router`).
ROUTING_POLICIES = ("uniform", "zipf", "trace")


@dataclass(frozen=True)
class LlmModel(Config):
    """A decoder-only transformer (dense or mixture-of-experts)."""

    name: str = param("custom", doc="Model name (reports and file names).")
    layers: int = param(32, low=1, high=1024, doc="Transformer blocks.")
    hidden: int = param(4096, low=8, high=1 << 17, unit="elements", doc="Model width.")
    heads: int = param(32, low=1, high=1024, doc="Query heads.")
    kv_heads: int = param(8, low=1, high=1024,
                          doc="Key/value heads (GQA: heads / kv_heads query heads share one).")
    head_dim: int = param(128, low=8, high=1024, unit="elements", doc="Width of one head.")
    ffn: int = param(14336, low=8, high=1 << 18, unit="elements",
                     doc="FFN (or expert) hidden size.")
    gated: bool = param(True, doc="Gated FFN (SwiGLU/GEGLU: 3 matrices) or plain (2 matrices).")
    experts: int = param(0, low=0, high=4096, doc="Experts per MoE layer (0: dense model).")
    top_k: int = param(0, low=0, high=4096, doc="Experts each token is routed to.")
    moe_every: int = param(1, low=1, high=64,
                           doc="Every moe_every-th block has an MoE FFN (GLaM: 2), the others "
                               "a dense FFN.")
    vocab: int = param(32000, low=2, high=1 << 21, doc="Vocabulary (LM head width).")
    bits: int = param(16, choices=(8, 16, 32), unit="bit",
                      doc="Precision of activations (and of the KV cache and the weights unless "
                          "kv_bits or weight_bits is set).")
    weight_bits: int | None = param(None, choices=(4, 8, 16, 32), optional=True, unit="bit",
                                    doc="Precision of the stored weights (unset: bits); 4 is "
                                        "weight-only INT4 quantisation (W4A16).")
    kv_bits: int | None = param(None, choices=(8, 16, 32), optional=True, unit="bit",
                                doc="Precision of the KV cache (unset: bits); attention "
                                    "operators move their operands at this precision.")
    source: str = param("", doc="Where the architecture figures come from.")

    def _check(self) -> None:
        if self.heads % self.kv_heads:
            raise ConfigError(f"model {self.name}: kv_heads={self.kv_heads} must divide "
                              f"heads={self.heads}")
        if (self.experts == 0) != (self.top_k == 0):
            raise ConfigError(f"model {self.name}: experts={self.experts} and "
                              f"top_k={self.top_k} must both be 0 (dense) or both >= 1")
        if self.top_k > self.experts:
            raise ConfigError(f"model {self.name}: top_k={self.top_k} is larger than the "
                              f"expert count experts={self.experts}; allowed 1..{self.experts}")

    # ------------------------------------------------------------------ structure
    @property
    def bytes_per_element(self) -> float:
        """Bytes per activation element (the KV cache: ``kv_cache_bits``)."""
        return self.bits / 8.0

    @property
    def kv_cache_bits(self) -> int:
        """Bits of one KV-cache element (``kv_bits``, or ``bits`` when unset)."""
        return self.kv_bits if self.kv_bits is not None else self.bits

    @property
    def stored_weight_bits(self) -> int:
        """Bits of one stored weight (``weight_bits``, or ``bits`` when unset)."""
        return self.weight_bits if self.weight_bits is not None else self.bits

    @property
    def bytes_per_weight(self) -> float:
        """Bytes per stored weight."""
        return self.stored_weight_bits / 8.0

    @property
    def is_moe(self) -> bool:
        """Whether the model has mixture-of-experts layers."""
        return self.experts > 0

    @property
    def group(self) -> int:
        """Query heads per KV head (GQA group size; 1 for multi-head attention)."""
        return self.heads // self.kv_heads

    @property
    def moe_layers(self) -> int:
        """Blocks with an MoE FFN (blocks ``moe_every-1, 2*moe_every-1, ...``)."""
        return self.layers // self.moe_every if self.is_moe else 0

    @property
    def dense_ffn_layers(self) -> int:
        """Blocks with a dense FFN."""
        return self.layers - self.moe_layers

    @property
    def ffn_matrices(self) -> int:
        """Weight matrices of one FFN (or expert): 3 gated, 2 plain."""
        return 3 if self.gated else 2

    # ------------------------------------------------------------------ sizes (elements)
    @property
    def attention_params(self) -> int:
        """Weights of one block's attention (QKV and output projections)."""
        q = self.heads * self.head_dim
        kv = self.kv_heads * self.head_dim
        return self.hidden * (q + 2 * kv) + q * self.hidden

    @property
    def ffn_params(self) -> int:
        """Weights of one FFN or one expert."""
        return self.ffn_matrices * self.hidden * self.ffn

    @property
    def params(self) -> int:
        """All weights: blocks, router, embedding and LM head (untied)."""
        blocks = self.layers * self.attention_params
        blocks += self.dense_ffn_layers * self.ffn_params
        blocks += self.moe_layers * (self.experts * self.ffn_params + self.hidden * self.experts)
        return blocks + 2 * self.vocab * self.hidden

    @property
    def weight_bytes(self) -> float:
        """Bytes of all weights."""
        return self.params * self.bytes_per_weight

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes per token: 2 (K and V) x layers x kv_heads x head_dim x bytes."""
        return 2.0 * self.layers * self.kv_heads * self.head_dim * self.kv_cache_bits / 8.0

    def max_batch(self, memory_bytes: float, tokens_per_request: int) -> int:
        """Requests whose KV cache (``tokens_per_request`` each) fits beside the weights in
        ``memory_bytes`` (0 when the weights alone do not fit)."""
        if tokens_per_request < 1:
            raise ConfigError(f"tokens_per_request={tokens_per_request}: must be >= 1")
        free = memory_bytes - self.weight_bytes
        if free <= 0:
            return 0
        return int(free // (self.kv_bytes_per_token * tokens_per_request))


_MIXTRAL = "Jiang et al. 2024 (arXiv 2401.04088) and its HF config.json"
_LLAMA2 = ("Touvron et al. 2023 (arXiv 2307.09288), Table 1, and the HF config.json of "
           "meta-llama/Llama-2-{}-hf")
#: Published parameter counts of the presets [parameters] (model cards and HF safetensors
#: totals, untied embeddings): checked by tests against :attr:`LlmModel.params` (+-1 %).
PUBLISHED_PARAMS = MappingProxyType({
    "llama2_7b": 6.74e9, "llama2_70b": 68.98e9, "llama3_8b": 8.03e9, "llama3_70b": 70.55e9,
    "mixtral_8x7b": 46.70e9, "opt_66b": 65.7e9, "grok1": 314e9, "glam": 143e9,
})
MODELS = MappingProxyType({
    "llama2_7b": LlmModel(
        name="llama2_7b", layers=32, hidden=4096, heads=32, kv_heads=32, head_dim=128,
        ffn=11008, gated=True, vocab=32000, source=_LLAMA2.format("7b")),
    "llama2_70b": LlmModel(
        name="llama2_70b", layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128,
        ffn=28672, gated=True, vocab=32000, source=_LLAMA2.format("70b")),
    "llama3_8b": LlmModel(
        name="llama3_8b", layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128,
        ffn=14336, gated=True, vocab=128256,
        source="Dubey et al. 2024 (arXiv 2407.21783), Table 3, and the HF config.json of "
               "meta-llama/Meta-Llama-3-8B"),
    "mixtral_8x7b": LlmModel(
        name="mixtral_8x7b", layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128,
        ffn=14336, gated=True, experts=8, top_k=2, vocab=32000, source=_MIXTRAL),
    "glam": LlmModel(
        name="glam", layers=32, hidden=4096, heads=32, kv_heads=32, head_dim=128, ffn=16384,
        gated=False, experts=64, top_k=2, moe_every=2, vocab=256000,
        source="GLaM 8B/64E, 143B total (Du et al., ICML 2022, Table 4): 32 blocks, MoE in "
               "every other block, d_model 4096, d_ff 16384, 32 heads; 256k vocabulary"),
    "grok1": LlmModel(
        name="grok1", layers=64, hidden=6144, heads=48, kv_heads=8, head_dim=128, ffn=32768,
        gated=True, experts=8, top_k=2, vocab=131072,
        source="xAI grok-1 release (github.com/xai-org/grok-1, model.py): 64 blocks, 48/8 "
               "heads, 8 experts top-2, 314B"),
    "opt_66b": LlmModel(
        name="opt_66b", layers=64, hidden=9216, heads=72, kv_heads=72, head_dim=128,
        ffn=36864, gated=False, vocab=50272,
        source="Zhang et al. 2022 (arXiv 2205.01068), Table 1"),
    "llama3_70b": LlmModel(
        name="llama3_70b", layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128,
        ffn=28672, gated=True, vocab=128256,
        source="Dubey et al. 2024 (arXiv 2407.21783), Table 3"),
})


def get_model(name: str | LlmModel) -> LlmModel:
    """A preset by name (or the model itself)."""
    if isinstance(name, LlmModel):
        return name
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownNameError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None

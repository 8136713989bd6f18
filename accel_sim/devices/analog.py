"""Analog in-memory computing arrays (``analog``): ReRAM/PCM/SONOS crossbars.

One mapping pass (:mod:`._analog_core`) unrolls every conv/linear layer to a weight matrix,
slices and maps it to conductances and tiles it onto ``rows x cols`` arrays. The same pass
gives the performance model (arrays, input phases, ADC conversions -> cycles, latency, energy
by component, area) and the functional simulation (programming error, read noise, drift,
IR drop, DAC/ADC quantisation) that yields the ``accuracy`` metric on the digits networks.

Source design: T. P. Xiao et al., "On the Accuracy of Analog Neural Network Inference
Accelerators", IEEE Circuits and Systems Magazine 22(4), 2022 (arXiv 2109.01262); CrossSim.
PPA constants: NeuroSim (22 nm) and MNSIM as cited per parameter.

Precision: the device's ``input_bits`` and ``weight_bits`` are the arrays' quantisation and
win over the trace: the trace's ``input_bits``, ``weight_bits`` and ``output_bits`` are not
used. Weights are programmed at ``weight_bits``, inputs applied at ``input_bits`` (DAC levels
or bit-serial phases), and activations are buffered at ``input_bits`` (a layer's outputs are
requantised to the next layer's input precision), so a trace built at 8 or 16 bits gives the
same report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._device import Device
from .._ir import Trace
from .._metrics import Metric
from .._params import Config, param
from .._progress import progress_bar
from .._report import Report
from ..errors import ConfigError
from ..tasks import Classification, Task
from . import _analog_core as core

__all__ = ["AnalogArray", "AnalogConfig", "AnalogMatrix", "digits_accuracy"]

MAPPINGS = ("proportional", "differential", "offset_digital", "offset_unit_column")
PROG_MODELS = ("none", "independent", "proportional", "pcm", "rram", "sonos")
READ_NOISE_MODELS = ("independent", "proportional")
ADC_TYPES = ("sar", "mlsa", "survey")


@dataclass(frozen=True)
class AnalogConfig(Config):
    """Configuration of an analog in-memory computing accelerator (normalised Gmax = 1)."""

    # ---- array and mapping
    rows: int = param(1152, low=8, high=4096, log=True, unit="cells",
                      doc="Array rows (Xiao et al. sweep 72-1152; default 1152).")
    cols: int = param(256, low=8, high=4096, log=True, unit="cells", doc="Array columns.")
    weight_bits: int = param(8, low=1, high=16, unit="bit",
                             doc="Weight precision (magnitude bits; the sign is carried by the "
                                 "device pair, or by the offset); wins over the trace's bits.")
    weight_slices: int = param(1, choices=(1, 2, 4, 8), doc="Bit slices per weight "
                               "(1 = fully analog); must divide weight_bits.")
    cell_bits: int = param(8, low=1, high=8, unit="bit",
                           doc="Bits one cell can store; weight_bits / weight_slices must fit.")
    mapping: str = param("proportional", choices=MAPPINGS,
                         doc="Signed-weight mapping: one-sided differential (proportional), "
                             "two-sided differential, or offset subtracted digitally or with a "
                             "reference unit column.")
    on_off_ratio: float = param(1000.0, low=1.5, high=1e7, log=True,
                                doc="Gmax / Gmin of the cells (the SONOS preset's measured "
                                    "1e7 is the upper end).")
    # ---- inputs, DAC, ADC
    input_bits: int = param(8, low=1, high=16, unit="bit",
                            doc="Input (activation) precision of the arrays and buffers; wins "
                                "over the trace's bits (not used).")
    bit_serial: bool = param(False, doc="Apply inputs one bit per cycle (one ADC conversion "
                                        "per input bit).")
    dac_bits: int = param(8, low=1, high=16, unit="bit",
                          doc="DAC resolution for parallel inputs (>= input_bits unless "
                              "bit_serial).")
    adc_bits: int = param(8, low=1, high=16, unit="bit", doc="ADC resolution.")
    adc_range: str = param("calibrated", choices=("max", "calibrated"),
                           doc="max: the largest possible pre-ADC value; calibrated: per layer "
                               "and slice from a percentile of profiled pre-ADC values.")
    adc_percentile: float = param(99.98, low=50.0, high=100.0, unit="%", search=False,
                                  doc="Percentile of |pre-ADC values| used for calibrated "
                                      "ranges (Xiao et al.: inner 99.98 %).")
    # ---- non-idealities
    prog_error_model: str = param("none", choices=PROG_MODELS,
                                  doc="Programming error: none; independent (sigma = alpha * "
                                      "Gmax); proportional (sigma = alpha * G); device presets "
                                      "scaled by alpha: pcm (Joshi et al. 2020), rram (Milo et "
                                      "al. IRPS 2021), sonos (Agrawal et al. IEDM 2022, with "
                                      "its measured drift over 0-5 days).")
    prog_error_sigma: float = param(0.0, low=0.0, high=1.0, unit="fraction",
                                    doc="alpha of the programming-error model.")
    read_noise_sigma: float = param(0.0, low=0.0, high=1.0, unit="fraction",
                                    doc="Read noise per cell and read, resampled every MVM "
                                        "(of Gmax or of the cell's G: read_noise_model).")
    read_noise_model: str = param("independent", choices=READ_NOISE_MODELS,
                                  doc="independent: sigma x Gmax on every cell; proportional: "
                                      "sigma x G (CrossSim's default); read conductances are "
                                      "clipped at 0.")
    drift_time_s: float = param(0.0, low=0.0, high=3.2e8, unit="s",
                                doc="Time since programming; PCM power-law drift G(t) = G0 "
                                    "(t/t0)^-nu, t0 = 20 s, nu = 0.05 (Joshi et al. 2020), or "
                                    "the sonos preset's measured drift (<= 5 days); 0 = none.")
    rp_norm: float = param(0.0, low=0.0, high=1e-1, unit="Rp * Gmax",
                           doc="Parasitic bit-line (column) resistance per cell, normalised "
                               "(Xiao et al. sweep 1e-5..1e-3); 0 = no IR drop.")
    rp_norm_row: float = param(0.0, low=0.0, high=1e-1, unit="Rp * Gmax",
                               doc="Parasitic word-line (row) resistance per cell, normalised; "
                                   "0 = ideal row wires and drivers.")
    adc_max_range: str = param("rows_used", choices=("rows_used", "array", "aligned"),
                               search=False,
                               doc="adc_range=max: the largest pre-ADC value of the rows a "
                                   "layer's tile uses (default), of the whole array height, "
                                   "or CrossSim's convention (aligned): for bit-sliced offset "
                                   "mappings the rows used, rounded to a power of 2 and "
                                   "widened so that an ADC step is a whole number of one "
                                   "cell level's current (341 for 256 rows, 2-bit slices, "
                                   "8-bit ADC); otherwise the rows used.")
    quantize: bool = param(True, search=False,
                           doc="False: weights, inputs and ADC outputs at full precision (the "
                               "ideal reference, equal to numpy to 1e-6).")
    seed: int = param(0, low=0, high=2**31 - 1, search=False,
                      doc="Seed of programming error and read noise.")
    eval_samples: int = param(450, low=1, high=100_000, search=False,
                              doc="Test samples for the accuracy metric (digits test set: 450).")
    # ---- technology / PPA (NeuroSim-like 22 nm unless noted)
    integration_ns: float = param(10.0, low=0.01, high=1e4, unit="ns", search=False,
                                  doc="Integration time per input phase (Xiao et al. SONOS "
                                      "case study: 10 ns per input bit).")
    adc_type: str = param("sar", choices=ADC_TYPES, search=False,
                          doc="ADC energy and area model: sar (NeuroSim V1.4 SarADC, 22 nm LP "
                              "core: (0.538 B + 4.3753) uW over its (B + 1) ns conversion, 42 "
                              "fJ at 5 bits); mlsa (NeuroSim's default multilevel current "
                              "sense amp, "
                              "2.19 fJ and 1.68 um^2 per reference level: 68 fJ at 5 bits); "
                              "survey (standalone converters: the Murmann-survey regression of "
                              "Andrulis et al. 2024, 463 fJ at 5 bits).")
    adc_fj: float = param(0.0, low=0.0, high=1e7, unit="fJ", search=False,
                          doc="Energy per conversion of a specific ADC, overriding adc_type's "
                              "model; 0 = use adc_type.")
    adc_latency_ns_per_bit: float = param(1.0, low=0.01, high=1e3, unit="ns/bit", search=False,
                                          doc="ADC latency (bits + 1) x this (NeuroSim: "
                                              "(bits + 1) ns).")
    cols_per_adc: int = param(8, low=1, high=4096, search=False,
                              doc="Columns sharing one ADC (NeuroSim: 8).")
    adc_area_um2: float = param(1200.0, low=0.0, high=1e7, unit="um^2", search=False,
                                active_if=("adc_type", ("sar",)),
                                doc="adc_type=sar: area of one 8-bit SAR ADC (ISAAC's, 32 nm: "
                                    "1200 um^2), scaled by 2^(bits-8).")
    input_activity: float = param(0.5, low=0.0, high=1.0, unit="fraction", search=False,
                                  doc="Fraction of (row, input phase) pairs driven (input "
                                      "nonzero); scales row-driver and cell energy. 0.5: random "
                                      "bit planes; NeuroSim measures 0.18 on VGG-8.")
    dac_fj_per_row: float = param(164.6, low=0.0, high=1e6, unit="fJ", search=False,
                                  doc="Row driver (WL switch matrix / 1-bit DAC) and word line "
                                      "per driven row and input phase (NeuroSim V1.4, 22 nm, "
                                      "128 columns: 109.5 + 55.1 fJ).")
    cell_read_fj: float = param(1.0, low=0.0, high=1e6, unit="fJ", search=False,
                                doc="Read energy of one driven cell at Gmax per input phase "
                                    "(assumption: 1 uA x 0.1 V x 10 ns).")
    digital_fj_per_op: float = param(16.3, low=0.0, high=1e6, unit="fJ", search=False,
                                     doc="Shift-add / partial-sum accumulation per digitised "
                                         "value (NeuroSim V1.4 subarray shift-adds, 22 nm: "
                                         "16.3 fJ; ISAAC, 32 nm: 21 fJ).")
    interconnect_fj_per_output_mm: float = param(
        1849.0, low=0.0, high=1e7, unit="fJ/mm", search=False,
        doc="On-chip interconnect (buses, adder trees) per partial sum leaving an array (one "
            "per input vector, row tile and weight column) and mm of wire; the wire is the "
            "side of the square one copy of a layer's arrays fills. Calibrated on NeuroSim "
            "V1.4's VGG-8 interconnect energy (6.70 uJ over 3.62 M sum-mm): 97 fJ/bit/mm for "
            "19-bit sums, "
            "its wire at full toggle (72 fJ/bit/mm) plus repeaters.")
    buffer_fj_per_byte: float = param(100.0, low=0.0, high=1e6, unit="fJ/B", search=False,
                                      doc="On-chip buffer access per byte of activations "
                                          "(assumption, ~1 pJ per 64-bit SRAM access / 8).")
    cell_area_um2: float = param(0.0194, low=0.0, high=100.0, unit="um^2", search=False,
                                 doc="Cell area: 1T1R at 40 F^2 with F = 22 nm (assumption).")
    array_periph_um2: float = param(2000.0, low=0.0, high=1e8, unit="um^2", search=False,
                                    doc="Per-array drivers, muxes and shift-adders "
                                        "(assumption).")

    def _check(self) -> None:
        if self.weight_bits % self.weight_slices:
            raise ConfigError(
                f"AnalogConfig.weight_bits={self.weight_bits} is not divisible into "
                f"weight_slices={self.weight_slices}: choose weight_slices among the divisors "
                f"of {self.weight_bits}")
        bps = self.weight_bits // self.weight_slices
        if bps > self.cell_bits:
            raise ConfigError(
                f"AnalogConfig.cell_bits={self.cell_bits}: a slice of {bps} bits "
                f"(weight_bits / weight_slices) does not fit; need cell_bits >= {bps} or more "
                "weight_slices")
        if not self.bit_serial and self.dac_bits < self.input_bits:
            raise ConfigError(
                f"AnalogConfig.dac_bits={self.dac_bits} < input_bits={self.input_bits}: "
                "use bit_serial=true or dac_bits >= input_bits")
        if self.prog_error_model == "sonos" and self.drift_time_s > 5 * 86400:
            raise ConfigError(f"AnalogConfig.drift_time_s={self.drift_time_s:g} is out of range "
                              "for prog_error_model=sonos: its measured drift covers [0, 432000] "
                              "s (5 days)")
        if self.prog_error_model == "rram" and self.drift_time_s > 0:
            raise ConfigError("AnalogConfig.drift_time_s must be 0 for prog_error_model=rram "
                              "(the RRAM preset has no drift model)")
        if self.prog_error_model == "none" and self.prog_error_sigma > 0:
            raise ConfigError("AnalogConfig.prog_error_sigma > 0 needs a prog_error_model "
                              f"(one of {', '.join(PROG_MODELS[1:])})")

    @property
    def bits_per_slice(self) -> int:
        """Weight bits stored per slice."""
        return self.weight_bits // self.weight_slices


class AnalogArray(Device[AnalogConfig]):
    """Analog IMC accelerator: mapping, PPA and functional accuracy in one model."""

    name = "analog"
    Config = AnalogConfig
    description = "Analog in-memory computing crossbars (mapping, non-idealities, accuracy)"
    metrics = (
        Metric("adc_conversions", "conversions", "minimize",
               doc="ADC conversions."),
        Metric("arrays", "arrays", "minimize",
               doc="Crossbar arrays the layer occupies (weights stationary)."),
        Metric("row_tiles", "tiles", "minimize",
               doc="Array tiles along the weight rows (inputs)."),
        Metric("col_tiles", "tiles", "minimize",
               doc="Array tiles along the weight columns (outputs)."),
        Metric("input_phases", "phases", "minimize",
               doc="Input bit-slices (DAC phases) per MVM."),
        Metric("mvms", "MVMs", "minimize",
               doc="Matrix-vector multiplications on the arrays."),
    )
    supported_tasks = frozenset({Classification})
    #: The functional simulation's parameters (not the PPA constants).
    accuracy_params = frozenset({
        "rows", "cols", "weight_bits", "weight_slices", "cell_bits", "mapping", "on_off_ratio",
        "input_bits", "bit_serial", "dac_bits", "adc_bits", "adc_range", "adc_percentile",
        "prog_error_model", "prog_error_sigma", "read_noise_sigma", "read_noise_model",
        "drift_time_s", "rp_norm", "rp_norm_row", "adc_max_range", "quantize", "seed",
        "eval_samples"})

    def accuracy(self, task: Task) -> float:
        """Test accuracy of a digits network with every weight product simulated on the
        arrays of this configuration (:func:`digits_accuracy`)."""
        assert isinstance(task, Classification)
        return digits_accuracy(self.config, task.network)

    def evaluate(self, trace: Trace) -> Report:
        self.require_supported(trace)
        cfg = self.config
        plan = core.mapping_pass(cfg, trace)
        ppa = core.performance(cfg, plan, trace)
        extra: dict[str, float] = {"arrays": float(plan.arrays.sum())}
        extra.update(self.task_metrics(trace))
        util = np.clip(ppa["utilization"], 0.0, 1.0)
        return self.report(
            trace, {"cycles": ppa["cycles"], "latency_s": ppa["latency_s"],
                    "energy_j": ppa["energy_j"], "utilization": util,
                    **{k: v for k, v in ppa.items()
                       if (k.startswith("energy_") and k != "energy_j") or k in core.COUNTS}},
            area_mm2=ppa["area_mm2"], extra=extra)


# ====================================================================== public matrix
class AnalogMatrix:
    """A real matrix programmed onto the ``analog`` device's crossbars (public API:
    ``from accel_sim.analog import AnalogMatrix``).

    ``A = AnalogMatrix(W, params, seed=0)`` maps ``W`` (outputs x inputs) with any of the
    ``analog`` device's parameters (an :class:`~accel_sim.devices.analog.AnalogConfig`, or a
    mapping of parameter names to values, validated like ``-s``) and programs it (programming
    error drawn once from ``seed``). ``A @ x`` is the simulated product for one input vector
    ``(inputs,)`` or a batch ``(batch, inputs)`` (rows are inputs): DAC, read noise (fresh each
    product), IR drop and ADC as configured. ``seed`` is an integer or a numpy ``Generator``
    (shared by several matrices, as the network accuracy path does). ``A.ideal`` is ``W``
    itself, so ``A.ideal @ x`` is the exact product.

    Inputs are scaled by ``x_max`` (the largest magnitude the DAC represents, default 1: inputs
    in [-1, 1]); :meth:`calibrate` sets it, and the ADC ranges when ``adc_range`` is
    ``calibrated``, from example inputs. With ``adc_range="calibrated"`` a product before
    :meth:`calibrate` uses the ``max`` range.
    """

    def __init__(self, W: Any, params: Any = None, *, seed: int | np.random.Generator = 0,
                 x_max: float = 1.0) -> None:
        if params is None:
            cfg = AnalogConfig()
        elif isinstance(params, AnalogConfig):
            cfg = params
        else:
            cfg = AnalogConfig.from_mapping(dict(params))
        w = np.array(W, dtype=np.float64)  # a copy: the caller's array stays writable
        if w.ndim != 2 or 0 in w.shape:
            raise ConfigError(f"AnalogMatrix: W must be a non-empty 2-D matrix (outputs x "
                              f"inputs), got shape {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ConfigError("AnalogMatrix: W holds NaN or infinite values")
        if not (isinstance(x_max, (int, float)) and math.isfinite(x_max) and x_max > 0):
            raise ConfigError(f"AnalogMatrix: x_max must be a positive number, got {x_max!r}")
        self.config = cfg
        self.ideal = w
        w.setflags(write=False)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self._layer = core.AnalogLayer(w.T, cfg, rng)
        self._layer.x_scale = float(x_max)
        self._layer.x_signed = True

    @property
    def shape(self) -> tuple[int, int]:
        """``(outputs, inputs)``."""
        return (int(self.ideal.shape[0]), int(self.ideal.shape[1]))

    def calibrate(self, x: Any) -> AnalogMatrix:
        """Input range (largest ``|x|``) and, for ``adc_range="calibrated"``, the ADC ranges
        from example inputs ``x`` ``(batch, inputs)``; returns ``self``."""
        a = self._batch(x)
        self._layer.calibrate(a)
        return self

    def _batch(self, x: Any) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64)
        a2 = a[None] if a.ndim == 1 else a
        if a2.ndim != 2 or a2.shape[1] != self.shape[1]:
            raise ConfigError(f"AnalogMatrix: x must have {self.shape[1]} inputs (a vector or "
                              f"rows of a batch), got shape {a.shape}")
        if not np.all(np.isfinite(a2)):
            raise ConfigError("AnalogMatrix: x holds NaN or infinite values")
        return a2

    def __matmul__(self, x: Any) -> np.ndarray:
        a = self._batch(x)
        out = self._layer.mvm(a)
        return out[0] if np.ndim(x) == 1 else out

    def __repr__(self) -> str:
        return f"AnalogMatrix({self.shape[0]} x {self.shape[1]}, mapping={self.config.mapping})"


# ====================================================================== digits accuracy
def digits_accuracy(cfg: AnalogConfig, name: str) -> float:
    """Test accuracy of a digits network with every weight product simulated on the arrays.

    Calibration (input and ADC ranges) uses 200 training images; evaluation uses the first
    ``cfg.eval_samples`` test images. Programming error is sampled once (seeded), read noise
    on every MVM.
    """
    from ..nets.digits import forward, load_weights, split

    params = load_weights(name)
    xtr, _, xte, yte = split()
    rng = np.random.default_rng(cfg.seed)
    layers: dict[str, AnalogMatrix] = {}

    def calibrate(layer: str, a: np.ndarray, w: np.ndarray) -> np.ndarray:
        if layer not in layers:  # w is in GEMM layout (inputs x outputs)
            layers[layer] = AnalogMatrix(w.T, cfg, seed=rng)
        return layers[layer].calibrate(a) @ a

    n = min(cfg.eval_samples, len(xte))
    weights = sum(1 for key in params if key.endswith(".W"))
    with progress_bar(2 * weights, desc=f"analog accuracy ({name}, {n} images)",
                      unit="layer") as bar:

        def calibrate_step(layer: str, a: np.ndarray, w: np.ndarray) -> np.ndarray:
            out = calibrate(layer, a, w)
            bar.update(1)
            return out

        forward(name, params, xtr[:200], matmul=calibrate_step)

        def run(layer: str, a: np.ndarray, w: np.ndarray) -> np.ndarray:
            out = layers[layer] @ a
            bar.update(1)
            return out

        logits = forward(name, params, xte[:n], matmul=run)
    out = float(np.mean(np.argmax(logits, axis=1) == yte[:n]))
    if not math.isfinite(out):  # pragma: no cover - guarded by the checks above
        raise ArithmeticError("accuracy is not finite")
    return out


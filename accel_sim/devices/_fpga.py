"""FPGA boards and resource fitting for the FPGA datapath devices.

Figures are the devices' data-sheet totals (AMD/Xilinx product tables): DSP slices, LUTs,
flip-flops, 36 Kb block RAMs, 288 Kb UltraRAMs, super logic regions and off-chip memory
bandwidth. A datapath's :class:`Resources` either fits a board or yields the amount by which
each resource is over (a violated constraint for the explorer; :func:`check_fit` raises).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ..errors import ConfigError

__all__ = ["BOARDS", "FpgaBoard", "Resources", "check_fit", "violations"]


@dataclass(frozen=True)
class FpgaBoard:
    """An FPGA board (totals of its device).

    Attributes:
        part: FPGA device.
        dsp: DSP slices (DSP48E2).
        lut: 6-input LUTs.
        ff: Flip-flops.
        bram_36kb: 36 Kb block RAMs.
        uram_288kb: 288 Kb UltraRAMs.
        slr: Super logic regions (dies).
        dram_gbps: Off-chip memory bandwidth, GB/s.
        source: Where the numbers come from.
    """

    part: str
    dsp: int
    lut: int
    ff: int
    bram_36kb: int
    uram_288kb: int
    slr: int
    dram_gbps: float
    source: str

    @property
    def onchip_bytes(self) -> float:
        """Block RAM plus UltraRAM capacity in bytes."""
        return (self.bram_36kb * 36 + self.uram_288kb * 288) * 1024 / 8


BOARDS = MappingProxyType({
    "u280": FpgaBoard(
        part="XCU280", dsp=9024, lut=1_303_680, ff=2_607_360, bram_36kb=2016, uram_288kb=960,
        slr=3, dram_gbps=460.0,
        source="AMD Alveo U280 data sheet (DS963): 9,024 DSP, 1,304K LUT, 70.9 Mb BRAM, "
               "270 Mb URAM, 3 SLRs, 8 GB HBM2 at 460 GB/s"),
    "vcu1525": FpgaBoard(
        part="XCVU9P", dsp=6840, lut=1_182_240, ff=2_364_480, bram_36kb=2160, uram_288kb=960,
        slr=3, dram_gbps=76.8,
        source="AMD Virtex UltraScale+ product table (XCVU9P): 6,840 DSP, 1,182K LUT, 75.9 Mb "
               "BRAM, 270 Mb URAM, 3 SLRs; VCU1525: 4 x DDR4-2400 channels (4 x 19.2 GB/s)"),
})


@dataclass(frozen=True)
class Resources:
    """Resources a datapath needs (same units as :class:`FpgaBoard`)."""

    dsp: int = 0
    lut: int = 0
    ff: int = 0
    bram_36kb: int = 0
    uram_288kb: int = 0


def violations(board: FpgaBoard, need: Resources) -> dict[str, float]:
    """Per resource: need / available - 1 (> 0 means the design does not fit)."""
    return {name: getattr(need, name) / getattr(board, name) - 1.0
            for name in ("dsp", "lut", "ff", "bram_36kb", "uram_288kb")}


def check_fit(board_name: str, need: Resources, what: str) -> None:
    """Raise :class:`ConfigError` naming every resource ``what`` needs beyond the board."""
    board = BOARDS[board_name]
    over = {k: v for k, v in violations(board, need).items() if v > 0}
    if over:
        detail = ", ".join(f"{k} {getattr(need, k):,} > {getattr(board, k):,}" for k in over)
        raise ConfigError(f"{what} does not fit board {board_name} ({board.part}): {detail}")

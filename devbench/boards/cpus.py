"""Which LLVM CPU (and which Jetson GPU) a board has, from what its runner probe read.

ARM cores are named by the "CPU implementer" and "CPU part" lines of ``/proc/cpuinfo`` (the MIDR
register's fields). The table below maps them to LLVM's ``mcpu`` and the ``mattr`` features TVM
should use; the part numbers are those of Linux's ``arch/arm64/include/asm/cputype.h``, and every
``mcpu`` is one TVM's LLVM knows (``tests/boards/test_board_add.py`` checks). ``mattr`` lists only
what every core of that kind has: ``+dotprod`` from Armv8.2 cores that implement it (Carmel does
not), ``+i8mm`` from Armv8.6 / Armv9 cores.

x86-64 boards get the host's own LLVM CPU name when they have the same CPU as this machine, else
the x86-64 micro-architecture level (v2, v3, v4) their ``flags`` show, so the code never uses an
instruction the board lacks.

Jetsons are recognised by the Tegra chip in the device tree's ``compatible`` list (present on
every L4T / JetPack install) and get the TVM tag of that chip's GPU.
"""

from __future__ import annotations

import platform
from collections import Counter
from dataclasses import dataclass
from typing import Any

from devbench.errors import DevbenchError


@dataclass(frozen=True)
class Core:
    """One kind of ARM core: its marketing name, LLVM ``mcpu`` and the features TVM may use."""

    name: str
    mcpu: str
    mattr: tuple[str, ...]


_V80 = ("+neon",)
_DOT = ("+neon", "+dotprod")
_I8MM = ("+neon", "+dotprod", "+i8mm")

#: (implementer, part) as /proc/cpuinfo writes them, in hex -> the core
ARM_CORES: dict[tuple[int, int], Core] = {
    (0x41, 0xD03): Core("Cortex-A53", "cortex-a53", _V80),  # Pi 3, many SBCs
    (0x41, 0xD04): Core("Cortex-A35", "cortex-a35", _V80),
    (0x41, 0xD05): Core("Cortex-A55", "cortex-a55", _DOT),  # RK3588's little cores
    (0x41, 0xD07): Core("Cortex-A57", "cortex-a57", _V80),  # Jetson Nano / TX1 / TX2
    (0x41, 0xD08): Core("Cortex-A72", "cortex-a72", _V80),  # Pi 4
    (0x41, 0xD09): Core("Cortex-A73", "cortex-a73", _V80),
    (0x41, 0xD0A): Core("Cortex-A75", "cortex-a75", _DOT),
    (0x41, 0xD0B): Core("Cortex-A76", "cortex-a76", _DOT),  # Pi 5, RK3588's big cores
    (0x41, 0xD0C): Core("Neoverse-N1", "neoverse-n1", _DOT),  # Graviton 2, Ampere Altra
    (0x41, 0xD0D): Core("Cortex-A77", "cortex-a77", _DOT),
    (0x41, 0xD0E): Core("Cortex-A76AE", "cortex-a76ae", _DOT),
    (0x41, 0xD40): Core("Neoverse-V1", "neoverse-v1", _I8MM),  # Graviton 3
    (0x41, 0xD41): Core("Cortex-A78", "cortex-a78", _DOT),
    (0x41, 0xD42): Core("Cortex-A78AE", "cortex-a78ae", _DOT),  # Jetson Orin
    (0x41, 0xD44): Core("Cortex-X1", "cortex-x1", _DOT),
    (0x41, 0xD46): Core("Cortex-A510", "cortex-a510", _I8MM),
    (0x41, 0xD47): Core("Cortex-A710", "cortex-a710", _I8MM),
    (0x41, 0xD48): Core("Cortex-X2", "cortex-x2", _I8MM),
    (0x41, 0xD49): Core("Neoverse-N2", "neoverse-n2", _I8MM),
    (0x41, 0xD4B): Core("Cortex-A78C", "cortex-a78c", _DOT),
    (0x41, 0xD4D): Core("Cortex-A715", "cortex-a715", _I8MM),
    (0x41, 0xD4E): Core("Cortex-X3", "cortex-x3", _I8MM),
    (0x41, 0xD4F): Core("Neoverse-V2", "neoverse-v2", _I8MM),  # Graviton 4, Grace
    (0x41, 0xD80): Core("Cortex-A520", "cortex-a520", _I8MM),
    (0x41, 0xD81): Core("Cortex-A720", "cortex-a720", _I8MM),
    (0x41, 0xD82): Core("Cortex-X4", "cortex-x4", _I8MM),
    (0x4E, 0x004): Core("Carmel", "carmel", _V80),  # NVIDIA, Jetson Xavier (no dot product)
    (0xC0, 0xAC3): Core("AmpereOne", "ampere1", _I8MM),
    (0xC0, 0xAC4): Core("AmpereOne A", "ampere1a", _I8MM),
}

#: x86-64 micro-architecture levels, highest first, each with the /proc/cpuinfo flags it adds to the
#: one below (psABI's table; ``abm`` is how the kernel names LZCNT)
X86_LEVELS: tuple[tuple[str, frozenset[str]], ...] = (
    ("x86-64-v4", frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})),
    ("x86-64-v3", frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"})),
    ("x86-64-v2", frozenset({"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"})),
)

#: the Tegra chip in /proc/device-tree/compatible -> (TVM tag of its GPU, what to call it)
TEGRA_GPUS: dict[str, tuple[str, str]] = {
    "nvidia,tegra210": ("nvidia/jetson-nano", "Maxwell sm_53"),
    "nvidia,tegra186": ("nvidia/jetson-tx2", "Pascal sm_62"),
    "nvidia,tegra194": ("nvidia/jetson-agx-xavier", "Volta sm_72"),
    "nvidia,tegra234": ("nvidia/jetson-orin-nano", "Ampere sm_87"),
    "nvidia,tegra264": ("nvidia/jetson-agx-thor", "Blackwell sm_110"),
}

TRIPLES = {"aarch64": "aarch64-linux-gnu", "arm64": "aarch64-linux-gnu", "x86_64": "x86_64-linux-gnu"}


@dataclass(frozen=True)
class CPU:
    """The LLVM target of a board's CPU; ``what`` says in words where the choice came from."""

    mtriple: str
    mcpu: str | None
    mattr: tuple[str, ...]
    what: str
    #: False when the board did not say which core it has and ``mcpu`` was assumed or left generic
    identified: bool

    def llvm(self, cores: int) -> dict[str, Any]:
        """The TVM target table of this CPU with ``cores`` cores."""
        d: dict[str, Any] = {"kind": "llvm", "mtriple": self.mtriple}
        if self.mcpu:
            d["mcpu"] = self.mcpu
        if self.mattr:
            d["mattr"] = list(self.mattr)
        d["num-cores"] = cores
        return d


def arm_core(parts: list[str]) -> Core | None:
    """The core of a board from its "IMPLEMENTER:PART" strings (one per processor). With several
    kinds (big.LITTLE) the one most processors have wins, ties to the last listed (SoCs list their
    big cores last); code for it runs on the others, which share its architecture version on every
    SoC in the table. ``None`` when no part is known."""
    known = []
    for text in parts:
        implementer, _, part = text.partition(":")
        try:
            core = ARM_CORES.get((int(implementer, 16), int(part, 16)))
        except ValueError:
            continue
        if core is not None:
            known.append(core)
    if not known:
        return None
    counts = Counter(known)
    return max(reversed(known), key=lambda c: counts[c]) if len(counts) > 1 else known[0]


def x86_level(flags: set[str]) -> str | None:
    """The highest x86-64 level all of whose flags (and those of the levels below) the board has."""
    levels = [name for name, _ in X86_LEVELS]
    for i, name in enumerate(levels):
        if all(need <= flags for _, need in X86_LEVELS[i:]):
            return name
    return None


def board_cpu(machine: str, hardware: dict[str, Any], cpu_model: str | None, assumed: dict[str, Any] | None,
              assumed_from: str | None = None) -> CPU:
    """The LLVM CPU of a board from its probe. ``assumed`` is the CPU table of the board kind
    (``assumed_from``) the user named or the name suggested; it is used only where the probe cannot
    name the core (qemu-user shows the host's /proc/cpuinfo), and only for the same architecture."""
    triple = TRIPLES.get(machine)
    if triple is None:
        raise DevbenchError(f"the board is a {machine} machine; devbench compiles for aarch64 and x86_64 boards")
    if triple.startswith("aarch64"):
        core = arm_core(hardware.get("cpu_parts", []))
        if core is not None:
            return CPU(triple, core.mcpu, core.mattr, core.name, True)
        if assumed and str(assumed.get("mtriple", "")).startswith("aarch64") and assumed.get("mcpu"):
            mattr = tuple(assumed.get("mattr", _V80))
            why = f"{assumed['mcpu']}, assumed from {assumed_from or 'the board kind'}: /proc/cpuinfo names no core"
            return CPU(triple, assumed["mcpu"], mattr, why, False)
        return CPU(triple, None, _V80, "generic aarch64: /proc/cpuinfo names no core", False)
    from devbench.targets import _cpuinfo_field, detect_host_cpu

    if platform.machine() == "x86_64" and cpu_model and cpu_model == _cpuinfo_field("model name"):
        host = detect_host_cpu()
        if host:
            return CPU(triple, host, (), f"{host} (the same CPU as this machine)", True)
    level = x86_level(set(hardware.get("cpu_flags", [])))
    if level:
        return CPU(triple, level, (), f"{level} (from its CPU flags)", True)
    return CPU(triple, None, (), "generic x86-64", False)


def jetson_gpu(hardware: dict[str, Any]) -> tuple[str, str] | None:
    """(TVM tag, GPU in words) of a Jetson's GPU, or ``None`` on a board that is not a Jetson."""
    for chip in hardware.get("compatible", []):
        if chip in TEGRA_GPUS:
            return TEGRA_GPUS[chip]
    return None

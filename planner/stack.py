"""Facts about the installed training stack that change memory, read without importing it.

The planner must stay torch-free and fast, so versions come from package metadata
(``importlib.metadata``: a file read, no import). When a library is not installed here (the
user plans on a laptop and trains elsewhere) the answer is the conservative one: the older
behaviour that keeps more memory.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import metadata

# bitsandbytes' MatMul4Bit kept the layer input for backward (ctx.tensors = (A, B)) before
# 0.43.2; later releases keep only the packed weight ((None, B)) when the input needs no grad.
BNB_DROPS_INPUT = (0, 43, 2)


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """'0.43.3' -> (0, 43, 3); '0.45.0.dev0' -> (0, 45, 0); None or garbage -> None."""
    if not text:
        return None
    parts = re.findall(r"\d+", text.split("+")[0])[:3]
    return tuple(int(p) for p in parts) if parts else None


@cache
def installed_version(package: str) -> str | None:
    """The installed distribution's version string, or None (no import of the package)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def kbit_saves_inputs(bnb_version: str | None) -> bool:
    """Does this bitsandbytes keep each 4-bit layer's input for backward? Unknown: yes."""
    parsed = version_tuple(bnb_version)
    return parsed is None or parsed < BNB_DROPS_INPUT


def installed_kbit_saves_inputs() -> bool:
    """`kbit_saves_inputs` for the bitsandbytes installed here (conservative when absent)."""
    return kbit_saves_inputs(installed_version("bitsandbytes"))

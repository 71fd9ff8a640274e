"""A small, forgiving wrapper around nvidia-ml-py (the `pynvml` module).

Why a wrapper: NVML fails in many ordinary ways (no driver, a container without the library,
a laptop GPU that does not report power, MIG mode where utilisation is "not supported", a
process we may not inspect). A probe must report what it can and say "n/a" for the rest, never
crash. The pattern follows nvitop's NVML layer (written fresh here): an `NA` sentinel, a lazy
one-time `nvmlInit`, and every field fetched through one guard that turns `NVMLError` into NA.

`pynvml` is imported inside functions only, so importing the planner (and `tunetui --help`)
never pays for it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any


class NaType(str):
    """ "N/A": a falsy string for values NVML cannot give (JSON writers turn it into null)."""

    _instance: NaType | None = None

    def __new__(cls) -> NaType:
        if cls._instance is None:
            cls._instance = super().__new__(cls, "N/A")
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NA"

    def __reduce__(self) -> tuple[Any, ...]:
        return (NaType, ())


NA = NaType()


def jsonable(value: Any) -> Any:
    """`value` with every NA replaced by None (recursively), ready for json.dumps."""
    if value is NA or isinstance(value, NaType):
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


_lock = threading.RLock()  # handles() queries while holding it
_state: dict[str, Any] = {"tried": False, "error": None, "lib": None, "handles": None}


def _friendly(err: BaseException) -> str:
    """A one-line reason a user understands, for the usual NVML init failures."""
    kind = type(err).__name__
    if kind == "NVMLError_LibraryNotFound":
        return "NVML library not found: no NVIDIA driver on this machine"
    if kind == "NVMLError_DriverNotLoaded":
        return "the NVIDIA driver is not loaded"
    if kind == "NVMLError_NoPermission":
        return "no permission to use NVML"
    return f"NVML init failed: {err}"


def init() -> str | None:
    """Initialise NVML once per process. Returns None when usable, else the reason it is not.

    The outcome is cached: a machine without a driver does not grow one at runtime, and the
    1 Hz sampler must not retry a failing dlopen every second.
    """
    with _lock:
        if _state["tried"]:
            return _state["error"]
        _state["tried"] = True
        try:
            import pynvml
        except ImportError:
            _state["error"] = "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
            return _state["error"]
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as err:
            _state["error"] = _friendly(err)
            return _state["error"]
        except OSError as err:  # a broken libnvidia-ml.so
            _state["error"] = f"NVML could not be loaded: {err}"
            return _state["error"]
        _state["lib"] = pynvml
        return None


def reset() -> None:
    """Forget the cached init and handles (tests; or after the driver was reloaded)."""
    with _lock:
        lib = _state["lib"]
        if lib is not None:
            # Shutting down a half-broken NVML must not raise.
            with contextlib.suppress(Exception):
                lib.nvmlShutdown()
        _state.update(tried=False, error=None, lib=None, handles=None)


def lib() -> Any | None:
    """The initialised pynvml module, or None when NVML is unusable."""
    return None if init() else _state["lib"]


def _decode(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def query(func: str | Callable[..., Any], *args: Any, default: Any = NA) -> Any:
    """Call an NVML function by name; any NVMLError (or a missing function) gives `default`.

    Why one guard for everything: "not supported" and "no permission" differ per GPU, driver
    and field, so each field has to fail on its own without taking the probe down.
    """
    nvml = lib()
    if nvml is None:
        return default
    try:
        fn = getattr(nvml, func) if isinstance(func, str) else func
        return _decode(fn(*args))
    except nvml.NVMLError:
        return default
    except (AttributeError, TypeError, OSError):  # function missing in this nvidia-ml-py
        return default


def handles() -> list[tuple[int, Any]]:
    """(index, handle) per GPU, fetched once and reused (what keeps `sample()` cheap).

    A GPU whose handle cannot be had (lost, no permission) is left out; the others keep
    their NVML index, which is what CUDA_VISIBLE_DEVICES and nvidia-smi use.
    """
    if lib() is None:
        return []
    with _lock:
        if _state["handles"] is None:
            count = query("nvmlDeviceGetCount", default=0) or 0
            found = [
                (i, query("nvmlDeviceGetHandleByIndex", i, default=None)) for i in range(count)
            ]
            _state["handles"] = [(i, h) for i, h in found if h is not None]
        return list(_state["handles"])

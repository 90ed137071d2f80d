"""Unpickling that cannot run code: for pickles read from run folders (Qlib artifacts, params.pkl).

A pickle names callables that the loader calls; a crafted ``pred.pkl`` or ``params.pkl`` in a
shared run folder could name ``os.system``. :class:`RestrictedUnpickler` resolves only:

- the pandas / numpy / datetime / pytz reconstructors that pickled Series, DataFrames, indexes,
  arrays and timestamps use (an exact list of functions);
- classes from pandas' and numpy's core (not I/O, ``eval`` machinery or memory maps), pathlib,
  datetime, collections and zoneinfo;
- kronos_quant's own dataclasses (frozen settings) and the classes (and their kronos_quant
  subclasses) a caller adds with ``allow``.

Anything else is an ``UnpicklingError`` naming the global. Qlib's ``recorder.load_object`` takes an
``unpickler`` argument, so Qlib artifacts load through it too. The standard library has no such
loader (``pickle`` documents ``find_class`` as the place to restrict), hence this small class.
"""
from __future__ import annotations

import dataclasses
import inspect
import io
import pickle
from pathlib import Path

SAFE_FUNCTIONS = frozenset({
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"), ("pandas._libs.internals", "_unpickle_block"),
    ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
    ("pandas.core.indexes.base", "_new_Index"), ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"),
    ("pandas.core.indexes.period", "_new_PeriodIndex"), ("pandas._libs.tslibs.nattype", "__nat_unpickle"),
    ("pandas.core.internals.blocks", "new_block"), ("pytz", "_p"), ("pytz", "_UTC"),
    ("_codecs", "encode"), ("copyreg", "_reconstructor"),
})
SAFE_BUILTINS = frozenset({"slice", "set", "frozenset", "complex", "bytearray", "range", "object", "tuple",
                           "list", "dict", "int", "float", "str", "bool", "bytes"})
CLASS_MODULES = ("pandas.core.", "pandas._libs.", "numpy", "pytz", "datetime", "collections", "pathlib",
                 "zoneinfo", "dateutil.tz")
UNSAFE_MODULE_PARTS = ("memmap", "computation", ".io.", "pickle", "testing")


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the globals listed in the module docstring."""

    allow: tuple[type, ...] = ()  # extra classes a subclass (or :func:`load_pickle`) permits

    def find_class(self, module: str, name: str):
        return _resolve(module, name, self.allow, super().find_class)


def _resolve(module: str, name: str, allow: tuple[type, ...], find):
    """``find(module, name)`` when the global is allowed, else an UnpicklingError naming it."""
    if (module, name) in SAFE_FUNCTIONS or (module in ("builtins", "__builtin__") and name in SAFE_BUILTINS):
        return find(module, name)
    found = find(module, name) if _importable_class_module(module) else None
    if inspect.isclass(found) and (_is_data_class(module, found) or issubclass(found, allow)):
        return found
    raise pickle.UnpicklingError(f"refusing to load {module}.{name}: this file may only hold data "
                                 "(pandas/numpy objects and kronos_quant settings), not code")


class ObjectUnpickler(pickle._Unpickler):
    """Also rebuilds instances of classes from ``packages`` (e.g. a saved Qlib ``DatasetH``), never calls them.

    Pure-Python unpickler: such an instance may only be created the way pickle protocol 2+ stores
    ordinary objects (``cls.__new__`` + its saved ``__dict__``); a pickle that *calls* one of those
    classes (REDUCE, INST, OBJ: ``__init__`` with arguments from the file) is refused, so a
    constructor that imports or instantiates by name can never be reached. Slower than
    :class:`RestrictedUnpickler`; meant for small configuration objects.
    """

    packages: tuple[str, ...] = ("qlib.", "kronos_quant.")
    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str):
        if module.startswith(self.packages) and not any(part in f".{module}." for part in UNSAFE_MODULE_PARTS):
            found = super().find_class(module, name)
            if inspect.isclass(found):
                return found
        return _resolve(module, name, (), super().find_class)

    def load_reduce(self):
        func = self.stack[-2]
        if inspect.isclass(func) and func.__module__.startswith(self.packages):
            raise pickle.UnpicklingError(f"refusing to call {func.__module__}.{func.__name__}(...) while loading")
        super().load_reduce()

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _instantiate(self, klass, args):
        raise pickle.UnpicklingError(f"refusing to call {klass!r}(...) while loading (protocol 0/1 objects)")


def _importable_class_module(module: str) -> bool:
    trusted = module.startswith(CLASS_MODULES) or module.startswith("kronos_quant.")
    return trusted and not any(part in f".{module}." for part in UNSAFE_MODULE_PARTS)


def _is_data_class(module: str, found: type) -> bool:
    if module.startswith("kronos_quant."):
        return dataclasses.is_dataclass(found)
    return True


def unpickler_allowing(*classes: type) -> type[RestrictedUnpickler]:
    """A :class:`RestrictedUnpickler` subclass that also resolves ``classes`` (e.g. ``KronosModel``)."""
    return type("RestrictedUnpickler", (RestrictedUnpickler,), {"allow": tuple(classes)})


def load_pickle(path: str | Path, *, allow: tuple[type, ...] = ()):
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (plus the classes in ``allow``).

    A refused global or a corrupt file is a ValueError naming the file.
    """
    path = Path(path)
    unpickler = unpickler_allowing(*allow)
    try:
        with open(path, "rb") as handle:
            return unpickler(io.BufferedReader(handle)).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError) as err:
        raise ValueError(f"{path} cannot be loaded safely ({type(err).__name__}: {err}); it is corrupt or holds "
                         "more than data. Re-create it (e.g. rerun the workflow)") from None

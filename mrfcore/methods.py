"""Registries through which reconstruction and inference methods announce themselves.

A method is a class with a ``run(inputs, options, progress)`` method, registered with a
decorator that names it and gives its options dataclass::

    @dataclass
    class LRTVOptions:
        lam: float = option(0.2, label="TV weight λ", unit="× ZF scale", minimum=0.0)

    @RECONSTRUCTION.register("lrtv", label="LRTV", options=LRTVOptions)
    class LRTV:
        def run(self, inputs, options, progress): ...

The GUI builds its method lists and option forms from :func:`option_specs`; the command
line builds its flags from the same place.  Built-in methods register themselves when
:func:`load_methods` imports ``mrfcore.recon`` and ``mrfcore.inference``; third-party
packages can add methods through the ``mrf_studio.methods`` entry-point group.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, get_type_hints

from mrfcore.progress import Progress

if TYPE_CHECKING:
    import numpy as np

    from mrfcore.data import ImageSeries, KSpaceData
    from mrfcore.dictionary import Dictionary

__all__ = [
    "INFERENCE",
    "RECONSTRUCTION",
    "InferenceInputs",
    "ReconstructionInputs",
    "MethodInfo",
    "OptionSpec",
    "Registry",
    "load_methods",
    "option",
    "option_specs",
    "options_from_dict",
    "options_to_dict",
    "validate_options",
]


@dataclass(frozen=True)
class OptionSpec:
    """What a user needs to know about one option of a method."""

    name: str
    label: str
    type: type
    default: Any
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""
    advanced: bool = False


def option(
    default: Any,
    *,
    label: str,
    unit: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[Any] | None = None,
    help: str = "",
    advanced: bool = False,
) -> Any:
    """A dataclass field that documents itself for forms and command-line flags."""
    meta = {
        "label": label,
        "unit": unit,
        "minimum": minimum,
        "maximum": maximum,
        "choices": tuple(choices) if choices is not None else None,
        "help": help,
        "advanced": advanced,
    }
    return dataclasses.field(default=default, metadata={"mrf_option": meta})


def option_specs(options_type: type) -> list[OptionSpec]:
    """The :class:`OptionSpec` of every field of an options dataclass, in order."""
    hints = get_type_hints(options_type)
    specs = []
    for field in dataclasses.fields(options_type):
        meta = field.metadata.get("mrf_option")
        if meta is None:
            raise TypeError(
                f"{options_type.__name__}.{field.name} is not declared with option(...)"
            )
        specs.append(
            OptionSpec(name=field.name, type=hints[field.name], default=field.default, **meta)
        )
    return specs


def validate_options(options: Any) -> None:
    """Check every option against its declared type, limits and choices.

    Raises
    ------
    ValueError
        Naming the option (by its label) and what is wrong with its value.
    """
    for spec in option_specs(type(options)):
        value = getattr(options, spec.name)
        where = f"option '{spec.label}' ({spec.name})"
        if spec.choices is not None and value not in spec.choices:
            raise ValueError(f"{where} must be one of {list(spec.choices)}, got {value!r}")
        if spec.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{where} must be a number, got {value!r}")
            if spec.type is int and not float(value).is_integer():
                raise ValueError(f"{where} must be a whole number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{where} must be finite, got {value!r}")
            if spec.minimum is not None and value < spec.minimum:
                raise ValueError(f"{where} must be ≥ {spec.minimum}, got {value!r}")
            if spec.maximum is not None and value > spec.maximum:
                raise ValueError(f"{where} must be ≤ {spec.maximum}, got {value!r}")


def options_to_dict(options: Any) -> dict[str, Any]:
    """Plain JSON-able dictionary of an options object (for provenance sidecars)."""
    return dataclasses.asdict(options)


def options_from_dict(options_type: type, values: dict[str, Any]) -> Any:
    """Build and validate an options object; unknown keys are an error naming them."""
    known = {spec.name: spec for spec in option_specs(options_type)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for {options_type.__name__}; "
            f"known options: {sorted(known)}"
        )
    converted = {}
    for name, value in values.items():
        spec = known[name]
        if spec.type is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif spec.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        converted[name] = value
    options = options_type(**converted)
    validate_options(options)
    return options


@dataclass
class ReconstructionInputs:
    """What every reconstruction method receives.

    Attributes
    ----------
    kspace
        The raw data (samples, trajectory, sequence, geometry).
    basis
        Temporal subspace V, complex64, shape (frames, s), orthonormal columns (usually
        ``Dictionary.basis`` for ``kspace.sequence``).
    device
        Compute device choice, resolved with :func:`mrfcore.device.select_device`.
    """

    kspace: KSpaceData
    basis: np.ndarray
    device: str = "auto"


@dataclass
class InferenceInputs:
    """What every inference method receives.

    Attributes
    ----------
    images
        The TSMI, in the dictionary's subspace or as time frames (then projected).
    dictionary
        Compressed dictionary for the images' sequence (atoms, parameters, basis).
    device
        Compute device choice, resolved with :func:`mrfcore.device.select_device`.
    """

    images: ImageSeries
    dictionary: Dictionary
    device: str = "auto"


class Method(Protocol):
    def run(self, inputs: Any, options: Any, progress: Progress) -> Any: ...


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its identity, its options, and the class that runs it."""

    name: str
    label: str
    kind: str
    options_type: type
    method_type: type
    description: str = ""

    @property
    def options(self) -> list[OptionSpec]:
        return option_specs(self.options_type)

    def default_options(self) -> Any:
        return self.options_type()

    def run(self, inputs: Any, options: Any = None, progress: Progress | None = None) -> Any:
        """Validate the options and run the method."""
        options = self.default_options() if options is None else options
        if not isinstance(options, self.options_type):
            raise TypeError(
                f"{self.label} expects {self.options_type.__name__}, got {type(options).__name__}"
            )
        validate_options(options)
        return self.method_type().run(inputs, options, progress or Progress())


T = TypeVar("T", bound=type)


class Registry:
    """Named methods of one kind (``"reconstruction"`` or ``"inference"``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._methods: dict[str, MethodInfo] = {}

    def register(
        self, name: str, *, label: str, options: type, description: str = ""
    ) -> Callable[[T], T]:
        """Class decorator registering a method under ``name``."""
        if not dataclasses.is_dataclass(options):
            raise TypeError(f"options of {self.kind} method {name!r} must be a dataclass")
        option_specs(options)  # fail at import time if a field is undocumented

        def decorate(cls: T) -> T:
            if name in self._methods and self._methods[name].method_type is not cls:
                raise ValueError(f"{self.kind} method {name!r} is registered twice")
            doc = description or (cls.__doc__ or "").strip().split("\n\n")[0]
            self._methods[name] = MethodInfo(name, label, self.kind, options, cls, doc)
            return cls

        return decorate

    def get(self, name: str) -> MethodInfo:
        load_methods()
        try:
            return self._methods[name]
        except KeyError:
            raise KeyError(
                f"no {self.kind} method named {name!r}; available: {self.names()}"
            ) from None

    def names(self) -> list[str]:
        load_methods()
        return list(self._methods)

    def __iter__(self) -> Iterator[MethodInfo]:
        load_methods()
        return iter(list(self._methods.values()))

    def __contains__(self, name: object) -> bool:
        load_methods()
        return name in self._methods

    def __len__(self) -> int:
        load_methods()
        return len(self._methods)


RECONSTRUCTION = Registry("reconstruction")
INFERENCE = Registry("inference")

_BUILTIN_PACKAGES = ("mrfcore.recon", "mrfcore.inference")
_loaded = False


def load_methods() -> None:
    """Import the built-in method packages and any plugins (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for package in _BUILTIN_PACKAGES:
        importlib.import_module(package)
    for entry in entry_points(group="mrf_studio.methods"):
        entry.load()

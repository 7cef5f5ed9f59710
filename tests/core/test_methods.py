from dataclasses import dataclass

import pytest

from mrfcore.methods import (
    INFERENCE,
    RECONSTRUCTION,
    Registry,
    option,
    option_specs,
    options_from_dict,
    validate_options,
)
from mrfcore.progress import Cancelled, CancelToken, Progress


@dataclass
class ToyOptions:
    iterations: int = option(10, label="Iterations", minimum=1, maximum=100)
    weight: float = option(0.2, label="Weight λ", unit="relative", minimum=0.0)
    mode: str = option("fast", label="Mode", choices=("fast", "exact"))


def make_registry():
    registry = Registry("toy")

    @registry.register("toy", label="Toy method", options=ToyOptions)
    class Toy:
        """Adds the weight to its input, iterating with progress."""

        def run(self, inputs, options, progress):
            for i in range(options.iterations):
                progress(i + 1, options.iterations, "iterating")
            return inputs + options.weight

    return registry


def test_registry_lists_runs_and_documents_methods(monkeypatch):
    monkeypatch.setattr("mrfcore.methods._loaded", True)
    registry = make_registry()
    assert registry.names() == ["toy"]
    info = registry.get("toy")
    assert info.label == "Toy method" and info.description.startswith("Adds the weight")
    specs = {spec.name: spec for spec in info.options}
    assert specs["weight"].unit == "relative" and specs["iterations"].maximum == 100
    assert specs["mode"].choices == ("fast", "exact") and specs["iterations"].type is int
    assert info.run(1.0, ToyOptions(weight=0.5)) == 1.5
    with pytest.raises(KeyError, match="available"):
        registry.get("missing")


def test_options_are_validated_with_their_labels():
    with pytest.raises(ValueError, match="Iterations.*≥ 1"):
        validate_options(ToyOptions(iterations=0))
    with pytest.raises(ValueError, match="Mode.*one of"):
        validate_options(ToyOptions(mode="slow"))
    with pytest.raises(ValueError, match="unknown option"):
        options_from_dict(ToyOptions, {"speed": 1})
    options = options_from_dict(ToyOptions, {"iterations": 5.0, "weight": 1})
    assert options.iterations == 5 and isinstance(options.weight, float)


def test_undocumented_option_fields_are_refused():
    @dataclass
    class Bare:
        x: int = 1

    with pytest.raises(TypeError, match="option"):
        option_specs(Bare)


def test_progress_callback_returning_false_cancels_the_method(monkeypatch):
    monkeypatch.setattr("mrfcore.methods._loaded", True)
    registry = make_registry()
    seen = []

    def stop_at_three(step, total, message):
        seen.append(step)
        return step < 3

    with pytest.raises(Cancelled):
        registry.get("toy").run(0.0, ToyOptions(), Progress(stop_at_three))
    assert seen == [1, 2, 3]


def test_cancel_token_stops_work_and_stages_map_progress():
    token = CancelToken()
    reports = []
    progress = Progress(lambda s, t, m: reports.append((s, t, m)), token)
    stage = progress.stage(0.5, 1.0, "iterate")
    stage(1, 2, "step")
    assert reports[-1] == (750, 1000, "iterate: step")
    token.cancel()
    with pytest.raises(Cancelled):
        stage(2, 2, "step")


def test_builtin_registries_load():
    # Every registered built-in declares documented options and a label.
    for registry in (RECONSTRUCTION, INFERENCE):
        for info in registry:
            assert info.label and info.options is not None

"""One contract test over every registered signal (built-ins and installed plugins)."""

import json

import numpy as np
import pytest

from forensics import load_image
from forensics.signals import Availability, Signal, SignalResult, create_signal, signal_names
from support.images import camera_exif, encode, natural_rgb

NAMES = signal_names()


@pytest.fixture(scope="module")
def images():
    rgb = natural_rgb(300, 400, seed=3)
    return [
        load_image(encode(rgb, "JPEG", quality=85, exif=camera_exif())),
        load_image(encode(rgb, "PNG")),
        load_image(encode(rgb[:, :, 0], "PNG")),
        load_image(np.zeros((1, 1, 3), np.uint8)),
    ]


@pytest.mark.parametrize("name", NAMES)
def test_signal_contract(name, images):
    sig = create_signal(name)
    assert isinstance(sig, Signal)
    assert sig.name == name and isinstance(sig.version, str) and sig.version
    avail = sig.availability()
    assert isinstance(avail, Availability)
    fp = sig.fingerprint()
    json.dumps(fp)
    if not avail.ok:
        assert avail.reason and len(avail.reason) > 10
    for image in images:
        first, second = sig.analyze(image), sig.analyze(image)
        assert isinstance(first, SignalResult)
        assert (first.name, first.version) == (name, sig.version)
        if not avail.ok:
            # a signal that cannot run here says so on every image, never a score from missing weights
            assert first.status == "unavailable" and first.score is None and first.reason, first
            continue
        assert first.status in ("ok", "abstained", "error")
        assert first.status != "error", first.reason
        json.dumps(first.evidence, allow_nan=False)
        assert isinstance(first.summary, str) and first.summary
        # deterministic for the same image
        assert (first.status, first.score, first.evidence) == (second.status, second.score, second.evidence)
        if first.heatmap is not None:
            assert first.heatmap.dtype == np.float32 and first.heatmap.ndim == 2


def test_every_signal_class_is_registered_and_every_entry_names_one():
    """The registry table and the signal modules agree: each concrete signal class in
    ``forensics.signals`` has a registry line, and each line imports to such a class."""
    import importlib
    import inspect
    import pkgutil

    import forensics.signals as package
    from forensics.signals import BUILTIN, BaseSignal

    found = set()
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if (cls.__module__ == module.__name__ and callable(getattr(cls, "analyze", None))
                    and callable(getattr(cls, "availability", None)) and getattr(cls, "_is_protocol", False) is False
                    and cls.analyze is not BaseSignal.analyze):  # a base class (BaseSignal, OnnxSignal), not a signal
                found.add(f"{module.__name__}:{cls_name}")
    assert found == set(BUILTIN.values())
    for name, target in BUILTIN.items():
        assert create_signal(name).name == name, target
    assert signal_names(include_plugins=False) == list(BUILTIN)
    assert NAMES[: len(BUILTIN)] == list(BUILTIN)  # built-ins first, then plugins


def test_every_builtin_is_a_base_signal_and_declares_its_evidence_kind():
    from forensics.signals import BUILTIN, BaseSignal, signal_class
    from forensics.signals.base import EVIDENCE_KINDS
    from forensics.signals.onnx import OnnxSignal

    for name in BUILTIN:
        cls = signal_class(name)
        assert issubclass(cls, BaseSignal), name
        declared = next(c.__dict__["evidence_kind"] for c in cls.__mro__ if "evidence_kind" in c.__dict__)
        assert declared in EVIDENCE_KINDS and declared == cls.evidence_kind, name
    # every signal that runs an ONNX graph does so through the one base (and its one session cache)
    assert {n for n in BUILTIN if issubclass(signal_class(n), OnnxSignal)} == {"effnet_probe", "npr", "sumsub_sd5",
                                                                              "clip_zeroshot"}


def test_a_signal_that_raises_becomes_an_error_result_through_the_engine_alone():
    from forensics import Engine
    from forensics.signals import BaseSignal

    class Broken(BaseSignal):
        name, version, failure, evidence_kind = "broken", "1", "bytes could not be read", "pixels"

        def analyze(self, image):
            raise ValueError("bad bytes")

    sig = Broken()
    image = load_image(np.zeros((80, 80, 3), np.uint8))
    with pytest.raises(ValueError, match="bad bytes"):  # the signal itself does not hide it
        sig.analyze(image)
    a = Engine([sig, "exif"], attribution=False).analyze(image)
    r = a.signal("broken").result
    assert r.status == "error" and r.reason == "bytes could not be read (ValueError: bad bytes)"
    assert a.signal("exif").result.status == "ok" and a.not_run == [a.signal("broken")]
    assert sig.availability().ok and sig.fingerprint() == {"name": "broken", "version": "1"}
    assert isinstance(sig, Signal) and sig.prior is None and sig.decisive_at is None
    assert (sig.brief(r), sig.edited(r), sig.claimed_generator(r)) == (None, None, None)


def test_a_plugin_without_the_base_class_fails_in_the_engine_with_the_exception_named():
    from forensics import Engine

    class Bare:
        name, version = "bare", "0"

        def availability(self):
            return Availability.yes()

        def analyze(self, image):
            raise KeyError("width")

    a = Engine([Bare()], attribution=False).analyze(load_image(np.zeros((8, 8, 3), np.uint8)))
    assert a.signal("bare").result.reason == "KeyError: 'width'"


def test_the_signal_modules_of_every_registered_builtin_import_none_of_each_other():
    """The independence contract, over the registry itself (no hand-kept list): a signal is
    one module, sharing only ``base``, ``registry`` and the shared helpers, so no built-in's
    module imports another's, directly or through other modules (``TYPE_CHECKING`` imports too)."""
    grimp = pytest.importorskip("grimp", reason="the test extra's import-linter brings grimp")
    from forensics.signals import BUILTIN

    graph = grimp.build_graph("forensics", exclude_type_checking_imports=False)
    modules = sorted({target.partition(":")[0] for target in BUILTIN.values()})
    assert set(modules) <= graph.modules
    chains = {(a, b): graph.find_shortest_chain(importer=a, imported=b) for a in modules for b in modules if a != b}
    assert {pair: chain for pair, chain in chains.items() if chain is not None} == {}

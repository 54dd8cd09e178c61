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
                    and cls is not BaseSignal):  # the optional base class, not a signal
                found.add(f"{module.__name__}:{cls_name}")
    assert found == set(BUILTIN.values())
    for name, target in BUILTIN.items():
        assert create_signal(name).name == name, target
    assert signal_names(include_plugins=False) == list(BUILTIN)
    assert NAMES[: len(BUILTIN)] == list(BUILTIN)  # built-ins first, then plugins


def test_base_signal_defaults_and_failures():
    from forensics.signals import BaseSignal

    class Broken(BaseSignal):
        name, version, failure = "broken", "1", "bytes could not be read"

        def run(self, image):
            raise ValueError("bad bytes")

    sig = Broken()
    r = sig.analyze(load_image(np.zeros((8, 8, 3), np.uint8)))
    assert r.status == "error" and r.reason == "bytes could not be read (ValueError: bad bytes)"
    assert sig.availability().ok and sig.fingerprint() == {"name": "broken", "version": "1"}
    assert isinstance(sig, Signal) and sig.prior is None and sig.decisive_at is None

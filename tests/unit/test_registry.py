import sys

import pytest

from forensics import UnknownSignalError
from forensics.signals import registry


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """A real installed-distribution layout on sys.path with two entry points: one good, one broken."""
    (tmp_path / "demo_plugin.py").write_text("from support.toy_signals import Brightness\n")
    dist = tmp_path / "demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[forensics.signals]\nbrightness = demo_plugin:Brightness\nbroken = demo_plugin_missing:Nope\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.reset_plugin_cache()
    yield
    registry.reset_plugin_cache()
    sys.modules.pop("demo_plugin", None)


def test_unknown_name_suggests_close_match():
    name = registry.signal_names()[0] if registry.signal_names() else None
    if name is None:
        pytest.skip("no signals registered")
    with pytest.raises(UnknownSignalError, match=rf"unknown signal '{name}x'; did you mean '{name}'"):
        registry.create_signal(name + "x")


def test_dct_is_out_of_the_default_set_but_runs_when_named():
    import numpy as np

    from forensics import Engine

    assert "dct" in registry.signal_names()
    assert "dct" not in [s.name for s in registry.default_signals()]
    assert "dct" not in [s.name for s in Engine().signals_]
    rgb = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    result = Engine(["dct"]).analyze(rgb)
    assert result.signal("dct").result.status == "ok" and result.heatmap("dct") is not None


def test_unknown_name_is_a_key_error():
    with pytest.raises(KeyError):
        registry.signal_class("no_such_signal_anywhere")


def test_entry_point_plugin_loads_and_runs(plugin_dist):
    from forensics import Engine

    assert "brightness" in registry.signal_names()
    sig = registry.create_signal("brightness")
    import numpy as np

    a = Engine([sig]).analyze(np.full((16, 16, 3), 255, np.uint8))
    assert a.signal("brightness").result.score == pytest.approx(1.0)
    assert a.signal("brightness").in_fusion is False  # the fusion does not know it: contributes 0


def test_broken_plugin_is_reported_not_fatal(plugin_dist):
    with pytest.raises(ImportError, match="signal 'broken': cannot import 'demo_plugin_missing:Nope'"):
        registry.create_signal("broken")
    assert "broken" in registry.plugin_errors()
    names = [s.name for s in registry.default_signals()]
    assert "brightness" in names and "broken" not in names


def test_env_var_disables_autoload(plugin_dist, monkeypatch):
    monkeypatch.setenv(registry.NO_PLUGINS_ENV, "1")
    registry.reset_plugin_cache()
    assert "brightness" not in registry.signal_names()

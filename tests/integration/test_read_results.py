"""forensics.batch.read_results: a scan's results as one flat record per file."""

import importlib.util
import json

import pytest

import forensics.batch
from forensics.batch import read_results
from forensics.batch.results import FLAT_COLUMNS
from forensics.batch.scan import scan
from support.batch_signals import Redness, Sharpness, batch_fusion, coloured
from support.images import encode

HAS_PANDAS = importlib.util.find_spec("pandas") is not None


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("table")
    for i in range(3):
        (d / f"p{i}.png").write_bytes(encode(coloured(40, 48, i * 3), "PNG"))
    (d / "empty.png").write_bytes(b"")
    out = d / "results.jsonl"
    scan([d], out, workers=0, signals=[Redness(), Sharpness()], fusion=batch_fusion())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return out, {r["source"].rsplit("/", 1)[-1]: r for r in rows}


def test_dicts_are_flat_records(results):
    path, rows = results
    recs = {r["source"].rsplit("/", 1)[-1]: r for r in read_results(path, as_frame=False)}
    assert list(recs["p0.png"]) == [*FLAT_COLUMNS, "contribution_redness", "score_redness",
                                    "contribution_sharpness", "score_sharpness"]
    row, rec = rows["p1.png"], recs["p1.png"]
    assert (rec["probability"], rec["verdict"], rec["headline"]) == (row["probability"], row["verdict"], row["headline"])
    assert rec["basis"] == row["basis"]["kind"] and rec["path"] == row["scan"]["path"]
    assert rec["contribution_redness"] == row["signals"][0]["contribution"] and rec["score_sharpness"] == row["signals"][1]["score"]
    assert (rec["format"], rec["width"], rec["height"], rec["error_type"]) == ("PNG", 48, 40, None)
    bad = recs["empty.png"]
    assert bad["error_type"] == "ImageLoadError" and "file is empty" in bad["error_message"]
    assert bad["probability"] is None and bad["contribution_redness"] is None


@pytest.mark.skipif(not HAS_PANDAS, reason="pandas not installed (pip install 'forensics[pandas]')")
def test_a_dataframe_with_pandas(results):
    path, rows = results
    df = read_results(path)
    import pandas as pd

    assert isinstance(df, pd.DataFrame) and len(df) == 4
    assert list(df.columns[: len(FLAT_COLUMNS)]) == list(FLAT_COLUMNS)
    by = df.set_index(df["source"].str.rsplit("/", n=1).str[-1])
    assert by.loc["p2.png", "probability"] == rows["p2.png"]["probability"]
    assert by.loc["empty.png", "error_type"] == "ImageLoadError" and pd.isna(by.loc["empty.png", "probability"])
    assert df.equals(pd.DataFrame(read_results(path, as_frame=False), columns=df.columns))


def test_without_pandas_it_is_dicts(results, monkeypatch):
    path, _ = results
    import builtins

    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):  # an interpreter without pandas installed
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    recs = forensics.batch.read_results(path)
    assert isinstance(recs, list) and len(recs) == 4 and isinstance(recs[0], dict)
    with pytest.raises(ImportError, match=r"pip install 'forensics\[pandas\]'"):
        read_results(path, as_frame=True)
    with pytest.raises(ValueError, match="as_frame must be True, False or 'auto'"):
        read_results(path, as_frame="yes")

"""JPEG quantisation tables against the IJG (libjpeg) scaling of ITU-T T.81 Annex K: the one
quality estimator the signals share (``jpeg_tables`` reports it with the table kind, ``dct``
as evidence beside the block grid).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: ITU-T T.81 Annex K, Table K.1 (luminance), natural (row-major) order.
ANNEX_K_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.int64)
#: ITU-T T.81 Annex K, Table K.2 (chrominance), natural order.
ANNEX_K_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
], dtype=np.int64)
#: zigzag position k -> natural index.
ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
])


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """``base`` scaled to IJG ``quality`` (1-100) as libjpeg's ``jpeg_set_quality`` does (baseline)."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip((base * scale + 50) // 100, 1, 255)


_LUMA_BY_Q = np.stack([ijg_table(ANNEX_K_LUMA, q) for q in range(1, 101)])
_CHROMA_BY_Q = np.stack([ijg_table(ANNEX_K_CHROMA, q) for q in range(1, 101)])


def classify_tables(tables: dict[int, list[int]]) -> dict[str, Any]:
    """Compare quantisation tables with IJG-scaled Annex K tables; see the module docstring."""
    ids = sorted(tables)
    arrays = [np.asarray(tables[i], dtype=np.int64) for i in ids]
    if not arrays or any(a.shape != (64,) for a in arrays):
        raise ValueError(f"expected 64-entry tables, got sizes {[a.size for a in arrays]}")
    best: dict[str, Any] = {}
    for order, perm in (("natural", None), ("zigzag", ZIGZAG)):
        natural = []
        for a in arrays:
            if perm is None:
                natural.append(a)
            else:  # a[k] is the coefficient at zigzag position k
                nat = np.empty(64, dtype=np.int64)
                nat[perm] = a
                natural.append(nat)
        refs = [_LUMA_BY_Q] + [_CHROMA_BY_Q] * (len(natural) - 1)
        diffs = np.stack([np.abs(ref - t[None, :]) for ref, t in zip(refs[:2], natural[:2])])
        mad = diffs.mean(axis=(0, 2))  # per quality
        q_idx = int(np.argmin(mad))
        maxdiff = max(int(np.abs(ref[q_idx] - t).max()) for ref, t in zip(refs, natural))
        cand = {"order": order, "q": q_idx + 1, "mad": float(mad[q_idx]), "maxdiff": maxdiff}
        if not best or cand["mad"] < best["mad"]:
            best = cand
    kind = "standard_ijg" if best["maxdiff"] == 0 else "near_ijg" if best["maxdiff"] <= 1 else "custom"
    return {
        "tables": len(arrays),
        "standard": kind == "standard_ijg",
        "near_standard": kind in ("standard_ijg", "near_ijg"),
        "estimated_quality": best["q"],
        "mean_abs_diff": round(best["mad"], 3),
        "kind": kind,
        "order": best["order"],
    }


def estimate_quality(tables: dict[int, list[int]] | None) -> int | None:
    """The IJG quality (1-100) whose tables are closest to ``tables`` (see :func:`classify_tables`);
    ``None`` without readable 64-entry tables."""
    if not tables:
        return None
    try:
        return int(classify_tables(tables)["estimated_quality"])
    except (ValueError, TypeError):
        return None


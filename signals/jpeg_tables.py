"""JPEG quantisation tables: standard IJG (Annex K) tables scaled to a quality, or custom.

Libraries (libjpeg, libjpeg-turbo, Pillow, OpenCV, most web services) write the example
tables of ITU-T T.81 Annex K scaled by the IJG quality formula. Camera firmware and some
editors (Photoshop, Apple) write their own tables. So the tables say something about the
*last encoder*, never about how the pixels were made: a camera photo re-saved by any
library gets standard tables, and a generated image saved by a phone app gets custom ones.
The signal is evidence and a feature for fusion, not a verdict.

Abstains on non-JPEG images.

Evidence keys:
    tables: number of quantisation tables in the file.
    standard: ``True`` when every table equals an IJG-scaled Annex K table at one quality.
    near_standard: ``True`` when every table is within 1 of one IJG quality (other rounding).
    estimated_quality: IJG quality (1-100) whose tables are closest (mean absolute
        difference over the luminance and, when present, the first chrominance table).
    mean_abs_diff: that mean absolute difference (0 for standard tables).
    kind: ``"standard_ijg"``, ``"near_ijg"`` or ``"custom"``.
    order: coefficient order the tables were read in (``"natural"`` or ``"zigzag"``).
    subsampling: ``"4:4:4"``, ``"4:2:2"``, ``"4:2:0"`` or ``None``.
    progressive: progressive-mode JPEG.

Score (larger = more AI-like): ``+0.1`` for standard IJG tables (a library wrote the file,
as generator pipelines do when they emit JPEG), ``+0.05`` near-standard, ``-0.3`` for custom
tables (typical of camera firmware). Weak by design; see docs/metadata.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .base import Availability, SignalResult

if TYPE_CHECKING:
    from forensics.image import LoadedImage

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
#: Pillow formats that are baseline/progressive JPEG streams (MPO: camera multi-picture JPEG).
_JPEG_FORMATS = ("JPEG", "MPO")
_SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


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


_SCORES = {"standard_ijg": 0.1, "near_ijg": 0.05, "custom": -0.3}


class JpegTablesSignal:
    """Standard-vs-custom JPEG quantisation tables and the estimated IJG quality."""

    name = "jpeg_tables"
    version = "1.0"

    def availability(self) -> Availability:
        return Availability.yes()

    def fingerprint(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}

    def analyze(self, image: "LoadedImage") -> SignalResult:
        if image.format not in _JPEG_FORMATS:
            return SignalResult.abstained(self.name, self.version, f"not a JPEG (format {image.format})")
        if not image.quantization:
            return SignalResult.abstained(self.name, self.version, "JPEG without readable quantisation tables")
        try:
            ev = classify_tables(image.quantization)
        except (ValueError, TypeError) as exc:
            return SignalResult.failed(self.name, self.version, f"quantisation tables unreadable: {exc}")
        ev["subsampling"] = _SUBSAMPLING.get(image.subsampling) if image.subsampling is not None else None
        ev["progressive"] = bool(image.progressive)
        if ev["kind"] == "standard_ijg":
            summary = f"standard IJG tables at quality {ev['estimated_quality']} (written by a library)"
        elif ev["kind"] == "near_ijg":
            summary = f"near-standard IJG tables, about quality {ev['estimated_quality']}"
        else:
            summary = (f"custom quantisation tables (camera firmware or editor), closest IJG quality "
                       f"{ev['estimated_quality']}")
        return SignalResult(self.name, self.version, "ok", score=_SCORES[ev["kind"]], evidence=ev, summary=summary)

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

from typing import TYPE_CHECKING

from forensics.formats import JPEG_FORMATS

from ._jpeg import classify_tables
from .base import BaseSignal, Prior, SignalResult

if TYPE_CHECKING:
    from forensics.image import LoadedImage

_SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
_SCORES = {"standard_ijg": 0.1, "near_ijg": 0.05, "custom": -0.3}


class JpegTablesSignal(BaseSignal):
    """Standard-vs-custom JPEG quantisation tables and the estimated IJG quality."""

    name = "jpeg_tables"
    version = "1.0"
    failure = "quantisation tables unreadable"
    # Who encoded the file last, not how the pixels were made.
    prior = Prior(1.0, note="library vs camera quantisation tables; weak")
    evidence_kind = "camera_metadata"

    def analyze(self, image: "LoadedImage") -> SignalResult:
        if image.format not in JPEG_FORMATS:
            return SignalResult.abstained(self.name, self.version, f"not a JPEG (format {image.format})")
        if not image.quantization:
            return SignalResult.abstained(self.name, self.version, "JPEG without readable quantisation tables")
        ev = classify_tables(image.quantization)
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

    def brief(self, result: SignalResult) -> str | None:
        """``"camera-style JPEG tables"`` for custom tables; ``None`` for a library's."""
        if result.status == "ok" and result.evidence.get("kind") == "custom":
            return "camera-style JPEG tables"
        return None

"""EXIF camera evidence: how complete and consistent the camera record is.

Read the way an examiner reads it. Absence proves nothing (screenshots, social networks and
most editors strip EXIF), and presence can be forged (EXIF is copied from a real photo with
one command). So the score is bounded: absence gives a small positive score, a complete and
self-consistent camera record a negative one (more like a real capture), never a verdict.

Fields that are not what they seem are excluded from the camera record: ComfyUI writes
``workflow:{...}`` into EXIF Make and ``prompt:{...}`` into Model of the WebP files it saves.
Those are reported in ``generator_payload_fields`` (the ``generator_metadata`` signal turns
them into generator evidence; this signal does not count them twice).

Evidence keys:
    present: the file has an EXIF block.
    parser: ``"piexif"``, ``"pillow"`` (piexif failed) or ``None``.
    make, model, lens, software, body_serial_present: camera identification (text clipped).
    datetime_original: DateTimeOriginal text (``None`` also for an unset camera clock,
        ``0000:00:00 00:00:00``); subsec_time_original, offset_time_original.
    exposure_time_s, f_number, iso, focal_length_mm: exposure record (numbers; ``None`` when
        absent or 0, which cameras write for "unknown").
    gps: GPS position present (latitude and longitude).
    maker_note: MakerNote present; maker_note_bytes its size.
    thumbnail: ``{"present", "width", "height", "aspect_matches"}``; the aspect is compared
        with the image in its stored orientation; a mismatch means a crop after capture (or a
        camera that pads its thumbnail), not generation.
    generator_payload_fields: EXIF fields holding generator payloads instead of camera data.
    completeness: weighted share of camera fields present, in [0, 1] (weights in ``WEIGHTS``).
    inconsistencies: list of implausible values (each halves the weight of the record).
    problems: parse problems (hostile or broken EXIF).

Score (larger = more AI-like), in [-1, 0.1]: ``+0.1`` when there is no camera record (no EXIF,
or EXIF without camera fields); otherwise ``0.1 - 1.1 * completeness * consistency``, where
consistency is 1 without inconsistencies and 0.5 with any. A full camera record scores -1.0.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from . import _metadata as md
from .base import BaseSignal, Prior, SignalResult

if TYPE_CHECKING:
    from forensics.image import LoadedImage

#: Weight of each camera field in ``completeness`` (sums to 1).
WEIGHTS: dict[str, float] = {
    "make_model": 0.20, "exposure_time_s": 0.10, "f_number": 0.10, "iso": 0.10,
    "focal_length_mm": 0.10, "datetime_original": 0.10, "subsec_or_offset": 0.05,
    "maker_note": 0.15, "lens": 0.05, "thumbnail": 0.05,
}
#: Plausible ranges for exposure values; outside them a value is an inconsistency.
RANGES: dict[str, tuple[float, float]] = {
    "exposure_time_s": (1 / 64000, 3600.0), "f_number": (0.7, 128.0),
    "iso": (1.0, 3_300_000.0), "focal_length_mm": (0.5, 5000.0),
}
ABSENT_SCORE = 0.1
#: Photo editors whose name in EXIF Software says the file is no camera original.
EDITORS = re.compile(r"photoshop|lightroom|gimp|affinity|capture one|pixelmator|luminar|snapseed|darktable|"
                     r"rawtherapee|paint\.net|photoscape|acdsee|\bdxo\b", re.I)
_PAYLOAD = re.compile(r"^\s*(workflow|prompt|parameters)\s*:\s*[\[{]|^\s*\{\s*\"", re.I)
#: What cameras with an unset clock write ("0000:00:00 00:00:00", blanks): not a date, not forged.
_UNSET_DATE = re.compile(r"^[0: ]*$")
_DATETIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})$")


def _is_payload(text: str | None) -> bool:
    return bool(text) and bool(_PAYLOAD.match(text))  # type: ignore[arg-type]


def read_camera_record(image: "LoadedImage") -> dict[str, Any]:
    """The camera record of ``image`` as JSON-safe evidence (see the module docstring)."""
    parsed = md.parse_exif(image.exif)
    zeroth, exif, gps = parsed["0th"], parsed["Exif"], parsed["GPS"]
    ev: dict[str, Any] = {"present": image.exif is not None, "parser": parsed["parser"]}
    payload_fields: list[str] = []

    def text(ifd: dict, tag: int, label: str) -> str | None:
        value = md.as_text(ifd.get(tag))
        if _is_payload(value):
            payload_fields.append(label)
            return None
        return md.clip(value, 120) if value else None

    make, model = text(zeroth, md.TAG_MAKE, "Make"), text(zeroth, md.TAG_MODEL, "Model")
    text(zeroth, md.TAG_IMAGE_DESCRIPTION, "ImageDescription")
    lens = text(exif, md.TAG_LENS_MODEL, "LensModel") or text(exif, md.TAG_LENS_MAKE, "LensMake")
    ev.update(make=make, model=model, lens=lens, software=text(zeroth, md.TAG_SOFTWARE, "Software"),
              body_serial_present=md.as_text(exif.get(md.TAG_BODY_SERIAL)) is not None)
    dto = md.as_text(exif.get(md.TAG_DATETIME_ORIGINAL))
    ev["datetime_original"] = None if _UNSET_DATE.match(dto or "") else md.clip(dto, 60)
    ev["subsec_time_original"] = md.as_text(exif.get(md.TAG_SUBSEC_ORIGINAL))
    ev["offset_time_original"] = md.as_text(exif.get(md.TAG_OFFSET_TIME_ORIGINAL))
    for key, tag in (("exposure_time_s", md.TAG_EXPOSURE_TIME), ("f_number", md.TAG_F_NUMBER),
                     ("iso", md.TAG_ISO), ("focal_length_mm", md.TAG_FOCAL_LENGTH)):
        num = md.as_number(exif.get(tag))
        ev[key] = round(num, 6) if num else None  # cameras write 0 for "unknown"
    ev["gps"] = bool(gps.get(2)) and bool(gps.get(4))
    note = exif.get(md.TAG_MAKER_NOTE)
    note_len = len(note) if isinstance(note, (bytes, bytearray, tuple, list, str)) else 0
    ev["maker_note"], ev["maker_note_bytes"] = note_len > 0, note_len
    ev["thumbnail"] = _thumbnail(parsed["thumbnail"], image)
    ev["generator_payload_fields"] = payload_fields
    ev["inconsistencies"] = _inconsistencies(ev)
    ev["completeness"] = round(_completeness(ev), 3)
    ev["problems"] = list(parsed["problems"])
    return ev


def _thumbnail(thumb: bytes | None, image: "LoadedImage") -> dict[str, Any]:
    size = md.image_size_of(thumb)
    if size is None:
        return {"present": bool(thumb), "width": None, "height": None, "aspect_matches": None}
    w, h = image.width, image.height
    if image.orientation in (5, 6, 7, 8):  # width/height are after the transpose
        w, h = h, w
    matches = abs((size[0] / size[1]) / (w / h) - 1.0) < 0.03
    return {"present": True, "width": size[0], "height": size[1], "aspect_matches": matches}


def _inconsistencies(ev: dict[str, Any]) -> list[str]:
    issues = []
    for key, (lo, hi) in RANGES.items():
        v = ev.get(key)
        if v is not None and not lo <= v <= hi:
            issues.append(f"{key}={v} outside the plausible range [{lo:g}, {hi:g}]")
    dto = ev.get("datetime_original")
    if dto is not None:
        m = _DATETIME.match(dto)
        if not m:
            issues.append(f"DateTimeOriginal {md.clip(dto, 40)!r} is not 'YYYY:MM:DD HH:MM:SS'")
        else:
            y, mo, d, hh, mi, ss = (int(x) for x in m.groups())
            if not (1826 <= y <= 2100 and 1 <= mo <= 12 and 1 <= d <= 31 and hh < 24 and mi < 60 and ss < 61):
                issues.append(f"DateTimeOriginal {dto!r} is not a valid date")
    exposure = [ev.get(k) for k in ("exposure_time_s", "f_number", "iso")]
    if any(v is not None for v in exposure) and not (ev.get("make") or ev.get("model")):
        issues.append("exposure values without a camera make or model")
    return issues


def _completeness(ev: dict[str, Any]) -> float:
    have = {
        "make_model": bool(ev["make"] and ev["model"]),
        "exposure_time_s": ev["exposure_time_s"] is not None,
        "f_number": ev["f_number"] is not None,
        "iso": ev["iso"] is not None,
        "focal_length_mm": ev["focal_length_mm"] is not None,
        "datetime_original": ev["datetime_original"] is not None,
        "subsec_or_offset": bool(ev["subsec_time_original"] or ev["offset_time_original"]),
        "maker_note": ev["maker_note"],
        "lens": ev["lens"] is not None,
        "thumbnail": ev["thumbnail"]["present"],
    }
    return sum(WEIGHTS[k] for k, v in have.items() if v)


def score_camera_record(ev: dict[str, Any]) -> float:
    """Map the camera record to [-1, 0.1]; see the module docstring."""
    c = ev.get("completeness", 0.0)
    if not ev.get("present") or c <= 0:
        return ABSENT_SCORE
    consistency = 0.5 if ev.get("inconsistencies") else 1.0
    return max(-1.0, min(ABSENT_SCORE, ABSENT_SCORE - 1.1 * c * consistency))


class ExifSignal(BaseSignal):
    """Completeness and consistency of the EXIF camera record (absent: small positive score)."""

    name = "exif"
    version = "1.0"
    failure = "EXIF could not be read"
    # Forgeable and usually stripped: a full camera record moves at most -1.5, absence +0.15.
    prior = Prior(1.5, note="camera EXIF completeness; weak, forgeable")
    evidence_kind = "camera_metadata"

    def fingerprint(self) -> dict[str, Any]:
        import piexif

        return {**super().fingerprint(), "piexif": getattr(piexif, "VERSION", None)}

    def analyze(self, image: "LoadedImage") -> SignalResult:
        ev = read_camera_record(image)
        score = score_camera_record(ev)
        # Absence is a weak hint, not nothing: it carries the prior's small positive weight
        # (generators write no camera record), so the words say so rather than "proves nothing".
        if not ev["present"]:
            summary = ("no EXIF: a weak hint towards AI (generators write none, but screenshots, "
                       "social networks and editors strip it too)")
        elif ev["completeness"] <= 0:
            summary = "EXIF without a camera record: a weak hint towards AI, as when there is no EXIF"
        else:
            make, model = ev["make"], ev["model"]
            if make and model and model.lower().startswith(make.lower()):
                make = None  # "Canon" + "Canon EOS R5" reads as "Canon EOS R5"
            who = " ".join(x for x in (make, model) if x) or "unknown camera"
            summary = f"camera record {who}, {ev['completeness']:.0%} complete"
            if ev["inconsistencies"]:
                summary += f"; {len(ev['inconsistencies'])} inconsistencies"
        if ev["generator_payload_fields"]:
            summary += f"; EXIF {', '.join(ev['generator_payload_fields'])} hold generator payloads, not camera data"
        return SignalResult(self.name, self.version, "ok", score=round(score, 4), evidence=ev, summary=summary)

    def edited(self, result: SignalResult) -> str | None:
        """The photo editor EXIF Software names (``"Adobe Photoshop 25.0 (Windows)"``), else ``None``."""
        software = result.evidence.get("software") if result.status == "ok" else None
        return software if isinstance(software, str) and EDITORS.search(software) else None

    def brief(self, result: SignalResult) -> str | None:
        """``"complete camera EXIF (Canon EOS R5)"``, ``"camera EXIF (Canon EOS R5, 60% complete)"``;
        ``None`` without a camera record."""
        ev = result.evidence
        if result.status != "ok" or not ev.get("present") or not ev.get("completeness"):
            return None
        who = ev.get("model") or ev.get("make") or "unknown camera"
        flaw = f", {len(ev['inconsistencies'])} inconsistencies" if ev.get("inconsistencies") else ""
        if ev["completeness"] >= 0.8 and not flaw:
            return f"complete camera EXIF ({who})"
        return f"camera EXIF ({who}, {ev['completeness']:.0%} complete{flaw})"

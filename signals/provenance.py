"""C2PA / Content Credentials: the signed provenance manifests, read with c2pa-python.

Reads ``image.raw`` (never the file again) with a c2pa ``Context`` whose settings turn OFF
remote manifest fetching and OCSP fetching: analysing an image never contacts a URL the image
names (a privacy leak and a tracking vector). A file whose manifest lives at a URL is
reported as ``"remote manifest at <url>, not fetched"``. ``C2paSignal(allow_network=True)``
lets the library fetch; ``trust_anchors=<PEM text>`` adds a trust list (for example the
C2PA trust list), without which no signer can be "trusted", only "valid".

The whole manifest store is walked, from the active manifest down its ingredients: an AI
origin often sits in an ingredient (ChatGPT's active manifest "opened" an ingredient whose
manifest says GPT-4o "created" it with ``trainedAlgorithmicMedia``).

How the claims are weighed (the asymmetry matters):

* A claim of AI origin is self-incriminating: nobody gains by falsely signing their real photo
  as generated. When the claim signature and content hashes check out, it is decisive even
  when the signer is untrusted or its certificate has expired (``score`` 1.0 for
  ``trainedAlgorithmicMedia``, 0.9 for ``compositeWithTrainedAlgorithmicMedia``). When the
  integrity checks fail (content changed after signing, or a manifest transplanted from
  another file) the claim is halved and not decisive.
* A claim of camera capture (``digitalCapture`` source type, or a camera maker's signature)
  is only as good as the signer: ``-1.0`` when the signer chains to a configured trust list,
  ``-0.3`` when the signature is valid but the signer is untrusted (anyone can make a
  certificate that says "Nikon"), ``-0.15`` when the credential has expired, ``0`` when
  integrity fails.
* An expired or untrusted credential is not tampering; it is reported and weighed as above.
* Edit-only manifests (Photoshop, Content Authenticity app) without an origin claim, remote
  manifests, unreadable manifests and files without a manifest score 0.

Evidence keys:
    present: a C2PA manifest (embedded or remote reference) was found.
    embedded: the manifest store is inside the file.
    remote_url: URL of a remote manifest (never fetched unless ``allow_network``), else None.
    remote_fetched: whether the remote manifest was fetched.
    active_manifest: label of the active manifest.
    claim_generator: the active manifest's generator name (``"Adobe Firefly"``).
    validation_state: ``"trusted"``, ``"valid"`` (signature and hashes valid, signer not on a
        trust list), ``"invalid"``, ``"unreadable"`` or ``None`` (no manifest).
    signer_trusted: signer chains to a configured trust anchor.
    credential_issues: failure codes about credentials (``signingCredential.expired``,
        ``signingCredential.untrusted``...), not about content.
    integrity_failures: failure codes about content or claim integrity (hash mismatches...).
    tampered: any integrity failure in the chain.
    manifests: the chain, active first: ``{"label", "depth", "relationship", "claim_generator",
        "title", "signer": {"issuer", "common_name", "time"}, "actions": [{"action",
        "software_agent", "digital_source_type"}], "digital_source_types", "ingredients":
        [{"title", "relationship", "manifest"}], "integrity_ok", "credential_issues"}``.
    manifest_count: manifests in the store.
    digital_source_types: every source-type code found in the chain.
    ai_claims: ``{"type", "manifest", "depth", "action", "software_agent", "claim_generator"}``.
    capture_claim: the origin manifest claims a capture (digitalCapture or camera signer).
    origin: ``"ai"``, ``"ai_composite"``, ``"synthetic"``, ``"capture"``, ``"edited"`` or ``None``.
    decisive: score >= 0.9.
    error: why a present manifest could not be read (``validation_state`` ``"unreadable"``).
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from forensics.xmlscan import xml_field_values

from . import _metadata as md
from .base import Availability, BaseSignal, Claim, Prior, SignalResult

if TYPE_CHECKING:
    from forensics.image import LoadedImage

log = logging.getLogger(__name__)

DECISIVE = 0.9
#: Source-type code -> (origin, score) for AI-origin claims.
AI_SOURCE_TYPES: dict[str, tuple[str, float]] = {
    "trainedAlgorithmicMedia": ("ai", 1.0),
    "compositeWithTrainedAlgorithmicMedia": ("ai_composite", 0.9),
    "algorithmicMedia": ("synthetic", 0.6),
    "compositeSynthetic": ("synthetic", 0.5),
}
CAPTURE_SOURCE_TYPES = {"digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm", "print"}
#: Signers that are camera makers' capture keys (ChatGPT's signer "Truepic Lens" is deliberately absent).
CAMERA_SIGNER = re.compile(r"\b(nikon|leica|sony|canon|fujifilm|panasonic|pixel camera)\b", re.I)
CAPTURE_SCORES = {"trusted": -1.0, "valid": -0.3, "invalid": -0.15}
_MIME = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp",
         "TIFF": "image/tiff", "HEIF": "image/heif", "AVIF": "image/avif", "GIF": "image/gif"}
_CREDENTIAL_PREFIXES = ("signingCredential.", "timeStamp.", "cawg.")
_CREDENTIAL_INTEGRITY = {"signingCredential.invalid", "timeStamp.mismatch"}
_URL = re.compile(r"https?://[^\s\"'<>]+")
_LABEL = re.compile(r"/c2pa/([^/]+)")
INSTALL_HINT = "pip install c2pa-python (a core dependency of forensics; reinstall forensics)"


def _code(uri: Any) -> str | None:
    return uri.rstrip("/").rsplit("/", 1)[-1] if isinstance(uri, str) and uri else None


def _name(text: Any, *, first_token: bool = False) -> str | None:
    """Display name of a claim generator, underscores as spaces. ``first_token`` for the v1
    ``claim_generator`` string ("Adobe_Photoshop/26.9.0 adobe_c2pa/0.14.2 c2pa-rs/0.43.0")."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    if first_token:
        text = text.split(" ")[0].split("/")[0]
    return text.replace("_", " ")


def _is_credential(code: str) -> bool:
    return code.startswith(_CREDENTIAL_PREFIXES) and code not in _CREDENTIAL_INTEGRITY


def _failures(store: dict[str, Any]) -> dict[str, list[str]]:
    """Failure codes per manifest label (from validation_results, else validation_status)."""
    out: dict[str, list[str]] = {}
    items: list[dict[str, Any]] = []
    results = store.get("validation_results")
    if isinstance(results, dict):
        items += (results.get("activeManifest") or {}).get("failure") or []
        for delta in results.get("ingredientDeltas") or []:
            items += ((delta or {}).get("validationDeltas") or {}).get("failure") or []
    else:
        items += [s for s in store.get("validation_status") or [] if isinstance(s, dict)]
    for item in items:
        code, url = item.get("code"), item.get("url") or ""
        if not isinstance(code, str):
            continue
        m = _LABEL.search(url)
        codes = out.setdefault(m.group(1) if m else "", [])
        if code not in codes:
            codes.append(code)
    return out


def _manifest_entry(label: str, m: dict[str, Any], depth: int, relationship: str | None,
                    failures: list[str]) -> dict[str, Any]:
    info = m.get("claim_generator_info")
    gen = info[0].get("name") if isinstance(info, list) and info and isinstance(info[0], dict) else None
    sig = m.get("signature_info") or {}
    actions, types = [], []
    for a in m.get("assertions") or []:
        if not isinstance(a, dict) or not str(a.get("label", "")).startswith("c2pa.actions"):
            continue
        for act in (a.get("data") or {}).get("actions") or []:
            if not isinstance(act, dict):
                continue
            agent = act.get("softwareAgent")
            agent = agent.get("name") if isinstance(agent, dict) else agent
            code = _code(act.get("digitalSourceType"))
            actions.append({"action": act.get("action"), "software_agent": agent if isinstance(agent, str) else None,
                            "digital_source_type": code})
            if code and code not in types:
                types.append(code)
    ingredients = [{"title": ing.get("title"), "relationship": ing.get("relationship"),
                    "manifest": ing.get("active_manifest")}
                   for ing in m.get("ingredients") or [] if isinstance(ing, dict)]
    for ing in m.get("ingredients") or []:  # older manifests put the type on the ingredient
        code = _code((ing or {}).get("digital_source_type") if isinstance(ing, dict) else None)
        if code and code not in types:
            types.append(code)
    return {
        "label": label, "depth": depth, "relationship": relationship,
        "claim_generator": _name(gen) or _name(m.get("claim_generator"), first_token=True),
        "title": m.get("title"),
        "signer": {"issuer": sig.get("issuer"), "common_name": sig.get("common_name"), "time": sig.get("time")},
        "actions": actions, "digital_source_types": types, "ingredients": ingredients,
        "integrity_ok": not any(not _is_credential(c) for c in failures),
        "credential_issues": sorted(c for c in failures if _is_credential(c)),
    }


def walk_chain(store: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifests reachable from the active one, breadth first, each visited once."""
    manifests = store.get("manifests") or {}
    failures = _failures(store)
    active = store.get("active_manifest")
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    queue: list[tuple[str, int, str | None]] = [(active, 0, None)] if active in manifests else []
    while queue and len(chain) < 256:
        label, depth, rel = queue.pop(0)
        if label in seen or label not in manifests:
            continue
        seen.add(label)
        entry = _manifest_entry(label, manifests[label], depth, rel, failures.get(label, []))
        chain.append(entry)
        queue += [(i["manifest"], depth + 1, i["relationship"]) for i in entry["ingredients"] if i["manifest"]]
    return chain


def assess(store: dict[str, Any]) -> tuple[float, dict[str, Any], str]:
    """Score, evidence and summary for a parsed manifest store (``Reader.json()``)."""
    chain = walk_chain(store)
    state_raw = str(store.get("validation_state") or "").lower()
    all_fail = [c for codes in _failures(store).values() for c in codes]
    integrity = sorted({c for c in all_fail if not _is_credential(c)})
    credential = sorted({c for c in all_fail if _is_credential(c)})
    state = {"trusted": "trusted", "valid": "valid"}.get(state_raw, "invalid")
    active = chain[0] if chain else {}
    ev: dict[str, Any] = {
        "active_manifest": store.get("active_manifest"),
        "claim_generator": active.get("claim_generator"),
        "validation_state": state, "signer_trusted": state == "trusted",
        "credential_issues": credential, "integrity_failures": integrity, "tampered": bool(integrity),
        "manifests": chain, "manifest_count": len(store.get("manifests") or {}),
        "digital_source_types": sorted({t for m in chain for t in m["digital_source_types"]}),
    }
    claims = []
    for m in chain:
        for act in m["actions"]:
            if act["digital_source_type"] in AI_SOURCE_TYPES:
                claims.append({"type": act["digital_source_type"], "manifest": m["label"], "depth": m["depth"],
                               "action": act["action"], "software_agent": act["software_agent"],
                               "claim_generator": m["claim_generator"], "_intact": m["integrity_ok"]})
        for t in m["digital_source_types"]:
            if t in AI_SOURCE_TYPES and not any(c["type"] == t and c["manifest"] == m["label"] for c in claims):
                claims.append({"type": t, "manifest": m["label"], "depth": m["depth"], "action": None,
                               "software_agent": None, "claim_generator": m["claim_generator"],
                               "_intact": m["integrity_ok"]})
    origin_m = chain[-1] if chain else {}
    capture = bool(origin_m) and (
        any(t in CAPTURE_SOURCE_TYPES for t in origin_m.get("digital_source_types", []))
        or bool(CAMERA_SIGNER.search(" ".join(str(v) for v in (origin_m.get("signer") or {}).values() if v)))
    )
    ev["capture_claim"] = capture and not claims
    validity = _validity_text(state, credential, integrity)
    if claims:
        # The claim nearest the active manifest describes the final image (a Photoshop
        # composite of a Firefly image is a composite); deeper claims are named alongside.
        best = min(claims, key=lambda c: (c["depth"], -AI_SOURCE_TYPES[c["type"]][1], c["software_agent"] is None))
        origin, base = AI_SOURCE_TYPES[best["type"]]
        intact = best["_intact"] and (chain[0]["integrity_ok"] if chain else False)
        score = base if intact else base / 2
        where = "ingredient's manifest: " if best["depth"] else ""
        summary = f"C2PA: {ev['claim_generator'] or 'unknown generator'}, {where}{_claim_text(best)}"
        deeper = [c for c in claims if c["manifest"] != best["manifest"]]
        if deeper:
            summary += f" (ingredient: {_claim_text(deeper[0])})"
        summary += f", {validity}"
    elif ev["capture_claim"]:
        origin = "capture"
        score = 0.0 if integrity else CAPTURE_SCORES[state]
        summary = f"C2PA: camera capture claim by {origin_m.get('claim_generator') or 'unknown'}, {validity}"
    else:
        origin = "edited" if chain else None
        score = 0.0
        summary = f"C2PA: {ev['claim_generator'] or 'unknown generator'}, no origin claim (edits only), {validity}"
    for c in claims:
        c.pop("_intact", None)
    ev["ai_claims"] = claims
    ev["origin"] = origin
    ev["decisive"] = score >= DECISIVE
    return score, ev, summary


def _claim_text(c: dict[str, Any]) -> str:
    who = c["software_agent"] or (c["claim_generator"] if c["depth"] else None)
    act = str(c["action"] or "").replace("c2pa.", "")
    return f"{who + ' ' + act + ', ' if who and act else ''}{c['type']}"


def _validity_text(state: str, credential: list[str], integrity: list[str]) -> str:
    if state == "trusted":
        return "valid signature from a trusted signer"
    if state == "valid":
        return "valid signature (signer not on a trust list)"
    if integrity:
        return f"invalid: integrity failures {', '.join(integrity[:4])}"
    words = {"signingCredential.expired": "signing credential expired", "signingCredential.untrusted": "signer untrusted",
             "signingCredential.revoked": "signing credential revoked",
             "cawg.ica.did_unavailable": "identity assertion issuer not resolved (offline)"}
    parts = [words.get(c, c) for c in credential] or ["unspecified validation failure"]
    return f"invalid: {', '.join(parts)} (signature and content hash intact)"


class C2paSignal(BaseSignal):
    """C2PA manifest chain, validation state and origin claims (no network by default)."""

    name = "c2pa"
    failure = "C2PA manifest not understood"
    # A signed claim of AI origin incriminates its maker: +12 (decisive). Camera claims are
    # only as good as the signer (the score is already scaled by trust in the signer).
    prior = Prior(12.0, note="signed provenance; AI claim +12 (decisive), trusted capture -12")
    decisive_at = DECISIVE
    evidence_kind = "provenance"
    version = "1.0"

    def __init__(self, allow_network: bool = False, trust_anchors: str | None = None) -> None:
        self.allow_network = allow_network
        self.trust_anchors = trust_anchors
        self._ctx: Any = None
        self._lock = threading.Lock()

    def availability(self) -> Availability:
        if importlib.util.find_spec("c2pa") is None:
            return Availability.no(f"c2pa-python is not installed: {INSTALL_HINT}")
        return Availability.yes()

    def fingerprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "version": self.version, "allow_network": self.allow_network,
                               "trust_anchors": bool(self.trust_anchors)}
        try:
            from importlib.metadata import version

            import c2pa

            out["c2pa_python"] = version("c2pa-python")
            out["c2pa_rs"] = c2pa.sdk_version()
        except Exception as exc:
            out["c2pa_python"] = f"unavailable ({type(exc).__name__})"
        return out

    def settings(self) -> dict[str, Any]:
        """The c2pa-rs settings used: no remote manifest or OCSP fetching unless allow_network."""
        s: dict[str, Any] = {"version": 1, "verify": {"remote_manifest_fetch": self.allow_network,
                                                      "ocsp_fetch": self.allow_network}}
        if self.trust_anchors:
            s["trust"] = {"trust_anchors": self.trust_anchors}
            s["verify"]["verify_trust"] = True
        return s

    def _context(self) -> Any:
        with self._lock:
            if self._ctx is None:
                import c2pa

                self._ctx = c2pa.Context.from_dict(self.settings())
            return self._ctx

    def analyze(self, image: "LoadedImage") -> SignalResult:
        avail = self.availability()
        if not avail.ok:
            return SignalResult.unavailable(self.name, self.version, avail.reason or INSTALL_HINT)
        raw = image.raw
        if not raw:
            return SignalResult.abstained(self.name, self.version, "no encoded bytes (in-memory image): C2PA needs the file")
        xmp_url = _xmp_provenance(image.xmp)
        if b"c2pa" not in raw and b"jumb" not in raw and not xmp_url:
            return self._ok(0.0, _absent(), "no C2PA manifest")
        try:
            import c2pa

            ctx = self._context()
            reader = c2pa.Reader.try_create(_MIME.get(image.format or ""), io.BytesIO(raw), None, ctx)
        except Exception as exc:  # c2pa.C2paError subclasses, and anything the native side raises
            return self._from_error(exc, xmp_url)
        if reader is None:
            if xmp_url:
                return self._remote(xmp_url)
            return self._ok(0.0, _absent(), "no C2PA manifest")
        try:
            with reader:
                store = json.loads(reader.json())
                embedded = bool(reader.is_embedded())
                remote = reader.get_remote_url()
        except Exception as exc:
            return self._from_error(exc, xmp_url)
        score, ev, summary = assess(store)  # a store shaped in a way we did not foresee raises: an error result
        ev.update(present=True, embedded=embedded, remote_url=remote, remote_fetched=bool(remote and not embedded),
                  error=None)
        return self._ok(score, ev, summary)

    def brief(self, result: SignalResult) -> str | None:
        """``"signed C2PA manifest (Adobe Firefly)"`` for an origin claim (AI or capture), with the
        signer's standing when it matters; ``"signed edit history (Adobe Photoshop); no AI claim"``
        for an edit-only manifest; ``None`` without a manifest."""
        ev = result.evidence
        origin = ev.get("origin") if result.status == "ok" else None
        if origin not in ("ai", "ai_composite", "synthetic", "capture", "edited"):
            return None
        who = ev.get("claim_generator") or "unknown generator"
        if ev.get("tampered"):
            what = "C2PA edit history" if origin == "edited" else "C2PA manifest"
            return f"{what} ({who}) that fails its integrity check"
        if origin == "edited":
            return f"signed edit history ({who}); no AI claim"
        what = "signed C2PA capture claim" if origin == "capture" else "signed C2PA manifest"
        if origin == "capture":  # a camera claim is only as good as its signer
            standing = {"trusted": "trusted signer", "valid": "signer not on a trust list"}.get(
                ev.get("validation_state"), "signing credential expired" if "signingCredential.expired" in
                (ev.get("credential_issues") or []) else "signing credential not valid")
            return f"{what} ({who}, {standing})"
        if origin == "ai_composite":
            what += " of a composite with AI parts"
        elif origin == "synthetic":
            what += " of synthetic (algorithmic) media"
        return f"{what} ({who})"

    def edited(self, result: SignalResult) -> str | None:
        """The editor of an edit-only manifest whose integrity holds (``"Adobe Photoshop"``)."""
        ev = result.evidence
        if result.status == "ok" and ev.get("origin") == "edited" and not ev.get("tampered"):
            return str(ev.get("claim_generator") or "unknown editor")
        return None

    def claimed_generator(self, result: SignalResult) -> Claim | None:
        """The software agent (else the claim generator) of the AI claim nearest the active
        manifest, a claim of creation over one of a composite, with the signature's standing."""
        ev = result.evidence
        claims = (ev.get("ai_claims") or []) if result.status == "ok" else []
        if not claims:
            return None
        # its software agent over the claim generator (the app that signed)
        best = min(claims, key=lambda c: (c.get("type") != "trainedAlgorithmicMedia", not c.get("software_agent"),
                                          c.get("depth", 0)))
        name = best.get("software_agent") or best.get("claim_generator")
        if not name:
            return None
        state = ev.get("validation_state") or "not validated"
        issues = [str(i).replace("signingCredential.", "credential ") for i in ev.get("credential_issues") or []]
        trust = ", ".join(issues) if issues else ("signer trusted" if ev.get("signer_trusted") else "signer not on a trust list")
        how = "created" if best.get("type") == "trainedAlgorithmicMedia" else "composited with AI elements"
        where = "" if not best.get("depth") else f" in an ingredient manifest (depth {best['depth']})"
        signed = f", signed by {best['claim_generator']}" if best.get("claim_generator") not in (None, name) else ""
        return Claim(str(name), f"C2PA manifest: content {how} by {name}{where}{signed}; signature {state}, {trust}", "signed")

    def _ok(self, score: float, ev: dict[str, Any], summary: str) -> SignalResult:
        return SignalResult(self.name, self.version, "ok", score=float(score), evidence=ev, summary=summary)

    def _remote(self, url: str) -> SignalResult:
        ev = _absent()
        ev.update(present=True, embedded=False, remote_url=url, remote_fetched=False)
        return self._ok(0.0, ev, f"C2PA: remote manifest at {url}, not fetched")

    def _from_error(self, exc: Exception, xmp_url: str | None) -> SignalResult:
        msg = str(exc)
        if "remote" in msg.lower() or type(exc).__name__.lower().find("remote") >= 0:
            m = _URL.search(msg)
            return self._remote(m.group(0) if m else xmp_url or "<unknown URL>")
        ev = _absent()
        ev.update(present=True, validation_state="unreadable", error=md.clip(f"{type(exc).__name__}: {msg}", 200))
        return self._ok(0.0, ev, f"C2PA: manifest present but unreadable ({md.clip(msg, 80)})")


def _xmp_provenance(xmp: str | None) -> str | None:
    if not xmp or "provenance" not in xmp:
        return None
    url = next((v.strip() for v in xml_field_values(xmp[:2_000_000], "dcterms:provenance") if v.strip()), "")
    return url if url.startswith(("http://", "https://")) else None


def _absent() -> dict[str, Any]:
    return {"present": False, "embedded": False, "remote_url": None, "remote_fetched": False,
            "active_manifest": None, "claim_generator": None, "validation_state": None,
            "signer_trusted": False, "credential_issues": [], "integrity_failures": [], "tampered": False,
            "manifests": [], "manifest_count": 0, "digital_source_types": [], "ai_claims": [],
            "capture_claim": False, "origin": None, "decisive": False, "error": None}

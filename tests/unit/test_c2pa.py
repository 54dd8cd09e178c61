"""c2pa: manifests, chains and validation states of real signed files match what they say.

Corpus tests use ../shared/corpus/provenance (see its README table) and skip without it.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from forensics.image import load_image
from forensics.signals import SignalResult
from forensics.signals.provenance import C2paSignal, assess

AI = "trainedAlgorithmicMedia"


@pytest.fixture(scope="module")
def signal():
    return C2paSignal()


@pytest.fixture(scope="module")
def prov(corpus_dir):
    path = corpus_dir / "provenance"
    if not path.is_dir():
        pytest.skip(f"no provenance folder in {corpus_dir}")
    return path


def read(signal, path):
    r = signal.analyze(load_image(path))
    assert r.status == "ok", r.reason
    json.dumps(r.evidence)
    return r, r.evidence


def test_firefly_is_decisive_valid_untrusted(signal, prov):
    r, ev = read(signal, prov / "Firefly_tabby_cat.jpg")
    assert ev["claim_generator"] == "Adobe Firefly" and ev["embedded"] and ev["manifest_count"] == 1
    assert ev["digital_source_types"] == [AI] and ev["origin"] == "ai"
    assert ev["validation_state"] == "valid" and not ev["signer_trusted"]
    assert ev["credential_issues"] == ["signingCredential.untrusted"] and not ev["tampered"]
    assert ev["manifests"][0]["signer"]["issuer"] == "Adobe Inc."
    assert ev["manifests"][0]["actions"][0] == {"action": "c2pa.created", "software_agent": "Adobe Firefly",
                                               "digital_source_type": AI}
    assert r.score == 1.0 and ev["decisive"] is True
    assert r.summary == ("C2PA: Adobe Firefly, Adobe Firefly created, trainedAlgorithmicMedia, "
                         "valid signature (signer not on a trust list)")
    assert signal.brief(r) == "signed C2PA manifest (Adobe Firefly)"  # the headline's words


def test_chatgpt_ai_claim_sits_in_the_ingredient(signal, prov):
    r, ev = read(signal, prov / "ChatGPT_Image.png")
    active, ingredient = ev["manifests"]
    assert active["claim_generator"] == "ChatGPT" and active["depth"] == 0
    assert [a["action"] for a in active["actions"]] == ["c2pa.opened"] and active["digital_source_types"] == []
    assert active["ingredients"][0]["manifest"] == ingredient["label"]
    assert ingredient["depth"] == 1 and ingredient["relationship"] == "parentOf"
    assert ingredient["actions"][0] == {"action": "c2pa.created", "software_agent": "GPT-4o", "digital_source_type": AI}
    assert ev["ai_claims"][0]["depth"] == 1 and ev["ai_claims"][0]["software_agent"] == "GPT-4o"
    assert ev["validation_state"] == "invalid" and not ev["tampered"]
    assert ev["credential_issues"] == ["signingCredential.expired", "signingCredential.untrusted"]
    assert r.score == 1.0 and ev["decisive"]  # self-incriminating: an expired credential does not weaken it
    assert "signing credential expired" in r.summary and "ingredient" in r.summary


def test_ocsp_photoshop_composite_with_firefly_ingredient(signal, prov):
    r, ev = read(signal, prov / "ocsp.jpg")
    assert ev["claim_generator"] == "Adobe Photoshop" and ev["validation_state"] == "valid"
    assert ev["origin"] == "ai_composite" and "compositeWithTrainedAlgorithmicMedia" in ev["manifests"][0]["digital_source_types"]
    assert ev["manifests"][1]["claim_generator"] == "Adobe Firefly" and ev["manifests"][1]["digital_source_types"] == [AI]
    assert r.score == 0.9 and ev["decisive"]


def test_nikon_capture_claim_is_weak_when_expired(signal, prov):
    r, ev = read(signal, prov / "nikon-20221019-building.jpeg")
    assert ev["claim_generator"].startswith("Nikon Z 9") and ev["manifests"][0]["signer"]["issuer"] == "NIKON CORPORATION"
    assert ev["digital_source_types"] == [] and ev["capture_claim"] and ev["origin"] == "capture"
    assert ev["validation_state"] == "invalid" and not ev["tampered"]
    assert ev["credential_issues"] == ["signingCredential.expired", "signingCredential.untrusted"]
    assert -0.3 < r.score < 0 and not ev["decisive"]
    assert signal.brief(r) == f"signed C2PA capture claim ({ev['claim_generator']}, signing credential expired)"


@pytest.mark.parametrize("name,generator,state", [
    ("car-es-Ps-Cr.jpg", "Adobe Photoshop", "valid"),
    ("cloudscape-ACA-Cr.jpeg", "Adobe Content Authenticity", "invalid"),
])
def test_edited_photos_have_no_origin_claim(signal, prov, name, generator, state):
    r, ev = read(signal, prov / name)
    assert ev["claim_generator"] == generator and ev["validation_state"] == state
    assert ev["digital_source_types"] == [] and ev["origin"] == "edited" and not ev["capture_claim"]
    assert not ev["tampered"] and r.score == 0.0
    if state == "invalid":
        assert "signingCredential.expired" in ev["credential_issues"]


def test_remote_manifest_is_reported_not_fetched(signal, prov):
    assert signal.settings()["verify"] == {"remote_manifest_fetch": False, "ocsp_fetch": False}
    r, ev = read(signal, prov / "crater-lake-cr.jpg")
    assert ev["present"] and not ev["embedded"] and ev["remote_fetched"] is False
    assert ev["remote_url"].startswith("https://cai-manifests.adobe.com/manifests/")
    assert r.summary == f"C2PA: remote manifest at {ev['remote_url']}, not fetched" and r.score == 0.0


def test_file_without_manifest(signal, prov):
    r, ev = read(signal, prov / "crater-lake.jpeg")
    assert ev["present"] is False and r.score == 0.0 and r.summary == "no C2PA manifest"


def test_every_provenance_file_is_covered(prov):
    names = {p.name for p in prov.iterdir()}
    assert names == {"Firefly_tabby_cat.jpg", "ChatGPT_Image.png", "ocsp.jpg", "nikon-20221019-building.jpeg",
                     "car-es-Ps-Cr.jpg", "cloudscape-ACA-Cr.jpeg", "crater-lake-cr.jpg", "crater-lake.jpeg"}


def test_changed_pixels_break_integrity_and_halve_the_claim(signal, prov):
    data = bytearray((prov / "Firefly_tabby_cat.jpg").read_bytes())
    data[-5000] ^= 0x55  # inside the entropy-coded scan
    r = signal.analyze(load_image(bytes(data)))
    ev = r.evidence
    assert ev["tampered"] and "assertion.dataHash.mismatch" in ev["integrity_failures"]
    assert ev["validation_state"] == "invalid" and r.score == 0.5 and not ev["decisive"]
    assert "integrity failures" in r.summary


def test_stripped_manifest_reads_as_absent(signal, prov):
    buf = io.BytesIO()
    Image.open(prov / "Firefly_tabby_cat.jpg").save(buf, "JPEG", quality=90)
    r = signal.analyze(load_image(buf.getvalue()))
    assert r.evidence["present"] is False and r.score == 0.0


def _png_with_chunk(kind: bytes, payload: bytes) -> bytes:
    import struct
    import zlib

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    chunk = struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return data[:33] + chunk + data[33:]


@pytest.mark.parametrize("payload", [
    b"c2pa" * 10,
    b"\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa\x00\x11\x00\x10\x80\x00\xaa\x00\x38\x9b\x71\x03c2pa\x00",
    b"\x00\x00\xff\xffjumb" + np.random.default_rng(0).bytes(4000),
])
def test_hostile_caBX_chunks_never_raise(signal, payload):
    r = signal.analyze(load_image(_png_with_chunk(b"caBX", payload)))
    assert r.status in ("ok", "error")
    json.dumps(r.evidence)


def test_remote_url_only_in_xmp_is_not_fetched(signal):
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description '
                  'dcterms:provenance="https://example.invalid/manifest.c2pa"/></x:xmpmeta>')
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    r = signal.analyze(load_image(buf.getvalue()))
    assert r.evidence["remote_url"] == "https://example.invalid/manifest.c2pa" and r.evidence["remote_fetched"] is False
    assert "not fetched" in r.summary


def test_in_memory_image_abstains(signal):
    r = signal.analyze(load_image(np.zeros((8, 8, 3), np.uint8)))
    assert r.status == "abstained" and "encoded bytes" in r.reason


def test_unavailable_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "c2pa" else real(name, *a))
    sig = C2paSignal()
    assert not sig.availability().ok and "pip install c2pa-python" in sig.availability().reason
    r = sig.analyze(load_image(np.zeros((8, 8, 3), np.uint8)))
    assert r.status == "unavailable"


def test_assess_capture_claim_levels():
    def store(state, failures):
        return {"active_manifest": "m", "validation_state": state,
                "validation_results": {"activeManifest": {"failure": [
                    {"code": c, "url": "self#jumbf=/c2pa/m/c2pa.signature"} for c in failures]}},
                "manifests": {"m": {"claim_generator_info": [{"name": "Leica M11-P"}],
                                    "signature_info": {"issuer": "Leica Camera AG"}, "assertions": [
                                        {"label": "c2pa.actions.v2", "data": {"actions": [
                                            {"action": "c2pa.created", "digitalSourceType":
                                             "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}]}}}

    trusted, ev, _ = assess(store("Trusted", []))
    valid, _, _ = assess(store("Valid", ["signingCredential.untrusted"]))
    expired, _, _ = assess(store("Invalid", ["signingCredential.expired"]))
    tampered, ev_t, _ = assess(store("Invalid", ["assertion.dataHash.mismatch"]))
    assert ev["capture_claim"] and ev["origin"] == "capture"
    assert trusted == -1.0 < valid < expired < tampered == 0.0 and ev_t["tampered"]
    c2pa = C2paSignal()

    def brief(state, failures):
        score, ev, summary = assess(store(state, failures))
        return c2pa.brief(SignalResult("c2pa", c2pa.version, "ok", score=score, evidence=ev, summary=summary))

    assert brief("Trusted", []) == "signed C2PA capture claim (Leica M11-P, trusted signer)"
    assert brief("Valid", ["signingCredential.untrusted"]) == "signed C2PA capture claim (Leica M11-P, signer not on a trust list)"
    assert brief("Invalid", ["signingCredential.expired"]) == "signed C2PA capture claim (Leica M11-P, signing credential expired)"
    assert brief("Invalid", ["assertion.dataHash.mismatch"]) == "C2PA manifest (Leica M11-P) that fails its integrity check"


def test_fingerprint_names_library_versions(signal):
    fp = signal.fingerprint()
    assert fp["version"] == signal.version and fp["c2pa_python"] and fp["allow_network"] is False

"""generator_metadata: each tool's fingerprint, written the way the tool writes it, is found."""

from __future__ import annotations

import io
import json

import numpy as np
import piexif
import piexif.helper
import pytest
from PIL import Image, PngImagePlugin

from forensics.image import load_image
from forensics.signals.generator_metadata import GeneratorMetadataSignal

A1111 = ("a photo of a cat, highly detailed\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, "
         "CFG scale: 7, Seed: 1234, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
         "Version: v1.6.0")
FORGE = A1111.replace("Version: v1.6.0", "Version: f0.0.17v1.8.0rc-latest-276-g29be1da7")
COMFY_PROMPT = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20}},
                           "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}}})
COMFY_WORKFLOW = json.dumps({"last_node_id": 9, "last_link_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": []})
PIXELS = np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8)


def png(chunks: dict[str, str] | None = None, xmp: str | None = None, itxt: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in (chunks or {}).items():
        info.add_itxt(k, v) if itxt else info.add_text(k, v)
    if xmp:
        info.add_itxt("XML:com.adobe.xmp", xmp)
    buf = io.BytesIO()
    Image.fromarray(PIXELS).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def saved(fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(PIXELS).save(buf, fmt, **kw)
    return buf.getvalue()


def xmp_packet(body: str) -> str:
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
            f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
            f'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">{body}</rdf:Description></rdf:RDF>'
            '</x:xmpmeta><?xpacket end="w"?>')


def jpeg_with_xmp(xmp: str) -> bytes:
    """A JPEG with an APP1 XMP segment inserted after SOI (Pillow has no XMP writer for JPEG)."""
    data = saved("JPEG", quality=90)
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()
    seg = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:2] + seg + data[2:]


def run(data: bytes):
    r = GeneratorMetadataSignal().analyze(load_image(data))
    assert r.status == "ok"
    json.dumps(r.evidence)
    return r


def top(r):
    h = r.evidence["hits"][0]
    return h["generator"], h["kind"], h["source"]


def test_a1111_png_parameters_is_decisive():
    r = run(png({"parameters": A1111}))
    assert top(r) == ("Automatic1111", "parameters", "png:parameters")
    assert r.score == 1.0 and r.evidence["decisive"] is True
    assert "Steps: 20" in r.evidence["hits"][0]["text"]
    assert r.summary.startswith("Automatic1111: embedded generation parameters")
    assert GeneratorMetadataSignal().brief(r) == "embedded generation parameters (Automatic1111)"  # the headline's words


def test_forge_is_named_from_its_version():
    assert top(run(png({"parameters": FORGE})))[0] == "Forge"


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a1111_exif_usercomment(fmt):
    exif = piexif.dump({"Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(A1111, encoding="unicode")}})
    r = run(saved(fmt, exif=exif))
    assert top(r) == ("Automatic1111", "parameters", "exif:UserComment") and r.score == 1.0


def test_usercomment_little_endian_unicode():
    raw = b"UNICODE\x00" + A1111.encode("utf-16-le")
    r = run(saved("JPEG", exif=piexif.dump({"Exif": {piexif.ExifIFD.UserComment: raw}})))
    assert top(r)[2] == "exif:UserComment"


@pytest.mark.parametrize("key,value", [("prompt", COMFY_PROMPT), ("workflow", COMFY_WORKFLOW)])
def test_comfyui_png_chunks(key, value):
    r = run(png({key: value}))
    assert top(r) == ("ComfyUI", "workflow", f"png:{key}") and r.evidence["decisive"]


def test_comfyui_webp_exif_trap():
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: ("workflow:" + COMFY_WORKFLOW).encode(),
                                piexif.ImageIFD.Model: ("prompt:" + COMFY_PROMPT).encode()}})
    r = run(saved("WEBP", exif=exif, lossless=True))
    sources = {h["source"] for h in r.evidence["hits"] if h["generator"] == "ComfyUI"}
    assert sources == {"exif:Make", "exif:Model"} and r.score == 1.0
    assert r.evidence["hits"][0]["text"].startswith(("prompt:", "workflow:"))


def test_novelai():
    comment = json.dumps({"prompt": "1girl", "steps": 28, "sampler": "k_euler_ancestral", "seed": 42, "scale": 5})
    r = run(png({"Software": "NovelAI", "Source": "NovelAI Diffusion V4 4F6A1F2D",
                 "Title": "AI generated image", "Comment": comment}))
    assert top(r) == ("NovelAI", "parameters", "png:Comment") and r.score == 1.0
    assert {"png:Software", "png:Source", "png:Title"} <= {h["source"] for h in r.evidence["hits"]}


def test_novelai_software_alone_is_strong_not_decisive():
    r = run(png({"Software": "NovelAI"}))
    assert top(r) == ("NovelAI", "software", "png:Software") and r.score == 0.7 and not r.evidence["decisive"]


@pytest.mark.parametrize("key", ["invokeai_metadata", "sd-metadata", "invokeai_graph"])
def test_invokeai(key):
    r = run(png({key: json.dumps({"generation_mode": "txt2img", "positive_prompt": "a cat", "seed": 3})}, itxt=True))
    assert top(r) == ("InvokeAI", "parameters", f"png:{key}")


def test_fooocus_json_parameters_and_scheme():
    params = json.dumps({"Prompt": "a cat", "Performance": "Speed", "Base Model": "juggernautXL_v8Rundiffusion",
                         "Seed": "1", "Version": "Fooocus v2.3.1"})
    r = run(png({"parameters": params, "fooocus_scheme": "fooocus"}))
    assert {h["generator"] for h in r.evidence["hits"]} == {"Fooocus"} and r.score == 1.0


def test_midjourney_job_id():
    desc = "a lighthouse at dusk --ar 3:2 --v 6.0 Job ID: 3f2a1c4e-9b8d-4e7f-a6b5-0c1d2e3f4a5b"
    assert top(run(png({"Description": desc, "Author": "someone"})))[0] == "Midjourney"


@pytest.mark.parametrize("code,score", [("trainedAlgorithmicMedia", 1.0), ("compositeWithTrainedAlgorithmicMedia", 0.9),
                                        ("algorithmicMedia", 0.6)])
def test_xmp_digital_source_type_in_jpeg_and_png(code, score):
    body = f'<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/{code}</Iptc4xmpExt:DigitalSourceType>'
    for data in (jpeg_with_xmp(xmp_packet(body)), png(xmp=xmp_packet(body))):
        r = run(data)
        assert r.evidence["digital_source_types"] == [code]
        assert top(r)[1:] == ("digital_source_type", "xmp:DigitalSourceType") and r.score == score
        assert r.evidence["decisive"] is (score >= 0.9)


def test_xmp_attribute_form_and_creator_tool_names_generator():
    xmp = xmp_packet("").replace(
        'rdf:about=""', 'rdf:about="" Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/'
        'digitalsourcetype/trainedAlgorithmicMedia" xmp:CreatorTool="Midjourney"')
    r = run(jpeg_with_xmp(xmp))
    assert r.evidence["generators"] == ["Midjourney"] and r.score == 1.0


def test_digital_capture_is_reported_not_scored():
    body = '<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture</Iptc4xmpExt:DigitalSourceType>'
    r = run(jpeg_with_xmp(xmp_packet(body)))
    assert r.evidence["digital_source_types"] == ["digitalCapture"] and r.score == 0.0


def test_draw_things_xmp():
    uc = json.dumps({"c": "a cat", "seed": 7, "steps": 20, "sampler": "DPM++ 2M Karras"}).replace('"', "&quot;")
    body = (f'<xmp:CreatorTool>Draw Things</xmp:CreatorTool><exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">'
            f'{uc}</rdf:li></rdf:Alt></exif:UserComment>')
    r = run(png(xmp=xmp_packet(body)))
    assert r.score == 1.0 and "Draw Things" in r.evidence["generators"]


@pytest.mark.parametrize("software,name", [("DALL·E 3", "DALL-E"), ("Adobe Firefly", "Adobe Firefly"),
                                           ("Stable Diffusion XL", "Stable Diffusion")])
def test_exif_software_generator_strings(software, name):
    r = run(saved("JPEG", exif=piexif.dump({"0th": {piexif.ImageIFD.Software: software.encode()}})))
    assert top(r) == (name, "software", "exif:Software") and r.score == 0.7


def test_plain_photo_metadata_has_no_hits():
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"EOS R5",
                                piexif.ImageIFD.Software: b"Adobe Photoshop 25.0"},
                        "Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump("holiday in Rome")}})
    r = run(saved("JPEG", exif=exif))
    assert r.score == 0.0 and r.evidence["hits"] == [] and "absence proves nothing" in r.summary
    assert run(png({"Description": "imagen de un gato", "Title": "fireflies at night"})).score == 0.0


HOSTILE = [
    {"parameters": "Steps: " + "9" * 2_000_000},
    {"prompt": "{" * 200_000},
    {"workflow": '{"nodes": [' + "[" * 100_000},
    {"Comment": "\udcff\ufffd" * 1000},
    {"parameters": "x" * 990_000 + "\nSteps: 1, Sampler: a"},
]


@pytest.mark.parametrize("chunks", HOSTILE, ids=["huge-digits", "deep-braces", "deep-json", "bad-utf8", "late-params"])
def test_hostile_chunks_never_raise(chunks):
    class Fake:
        text, exif = chunks, None
        xmp = "<x:xmpmeta>" + "<rdf:li>" * 50_000 + "digitalsourcetype/" + "A" * 100_000

    from forensics.signals.generator_metadata import find_generator_metadata

    json.dumps(find_generator_metadata(Fake()))  # type: ignore[arg-type]


def test_hostile_png_file_never_raises():
    data = png({"parameters": "\x00\xff" * 300_000, "prompt": "{" * 500_000},
               xmp="<x:xmpmeta><rdf:RDF>" + "<" * 100_000)
    assert GeneratorMetadataSignal().analyze(load_image(data)).status in ("ok", "error")


@pytest.mark.parametrize("key,value,models", [
    ("prompt", COMFY_PROMPT, ["sdxl.safetensors"]), ("workflow", COMFY_WORKFLOW, []),
    ("parameters", json.dumps({"Performance": "Speed", "Base Model": "juggernaut.safetensors"}), ["juggernaut.safetensors"])])
def test_a_json_chunk_is_parsed_once(key, value, models, monkeypatch):
    """A ComfyUI graph or JSON parameters (up to 2 MB of text) are parsed once, for the hit and its model files."""
    parsed = []
    loads = json.loads
    monkeypatch.setattr(json, "loads", lambda text, *a, **kw: parsed.append(text) or loads(text, *a, **kw))
    r = run(png({key: value}))
    assert [h.get("models", []) and [m["file"] for m in h["models"]] for h in r.evidence["hits"]][0] == models
    assert parsed.count(value) == 1

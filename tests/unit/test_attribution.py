"""Generator attribution: provenance names what the file states, the pixel model abstains to
``unknown`` when unsure, and nothing is attributed unless the verdict is ``likely_ai``."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import piexif
import pytest
from PIL import Image, PngImagePlugin
from support.images import camera_exif, encode, natural_rgb

from forensics import Engine
from forensics.analysis import SCHEMA_VERSION, validate_row
from forensics.attribution import FAMILY_LABELS, AttributionModel, attribute, model_family, provenance_attribution, unknown_inputs
from forensics.errors import WeightsError
from forensics.image import load_image
from forensics.signals.effnet_probe import EffnetProbeSignal

PROVENANCE_SIGNALS = ["c2pa", "generator_metadata", "watermark"]
#: the corpus's generator column -> the family its provenance must name
CORPUS_FAMILY = {"stable-diffusion-1.x": "sd1", "adobe-firefly": "adobe_firefly", "openai-chatgpt": "gpt4o",
                 "adobe-firefly+photoshop": "adobe_firefly"}


def a1111_png(parameters: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", parameters)
    buf = io.BytesIO()
    Image.fromarray(natural_rgb(320, 320)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


@pytest.fixture(scope="module")
def provenance_engine() -> Engine:
    return Engine(signals=PROVENANCE_SIGNALS, attribution=False)


def test_a1111_parameters_name_the_checkpoints_family(provenance_engine):
    a = provenance_engine.analyze(a1111_png("a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, "
                                            "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Version: v1.6.0"))
    assert a.verdict == "likely_ai"
    att = a.attribution
    assert (att.status, att.basis, att.family, att.label) == ("attributed", "provenance", "sdxl", "SDXL via Automatic1111")
    assert att.evidence == "Automatic1111 generation parameters embedded in png:parameters, checkpoint sd_xl_base_1.0"
    assert att.unknown is None and [c.share for c in att.candidates] == [1.0]


def test_a_front_end_without_a_known_checkpoint_keeps_its_own_name(provenance_engine):
    att = provenance_engine.analyze(a1111_png("a cat\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 5, Seed: 7, "
                                              "Model: myMergedModel_v3")).attribution
    # no "Version:" field: some front-end writing A1111-style parameters
    assert (att.family, att.label) == ("automatic1111_compatible_ui", "Automatic1111-compatible UI (checkpoint myMergedModel_v3)")


def test_a_generator_named_in_exif_software(provenance_engine):
    data = encode(natural_rgb(), "JPEG", exif=piexif.dump({"0th": {piexif.ImageIFD.Software: b"Midjourney"}}))
    att = provenance_engine.analyze(data).attribution
    assert (att.status, att.basis, att.family) == ("attributed", "provenance", "midjourney")
    assert att.evidence == "Midjourney named in exif:Software"


def test_no_attribution_unless_likely_ai():
    eng = Engine(attribution=AttributionModel())
    a = eng.analyze(encode(natural_rgb(), "JPEG", quality=92, exif=camera_exif()))
    assert a.verdict != "likely_ai"
    assert a.attribution.status == "not_attempted" and a.attribution.basis is None
    assert a.attribution.evidence == f"the verdict is {a.verdict}; only likely_ai images are attributed"
    assert a.to_dict()["attribution"]["candidates"] == []


def test_provenance_attribution_is_right_on_every_corpus_file_that_carries_it(corpus_dir, provenance_engine):
    with open(corpus_dir / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    named = {}
    sigs = {s.name: s for s in provenance_engine.signals_}
    for r in rows:
        a = provenance_engine.analyze(corpus_dir / r["path"])
        # what each signal claims, strongest first, as the engine gathers it
        prov = provenance_attribution([c for e in a.signals if (c := sigs[e.name].claimed_generator(e.result))])
        if prov is None:
            continue
        named[r["path"]] = prov.family
        assert r["label"] == "ai", f"{r['path']} is real but provenance names {prov.label}"
        assert prov.family == CORPUS_FAMILY[r["generator"]], (r["path"], prov.evidence)
        assert a.attribution.to_dict() == prov.to_dict() if a.verdict == "likely_ai" else True
    # the three C2PA AI files, and the SD 1.x files whose invisible watermark survives
    assert {p for p in named if p.startswith("provenance/")} == {
        "provenance/Firefly_tabby_cat.jpg", "provenance/ChatGPT_Image.png", "provenance/ocsp.jpg"}
    assert sum(f == "sd1" for f in named.values()) >= 100


def test_corpus_c2pa_ai_files_are_attributed_from_their_claims(corpus_dir, provenance_engine):
    chatgpt = provenance_engine.analyze(corpus_dir / "provenance" / "ChatGPT_Image.png")
    assert chatgpt.verdict == "likely_ai"
    att = chatgpt.attribution
    assert (att.basis, att.family, att.label) == ("provenance", "gpt4o", "GPT-4o / gpt-image-1 (OpenAI)")
    # the model is named in the ingredient's manifest; the expired credential is said, not hidden
    assert att.evidence == ("C2PA manifest: content created by GPT-4o in an ingredient manifest (depth 1), signed by "
                            "ChatGPT; signature invalid, credential expired, credential untrusted")


# --- the pixel model -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model() -> AttributionModel:
    return AttributionModel()


def test_pixel_shares_add_up_and_repeat(model):
    img = load_image(encode(natural_rgb(448, 448, seed=3), "JPEG", quality=80))
    feats = EffnetProbeSignal().analyze(img).features
    a, b = model.attribute(feats), model.attribute(feats.copy())
    assert a == b
    probs = model.probabilities(feats)
    assert probs.shape == (len(model.families),) and abs(probs.sum() - 1) < 1e-9
    shares = [c.share for c in a.candidates]
    assert len(shares) == 3 and shares == sorted(shares, reverse=True)
    assert 0 <= a.unknown <= 1 and sum(shares) + a.unknown <= 1 + 1e-9
    # a family is named only when its share is at least one half
    assert (a.status == "attributed") == (shares[0] >= 0.5)
    assert a.basis == "pixels" and a.model["sha256"] == model.fingerprint()["sha256"]


def test_the_shipped_model_reads_what_the_shipped_probe_gives(model):
    """The model names the probe version it was fitted on and attributes nothing from another:
    the shipped probe must be that version, with features of the width the model reads, or every
    image called likely_ai would go unattributed."""
    res = EffnetProbeSignal().analyze(load_image(encode(natural_rgb(448, 448, seed=3), "PNG")))
    a = attribute([res], [], "likely_ai", model)
    assert a.basis == "pixels" and a.status in ("attributed", "unknown"), a


def test_unknown_share_grows_as_the_family_probabilities_spread(model):
    k = len(model.families)
    peaked = np.full(k, 0.01 / (k - 1))
    peaked[0] = 0.99
    spread = np.full(k, 1.0 / k)
    assert model.unknown_share(spread) > 0.5 > model.unknown_share(peaked)
    assert unknown_inputs(spread)[2] == pytest.approx(1.0)


def test_sd1_images_never_fitted_resemble_sd1(corpus_dir, model):
    """The corpus's holdout half was never fitted on: laundered (JPEG q75), most of its SD 1.x
    images must still resemble SD 1.x most (measured: 82 of 118), where a model that knew SD 1.x
    only through the SD 1.5 grid tiles gave 25 of 118."""
    from forensics.training.corpus import read_corpus

    paths = [r["path"] for r in read_corpus(corpus_dir, "holdout") if r["label"] == "ai"]
    sig = EffnetProbeSignal()
    top = []
    for p in paths:
        img = load_image(encode(np.asarray(Image.open(corpus_dir / p).convert("RGB")), "JPEG", quality=75))
        top.append(model.families[int(np.argmax(model.probabilities(sig.analyze(img).features)))])
    assert len(paths) > 100 and top.count("sd1") >= 0.6 * len(paths), top


def test_attribution_schema_and_model_checks(tmp_path, model):
    img = load_image(encode(natural_rgb(300, 300), "PNG"))
    res = EffnetProbeSignal().analyze(img)
    att = attribute([res], [], "likely_ai", model)
    row = Engine(signals=["effnet_probe"]).analyze(img).to_dict()
    row["attribution"] = att.to_dict()
    validate_row(row)
    assert attribute([res], [], "likely_ai", None).evidence == "pixel attribution is off in this engine"
    bad = {k: v for k, v in _shipped().items() if k != "coef"}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(WeightsError, match=r"bad\.json: unreadable attribution model \(KeyError: 'coef'\)"):
        AttributionModel(tmp_path / "bad.json").families


def _shipped() -> dict:
    from importlib import resources

    return json.loads((resources.files("forensics") / "data" / "attribution.json").read_text())


# --- display ---------------------------------------------------------------------------------

def test_cli_text_quiet_line_flat_record_and_report_show_it(tmp_path, provenance_engine):
    from forensics.batch.scan import scan
    from forensics.batch.report import build_report
    from forensics.batch.results import flatten, read_results

    data = encode(natural_rgb(), "JPEG", exif=piexif.dump({"0th": {piexif.ImageIFD.Software: b"Midjourney"}}))
    a = provenance_engine.analyze(data)
    assert "\n  generator: Midjourney (provenance: Midjourney named in exif:Software)\n" in a.explain()
    assert a.quiet_line() == f"{a.source}: {a.headline}; generator: Midjourney"
    assert (flatten(a.to_dict(), [])["generator"], flatten(a.to_dict(), [])["generator_basis"]) == ("Midjourney", "provenance")

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mj.jpg").write_bytes(data)
    (tmp_path / "in" / "camera.jpg").write_bytes(encode(natural_rgb(seed=5), "JPEG", quality=92, exif=camera_exif()))
    scan([tmp_path / "in"], tmp_path / "r.jsonl", workers=0, signals=PROVENANCE_SIGNALS)
    rows = {r["source"].rsplit("/", 1)[-1]: r for r in read_results(tmp_path / "r.jsonl")}
    assert rows["mj.jpg"]["attribution"]["family"] == "midjourney"
    assert rows["camera.jpg"]["attribution"]["status"] == "not_attempted"
    build_report(tmp_path / "r.jsonl", tmp_path / "r.html", thumbnails=False)
    html = (tmp_path / "r.html").read_text()
    assert "Midjourney (provenance: Midjourney named in exif:Software)" in html


def test_a_resumed_scan_knows_the_schema_and_the_attribution_model():
    from forensics.batch.scan import scan_settings

    with_model, desc = scan_settings(Engine(signals=PROVENANCE_SIGNALS))
    without, _ = scan_settings(Engine(signals=PROVENANCE_SIGNALS, attribution=False))
    assert desc["schema_version"] == SCHEMA_VERSION
    assert desc["attribution"]["sha256"] == AttributionModel().fingerprint()["sha256"]
    assert with_model != without  # rows made with another attribution model are not resumed


# -- the model a workflow loads: the model is the generator, the front-end the tool ------------
def comfy_png(key: str, graph: dict) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(key, json.dumps(graph))
    buf = io.BytesIO()
    Image.fromarray(natural_rgb(320, 320)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def api_graph(loader: str, field: str, file: str, *, lora: str | None = None) -> dict:
    """A ComfyUI API ``prompt``, padded with the nodes a real graph has (text encoders, a VAE,
    a long prompt), so that its text is far longer than the 300 characters evidence keeps."""
    g = {"1": {"class_type": loader, "inputs": {field: file, "weight_dtype": "default"}},
         "2": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "t5xxl_fp16.safetensors",
                                                          "clip_name2": "clip_l.safetensors", "type": "flux"}},
         "3": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}},
         "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk, " * 40, "clip": ["2", 0]}},
         "5": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "cfg": 1.0, "sampler_name": "euler",
                                                    "model": ["1", 0], "positive": ["4", 0]}}}
    if lora:
        g["6"] = {"class_type": "LoraLoaderModelOnly", "inputs": {"lora_name": lora, "strength_model": 0.8, "model": ["1", 0]}}
    return g


def test_a_comfyui_workflow_loading_flux1_dev_is_flux(provenance_engine):
    png = comfy_png("prompt", api_graph("UNETLoader", "unet_name", "flux1-dev.safetensors", lora="detail_tweaker.safetensors"))
    att = provenance_engine.analyze(png).attribution
    assert (att.status, att.basis, att.family, att.label) == ("attributed", "provenance", "flux", "FLUX.1 via ComfyUI")
    assert att.evidence == "ComfyUI workflow embedded in png:prompt, diffusion model flux1-dev.safetensors"
    validate_row(provenance_engine.analyze(png).to_dict())


def test_a_comfyui_checkpoint_in_a_folder_is_found_by_its_own_name(provenance_engine):
    png = comfy_png("prompt", api_graph("CheckpointLoaderSimple", "ckpt_name", "SD3\\sd3.5_large.safetensors"))
    att = provenance_engine.analyze(png).attribution
    assert (att.family, att.label) == ("sd35", "Stable Diffusion 3.5 via ComfyUI")
    assert att.evidence.endswith(", checkpoint SD3\\sd3.5_large.safetensors")  # whole, never cut


def test_a_comfyui_ui_workflow_names_its_loaders_models(provenance_engine):
    workflow = {"last_node_id": 3, "links": [], "nodes": [
        {"id": 1, "type": "CLIPLoader", "widgets_values": ["sdxl_clip_g.safetensors"]},  # a text encoder, not the model
        {"id": 2, "type": "LoraLoader", "widgets_values": ["hidream_style.safetensors", 1.0, 1.0]},
        {"id": 3, "type": "UnetLoaderGGUF", "widgets_values": ["HiDream-I1-Full-Q8_0.gguf"]}]}
    att = provenance_engine.analyze(comfy_png("workflow", workflow)).attribution
    assert (att.family, att.label) == ("hidream", "HiDream-I1 via ComfyUI")
    hits = provenance_engine.analyze(comfy_png("workflow", workflow)).signal("generator_metadata").result.evidence["hits"]
    assert hits[0]["models"] == [  # base models first, then LoRAs; never the text encoder
        {"role": "diffusion_model", "file": "HiDream-I1-Full-Q8_0.gguf", "node": "UnetLoaderGGUF"},
        {"role": "lora", "file": "hidream_style.safetensors", "node": "LoraLoader"}]


def test_an_unrecognised_model_is_named_whole_with_its_front_end(provenance_engine):
    name = "my_private_merge_" + "v" * 150 + ".safetensors"  # long, but one file name: never cut
    att = provenance_engine.analyze(comfy_png("prompt", api_graph("CheckpointLoaderSimple", "ckpt_name", name))).attribution
    assert (att.family, att.label) == ("comfyui", f"ComfyUI (checkpoint {name})")
    assert "..." not in att.label and "chars]" not in att.label


def test_forge_parameters_name_a_flux_model(provenance_engine):
    att = provenance_engine.analyze(a1111_png("a cat\nSteps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, "
                                              "Distilled CFG Scale: 3.5, Seed: 1, Size: 896x1152, Model hash: 1, "
                                              "Model: flux1-dev-bnb-nf4-v2, Version: f2.0.1v1.10.1")).attribution
    assert (att.family, att.label) == ("flux", "FLUX.1 via Forge")


@pytest.mark.parametrize("file, family", [
    ("flux1-schnell-fp8.safetensors", "flux"), ("sd3_medium_incl_clips.safetensors", "sd3"),
    ("sd_xl_base_1.0.safetensors", "sdxl"), ("juggernautXL_v9.safetensors", "sdxl"),
    ("v1-5-pruned-emaonly.safetensors", "sd1"), ("v2-1_768-ema-pruned.safetensors", "sd2"),
    ("stable_cascade_stage_c.safetensors", "cascade"), ("hunyuan_dit_1.2.safetensors", "hunyuan"),
    ("qwen_image_fp8_e4m3fn.safetensors", "qwen_image"), ("wan2.1_t2v_14B_fp16.safetensors", "wan"),
    ("lumina_2.safetensors", "lumina"), ("PixArt-Sigma-XL-2-1024-MS.pth", "pixart"),
    ("kolors_unet_fp16.safetensors", "kolors"), ("aura_flow_0.3.safetensors", "auraflow"),
    ("dreamshaper_8.safetensors", None)])
def test_the_model_file_table(file, family):
    assert model_family(file) == family
    assert family is None or family in FAMILY_LABELS


def test_the_model_a_sampler_runs_comes_before_a_loader_left_unused(provenance_engine):
    graph = api_graph("UNETLoader", "unet_name", "flux1-dev.safetensors")
    graph = {"0": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
             **graph}  # listed first, but no sampler reads it
    att = provenance_engine.analyze(comfy_png("prompt", graph)).attribution
    assert (att.family, att.label) == ("flux", "FLUX.1 via ComfyUI")


def test_every_family_of_the_training_material_has_a_label():
    """The families the pipeline can fit attribution on (forensics.training.corpus) are named in
    words, GAN lineages and Gemini included, never by their ids."""
    from forensics.training.corpus import FAMILY

    assert set(FAMILY.values()) <= set(FAMILY_LABELS)

"""Generator fingerprints in metadata: what generation tools write into the files they save.

Sources read (all from :class:`~forensics.image.LoadedImage`, never the file again):

* PNG text chunks and JPEG/GIF comments (``image.text``):
  Automatic1111 / Forge / SD.Next ``parameters`` ("Steps: 20, Sampler: ..."); ComfyUI
  ``prompt`` (node graph with ``class_type``) and ``workflow`` (``nodes``/``links``);
  NovelAI ``Software`` = "NovelAI", ``Source``, ``Comment`` JSON (steps, sampler, seed);
  InvokeAI ``invokeai_metadata`` / ``invokeai_graph`` / ``invokeai_workflow`` / ``sd-metadata``
  / ``Dream``; Fooocus ``fooocus_scheme`` and JSON ``parameters``; Midjourney ``Description``
  with "Job ID: <uuid>".
* EXIF (``image.exif``): ``UserComment`` holding A1111 parameters (JPEG/WebP saves);
  ComfyUI WebP ``Make`` = ``workflow:{...}``, ``Model`` = ``prompt:{...}`` (and the
  ``ImageDescription`` below Make for extra keys); ``Software``, ``XPComment``, ``ImageDescription``.
* XMP (``image.xmp``): IPTC ``DigitalSourceType`` values, ``CreatorTool``, ``Credit`` lines
  such as "Made with Google AI", Draw Things generation JSON in ``exif:UserComment``.

Only the XMP packet is searched for DigitalSourceType, never the raw bytes: C2PA manifests
hold the same URIs and are judged, with their signatures, by the ``c2pa`` signal.

Evidence keys:
    hits: list of ``{"generator", "kind", "source", "score", "text"}``, strongest first, where
        ``kind`` is ``parameters`` (embedded generation parameters), ``workflow``,
        ``digital_source_type``, ``software`` (a generator's name in a software/creator field)
        or ``marker`` (weaker wording such as "AI generated"); ``source`` names the field
        (``png:parameters``, ``exif:UserComment``, ``exif:Make``, ``xmp:DigitalSourceType``...);
        ``text`` is the evidence, clipped to 300 characters. Parameters and workflows add
        ``models``: the model files they load, read from the whole text (never the clipped
        one), as ``{"role", "file", "node"}`` with ``role`` ``checkpoint``,
        ``diffusion_model`` or ``lora`` and ``node`` the ComfyUI loader's class (``Model``
        for an A1111/Forge ``Model:`` field); base models first, at most 8, whole names of at
        most 200 characters (longer ones are left out, never cut).
    generators: sorted distinct generator names.
    digital_source_types: IPTC DigitalSourceType values found in XMP (all, AI or not).
    decisive: ``True`` when a hit is decisive (score >= 0.9).

Score (larger = more AI-like), one-sided in [0, 1]: the strongest hit. 1.0 embedded generation
parameters, a ComfyUI graph, or DigitalSourceType ``trainedAlgorithmicMedia``; 0.9
``compositeWithTrainedAlgorithmicMedia`` (AI elements in the image); 0.7 a generator named in
a software field; 0.6 ``algorithmicMedia``; 0.5 ``compositeSynthetic``; 0.4 weak wording.
No hit: 0.0 (absence proves nothing: most files lose their metadata on the way).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import TYPE_CHECKING, Any

from forensics.xmlscan import xml_field_values

from . import _metadata as md
from .base import BaseSignal, Claim, Prior, SignalResult

if TYPE_CHECKING:
    from forensics.image import LoadedImage

DECISIVE = 0.9
S_PARAMS, S_COMPOSITE, S_SOFTWARE, S_ALGORITHMIC, S_SYNTHETIC, S_MARKER = 1.0, 0.9, 0.7, 0.6, 0.5, 0.4

#: IPTC DigitalSourceType code -> score (codes not listed score 0 and are only reported).
SOURCE_TYPE_SCORES = {
    "trainedAlgorithmicMedia": S_PARAMS,
    "compositeWithTrainedAlgorithmicMedia": S_COMPOSITE,
    "algorithmicMedia": S_ALGORITHMIC,
    "compositeSynthetic": S_SYNTHETIC,
}
#: Generator names as they appear in Software / CreatorTool / Source fields: (regex, name).
GENERATOR_NAMES: list[tuple[str, str]] = [
    (r"novel\s?ai", "NovelAI"), (r"midjourney", "Midjourney"), (r"dall[\s\-·.]?e", "DALL-E"),
    (r"adobe[\s_]firefly", "Adobe Firefly"), (r"stable[\s_-]?diffusion|\bsdxl\b", "Stable Diffusion"),
    (r"comfy\s?ui", "ComfyUI"), (r"automatic1111|stable-diffusion-webui", "Automatic1111"),
    (r"invoke\s?ai", "InvokeAI"), (r"fooocus", "Fooocus"), (r"draw\s?things", "Draw Things"),
    (r"diffusionbee", "DiffusionBee"), (r"google imagen|\bimagen [234]\b", "Google Imagen"), (r"made with google ai", "Google AI"),
    (r"leonardo\.?ai", "Leonardo.Ai"), (r"ideogram", "Ideogram"), (r"\bflux(\.1)?[\s\-_](dev|schnell|pro)", "FLUX"),
    (r"bing image creator|image creator from microsoft|microsoft designer", "Microsoft Image Creator"),
    (r"nightcafe", "NightCafe"), (r"craiyon", "Craiyon"), (r"dream by wombo", "WOMBO Dream"),
    (r"playground\s?ai", "Playground AI"), (r"\bgpt-4o\b|chatgpt", "ChatGPT"), (r"meta\s?ai\b", "Meta AI"),
]
_NAMES = [(re.compile(p, re.I), n) for p, n in GENERATOR_NAMES]
#: A1111 parameters: a line starting "Steps: <n>, " with "Sampler: ", "CFG scale: " or "Seed: "
#: somewhere after it. Matched as two linear searches (:func:`_is_a1111`): the one pattern
#: ``(?:^|\n)Steps: \d+, .*?(?:Sampler|...): `` retried from every "Steps" is quadratic.
_A1111_STEPS = re.compile(r"(?:^|\n)Steps: \d+, ")
_A1111_KEYS = ("Sampler: ", "CFG scale: ", "Seed: ")
_A1111_VERSION = re.compile(r"Version: ([^,\n]+)")
_MJ_JOB = re.compile(r"Job ID: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_COMFY_PREFIX = re.compile(r"^\s*(workflow|prompt)\s*:\s*(.*)$", re.S)
_DST = re.compile(r"digitalsourcetype/([A-Za-z]+)")
_MARKER = re.compile(r"\bAI[- ]generated\b|\bgenerated (?:by|with) AI\b|\bmade with AI\b", re.I)
_GEN_KEYS = {"steps", "sampler", "seed", "cfg_scale", "scale", "cfg", "sampler_name", "noise_schedule"}
#: PNG text keys whose presence alone names the tool.
_TOOL_KEYS = {
    "invokeai_metadata": "InvokeAI", "invokeai_graph": "InvokeAI", "invokeai_workflow": "InvokeAI",
    "sd-metadata": "InvokeAI", "Dream": "InvokeAI (dream)", "fooocus_scheme": "Fooocus",
    "generation_data": "Tensor.Art", "SwarmUI": "SwarmUI", "sui_image_params": "SwarmUI",
}
_LIMIT_JSON = 2_000_000  # longest text handed to json.loads
_XMP_VALUES = 64  # most values read per XMP field
_XMP_SCAN_CHARS = 2_000_000  # longest XMP prefix scanned (the scans are linear; the cap fixes the cost)


def _json(text: str) -> Any:
    if len(text) > _LIMIT_JSON or not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _is_comfy_prompt(obj: Any) -> bool:
    return isinstance(obj, dict) and any(isinstance(v, dict) and "class_type" in v for v in obj.values())


def _is_comfy_workflow(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("nodes"), list) and ("links" in obj or "last_node_id" in obj)


#: ComfyUI loader inputs that name the model file a graph runs, and the role of that file.
_MODEL_INPUTS = {"ckpt_name": "checkpoint", "unet_name": "diffusion_model", "model_name": "diffusion_model",
                 "lora_name": "lora"}
#: Loaders of parts that are not the generator (text encoders, VAEs, upscalers, control nets...).
_OTHER_LOADERS = re.compile(r"clip|vae|upscale|controlnet|control_net|ipadapter|ip_adapter|style|gligen|hypernetwork|"
                            r"photomaker|instantid|insightface|sam|yolo|detector|bbox|segm", re.I)
_MODEL_FILE = re.compile(r"\.(?:safetensors|ckpt|gguf|pt|pth|bin|sft)$", re.I)
_A1111_MODEL = re.compile(r"(?:^|, )Model: ([^,\n]+)", re.M)
MAX_MODELS = 8
MAX_MODEL_NAME = 200


_UNPARSED = object()


def model_files(text: str, obj: Any = _UNPARSED) -> list[dict[str, str]]:
    """The model files a ComfyUI graph (API ``prompt`` or UI ``workflow``, with or without the
    ``prompt:``/``workflow:`` prefix of EXIF) or A1111/Forge parameters load, each file once: in
    an API graph the loaders a sampler's ``model`` input leads back to first; then checkpoint
    and diffusion-model loaders before LoRA loaders. ``obj``: what :func:`_json` made of
    ``text`` when the caller already parsed it, so that a large graph is parsed once."""
    m = _COMFY_PREFIX.match(text)
    if obj is _UNPARSED or (obj is None and m):
        obj = _json(m.group(2) if m else text)
    found: list[tuple[str, Any, str, bool]] = []  # (role, file, node class, read by a sampler)
    if _is_comfy_prompt(obj):
        used = _sampled_models(obj)
        for nid, node in obj.items():
            cls = str(node.get("class_type", "")) if isinstance(node, dict) else ""
            inputs = node.get("inputs") if isinstance(node, dict) else None
            if "loader" in cls.lower() and not _OTHER_LOADERS.search(cls) and isinstance(inputs, dict):
                found += [(role, inputs.get(key), cls, str(nid) in used) for key, role in _MODEL_INPUTS.items()]
    elif _is_comfy_workflow(obj):
        for node in obj["nodes"]:
            cls = str(node.get("type", "")) if isinstance(node, dict) else ""
            values = node.get("widgets_values") if isinstance(node, dict) else None
            if "loader" in cls.lower() and not _OTHER_LOADERS.search(cls) and isinstance(values, list):
                role = "lora" if "lora" in cls.lower() else "checkpoint" if "checkpoint" in cls.lower() else "diffusion_model"
                found += [(role, v, cls, True) for v in values if isinstance(v, str) and _MODEL_FILE.search(v.strip())]
    elif isinstance(obj, dict):  # Fooocus and other JSON parameters
        found += [("checkpoint", obj.get(key), key, True) for key in ("Base Model", "base_model", "base_model_name")]
    elif obj is None:
        found += [("checkpoint", hit.group(1), "Model", True) for hit in _A1111_MODEL.finditer(text[:_LIMIT_JSON])]
    out: dict[tuple[str, str], dict[str, str]] = {}
    # stable: what a sampler reads first, then base models before LoRAs, each in the file's order
    for role, file, node, _ in sorted(found, key=lambda f: (not f[3], f[0] == "lora")):
        if isinstance(file, str) and 0 < len(file.strip()) <= MAX_MODEL_NAME and file.isprintable():
            out.setdefault((role, file.strip()), {"role": role, "file": file.strip(), "node": node[:MAX_MODEL_NAME]})
    return list(out.values())[:MAX_MODELS]


def _sampled_models(graph: dict[str, Any], limit: int = 1000) -> set[str]:
    """Ids of the nodes upstream of a sampler's ``model`` input in a ComfyUI API graph (the
    model the image was made with, through its LoRA loaders), following ``model`` inputs only;
    at most ``limit`` nodes."""
    def ref(node: Any) -> str | None:
        inputs = node.get("inputs") if isinstance(node, dict) else None
        link = inputs.get("model") if isinstance(inputs, dict) else None
        return str(link[0]) if isinstance(link, list) and link else None

    frontier = [r for n in graph.values() if isinstance(n, dict) and "sampler" in str(n.get("class_type", "")).lower()
                and (r := ref(n)) is not None]
    seen: set[str] = set()
    while frontier and len(seen) < limit:
        nid = frontier.pop()
        if nid not in seen and nid in graph:
            seen.add(nid)
            if (r := ref(graph[nid])) is not None:
                frontier.append(r)
    return seen


def _gen_keys(obj: Any) -> set[str]:
    return {k.lower() for k in obj} & _GEN_KEYS if isinstance(obj, dict) else set()


class _Hits:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, generator: str, kind: str, source: str, score: float, text: str, obj: Any = _UNPARSED) -> None:
        """A hit; ``obj`` is what :func:`_json` made of ``text`` when the caller parsed it."""
        hit = {"generator": generator, "kind": kind, "source": source, "score": score, "text": md.clip(text)}
        models = model_files(text, obj) if kind in ("parameters", "workflow") else []
        if models:
            hit["models"] = models
        self.items.append(hit)


def _a1111_name(text: str) -> str:
    m = _A1111_VERSION.search(text)
    version = m.group(1).strip() if m else ""
    if "fooocus" in text.lower():
        return "Fooocus"
    if re.match(r"f\d", version):
        return "Forge"
    if "comfyui" in text.lower():
        return "ComfyUI"
    return "Automatic1111" if version.startswith("v") else "Automatic1111-compatible UI"


def _is_a1111(text: str) -> bool:
    """``text`` holds A1111-style parameters. The first "Steps" line has the most text after
    it, so a keyword after any "Steps" line is after the first: one search for each."""
    m = _A1111_STEPS.search(text)
    return m is not None and any(text.find(k, m.end()) >= 0 for k in _A1111_KEYS)


def _parameters_text(hits: _Hits, source: str, text: str) -> bool:
    """A1111-style or JSON generation parameters in ``text``; True when found."""
    if _is_a1111(text):
        hits.add(_a1111_name(text), "parameters", source, S_PARAMS, text)
        return True
    obj = _json(text)
    if _is_comfy_prompt(obj) or _is_comfy_workflow(obj):
        hits.add("ComfyUI", "workflow", source, S_PARAMS, text, obj)
        return True
    if isinstance(obj, dict) and ("fooocus" in text.lower() or {"Performance", "Base Model"} <= set(obj)):
        hits.add("Fooocus", "parameters", source, S_PARAMS, text, obj)
        return True
    if len(_gen_keys(obj)) >= 2:
        hits.add("unknown diffusion UI", "parameters", source, S_PARAMS, text, obj)
        return True
    return False


def _scan_text_chunks(hits: _Hits, text: dict[str, str]) -> None:
    software = (text.get("Software") or "").strip()
    for key in sorted(text):
        value = text[key]
        src = f"png:{key}"
        if key in _TOOL_KEYS:
            hits.add(_TOOL_KEYS[key], "parameters", src, S_PARAMS, value)
        elif key in ("prompt", "workflow"):
            obj = _json(value)
            if _is_comfy_prompt(obj) or _is_comfy_workflow(obj) or '"class_type"' in value[:100_000]:
                hits.add("ComfyUI", "workflow", src, S_PARAMS, value, obj)
            elif key == "prompt" and value.strip():
                _parameters_text(hits, src, value)
        elif key == "Comment" and software.lower().startswith("novelai") and len(_gen_keys(obj := _json(value))) >= 2:
            hits.add("NovelAI", "parameters", src, S_PARAMS, value, obj)
        elif key in ("parameters", "comment", "Comment", "Description", "UserComment"):
            if not _parameters_text(hits, src, value) and _MJ_JOB.search(value):
                hits.add("Midjourney", "parameters", src, S_PARAMS, value)
        if key in ("Software", "Source", "Title", "Description", "Author", "Comment", "Copyright", "Credit"):
            _names(hits, src, value, S_SOFTWARE if key in ("Software", "Source") else S_MARKER)


def _names(hits: _Hits, source: str, value: str, score: float) -> None:
    head = value[:2000]
    for pattern, name in _NAMES:
        if pattern.search(head):
            hits.add(name, "software" if score >= S_SOFTWARE else "marker", source, score, value)
            return
    if _MARKER.search(head):
        hits.add("unknown generator", "marker", source, S_MARKER, value)


def _scan_exif(hits: _Hits, exif: bytes | None) -> None:
    if not exif:
        return
    parsed = md.parse_exif(exif)
    zeroth, ex = parsed["0th"], parsed["Exif"]
    for tag, label in ((md.TAG_MAKE, "Make"), (md.TAG_MODEL, "Model"), (md.TAG_IMAGE_DESCRIPTION, "ImageDescription"),
                       (md.TAG_MAKE - 2, "DocumentName"), (md.TAG_ARTIST, "Artist")):
        value = md.as_text(zeroth.get(tag))
        m = _COMFY_PREFIX.match(value or "")
        if m and m.group(2).lstrip().startswith(("{", "[")):
            obj = _json(m.group(2))
            if obj is None or _is_comfy_prompt(obj) or _is_comfy_workflow(obj) or "class_type" in m.group(2)[:100_000]:
                hits.add("ComfyUI", "workflow", f"exif:{label}", S_PARAMS, value)  # type: ignore[arg-type]
                continue
        if value and label in ("ImageDescription", "Make", "Model", "Artist"):
            if not _parameters_text(hits, f"exif:{label}", value):
                _names(hits, f"exif:{label}", value, S_SOFTWARE if label in ("Make", "Model") else S_MARKER)
    comment = md.decode_user_comment(ex.get(md.TAG_USER_COMMENT))
    if comment and not _parameters_text(hits, "exif:UserComment", comment) and _MJ_JOB.search(comment):
        hits.add("Midjourney", "parameters", "exif:UserComment", S_PARAMS, comment)
    xp = zeroth.get(md.TAG_XP_COMMENT)
    if isinstance(xp, (tuple, list, bytes)):
        try:
            text = bytes(xp[:2 * md.MAX_TEXT_CHARS]).decode("utf-16-le", errors="replace").replace("\x00", "")
        except (TypeError, ValueError):
            text = ""
        if text:
            _parameters_text(hits, "exif:XPComment", text)
    software = md.as_text(zeroth.get(md.TAG_SOFTWARE))
    if software:
        _names(hits, "exif:Software", software, S_SOFTWARE)


def _xmp_values(xmp: str, field: str) -> list[str]:
    """The first :data:`_XMP_VALUES` non-empty values of ``field`` (a real packet has one or two)."""
    return list(itertools.islice((v.strip() for v in xml_field_values(xmp, field) if v.strip()), _XMP_VALUES))


def _scan_xmp(hits: _Hits, xmp: str | None) -> list[str]:
    if not xmp:
        return []
    xmp = xmp[:_XMP_SCAN_CHARS]
    types = sorted(set(_DST.findall(xmp)))
    for code in types:
        score = SOURCE_TYPE_SCORES.get(code)
        if score:
            hits.add("unknown generator", "digital_source_type", "xmp:DigitalSourceType", score,
                     f"http://cv.iptc.org/newscodes/digitalsourcetype/{code}")
    for field, score in (("xmp:CreatorTool", S_SOFTWARE), ("photoshop:Credit", S_MARKER),
                         ("Iptc4xmpCore:Credit", S_MARKER), ("dc:description", S_MARKER),
                         ("tiff:Software", S_SOFTWARE), ("exif:Software", S_SOFTWARE)):
        for value in _xmp_values(xmp, field):
            _names(hits, f"xmp:{field.split(':')[1]}", value, score)
    for value in _xmp_values(xmp, "exif:UserComment"):
        if not _parameters_text(hits, "xmp:UserComment", _xml_unescape(value)):
            _names(hits, "xmp:UserComment", value, S_MARKER)
    return types


def _xml_unescape(text: str) -> str:
    return (text.replace("&quot;", '"').replace("&apos;", "'").replace("&lt;", "<")
            .replace("&gt;", ">").replace("&amp;", "&"))


def _attribute_generators(hits: list[dict[str, Any]]) -> None:
    """Name the generator of anonymous hits (DigitalSourceType) after a named hit, if any."""
    named = [h["generator"] for h in hits if not h["generator"].startswith("unknown")]
    if named:
        for h in hits:
            if h["generator"] == "unknown generator":
                h["generator"] = named[0]


def find_generator_metadata(image: "LoadedImage") -> dict[str, Any]:
    """All generator fingerprints in ``image``'s metadata as JSON-safe evidence."""
    hits = _Hits()
    _scan_text_chunks(hits, image.text or {})
    _scan_exif(hits, image.exif)
    types = _scan_xmp(hits, image.xmp)
    seen, unique = set(), []
    for h in sorted(hits.items, key=lambda h: (-h["score"], h["source"], h["generator"])):
        key = (h["source"], h["generator"], h["kind"])
        if key not in seen:
            seen.add(key)
            unique.append(h)
    _attribute_generators(unique)
    score = unique[0]["score"] if unique else 0.0
    return {
        "hits": unique,
        "generators": sorted({h["generator"] for h in unique}),
        "digital_source_types": types,
        "decisive": score >= DECISIVE,
    }


class GeneratorMetadataSignal(BaseSignal):
    """Generator fingerprints in PNG chunks, EXIF and XMP (one-sided: absent scores 0)."""

    name = "generator_metadata"
    version = "1.0"
    failure = "metadata could not be scanned"
    # Embedded generation parameters, workflows, IPTC trainedAlgorithmicMedia: +12 (decisive).
    prior = Prior(12.0, note="generator fingerprints in metadata; embedded parameters decisive")
    decisive_at = DECISIVE
    evidence_kind = "provenance"

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "generators": len(GENERATOR_NAMES)}

    def analyze(self, image: "LoadedImage") -> SignalResult:
        ev = find_generator_metadata(image)
        if not ev["hits"]:
            return SignalResult(self.name, self.version, "ok", score=0.0, evidence=ev,
                                summary="no generator fingerprint in metadata (absence proves nothing)")
        top = ev["hits"][0]
        summary = f"{top['generator']}: {_what(top)} in {top['source']}"
        if len(ev["hits"]) > 1:
            summary += f" (+{len(ev['hits']) - 1} more)"
        return SignalResult(self.name, self.version, "ok", score=float(top["score"]), evidence=ev, summary=summary)

    def brief(self, result: SignalResult) -> str | None:
        """``"embedded generation parameters (Automatic1111)"``; ``None`` without a hit."""
        hits = result.evidence.get("hits") if result.status == "ok" else None
        if not hits:
            return None
        return f"{_what(hits[0])} ({hits[0]['generator']})"

    def claimed_generator(self, result: SignalResult) -> Claim | None:
        """The named generator of the strongest hit that names one, with the model files a
        front-end's record names (``models``)."""
        hits = [h for h in (result.evidence.get("hits") or []) if not str(h.get("generator", "")).startswith("unknown")
                and h.get("kind") in _HIT_TEXT] if result.status == "ok" else []
        if not hits:
            return None
        h = max(hits, key=lambda h: h.get("score", 0))
        gen = str(h["generator"])
        models = tuple((str(m.get("role")), m["file"]) for m in h.get("models") or []
                       if isinstance(m, dict) and isinstance(m.get("file"), str))
        return Claim(gen, _HIT_TEXT[h["kind"]].format(gen=gen, src=h["source"]), "embedded", models)


_HIT_TEXT = {"parameters": "{gen} generation parameters embedded in {src}", "workflow": "{gen} workflow embedded in {src}",
             "software": "{gen} named in {src}", "digital_source_type": "{gen} named with an IPTC digital source type in {src}"}


def _what(hit: dict[str, Any]) -> str:
    return {"parameters": "embedded generation parameters", "workflow": "embedded workflow graph",
            "digital_source_type": f"DigitalSourceType {hit['text'].rsplit('/', 1)[-1]}",
            "software": "generator named in a software field", "marker": "AI wording"}[hit["kind"]]

"""Labels and splits: the labelled corpus and fetched sources as the training pipeline sees them.

One reader for ``labels.csv`` (``forensics.evaluation``'s, :func:`labelled`), the fit/holdout
split, the generator families and real sources, and the groups of files that must stay on one
side of every split.

Every shipped model is fitted on the corpus's ``fit`` half only; the ``holdout`` half is what
honest numbers are measured on. The split is a hash of the corpus-relative path, so it is stable
as files are added.
"""

from __future__ import annotations

import re
from pathlib import Path

from forensics.evaluation.evaluate import read_labels
from forensics.training.seeds import hash_seed

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
SPLIT_SALT = "forensics-split-v1"
SEED = 20240604


def source_of(path: str) -> str:
    """``sd1_laion`` / ``sd1_horror`` / ``camera`` / ``web`` from a corpus path."""
    return Path(path).stem.rsplit("_", 1)[0]


def split_of(path: str) -> str:
    """``fit`` or ``holdout`` (about half each), from a hash of the corpus-relative path."""
    return "fit" if hash_seed(f"{SPLIT_SALT}:{path}", 4, "big") % 2 == 0 else "holdout"


def file_seed(path: str, salt: str) -> int:
    """A deterministic per-file seed for laundering draws."""
    return hash_seed(f"{SEED}:{salt}:{path}", 4)


def labelled(base: Path) -> list[dict[str, str]]:
    """The rows of ``base/labels.csv`` in file order: ``path`` (as written), ``file`` (resolved),
    ``label`` (``ai``/``real``), ``source`` and ``generator`` (empty when absent)."""
    return [{"path": it.rel, "file": it.path, "label": "ai" if it.label else "real",
             "source": it.groups.get("source", ""), "generator": it.groups.get("generator", "")}
            for it in read_labels(Path(base) / "labels.csv")]


def read_corpus(corpus: Path, split: str | None = None) -> list[dict[str, str]]:
    """Labelled ``ai``/``real`` rows (the C2PA ``provenance/`` files are left out: they are
    metadata test cases, not pixel training data), sorted by path, optionally one split only;
    ``source`` is the file's set (:func:`source_of`)."""
    rows = [r for r in labelled(corpus) if not r["path"].startswith("provenance/")]
    for r in rows:
        r["source"] = source_of(r["path"])
        r["split"] = split_of(r["path"])
    return sorted((r for r in rows if split is None or r["split"] == split), key=lambda r: r["path"])


#: generator column -> family used for leave-family-out (one family per model lineage)
FAMILY = {
    "stable-diffusion-1.x": "sd1", "Stable Diffusion 1.5 artist styles (2x2 grid tiles)": "sd1",
    "Stable Diffusion beta (2022)": "sd1",
    "Midjourney v3 (2022)": "midjourney_v3", "DALL-E 2": "dalle2", "CompVis latent diffusion (LDM)": "ldm",
    "GLID-3-XL": "glid3", "DALL-E mini": "dalle_mini", "Disco Diffusion": "disco", "VQGAN+CLIP (pixray)": "vqgan_clip",
    "Majesty Diffusion": "majesty", "SDXL": "sdxl", "Stable Cascade": "cascade",
    "DALL-E 3 (screen captures: resampled)": "dalle3", "Stable Diffusion 3.5 Large": "sd35",
    "GPT-4o image generation (re-shared)": "gpt4o", "gpt-image-1 (OpenAI examples)": "gpt4o",
    "FLUX.1-dev (2x2 grid tiles: downscaled 2x and WebP)": "flux",
    # round 2: GANs (one family per lineage; StyleGAN2 and its ADA variant are one), Gemini
    "StyleGAN2 (official TF; FFHQ config-f; truncation psi 0.5/0.2/1.0)": "stylegan2",
    "StyleGAN2-ADA (pytorch generate.py) FFHQ 1024 pretrained": "stylegan2",
    "StyleGAN2 (rosinality stylegan2-pytorch generate.py) trained on pizza photos 256px": "stylegan2",
    "AnimeGAN v1 (GAN photo-to-anime translation; Hayao style; outputs of the real photos in result/Hayao/photo)": "animegan",
    "CycleGAN horse->zebra (official horse2zebra_pretrained + 3 own fine-tunes) 256px": "cyclegan",
    "CycleGAN official monet2photo pretrained (Monet painting -> photo) 256px": "cyclegan",
    # one manifest row holds both: its facades_pix2pix folder is pix2pix (``family_of``)
    "CycleGAN (maps map->aerial; facades label->photo) + pix2pix (facades label->photo)": "cyclegan",
    "pix2pix (U-Net G) label->photo: facades + cityscapes + maps (map->aerial)": "pix2pix",
    "StarGAN v2 CelebA-HQ (reference-guided male->female) 256px": "stargan2",
    "Gemini 3 Pro Image (Nano Banana Pro; re-encoded JPEG 1200 px)": "gemini",
}
#: the families and real sources of the manifest's round-2 rows: they join the folds after the
#: first round's, so that the first round's folds, and its figures, stay comparable
ROUND2 = {"stylegan2", "animegan", "cyclegan", "pix2pix", "stargan2", "gemini",
          *(f"real:{s}" for s in ("TachibanaYoshino/AnimeGAN", "TachibanaYoshino/AnimeGANv3", "Tech4Tracing/CartridgeOCR",
                                  "Hemnath0075/ee6180_practical_assignment", "blechn/3dcv-final"))}
GAN_FAMILIES = ("animegan", "cyclegan", "pix2pix", "stargan2", "stylegan2")
#: pytorch-CycleGAN-and-pix2pix result folders (by prefix) -> the dataset whose N-th test image they translate
TRANSLATION_SETS = {"facades": "facades", "maps": "maps", "cityscapes": "cityscapes", "h2z": "horse2zebra",
                    "horse2zebra": "horse2zebra", "monet2photo": "monet2photo"}


def family_of(generator: str, path: str) -> str:
    if "/facades_pix2pix/" in path:
        return "pix2pix"
    return FAMILY[generator]


def group_of(path: str) -> str:
    """Files that must stay on one side of a split: the four tiles of a grid, a PolyU scene, a GAN's
    output and its input or target (the N-th test image of a translation set in every model and
    repository, an AnimeGAN photo and its anime rendition), a StarGAN v2 source face with all its
    references, a StyleGAN2 seed at every truncation."""
    if m := re.search(r"/results/([^/]+)/test_latest/images/(\w+?)_(?:fake|real)(?:_[AB])?\.png$", path):
        return ("translation:" + next((v for k, v in TRANSLATION_SETS.items() if m.group(1).startswith(k)), m.group(1))
                + ":" + m.group(2))
    if m := re.search(r"/result/Hayao/photo(?:_result)?/([^/]+)$", path):
        return "animegan:" + Path(m.group(1)).stem.strip()
    if m := re.search(r"/expr/eval/celeba_hq/male2female/(\d+)_\d+\.png$", path):
        return "stargan2:" + m.group(1)
    if m := re.search(r"Project-on-StyleGAN/results/\d+-generate-images/(seed\d+)\.png$", path):
        return "stylegan2-ffhq:" + m.group(1)
    p = re.sub(r"\.tile\d\.png$", "", path)
    if "PolyU" in p:
        return "polyu:" + "_".join(Path(p).name.split("_")[:5])
    if "SfM_quality" in p:
        return "strecha:" + p.split("/")[-3]
    return p

"""The whole refit of the shipped pixel models, the default fusion and docs/evaluation.md, in one command.

    python scripts/refit.py --train-dir DIR --cache CACHE --mirror MIRROR [--from STEP] [--to STEP]

DIR is what ``../shared/corpus/extract_sources.py`` wrote from the manifest, CACHE a folder
outside the repository, MIRROR the folder of fetched snapshots (``taesd_fakes.py`` reads the
TAESD weights from MIRROR/madebyollin+taesd/repo). Runs the steps of docs/pixels.md
("Reproducing") in order, each with its output in ``CACHE/<step>.log``, and stops at the first
that fails, saying which and where its log is. ``--from`` resumes at a step (the earlier ones'
outputs must be in CACHE), ``--to`` stops after one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def steps(args: argparse.Namespace) -> dict[str, list[str]]:
    cache = ["--cache", str(args.cache)]
    return {
        "pixel_data": ["pixel_data.py", "--train-dir", str(args.train_dir), "--out", str(args.cache)],
        "fit_pixel_heads": ["fit_pixel_heads.py", *cache],
        "taesd_fakes": ["taesd_fakes.py", *cache, "--taesd", str(args.mirror / "madebyollin+taesd" / "repo")],
        "autogan_fakes": ["autogan_fakes.py", *cache],
        "train_npr": ["train_npr.py", *cache, "--oof"],
        "metadata_scores": ["metadata_scores.py", *cache],
        "fit_fusion": ["fit_fusion.py", *cache],
        "eval_generalisation": ["eval_generalisation.py", *cache],
        "fit_attribution": ["fit_attribution.py", *cache, "--train-dir", str(args.train_dir)],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-dir", type=Path, required=True, help="output folder of extract_sources.py")
    ap.add_argument("--cache", type=Path, required=True, help="cache folder (outside the repository)")
    ap.add_argument("--mirror", type=Path, required=True, help="folder of the fetched snapshots (OWNER+NAME/repo)")
    ap.add_argument("--from", dest="start", help="resume at this step")
    ap.add_argument("--to", dest="stop", help="stop after this step")
    args = ap.parse_args(argv)
    plan = steps(args)
    names = list(plan)
    for given in (args.start, args.stop):
        if given is not None and given not in plan:
            print(f"refit: unknown step {given!r}; the steps are {', '.join(names)}", file=sys.stderr)
            return 2
    todo = names[names.index(args.start) if args.start else 0:names.index(args.stop) + 1 if args.stop else None]
    args.cache.mkdir(parents=True, exist_ok=True)
    for name in todo:
        log = args.cache / f"{name}.log"
        t0 = time.monotonic()
        print(f"{time.strftime('%H:%M:%S')} {name} (log {log})", flush=True)
        with open(log, "w") as fh:
            rc = subprocess.run([sys.executable, str(HERE / plan[name][0]), *plan[name][1:]], stdout=fh,
                                stderr=subprocess.STDOUT).returncode
        if rc != 0:
            print(f"refit: {name} failed (exit {rc}); see {log}, then resume with --from {name}", file=sys.stderr)
            return 1
        print(f"  done in {(time.monotonic() - t0) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

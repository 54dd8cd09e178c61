"""``python -m forensics.training``: run the training pipeline (see :mod:`forensics.training.runner`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from forensics.training.corpus import DEFAULT_CORPUS, REPO
from forensics.training.runner import Config, PipelineError, run, stages


def main(argv: list[str] | None = None) -> int:
    names = [s.name for s in stages()]
    ap = argparse.ArgumentParser(prog="python -m forensics.training",
                                 description="Refit the shipped models and the generated docs, stage by stage, into a cache.",
                                 epilog="stages, in order: " + ", ".join(names))
    ap.add_argument("--train-dir", type=Path, required=True, help="output folder of ../shared/corpus/extract_sources.py")
    ap.add_argument("--cache", type=Path, required=True, help="cache folder (outside the repository); CACHE/manifest.json lists it")
    ap.add_argument("--mirror", type=Path, required=True, help="folder of the fetched snapshots (OWNER+NAME/repo)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=f"the labelled corpus (default {DEFAULT_CORPUS})")
    ap.add_argument("--from", dest="start", metavar="STAGE", help="start at this stage (the earlier ones' outputs must be in CACHE)")
    ap.add_argument("--to", dest="stop", metavar="STAGE", help="stop after this stage")
    ap.add_argument("--force", action="store_true", help="run the chosen stages even when their outputs are up to date")
    args = ap.parse_args(argv)
    cfg = Config(train_dir=args.train_dir.resolve(), cache=args.cache.resolve(), mirror=args.mirror.resolve(),
                 corpus=args.corpus.resolve(), repo=REPO)
    try:
        run(stages(), cfg, start=args.start, stop=args.stop, force=args.force, log=lambda m: print(m, flush=True))
    except PipelineError as exc:
        print(f"forensics.training: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

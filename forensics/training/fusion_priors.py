"""The default fusion's prior weights: what each signal declares, and writing them in.

    python -m forensics.training.fusion_priors            # each prior, and whether the shipped fusion has it
    python -m forensics.training.fusion_priors --apply    # write them into fusion/data/default_fusion.json

Metadata evidence is one-sided (score 0 = no evidence) and cannot be fitted honestly on a
corpus where every generated image is a metadata-less PNG: the weights are set by hand, in
log-odds per unit of score, on each signal's class (``prior``, with ``decisive_at``) and
documented in docs/metadata.md. Neural signals have no weights here, so their fusion weight is
a shrunk prior, marked uncalibrated until the user runs `forensics calibrate --real ... --fake ...`.

``--apply`` replaces the prior features of the fusion file and keeps its fitted ones (the DCT
Platt scaling, fitted on laundered copies without metadata, so without any prior's
contribution): changing a prior needs no corpus and no refit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from forensics.fusion import LogisticFusion, signal_priors
from forensics.training.corpus import REPO

DEFAULT = REPO / "fusion" / "data" / "default_fusion.json"


def apply(path: Path) -> list[str]:
    """Write the declared priors into the fusion file ``path``; return the names that changed."""
    data = json.loads(path.read_text())
    priors = signal_priors()
    old = {f["name"]: f for f in data["features"] if f["kind"] == "prior"}
    fitted = [f for f in data["features"] if f["kind"] != "prior"]
    data["features"] = sorted(fitted + [f.to_dict() for f in priors.values()], key=lambda f: f["name"])
    model = LogisticFusion.from_dict(data, source=str(path))  # checks what is written
    path.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
    return sorted(n for n in set(old) | set(priors) if old.get(n) != (priors[n].to_dict() if n in priors else None))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apply", action="store_true", help="write the priors into the fusion file")
    ap.add_argument("--fusion", type=Path, default=DEFAULT, help=f"fusion file (default {DEFAULT.name})")
    args = ap.parse_args(argv)
    if args.apply:
        changed = apply(args.fusion)
        print(f"wrote {args.fusion}: " + (f"changed {', '.join(changed)}" if changed else "no prior changed"))
        return 0
    shipped = LogisticFusion.load(args.fusion).features_
    stale = 0
    for name, f in signal_priors().items():
        same = name in shipped and shipped[name] == f
        stale += not same
        decisive = f", decisive at {f.decisive_at:g}" if f.decisive_at is not None else ""
        print(f"{name:<20} {f.coef:>5g}{decisive}{'' if same else '   (not in the fusion file: --apply)'}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

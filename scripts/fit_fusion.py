"""Fit the embedded default fusion and write ``fusion/data/default_fusion.json``.

    python scripts/fit_fusion.py [--corpus ../shared/corpus]

Run after ``scripts/fit_dct.py``. Only the ``fit`` split is used (``scripts/corpus.py``); the
``holdout`` half stays unseen for ``forensics evaluate`` and the calibration experiment.

* ``dct`` is the one fitted feature. Its training scores are cross-fitted: for each of 5
  folds (grouped by file), a head with the shipped head's settings is fitted on the other
  folds' laundered copies and scores this fold's, so the fusion never sees in-sample scores.
  The fusion then learns a Platt scaling of those scores with balanced classes (even prior
  odds) and Platt-smoothed targets. Its metrics come from a second, outer cross-validation.
  Scores are of single 256-px crops; whole images average more tiles and so score less noisily,
  which makes the fitted slope conservative on them.
* Metadata and neural signals enter with the priors their classes declare (``prior``,
  ``decisive_at``; ``scripts/fusion_priors.py`` lists them): laundered copies carry no
  metadata, so the corpus cannot fit them honestly.
* Verdict thresholds come from the out-of-fold probabilities: ``ai`` keeps 5 % of reals
  above it, ``real`` keeps 5 % of AI images below it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import DEFAULT_CORPUS, REPO  # noqa: E402
from dct_data import corpus_features, folds  # noqa: E402
from fit_dct import fit_lr, training_matrix  # noqa: E402

from forensics.calibration import binary_metrics, choose_thresholds  # noqa: E402
from forensics.fusion import LogisticFusion, signal_priors  # noqa: E402
from forensics.signals import create_signal, fingerprint_of  # noqa: E402

ALPHA = 0.05


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--head", type=Path, default=REPO / "signals" / "data" / "dct_head.json")
    ap.add_argument("--out", type=Path, default=REPO / "fusion" / "data" / "default_fusion.json")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    head = json.loads(args.head.read_text())
    data = corpus_features(args.corpus, with_eval=False, workers=args.workers, split="fit")
    rows = data["rows"]
    labels = np.array([r["label"] == "ai" for r in rows], dtype=int)
    x, y, g = training_matrix(data["train"], labels, np.arange(len(rows)))
    fold = folds(rows)[g]
    oof = np.empty(len(y))
    for k in np.unique(fold):
        scaler, lr = fit_lr(x[fold != k], y[fold != k], head["fit_metrics"]["C"])
        oof[fold == k] = lr.decision_function(scaler.transform(x[fold == k]))
    score_rows = [{"dct": float(s)} for s in oof]
    params = dict(C=1.0, drop_rate=0.0, n_drop_copies=0, priors=signal_priors(), class_weight="balanced")

    # outer CV for honest fusion metrics (the Platt layer is fitted without the fold it scores)
    p_oof = np.empty(len(y))
    for k in np.unique(fold):
        m = LogisticFusion(**params).fit([score_rows[i] for i in np.flatnonzero(fold != k)], y[fold != k],
                                         fitted=["dct"], platt=True)
        p_oof[fold == k] = m.predict_proba([score_rows[i] for i in np.flatnonzero(fold == k)])[:, 1]
    metrics = {"held_out": binary_metrics(y, p_oof),
               "how": "5-fold CV grouped by file over laundered 256-px copies of the fit split; dct scores cross-fitted",
               "alpha_for_thresholds": ALPHA}
    thresholds = choose_thresholds(y, p_oof, ALPHA)
    model = LogisticFusion(**params, thresholds=thresholds).fit(score_rows, y, fitted=["dct"], platt=True)
    model.metrics_ = metrics
    model.signals_ = {"dct": fingerprint_of(create_signal("dct"))}
    model.provenance_ = {
        "name": "default",
        "script": "scripts/fit_fusion.py",
        "corpus": "../shared/corpus (labels.csv), fit split",
        "data": {"files": int(len(np.unique(g))), "rows": int(len(y)), "ai_rows": int(y.sum()), "real_rows": int(len(y) - y.sum()),
                 "laundering": head["data"]["recipe"], "crop": head["data"]["crop"]},
        "priors": "scripts/fusion_priors.py (documented hand-set weights for metadata; shrunk uncalibrated priors for neural signals)",
        "training_files": head["provenance"]["training_files"],
    }
    args.out.write_text(json.dumps(model.to_dict(), indent=1) + "\n")
    print(f"wrote {args.out}: dct coef {model.features_['dct'].coef:.3f}, intercept {model.intercept_:.3f}, "
          f"thresholds {thresholds}, held-out {metrics['held_out']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

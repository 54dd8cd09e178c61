"""``forensics evaluate``: held-out metrics on a labelled folder, under laundering conditions.

The labels file is a CSV with at least ``path,label`` (``label`` is ``ai`` or ``real``; paths
are relative to the CSV's folder) and optionally ``source``/``generator`` columns, like
``../shared/corpus/labels.csv``. For each condition (default: ``original``; ``jpeg90``:
metadata stripped and JPEG quality 90; ``jpeg75``; ``downscale05``: half size, then JPEG 90;
see :mod:`forensics.evaluation.laundering`) every image is laundered deterministically and analysed, and
the fused probability and each signal's raw score are measured: AUROC, average precision,
TPR at 1 % and 5 % FPR, and for the probability Brier score and ECE; overall and per source
and generator.

Files the fusion was fitted on are excluded unless ``include_training=True``: metrics on
training data say nothing about new images. They are named by ``provenance.training_files``
of the fusion in use (paths relative to the labels file's folder: the shipped default) or by
``provenance.training_sha256`` (the bytes' sha256: a fusion refitted by ``forensics
calibrate --fake``, whose images may sit anywhere).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forensics.analysis import Engine
from forensics.batch.pool import TaskFailed, WorkerPool, make_engine, run_inline
from forensics.batch.scan import file_sha256, scan_settings
from forensics.errors import ForensicsError
from forensics.image import DEFAULT_MAX_PIXELS

from .laundering import CONDITIONS, launder

log = logging.getLogger(__name__)

DEFAULT_CONDITIONS = ("original", "jpeg90", "jpeg75", "downscale05")
GROUP_COLUMNS = ("source", "generator")
HANDLER = "forensics.evaluation.evaluate:evaluate_one"
LABELS = {"ai": 1, "real": 0, "1": 1, "0": 0, "fake": 1, "generated": 1}
TRAINING_WARNING = ("WARNING: --include-training: {n} image(s) the fusion was fitted on are included; "
                    "these metrics are optimistic and say little about new images")


@dataclass(frozen=True)
class Item:
    """One labelled image: ``rel`` as written in the labels file, ``path`` resolved."""

    rel: str
    path: str
    label: int
    groups: dict[str, str]


def read_labels(labels: str | os.PathLike) -> list[Item]:
    """Rows of a labels CSV (``path,label[,source,generator,...]``).

    Raises :class:`ForensicsError` when the file cannot be read, lacks the columns, or has a
    label that is not ``ai``/``real``.
    """
    labels = Path(labels)
    try:
        with open(labels, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ForensicsError(f"{labels}: cannot read the labels file ({exc})") from None
    missing = [c for c in ("path", "label") if c not in cols]
    if missing:
        raise ForensicsError(f"{labels}: missing column(s) {', '.join(missing)} (have: {', '.join(cols) or 'none'}); "
                             "expected a CSV with header path,label[,source,generator]")
    items = []
    for i, row in enumerate(rows, start=2):
        lab = (row.get("label") or "").strip().lower()
        if lab not in LABELS:
            raise ForensicsError(f"{labels}:{i}: label {row.get('label')!r} is not 'ai' or 'real'")
        rel = (row.get("path") or "").strip()
        if not rel:
            raise ForensicsError(f"{labels}:{i}: empty path")
        items.append(Item(rel, str(labels.parent / rel), LABELS[lab],
                          {c: (row.get(c) or "").strip() for c in GROUP_COLUMNS if row.get(c)}))
    return items


def _norm(rel: str) -> str:
    return os.path.normpath(rel).replace(os.sep, "/")


def _order_key(rel: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{_norm(rel)}".encode()).hexdigest()


def select(items: Sequence[Item], *, training_files: Sequence[str] = (), training_sha256: Sequence[str] = (),
           include_training: bool = False, limit: int | None = None, sample_per_class: int | None = None,
           seed: int = 0) -> tuple[list[Item], list[Item]]:
    """``(used, excluded_as_training)``. Training items are those whose path is in
    ``training_files`` or whose bytes' sha256 is in ``training_sha256``. Sampling is
    deterministic: items are ordered by a hash of ``seed`` and their path;
    ``sample_per_class`` keeps the first N of each label, then ``limit`` the first N overall."""
    train = {_norm(t) for t in training_files}
    train_sha = set(training_sha256)

    def is_training(it: Item) -> bool:
        return _norm(it.rel) in train or (bool(train_sha) and file_sha256(it.path) in train_sha)

    flags = [is_training(it) for it in items]
    excluded = [it for it, t in zip(items, flags) if t]
    pool = list(items) if include_training else [it for it, t in zip(items, flags) if not t]
    if sample_per_class is not None or limit is not None:
        pool.sort(key=lambda it: _order_key(it.rel, seed))
        if sample_per_class is not None:
            taken = {0: 0, 1: 0}
            kept = []
            for it in pool:
                if taken[it.label] < sample_per_class:
                    taken[it.label] += 1
                    kept.append(it)
            pool = kept
        if limit is not None:
            pool = pool[:limit]
    return pool, excluded


def launder_seed(rel: str, seed: int) -> int:
    """The laundering seed of one file: fixed by its path and ``seed``."""
    return int.from_bytes(hashlib.sha256(f"launder:{seed}:{_norm(rel)}".encode()).digest()[:4], "big")


# -- the worker's task -------------------------------------------------------------------------
def evaluate_one(engine, payload: tuple[str, str, int]) -> dict[str, Any]:
    """Launder one file and analyse it (runs in a worker)."""
    path, condition, seed = payload
    data = Path(path).read_bytes()
    if condition != "original":
        data = launder(data, condition, seed=seed)
    a = engine.analyze(data)
    return {"probability": a.probability, "logit": a.logit, "verdict": a.verdict,
            "scores": {s.name: (s.result.score if s.result.status == "ok" else None) for s in a.signals},
            "status": {s.name: s.result.status for s in a.signals}}


# -- metrics -----------------------------------------------------------------------------------
def score_metrics(y: np.ndarray, s: np.ndarray) -> dict[str, Any]:
    """Ranking metrics of a raw (uncalibrated) score: AUROC, AP, TPR at 1 %/5 % FPR. Brier and
    ECE need probabilities, so they are ``None`` here."""
    from forensics.calibration.metrics import binary_metrics

    m = binary_metrics(y, s) if len(y) else {"n": 0, "n_ai": 0, "n_real": 0}
    for k in ("auroc", "average_precision", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct"):
        m.setdefault(k, None)
    m["brier"] = m["ece"] = None
    return m


def _metrics_block(y: np.ndarray, p: np.ndarray, scores: dict[str, list[float | None]], signals: list[str]) -> dict[str, Any]:
    from forensics.calibration.metrics import binary_metrics

    out: dict[str, Any] = {"fused": binary_metrics(y, p), "signals": {}}
    for name in signals:
        vals = scores[name]
        ok = np.array([v is not None for v in vals], dtype=bool)
        m = score_metrics(y[ok], np.array([v for v in vals if v is not None], dtype=float))
        m["coverage"] = round(float(ok.mean()), 4) if len(vals) else 0.0
        out["signals"][name] = m
    return out


def _group_subset(groups: list[dict[str, str]], y: np.ndarray, col: str, value: str) -> np.ndarray:
    """Rows of group ``value``; when the group holds one class only, plus every row of the other
    class (so a generator is measured against all reals, and a camera source against all AI)."""
    mask = np.array([g.get(col) == value for g in groups], dtype=bool)
    classes = set(y[mask].tolist())
    if len(classes) == 1:
        mask |= y == (1 - classes.pop())
    return mask


# -- the evaluation ----------------------------------------------------------------------------
@dataclass
class Evaluation:
    """Everything ``evaluate`` measured; ``to_dict()`` is ``metrics.json``."""

    labels: str
    conditions: list[str]
    signals: list[str]
    n_labelled: int
    n_used: int
    n_excluded_training: int
    include_training: bool
    settings: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "conditions": self.conditions, "signals": self.signals,
                "n_labelled": self.n_labelled, "n_used": self.n_used, "n_excluded_training": self.n_excluded_training,
                "include_training": self.include_training, "settings": self.settings, "metrics": self.metrics,
                "groups": self.groups, "errors": self.errors, "notes": self.notes, "seconds": round(self.seconds, 2)}

    def markdown(self) -> str:
        return format_markdown(self)


def evaluate(labels: str | os.PathLike, output_dir: str | os.PathLike | None = None, *,
             conditions: Sequence[str] = DEFAULT_CONDITIONS, signals: Sequence[Any] | None = None,
             fusion: Any = None, calibration: Any = None, max_pixels: int = DEFAULT_MAX_PIXELS,
             include_training: bool = False, limit: int | None = None, sample_per_class: int | None = None,
             seed: int = 0, workers: int = 0, timeout: float | None = 300.0, progress: bool = False) -> Evaluation:
    """Evaluate the engine on the labelled images of ``labels`` under ``conditions``.

    ``output_dir`` (created) receives ``evaluation.md``, ``metrics.json`` and per condition
    ``roc_<condition>.png`` and ``reliability_<condition>.png``. ``workers`` as for
    :func:`forensics.batch.scan.scan` (0 = in this process).

    Raises :class:`ForensicsError` for an unknown condition, an unreadable labels file, or
    when no image is left to evaluate.
    """
    t0 = time.monotonic()
    conditions = list(dict.fromkeys(conditions))
    notes: list[str] = []
    bad = [c for c in conditions if c not in CONDITIONS]
    if bad:
        raise ForensicsError(f"unknown condition(s) {', '.join(bad)}; expected some of {', '.join(CONDITIONS)}")
    engine_kwargs = {"signals": signals, "fusion": fusion, "calibration": calibration, "max_pixels": max_pixels}
    engine = Engine(**engine_kwargs)
    settings_hash, settings = scan_settings(engine)
    signal_names = [s.name for s in engine.signals_]
    if engine.calibration is not None and engine.calibration.probe is not None:
        signal_names.append("clip_probe")  # scored per image from clip_zeroshot's embedding
    training = list(engine.fusion_.provenance_.get("training_files") or [])
    training_sha = list(engine.fusion_.provenance_.get("training_sha256") or [])
    items = read_labels(labels)
    used, excluded = select(items, training_files=training, training_sha256=training_sha,
                            include_training=include_training, limit=limit, sample_per_class=sample_per_class, seed=seed)
    if include_training and excluded:
        notes.append(TRAINING_WARNING.format(n=len(excluded)))
    if not used:
        raise ForensicsError(f"{labels}: no image left to evaluate ({len(items)} labelled, {len(excluded)} excluded as "
                             "training files of the fusion)")
    ev = Evaluation(str(labels), conditions, signal_names, len(items), len(used), len(excluded), include_training,
                    {"sha256": settings_hash, **settings}, notes=notes)

    tasks = [((i, c), (it.path, c, launder_seed(it.rel, seed))) for c in conditions for i, it in enumerate(used)]
    results: dict[tuple[int, str], Any] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), unit="img", file=sys.stderr, dynamic_ncols=True, mininterval=0.5, desc="evaluate")
    try:
        n_workers = min(workers, len(tasks))
        if n_workers == 0:
            stream = run_inline(make_engine(engine_kwargs, warm_up=False), HANDLER, tasks)
            for key, res in stream:
                results[key] = res
                if bar is not None:
                    bar.update(1)
        else:
            with WorkerPool(engine_kwargs, HANDLER, n_workers, timeout=timeout) as pool:
                for key, res in pool.imap_unordered(tasks):
                    results[key] = res
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    for cond in conditions:
        y, p, groups = [], [], []
        scores: dict[str, list[float | None]] = {n: [] for n in signal_names}
        for i, it in enumerate(used):
            res = results.get((i, cond))
            if isinstance(res, TaskFailed) or res is None:
                msg = res.message if res is not None else "no result"
                ev.errors.append({"path": it.rel, "condition": cond, "error": f"{res.kind if res else 'Missing'}: {msg}"})
                continue
            y.append(it.label)
            p.append(res["probability"])
            groups.append(it.groups)
            for n in signal_names:
                scores[n].append(res["scores"].get(n))
        ya, pa = np.array(y, dtype=int), np.array(p, dtype=float)
        ev.metrics[cond] = _metrics_block(ya, pa, scores, signal_names)
        per_group: dict[str, Any] = {}
        for col in GROUP_COLUMNS:
            for value in sorted({g[col] for g in groups if g.get(col)}):
                m = _group_subset(groups, ya, col, value)
                sub = {n: [v for v, keep in zip(scores[n], m) if keep] for n in signal_names}
                per_group[f"{col}={value}"] = _metrics_block(ya[m], pa[m], sub, signal_names)
        ev.groups[cond] = per_group
        if output_dir is not None and 0 < ya.sum() < ya.size:
            _plots(Path(output_dir), cond, ya, pa, scores)
    ev.seconds = time.monotonic() - t0
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(ev.to_dict(), indent=2, allow_nan=False) + "\n")
        (out / "evaluation.md").write_text(ev.markdown() + "\n")
    return ev


def _plots(out: Path, cond: str, y: np.ndarray, p: np.ndarray, scores: dict[str, list[float | None]]) -> None:
    from forensics.calibration.plots import save_reliability, save_roc

    out.mkdir(parents=True, exist_ok=True)
    curves = {n: np.array(v, dtype=float) for n, v in scores.items()
              if v and all(x is not None for x in v) and np.ptp(np.array(v, dtype=float)) > 0}
    save_roc(y, p, out / f"roc_{cond}.png", title=f"ROC, {cond} (fused and raw signal scores)", curves=curves)
    save_reliability(y, p, out / f"reliability_{cond}.png", title=f"Reliability of P(AI), {cond}")


# -- Markdown ----------------------------------------------------------------------------------
def _f(v: Any, nd: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def format_markdown(ev: Evaluation) -> str:
    lines = [f"# Evaluation on {ev.labels}", ""]
    lines += [f"> {n}" for n in ev.notes]
    lines.append(f"Used {ev.n_used} of {ev.n_labelled} labelled images; "
                 + (f"{ev.n_excluded_training} that the fusion was fitted on are "
                    + ("**included** (--include-training)." if ev.include_training else "excluded (the fusion's provenance names them).")))
    lines.append(f"Signals: {', '.join(ev.signals) or 'none'}; fusion sha256 {ev.settings.get('fusion_sha256', '')[:12]}; "
                 f"settings {ev.settings.get('sha256', '')[:12]}; forensics {ev.settings.get('forensics')}; {ev.seconds:.0f} s.")
    if ev.errors:
        lines.append(f"{len(ev.errors)} image/condition pair(s) failed and are left out (see metrics.json).")
    lines += ["", "## Fused probability", "",
              "| condition | n (AI/real) | AUROC | AP | TPR@1%FPR | TPR@5%FPR | Brier | ECE |", "|---|---|---|---|---|---|---|---|"]
    for c in ev.conditions:
        m = ev.metrics[c]["fused"]
        lines.append(f"| {c} | {m['n']} ({m['n_ai']}/{m['n_real']}) | {_f(m.get('auroc'))} | {_f(m.get('average_precision'))} | "
                     f"{_f(m.get('tpr_at_fpr_1pct'))} | {_f(m.get('tpr_at_fpr_5pct'))} | {_f(m.get('brier'))} | {_f(m.get('ece'))} |")
    if ev.signals:
        lines += ["", "## Raw signal scores (ranking only: not probabilities, so no Brier/ECE)", "",
                  "| condition | signal | coverage | AUROC | AP | TPR@1%FPR | TPR@5%FPR |", "|---|---|---|---|---|---|---|"]
        for c in ev.conditions:
            for n, m in ev.metrics[c]["signals"].items():
                lines.append(f"| {c} | {n} | {_f(m.get('coverage'), 2)} | {_f(m.get('auroc'))} | {_f(m.get('average_precision'))} | "
                             f"{_f(m.get('tpr_at_fpr_1pct'))} | {_f(m.get('tpr_at_fpr_5pct'))} |")
    lines += ["", "## Per source and generator (fused AUROC / TPR@5%FPR)", "",
              "A group holding one class is measured against every image of the other class.", "",
              "| group | n (AI/real) | " + " | ".join(ev.conditions) + " |", "|---|---|" + "---|" * len(ev.conditions)]
    keys = list(ev.groups[ev.conditions[0]]) if ev.conditions else []
    for g in keys:
        first = ev.groups[ev.conditions[0]][g]["fused"]
        cells = []
        for c in ev.conditions:
            m = ev.groups[c].get(g, {}).get("fused", {})
            cells.append(f"{_f(m.get('auroc'))} / {_f(m.get('tpr_at_fpr_5pct'))}")
        lines.append(f"| {g} | {first['n']} ({first['n_ai']}/{first['n_real']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)

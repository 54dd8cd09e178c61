"""Folds and sample weights shared by every fitting stage.

:func:`family_folds` holds whole generator families and real sources out together (leave-one-family-
out in 5 folds); :func:`sample_weights` balances the classes and, within a class, the families.
"""

from __future__ import annotations

import hashlib

import numpy as np

from forensics.training.corpus import ROUND2

K = 5  # family folds


def family_folds(rows: list[dict], k: int = K) -> np.ndarray:
    """Fold of each row: every AI family and every real source lies wholly in one fold, so an
    out-of-fold score comes from a model that never saw that family or source. Families and
    sources that share a group (a GAN's outputs and its inputs, two GANs translating the same test
    images) lie in one fold, so no pair is split. First-round families are placed greedily by size,
    AI families and then real sources, as before round 2; then each round-2 unit (its linked
    families and sources) goes to the fold with the fewest round-2 AI families, so that GAN families
    are held out one at a time where they share nothing, then to the least loaded."""
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r["family"]] = sizes.get(r["family"], 0) + 1
    unit = {f: f for f in sizes}  # union-find over families linked by a shared group

    def root(f: str) -> str:
        while unit[f] != f:
            f = unit[f]
        return f

    first_family: dict[str, str] = {}
    for r in rows:
        g = first_family.setdefault(r["group"], r["family"])
        if root(g) != root(r["family"]):
            unit[max(root(g), root(r["family"]))] = min(root(g), root(r["family"]))
    units: dict[str, list[str]] = {}
    for f in sizes:
        units.setdefault(root(f), []).append(f)
    fold_of = {}
    load = {False: [0] * k, True: [0] * k}
    for real in (False, True):
        fams = sorted((f for f in sizes if f.startswith("real:") == real and f not in ROUND2),
                      key=lambda f: (-sizes[f], hashlib.sha256(f.encode()).hexdigest()))
        for f in fams:
            j = int(np.argmin(load[real]))
            fold_of[f] = j
            load[real][j] += sizes[f]
    new_ai = [0] * k
    for fs in sorted((sorted(u) for u in units.values() if set(u) <= ROUND2),
                     key=lambda u: (-sum(sizes[f] for f in u), hashlib.sha256("|".join(u).encode()).hexdigest())):
        n_ai = sum(not f.startswith("real:") for f in fs)
        real = n_ai == 0
        j = min(range(k), key=lambda j: ((new_ai[j], load[False][j]) if not real else (0, load[True][j])))
        new_ai[j] += n_ai
        for f in fs:
            fold_of[f] = j
            load[f.startswith("real:")][j] += sizes[f]
    return np.array([fold_of[r["family"]] for r in rows])


def sample_weights(rows: list[dict], idx: np.ndarray) -> np.ndarray:
    """Weights over ``idx`` (zero elsewhere): the classes weigh the same, and within a class a
    family of n images weighs sqrt(n), so small families count without a 21-image family
    weighing as much as a 400-image one."""
    w = np.zeros(len(rows))
    for cls in ("ai", "real"):
        fams: dict[str, list[int]] = {}
        for i in idx:
            if rows[i]["label"] == cls:
                fams.setdefault(rows[i]["family"], []).append(int(i))
        for ii in fams.values():
            w[ii] = 1.0 / np.sqrt(len(ii))
        members = [i for ii in fams.values() for i in ii]
        w[members] /= w[members].sum()
    return w

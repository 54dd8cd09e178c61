"""Real signals for the batch tools' tests: they compute from pixels; some are slow, crash or
hang on purpose, so that scan's isolation is exercised in real worker processes."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from forensics.signals import Availability, SignalResult


class Redness:
    """Score = mean red minus mean blue in [-1, 1], with a coarse redness heatmap. Its summary
    can be set to hostile text, as metadata summaries may be."""

    name = "redness"
    version = "1"

    def __init__(self, summary: str = "red minus blue {d:+.2f}", delay: float = 0.0):
        self.summary = summary
        self.delay = delay

    def availability(self):
        return Availability.yes()

    def fingerprint(self):
        return {"version": self.version}

    def analyze(self, image):
        if self.delay:
            time.sleep(self.delay)
        rgb = image.rgb.astype(np.float32) / 255.0
        d = float(rgb[..., 0].mean() - rgb[..., 2].mean())
        small = rgb[:: max(1, image.height // 16), :: max(1, image.width // 16)]
        heat = np.clip(0.5 + small[..., 0] - small[..., 2], 0, 1).astype(np.float32)
        return SignalResult(self.name, self.version, "ok", score=d, evidence={"red_minus_blue": round(d, 4)},
                            summary=self.summary.format(d=d), heatmap=heat)


class Sharpness(Redness):
    """Score = mean absolute horizontal gradient (no heatmap)."""

    name = "sharpness"

    def analyze(self, image):
        g = float(np.abs(np.diff(image.rgb.astype(np.float32), axis=1)).mean()) / 32.0
        return SignalResult(self.name, self.version, "ok", score=g, summary=f"gradient {g:.2f}")


class Saboteur(Redness):
    """Kills its own process on images 123 px wide and never returns on images 77 px wide."""

    name = "saboteur"

    def analyze(self, image):
        if image.width == 123:
            os.kill(os.getpid(), signal.SIGKILL)
        if image.width == 77:
            time.sleep(3600)
        return SignalResult(self.name, self.version, "ok", score=0.0, summary="nothing to see")


def batch_fusion(thresholds=(0.7, 0.3), training_files=None, calibrated=True):
    """A fusion with prior weights on redness (towards AI) and sharpness (towards real);
    ``calibrated=False`` marks redness's weight as a prior that calibration may refit."""
    from forensics.fusion import LogisticFusion

    return LogisticFusion.from_dict({
        "format": "forensics.fusion", "format_version": 1, "intercept": 0.0,
        "features": [{"name": "redness", "kind": "prior", "coef": 3.0, "center": 0.0, "scale": 0.2,
                      "calibrated": calibrated},
                     {"name": "sharpness", "kind": "prior", "coef": -1.0, "center": 0.5, "scale": 0.5}],
        "thresholds": {"ai": thresholds[0], "real": thresholds[1]}, "provenance": {"name": "batch-test", **({"training_files": training_files} if training_files else {})}})


def coloured(h: int, w: int, seed: int) -> np.ndarray:
    """A small picture whose redness varies with ``seed`` (so verdicts vary)."""
    from support.images import natural_rgb

    rgb = natural_rgb(h, w, seed=seed).astype(np.int16)
    shift = (seed % 7 - 3) * 25
    rgb[..., 0] += shift
    rgb[..., 2] -= shift
    return np.clip(rgb, 0, 255).astype(np.uint8)


class WorkerEnv(Redness):
    """Redness that also reports the thread settings of the process it ran in."""

    name = "worker_env"
    KEYS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")

    def analyze(self, image):
        r = super().analyze(image)
        env = {k: os.environ.get(k) for k in self.KEYS}
        return SignalResult(self.name, self.version, "ok", score=r.score, evidence={**r.evidence, "env": env, "pid": os.getpid()})


class HeapProbe(Redness):
    """Redness that also reports how much of a freed 64 MB buffer went back to the system:
    none of it when glibc's thresholds are raised (forensics.malloc), all of it by default."""

    name = "heap_probe"

    def analyze(self, image):
        r = super().analyze(image)
        buf = np.ones(64 << 17)  # 64 MB of float64, touched
        during = _rss_mb()
        del buf
        return SignalResult(self.name, self.version, "ok", score=r.score,
                            evidence={"released_mb": round(during - _rss_mb(), 1)})


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class EnvGated(Redness):
    """Redness, available only where ``FORENSICS_TEST_GATE`` is set: a process that has it and
    one that has not give different scan settings, as two differently installed nodes would."""

    name = "env_gated"

    def availability(self):
        from forensics.signals import Availability

        return Availability.yes() if os.environ.get("FORENSICS_TEST_GATE") else Availability.no("FORENSICS_TEST_GATE is not set")

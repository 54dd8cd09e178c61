"""Small real signals for engine and calibration tests (they compute from pixels; not mocks)."""

from __future__ import annotations

import numpy as np

from forensics.signals import Availability, SignalResult


class Brightness:
    """Score = mean brightness in [0, 1]."""

    name = "brightness"
    version = "1"

    def availability(self):
        return Availability.yes()

    def analyze(self, image):
        m = float(image.rgb.mean()) / 255.0
        return SignalResult(self.name, self.version, "ok", score=m, evidence={"mean": round(m, 4)}, summary=f"mean {m:.2f}",
                            heatmap=(image.rgb[::8, ::8].mean(axis=2) / 255.0).astype(np.float32))

    def fingerprint(self):
        return {"version": self.version}


class Contrast(Brightness):
    name = "contrast"

    def analyze(self, image):
        s = float(image.rgb.std()) / 128.0
        return SignalResult(self.name, self.version, "ok", score=s, summary=f"std {s:.2f}")


class Exploding(Brightness):
    name = "exploding"

    def analyze(self, image):
        raise RuntimeError("kaboom on purpose")


class NoWeights(Brightness):
    name = "no_weights"

    def availability(self):
        return Availability.no("no weights: run `forensics weights download no_weights`")


class ContrastLargeOnly(Contrast):
    """Contrast that abstains on images under 32 pixels a side, as the DCT signal does under 64."""

    name = "contrast"

    def analyze(self, image):
        if min(image.width, image.height) < 32:
            return SignalResult.abstained(self.name, self.version, "image under 32 pixels a side")
        return super().analyze(image)

"""Prior weights of the default fusion for the signals that cannot be fitted on the corpus.

Metadata evidence is one-sided (score 0 = no evidence) and cannot be fitted honestly on a
corpus where every generated image is a metadata-less PNG: the weights are set by hand, in
log-odds per unit of score, and documented in docs/metadata.md. Neural signals have no
weights here, so their fusion weight is a shrunk prior, marked uncalibrated until the user
runs `forensics calibrate --real ... --fake ...`.
"""

from forensics.fusion import Feature

PRIORS: dict[str, Feature] = {
    # A signed claim of AI origin incriminates its maker: +12 (decisive). Camera claims are
    # only as good as the signer (score already scaled by trust in signals/provenance.py).
    "c2pa": Feature("c2pa", "prior", 12.0, decisive_at=0.9,
                    note="signed provenance; AI claim +12 (decisive), trusted capture -12"),
    # Embedded generation parameters, workflows, IPTC trainedAlgorithmicMedia: +12 (decisive).
    "generator_metadata": Feature("generator_metadata", "prior", 12.0, decisive_at=0.9,
                                  note="generator fingerprints in metadata; embedded parameters decisive"),
    # Known invisible watermark decoded (false match <= 1e-6 by construction): +12 (decisive).
    "watermark": Feature("watermark", "prior", 12.0, decisive_at=1.0, note="SD v1 / SDXL dwtDct watermark decoded (decisive)"),
    # Forgeable and usually stripped: a full camera record moves at most -1.5, absence +0.15.
    "exif": Feature("exif", "prior", 1.5, note="camera EXIF completeness; weak, forgeable"),
    # Who encoded the file last, not how the pixels were made.
    "jpeg_tables": Feature("jpeg_tables", "prior", 1.0, note="library vs camera quantisation tables; weak"),
    # No weights to fit here: half-trust the model's own logit, bounded to +-4 log-odds.
    "sumsub_sd5": Feature("sumsub_sd5", "prior", 0.5, clip=8.0, calibrated=False,
                          note="Sumsub sd_5 logit at half weight; uncalibrated until `forensics calibrate --fake`"),
    # CLIP zero-shot margin on CLIP's logit scale (x100), half weight, bounded to +-4 log-odds.
    "clip_zeroshot": Feature("clip_zeroshot", "prior", 0.5, scale=0.01, clip=8.0, calibrated=False,
                             note="CLIP prompt margin x100 at half weight; uncalibrated until `forensics calibrate --fake`"),
}

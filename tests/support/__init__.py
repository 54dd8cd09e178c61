"""Helpers shared by the tests: images, EXIF and PNG chunks made in code, small real signals,
and checkpoints in the public formats (``neural_checkpoints``, which needs torch)."""

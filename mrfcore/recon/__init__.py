"""Reconstruction methods; each module registers one method."""

from mrfcore.recon import lr, lrtv, vs, zf  # noqa: F401  (importing registers them)

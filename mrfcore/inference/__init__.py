"""Inference methods; each module registers one method."""

from mrfcore.inference import dm, fgm, kernel_machine, mrfresnet, rescnn  # noqa: F401  (register)

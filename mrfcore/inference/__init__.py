"""Inference methods; each module registers one method."""

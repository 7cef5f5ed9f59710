"""Reconstruction methods; each module registers one method."""

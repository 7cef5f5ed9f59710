"""Readers and writers: raw k-space, DICOM and NIfTI image series, exported maps."""

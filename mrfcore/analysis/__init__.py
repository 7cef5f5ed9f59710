"""ROI geometry and statistics, Bland-Altman agreement, error metrics (no Qt)."""

from mrfcore.analysis.bland_altman import BlandAltman, bland_altman
from mrfcore.analysis.metrics import mae, mape, nrmse, psnr
from mrfcore.analysis.roi import (
    ROI,
    RoiStatistics,
    load_rois,
    roi_mask,
    roi_statistics,
    save_rois,
    statistics_table,
    write_statistics_csv,
)

__all__ = [
    "ROI",
    "BlandAltman",
    "RoiStatistics",
    "bland_altman",
    "load_rois",
    "mae",
    "mape",
    "nrmse",
    "psnr",
    "roi_mask",
    "roi_statistics",
    "save_rois",
    "statistics_table",
    "write_statistics_csv",
]

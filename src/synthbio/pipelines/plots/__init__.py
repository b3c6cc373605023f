"""Figures of sample collections: `synthbio plot histograms` (intra / inter-class distances)."""

from synthbio.pipelines.plots.histograms import HistogramsConfig, plot_histograms, read_features

__all__ = ["HistogramsConfig", "plot_histograms", "read_features"]

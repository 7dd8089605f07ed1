"""The sonic map: projections of a model's space (UMAP, t-SNE, PCA), plots, and exports."""

from synesthete.mapview.project import DEFAULT_SEED, METHODS, Projection, project

__all__ = ["DEFAULT_SEED", "METHODS", "Projection", "project"]

"""The 2D points recipe: data sets, the contrastive trainer, metrics and landscape figures."""

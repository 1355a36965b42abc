"""ebmplan: contrastive energy-based models and planning with generated subgoals."""
__version__ = "0.1.0"

"""The smoothness estimator: its settings and presets, the forests and the per-layer alphas."""

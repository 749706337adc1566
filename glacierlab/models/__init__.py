"""GlaViTU and baselines in PyTorch (imports torch)."""

"""PyTorch toolkit that trains gimp-gan's GANs: `python -m training train|evaluate|sample`.

Layout, one concern per module: config (dataclasses from TOML), data, networks/ (one file per
family, a registry by name), losses, augment, loop (updates, checkpoints, watching a run),
checkpoint, distributed, classifier + metrics + evaluation (the same measurement for every model),
sampling (the model format's seed recipe) and plot.
"""

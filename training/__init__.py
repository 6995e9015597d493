"""PyTorch toolkit that trains gimp-gan's GANs (DCGAN, conditional, style-based, pix2pix/CycleGAN, SR).

Not written yet: the training toolkit is the next piece of work (see README, "Status").
"""

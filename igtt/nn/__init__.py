"""The network and what runs it: the U-Net, its input, the losses, the training loop, tiled inference, the threshold.

- :mod:`.network`: the smp U-Net (unused encoder stages dropped), device, precision;
- :mod:`.network_input`: what the network sees (background subtracted, scaled);
- :mod:`.losses`: balanced BCE, Potts, and the paper's DMI and soft IoU;
- :mod:`.loop`: :class:`~.loop.Trainer`, the one training loop;
- :mod:`.zoo_net`: the network as a BioImage.IO package runs it (torch and smp only), and the unused-stage removal;
- :mod:`.infer`: tiled prediction; :mod:`.threshold`: the DMI threshold search; :mod:`.postprocess`: hole filling.
"""

"""Self-training (iGTT): pseudo-labels from the start, refreshed from the network, with the user's hints.

- :mod:`.train`: pseudo-labels, batches, the epochs of self-training and their events;
- :mod:`.ems`: the paper's meta-structure extraction (skeleton, shift, sampling);
- :mod:`.hints`: user strokes (0 none, 1 object, 2 background) and how they override the start.
"""

"""The papers' study of what networks learn from noisy labels.

- :mod:`.label_noise` — synthetic label noise: RCL, PCL, RL (Table 1)
- :mod:`.ntm` — noise transition matrices, their rank and CRD
- :mod:`.density` — spatial density maps (meta-structures)
- :mod:`.supervised` — supervised training on (noisy) labels, tested against clean ones
- :mod:`.feature_patterns` — feature patterns (Algorithm 1) and difference images
- :mod:`.specs`, :mod:`.runner` — label types as text, and the study that trains one network per type
- :mod:`.plots` — the figures (matplotlib: ``pip install 'igtt[study]'``)
"""

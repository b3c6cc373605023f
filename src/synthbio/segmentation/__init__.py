"""Semantic masks for synthetic images from a few annotations (DatasetGAN-style).

- `features`: the synthesis network's feature maps (forward hooks on
  `synthesis.feature_layers()`) and per-pixel features gathered from them;
- `pixel_classifier`: the ensemble of small MLPs, run per pixel (training) or
  per feature map at its own resolution (inference);
- `training`: pixel sampling, the training loop, cross-validation, scores;
- `uncertainty`: the ensemble's Jensen-Shannon disagreement and the filter on it;
- `classes`, `annotations`: class lists (`classes.json`) and annotation files;
- `predict`: images and masks from one synthesis pass.
"""

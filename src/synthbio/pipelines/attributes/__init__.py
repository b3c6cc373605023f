"""From labelled faces to edit directions: `synthbio train-classifier`, `synthbio directions classifier`."""

from synthbio.pipelines.attributes.classifier import (
    ClassifierDirectionsConfig,
    TrainClassifierConfig,
    TrainClassifierResult,
    classifier_directions_job,
    train_classifier_job,
)

__all__ = [
    "ClassifierDirectionsConfig",
    "TrainClassifierConfig",
    "TrainClassifierResult",
    "classifier_directions_job",
    "train_classifier_job",
]

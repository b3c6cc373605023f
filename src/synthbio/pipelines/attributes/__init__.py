"""From labelled faces to edit directions: `synthbio train-classifier`, `synthbio directions classifier`,
and covariate directions from projected database samples: `synthbio directions covariates`."""

from synthbio.pipelines.attributes.classifier import (
    ClassifierDirectionsConfig,
    TrainClassifierConfig,
    TrainClassifierResult,
    classifier_directions_job,
    train_classifier_job,
)
from synthbio.pipelines.attributes.covariates import CovariatesConfig, fit_covariate_directions, parse_covariate

__all__ = [
    "ClassifierDirectionsConfig",
    "CovariatesConfig",
    "TrainClassifierConfig",
    "TrainClassifierResult",
    "classifier_directions_job",
    "fit_covariate_directions",
    "parse_covariate",
    "train_classifier_job",
]

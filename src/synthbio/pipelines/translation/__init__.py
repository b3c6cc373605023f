"""`synthbio translate` jobs: the test bed, apply / sample, evaluate and its report.

Training itself (`synthbio translate train`) is `synthbio.translation.training.train_translator`,
beside the networks, as `synthbio train` is `synthbio.training.loop.train`.
"""

from synthbio.pipelines.translation.apply import (
    SampleConfig,
    TranslateConfig,
    TranslateResult,
    sample_grid,
    translate_folder,
)
from synthbio.pipelines.translation.evaluate import (
    TranslateEvaluateConfig,
    evaluate_translations,
)
from synthbio.pipelines.translation.testbed import (
    TranslationTestbedConfig,
    TranslationTestbedResult,
    make_testbed,
    testbed_styles,
)

__all__ = [
    "SampleConfig",
    "TranslateConfig",
    "TranslateEvaluateConfig",
    "TranslateResult",
    "TranslationTestbedConfig",
    "TranslationTestbedResult",
    "evaluate_translations",
    "make_testbed",
    "sample_grid",
    "testbed_styles",
    "translate_folder",
]

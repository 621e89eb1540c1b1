"""Plans: an experiment is the data, a list of model specs and an estimator (docs/method.md, "Designs")."""

from clipmem._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "CrossFitDesign": "crossfit",
    "Design": "designs",
    "InOutDesign": "designs",
    "PairDesign": "designs",
    "ReplicatesDesign": "designs",
    "FittedModel": "fit",
    "FitSetup": "fit",
    "fit_plan": "fit",
    "ModelSpec": "spec",
    "Plan": "spec",
    "TrainingContext": "training",
    "TrainingRecipe": "training",
})
__all__ = sorted(__dir__())

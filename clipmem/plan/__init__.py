"""Plans: an experiment is the data, a list of model specs and an estimator (docs/method.md, "Designs")."""

from clipmem.plan.crossfit import CrossFitDesign
from clipmem.plan.designs import Design, InOutDesign, PairDesign, ReplicatesDesign
from clipmem.plan.fit import FittedModel, fit_plan
from clipmem.plan.spec import ModelSpec, Plan
from clipmem.plan.training import TrainingContext, TrainingRecipe

__all__ = ["CrossFitDesign", "Design", "FittedModel", "InOutDesign", "ModelSpec", "PairDesign", "Plan",
           "ReplicatesDesign", "TrainingContext", "TrainingRecipe", "fit_plan"]

"""Continuous training triggered by drift: production weeks, trigger, study (ch. 17).

Chapter 17 writes each mechanism small in the notebook first; this package holds
the tested versions it then runs over many seeds. One module per concern:

- :mod:`.scenarios`: :func:`production_weeks`, a year of weekly applications
  after a history, in one of four scenarios built from the course generator
  (:mod:`mlops_course.data`): ``gradual_covariate_shift`` (the generator's
  downturn, taking over over ``ramp_weeks``), ``abrupt_concept_drift`` (its
  changed risk relationship, all at once), ``harmless_drift`` (features the
  default does not depend on move) and ``seasonality`` (loan amounts swell
  every winter, the relationship unchanged, so default rates follow the season);
- :mod:`.estimation`: :func:`estimated_cost`, confidence-based performance
  estimation (CBPE-style) of chapter 1's expected cost from a calibrated
  model's probabilities, no labels needed;
- :mod:`.trigger`: :class:`TriggerPolicy` and :func:`decide`, when to retrain
  from a model's weekly record (drift effect size with chapter 13's Evidently
  tests, estimated and realised cost rise, new labelled samples since the
  alarm, cooldown, schedule). Pure: the same record gives the same decision,
  so a repeated or a missed weekly run does not change what the trigger does;
- :mod:`.drift`: :class:`DriftSample`, :func:`drift_distance` and
  :func:`drift_share`, measured like
  :class:`mlops_course.retraining.DriftReference` (the statistics Evidently's
  ``DataDriftPreset`` applies to a reference of more than 1,000 rows, computed
  with scipy) on samples prepared once;
- :mod:`.gate`: :func:`fast_gate`, chapter 8's non-inferiority rule on ROC AUC
  with DeLong's interval (:func:`mlops_course.gates.evaluate_gate` is the
  reference; the tests check they agree);
- :mod:`.simulation`: :class:`Stream`, :func:`simulate` and :func:`study` serve
  the weeks, score them prequentially once their labels mature
  ``label_delay_weeks`` later, and retrain (through the data and model gates)
  when a policy says so.
"""

from mlops_course.continuous_training.drift import (
    DriftSample,
    drift_distance,
    drift_share,
)
from mlops_course.continuous_training.estimation import estimated_cost
from mlops_course.continuous_training.gate import fast_gate
from mlops_course.continuous_training.scenarios import (
    PLANTED,
    SCENARIOS,
    production_weeks,
)
from mlops_course.continuous_training.simulation import Stream, simulate, study
from mlops_course.continuous_training.trigger import (
    RECORD_COLUMNS,
    TriggerPolicy,
    decide,
)

__all__ = [
    "DriftSample",
    "PLANTED",
    "SCENARIOS",
    "Stream",
    "TriggerPolicy",
    "decide",
    "drift_distance",
    "drift_share",
    "estimated_cost",
    "fast_gate",
    "RECORD_COLUMNS",
    "production_weeks",
    "simulate",
    "study",
]

"""Quality scorers: pipeline steps that write namespaced scores and never drop.

Each scorer reads an :class:`~syllabus.record.Example` and writes numbers under its own
namespace, so a later ``threshold`` filter, the InstructMining rule or a selection can use
them, and ``syllabus curate explain ID`` can show them:

============================  ==========================================  ==================
module                        steps                                       writes
============================  ==========================================  ==================
:mod:`.instructmining`        ResponseLength, ResponsePerplexity,         ``quality.*``
                              LexicalDiversity, NeighbourDistance,
                              RewardScore
:mod:`.judge`                 RubricJudge (and PairwiseJudge, not a step) ``judge.*``
:mod:`.verify`                VerifierScore                               ``verify.*``
:mod:`.stepwise`              StepErrorRate                               ``steps.*``
:mod:`.lbt`                   LearningByTeaching                          ``lbt.*``
:mod:`.arte`                  StudentPreference                           ``arte.*``
============================  ==========================================  ==================

:mod:`.probe` holds what LbT and ARTE share: a fixed probe set asked of a student with or
without a one-shot demonstration. ``knn-distance`` and ``arte`` read every example they
are given (one shard under the runner) before scoring, because each example's score
depends on the others.

Steps that need a model take it as their first argument, ``llm`` (the student, for LbT and
ARTE); every other option is a JSON-able keyword, so a recipe can build them. A model
reply that cannot be read never raises: the score is left out and the raw text goes to
``meta["<namespace>.error"]`` / ``meta["<namespace>.raw"]``.

Nothing heavy is imported here; each module imports its own dependencies lazily.
"""

"""Steps over records and the resumable shard runner."""

from syllabus.pipeline.executors import Executor, LocalExecutor, RayExecutor
from syllabus.pipeline.respond import Respond
from syllabus.pipeline.runner import Pipeline, StageResult, read_stage, summarize_stage
from syllabus.pipeline.step import (
    Batch,
    BatchMap,
    Drop,
    Expand,
    Filter,
    Map,
    Step,
    StepContext,
)

__all__ = [
    "Batch",
    "BatchMap",
    "Drop",
    "Executor",
    "Expand",
    "Filter",
    "LocalExecutor",
    "Map",
    "Pipeline",
    "RayExecutor",
    "Respond",
    "StageResult",
    "Step",
    "StepContext",
    "read_stage",
    "summarize_stage",
]

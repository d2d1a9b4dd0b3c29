"""Executors decide where a stage's shards run; the shard files and markers are the same.

- :class:`LocalExecutor` runs shards one after another in this process.
- :class:`RayExecutor` runs them on a Ray cluster: a pool of actors, each holding one copy
  of the pipeline (and so one model backend), takes shards from the queue. Workers write
  shard files themselves, so the run directory must be on storage every node sees (a
  shared filesystem); on one machine that is simply the local disk. Your step classes must
  be importable on the workers (an installed package, or ``runtime_env`` in ``ray.init``).

An executor is any object with ``run(run_shard, jobs, advance)``::

    class ThreadExecutor:
        def run(self, run_shard, jobs, advance):
            with ThreadPoolExecutor(4) as pool:
                for n in pool.map(lambda job: run_shard(*job), jobs):
                    advance(n)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from syllabus.errors import MissingDependencyError
from syllabus.record import Example

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "ShardJob"]

ShardJob = tuple[int, list[Example]]
RunShard = Callable[[int, list[Example]], int]  # returns the work done, in the progress bar's unit


class Executor(Protocol):
    def run(self, run_shard: RunShard, jobs: Sequence[ShardJob], advance: Callable[[int], None]) -> None: ...


class LocalExecutor:
    """Shards in order, in this process; progress advances per example."""

    def run(self, run_shard: RunShard, jobs: Sequence[ShardJob], advance: Callable[[int], None]) -> None:
        for index, shard in jobs:
            run_shard(index, shard)


class _ShardActor:
    """Holds one unpickled copy of ``run_shard`` (and so one model) for many shards."""

    def __init__(self, run_shard: RunShard):
        self.run_shard = run_shard

    def run(self, index: int, shard: list[Example]) -> int:
        return self.run_shard(index, shard)


class RayExecutor:
    """Run shards on Ray actors.

    Args:
        num_actors: how many copies of the pipeline run at once.
        num_cpus: CPUs reserved per actor; ``num_gpus`` likewise (e.g. 1 for a vLLM step).
        address: a cluster address for ``ray.init`` (None starts or joins a local one).
    """

    def __init__(self, num_actors: int = 2, *, num_cpus: float = 1, num_gpus: float = 0, address: str | None = None):
        self.num_actors = num_actors
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.address = address

    def run(self, run_shard: RunShard, jobs: Sequence[ShardJob], advance: Callable[[int], None]) -> None:
        try:
            import ray
            from ray.util import ActorPool
        except ImportError:
            raise MissingDependencyError("ray", extra="ray") from None
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        actor_cls: Any = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus)(_ShardActor)
        handle = ray.put(run_shard)  # pickled once, shared by every actor
        actors = [actor_cls.remote(handle) for _ in range(min(self.num_actors, len(jobs)) or 1)]
        pool = ActorPool(actors)
        for consumed in pool.map_unordered(lambda actor, job: actor.run.remote(*job), list(jobs)):
            advance(consumed)
        for actor in actors:
            ray.kill(actor)

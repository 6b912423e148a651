"""Where runs execute: the registry of executors (`--executor`, suite field `executor`).

An executor is one module that provides
- `run_specs(specs, results_dir, force=, jobs=, session=)`: run the RunSpecs not yet finished and
  write their rows (same run ids, same tables, plus `executor`, `node` and `attempt`);
- `Session(address)`: a context manager for one suite, whose `run_jobs(jobs, log)` runs
  `bench.jobs.Job`s (the evaluators, the parity workers) where the runs run, and whose `nodes` says
  how many nodes can take work; or `Session = None` when those run on this machine directly.
A third executor (Slurm via submitit, say) is one such module and one entry here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

EXECUTORS = {"local": "bench.executor", "ray": "bench.executor_ray"}
EXTRA = {"ray": "ray"}  # the import an executor needs, installed by the extra of the same name


def executor_module(name: str) -> ModuleType:
    return importlib.import_module(EXECUTORS[name])

"""Framework-neutral GAN benchmark harness: specs, orchestration, metrics and reports.

Nothing in this package's orchestration path imports torch or tensorflow; only
`bench.worker` does, inside its own subprocess, and only the framework it runs.
"""

__version__ = "0.1.0"

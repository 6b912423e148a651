"""Quality and stability metrics computed from the result tables and a run's samples.

- `stability`: loss-stability figures per run and the spread of a metric over seeds (numpy/pandas
  only: the orchestrator imports it and must never import a framework).
- `coverage`: class histograms, mode coverage and KL from uniform (numpy only).
- `classifier`: the project's small MNIST-like CNN, trained from a fixed seed and cached (torch).
- `evaluate`: the evaluator-process entry that turns a samples file into coverage columns;
  importing it does not import torch (the classifier is imported inside the functions that use it).
"""

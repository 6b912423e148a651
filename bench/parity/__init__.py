"""Cross-framework parity: are the implementation packages the same models, step for step?

Levels, each stricter than the last (tolerances and their exceptions in `levels`):
- L1 shapes: every framework tensor, renamed to canonical names, has the spec's shape; counts agree.
- L2 forward: same canonical weights and inputs give the same G and D outputs (training-mode BN).
- L2e eval: same canonical weights, BN running statistics included, give the same eval-mode images
  and logits, so FID differences between frameworks come from training, not from the models.
- L3 losses and gradients: every loss term and every parameter's gradient of the first D update
  and of the G update (gradient penalty and ssgan/cgan terms included), in float32 and float64.
- L4 one step: parameters, BN statistics and optimiser slots after one full step (n_critic D
  updates, then G), in the benchmarked step mode, and in float64.
- L5 trajectory: N steps with identical data and noise; per-step loss differences, the first step
  above 1e-3 (drift step), and agreement within 5e-3 over the first 10 steps; those 10 steps again
  in float64, which must agree, and which show how far float32 rounding alone moves each framework.

`worker` runs one framework per process and dumps arrays (.npz); `compare` reads both dumps with
numpy only; `runner` starts the workers; `cli.main_parity` is `python -m bench parity`.
"""

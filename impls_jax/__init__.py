"""JAX (Flax modules, Optax optimisers) implementation of the neutral spec; mirrors `impls_torch`."""

FRAMEWORK = "jax"

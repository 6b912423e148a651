"""TensorFlow 2 (Keras 3 layers) implementation of the neutral spec; mirrors `impls_torch`."""

FRAMEWORK = "tf"

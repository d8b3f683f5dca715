"""Host-side Keras training of the MNIST model zoo."""

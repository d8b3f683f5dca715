"""On-device runtime: find digits in frames and classify them. Never imports TensorFlow."""

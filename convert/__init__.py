"""Converters from a trained Keras model to float and int8 TFLite and ONNX artifacts."""

"""seqtasks: recurrent sequence models on TensorFlow + Keras 3, with end-to-end recipes."""

__version__ = "0.1.0"

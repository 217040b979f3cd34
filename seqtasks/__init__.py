"""seqtasks: recurrent sequence models on TensorFlow + Keras 3, with end-to-end recipes."""

from seqtasks import _tf_logging

__version__ = "0.1.0"

# Before anything imports TensorFlow: hide its C++ start-up notices (SEQTASKS_TF_LOG=1 shows them).
_tf_logging.install()

"""seqtasks' recurrent cells and layers.

Cells follow the Keras cell contract and also run inside `keras.layers.RNN`; the layers run seqtasks' own loop
(input projection of all steps in one matmul, then the recurrent steps) or, on a GPU, the cuDNN kernel.

Exploding gradients are handled where training is configured: every recipe's `train` section has
`clip_global_norm` (on by default), `clip_norm` (per tensor) and `clip_value`; with Keras directly, pass
`global_clipnorm=` / `clipnorm=` / `clipvalue=` to the optimizer.
"""

from seqtasks.layers.attention import BahdanauAttention, LuongAttention
from seqtasks.layers.base_cell import RecurrentCell
from seqtasks.layers.bidirectional import Bidirectional
from seqtasks.layers.explain import explain
from seqtasks.layers.gru import GRU, GRUCell
from seqtasks.layers.lstm import LSTM, LSTMCell
from seqtasks.layers.pooling import MaskedPooling
from seqtasks.layers.rnn import RNN, recurrent_loop
from seqtasks.layers.simple_rnn import SimpleRNN, SimpleRNNCell
from seqtasks.layers.stacked import CELL_TYPES, RecurrentStack, get_cell_class, get_rnn_class

__all__ = [
    "CELL_TYPES",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "RNN",
    "BahdanauAttention",
    "Bidirectional",
    "LuongAttention",
    "MaskedPooling",
    "RecurrentCell",
    "RecurrentStack",
    "SimpleRNN",
    "SimpleRNNCell",
    "explain",
    "get_cell_class",
    "get_rnn_class",
    "recurrent_loop",
]

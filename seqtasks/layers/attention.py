"""Attention over a sequence of encoder outputs: additive (Bahdanau) and multiplicative (Luong).

Both layers take a decoder `query` and the encoder `values` and return a context vector (the attention-weighted
sum of `values`) together with the attention weights. Padding positions of `values` (given by `values_mask`, or
by the Keras mask attached to `values`) receive a weight of exactly zero.

The part of the score that depends only on `values` can be computed once per source sentence with
`project_values` and passed back as `keys`, so that a decoder stepping one token at a time does not recompute it
at every step.
"""

from __future__ import annotations

import keras
from keras import ops

_LUONG_SCORE_MODES = ("general", "dot")


class _ScoreAttention(keras.layers.Layer):
    """Shared masking, softmax and context computation; subclasses define the score."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def project_values(self, values):
        """Returns the `keys` that `call` would compute from `values` (shape `(B, Tv, K)`).

        The layer must be built first (called once, or `build(query_shape, values_shape)`).
        """
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} is not built yet: call it once or call "
                "`build(query_shape, values_shape)` before `project_values`."
            )
        return self._project_values(values)

    def _project_values(self, values):
        raise NotImplementedError

    def _score(self, query, keys):
        """Returns unnormalised scores of shape `(B, Tq, Tv)` for `query` `(B, Tq, H)` and `keys`."""
        raise NotImplementedError

    def call(self, query, values, values_mask=None, keys=None):
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)
        if keys is None:
            keys = self._project_values(values)
        scores = self._score(query, keys)
        if values_mask is not None:
            mask = ops.expand_dims(ops.cast(values_mask, "bool"), 1)
            # The large negative score keeps the softmax finite when every position is masked; the
            # multiplication afterwards makes masked weights exactly zero whatever the dtype.
            very_negative = (
                -1e4 if keras.backend.standardize_dtype(scores.dtype) == "float16" else -1e9
            )
            scores = ops.where(mask, scores, ops.full_like(scores, very_negative))
            weights = ops.softmax(scores, axis=-1) * ops.cast(mask, scores.dtype)
        else:
            weights = ops.softmax(scores, axis=-1)
        context = ops.matmul(weights, ops.cast(values, weights.dtype))
        if single_step:
            context = ops.squeeze(context, 1)
            weights = ops.squeeze(weights, 1)
        return context, weights

    def compute_mask(self, query, values, values_mask=None, keys=None):
        return None

    def compute_output_shape(self, query_shape, values_shape, keys_shape=None):
        if len(query_shape) == 2:
            return (query_shape[0], values_shape[-1]), (query_shape[0], values_shape[1])
        return (
            (query_shape[0], query_shape[1], values_shape[-1]),
            (query_shape[0], query_shape[1], values_shape[1]),
        )


@keras.saving.register_keras_serializable(package="seqtasks")
class BahdanauAttention(_ScoreAttention):
    """Additive attention (Bahdanau et al., 2015): `score(q, v) = w . tanh(W_q q + W_v v + b)`.

    Args:
        units: positive integer, size of the hidden layer of the score.
        use_bias: whether the value projection has a bias.
        kernel_initializer: initializer of the three projections.
        bias_initializer: initializer of the bias.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        query: the decoder state, `(batch, query_dim)` for one step or `(batch, Tq, query_dim)`.
        values: the encoder outputs, `(batch, Tv, value_dim)`.
        values_mask: optional boolean `(batch, Tv)`, `True` for real positions. Taken from the Keras mask of
            `values` when not given.
        keys: optional result of `project_values(values)`, to skip recomputing it at every decoder step.

    Returns:
        `(context, weights)`: `(batch, value_dim)` and `(batch, Tv)` for a 2-D query, else
        `(batch, Tq, value_dim)` and `(batch, Tq, Tv)`.

    Example:

    >>> attention = BahdanauAttention(8)
    >>> context, weights = attention(keras.ops.ones((2, 4)), keras.ops.ones((2, 5, 6)))
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 6), (2, 5))
    """

    def __init__(
        self,
        units: int,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(
                "Received an invalid value for argument `units`, expected a positive integer, "
                f"got {units!r}."
            )
        self.units = units
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.query_dense = keras.layers.Dense(
            units,
            use_bias=False,
            kernel_initializer=self.kernel_initializer,
            name="query_dense",
            dtype=self.dtype_policy,
        )
        self.values_dense = keras.layers.Dense(
            units,
            use_bias=use_bias,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            name="values_dense",
            dtype=self.dtype_policy,
        )
        self.score_dense = keras.layers.Dense(
            1,
            use_bias=False,
            kernel_initializer=self.kernel_initializer,
            name="score_dense",
            dtype=self.dtype_policy,
        )

    def build(self, query_shape, values_shape, keys_shape=None):
        self.query_dense.build(tuple(query_shape[:-1]) + (query_shape[-1],))
        self.values_dense.build(values_shape)
        self.score_dense.build(tuple(values_shape[:-1]) + (self.units,))
        self.built = True

    def _project_values(self, values):
        return self.values_dense(values)

    def _score(self, query, keys):
        q = ops.expand_dims(self.query_dense(query), 2)  # (B, Tq, 1, U)
        k = ops.expand_dims(keys, 1)  # (B, 1, Tv, U)
        return ops.squeeze(self.score_dense(ops.tanh(q + k)), -1)

    def get_config(self):
        base_config = super().get_config()
        config = {
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
        return {**base_config, **config}


@keras.saving.register_keras_serializable(package="seqtasks")
class LuongAttention(_ScoreAttention):
    """Multiplicative attention (Luong et al., 2015): `score(q, v) = q . W v` ("general") or `q . v` ("dot").

    Args:
        score_mode: `"general"` (a learned `value_dim x query_dim` matrix) or `"dot"` (needs
            `query_dim == value_dim`).
        use_scale: whether to multiply scores by a learned scalar (initialised to 1), which helps the softmax
            stay soft when states are large.
        kernel_initializer: initializer of the "general" matrix.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        query: the decoder state, `(batch, query_dim)` for one step or `(batch, Tq, query_dim)`.
        values: the encoder outputs, `(batch, Tv, value_dim)`.
        values_mask: optional boolean `(batch, Tv)`, `True` for real positions. Taken from the Keras mask of
            `values` when not given.
        keys: optional result of `project_values(values)`, to skip recomputing it at every decoder step.

    Returns:
        `(context, weights)`: `(batch, value_dim)` and `(batch, Tv)` for a 2-D query, else
        `(batch, Tq, value_dim)` and `(batch, Tq, Tv)`.

    Example:

    >>> attention = LuongAttention("general")
    >>> context, weights = attention(keras.ops.ones((2, 4)), keras.ops.ones((2, 5, 6)))
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 6), (2, 5))
    """

    def __init__(
        self,
        score_mode: str = "general",
        use_scale: bool = False,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if score_mode not in _LUONG_SCORE_MODES:
            raise ValueError(
                "Received an invalid value for argument `score_mode`, expected one of "
                f"{', '.join(repr(m) for m in _LUONG_SCORE_MODES)}, got {score_mode!r}."
            )
        self.score_mode = score_mode
        self.use_scale = use_scale
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, query_shape, values_shape, keys_shape=None):
        query_dim, value_dim = query_shape[-1], values_shape[-1]
        if (
            self.score_mode == "dot"
            and query_dim is not None
            and value_dim is not None
            and query_dim != value_dim
        ):
            raise ValueError(
                f"LuongAttention(score_mode='dot') needs queries and values of the same size, got query size "
                f"{query_dim} and value size {value_dim}: use score_mode='general' or match the sizes."
            )
        if self.score_mode == "general":
            self.kernel = self.add_weight(
                name="kernel", shape=(value_dim, query_dim), initializer=self.kernel_initializer
            )
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        self.built = True

    def _project_values(self, values):
        if self.score_mode == "general":
            return ops.matmul(values, ops.cast(self.kernel, values.dtype))
        return values

    def _score(self, query, keys):
        scores = ops.matmul(query, ops.transpose(ops.cast(keys, query.dtype), (0, 2, 1)))
        if self.use_scale:
            scores = scores * ops.cast(self.scale, scores.dtype)
        return scores

    def get_config(self):
        base_config = super().get_config()
        config = {
            "score_mode": self.score_mode,
            "use_scale": self.use_scale,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
        return {**base_config, **config}

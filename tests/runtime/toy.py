"""A tiny regression task used to test the runtime on its own (registered as `toy_regression`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from seqtasks.config import ModelConfig, RunConfig
from seqtasks.runtime.export import ServingModule
from seqtasks.tasks import StatelessPreprocessor, Task, register_task


@dataclass
class ToyModel(ModelConfig):
    units: int = 8
    dropout: float = 0.0


@dataclass
class ToyConfig(RunConfig):
    model: ToyModel = field(default_factory=ToyModel)


class ToyServing(ServingModule):
    """`serving_default`: `x` (batch, 4) -> `y` (batch, 1)."""

    def __init__(self, model):
        super().__init__(name="toy_serving")
        self.model = model
        self.serve = tf.function(lambda x: {"y": self.model(x, training=False)},
                                 input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])

    def signatures(self):
        return {"serving_default": self.serve}


@register_task
class ToyTask(Task):
    name = "toy_regression"
    config_class = ToyConfig
    preprocessor_class = StatelessPreprocessor

    def prepare_data(self, source=None):
        self.ready_preprocessor(None, source)
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(100, 4)).astype("float32")
        self.y = (self.x @ np.array([1.0, -2.0, 0.5, 3.0], "float32"))[:, None]

    def train_dataset(self, epoch):
        order = np.random.default_rng([self.config.train.seed, epoch]).permutation(80)
        return tf.data.Dataset.from_tensor_slices((self.x[order], self.y[order])).batch(self.config.train.batch_size)

    def validation_dataset(self):
        return tf.data.Dataset.from_tensor_slices((self.x[80:], self.y[80:])).batch(8)

    def build_model(self):
        m = self.config.model
        dropout = [keras.layers.Dropout(m.dropout)] if m.dropout else []
        model = keras.Sequential([keras.layers.Dense(m.units, activation="tanh"), *dropout, keras.layers.Dense(1)])
        model(np.zeros((1, 4), "float32"))
        return model

    def loss(self):
        return "mse"

    def evaluate(self, model, paths=None):
        return {"mse": float(np.mean((model.predict(self.x[80:], verbose=0) - self.y[80:]) ** 2))}

    def predict(self, model, inputs, out):
        values = [float(model.predict(np.array([[float(v) for v in s.split(",")]], "float32"), verbose=0)[0, 0])
                  for s in inputs]
        for v in values:
            out.write(f"{v:.4f}\n")
        return values

    def serving_module(self, model):
        return ToyServing(model)

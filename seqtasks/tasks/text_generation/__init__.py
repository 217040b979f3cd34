"""Character-level text generation (char-RNN): task, config, vocabulary, model, samplers, generation, export.

Split keras-hub style: `preprocessor` (CharVocabulary, training windows), `model` (CharRNNBackbone,
CharLanguageModel), `samplers` (Greedy/Temperature/TopK/TopP, each overriding `get_next_token`), `generation`
(stateful Generator, stateful scoring), `export` (SavedModel with generate/score), `task` (the registered Task).
"""

from seqtasks.tasks.text_generation.config import (
    TextGenerationConfig,
    TextGenerationData,
    TextGenerationEval,
    TextGenerationModel,
    TextGenerationPredict,
    TextGenerationTrain,
)
from seqtasks.tasks.text_generation.export import TextGenerationModule, export_saved_model
from seqtasks.tasks.text_generation.generation import Generator, StreamPrinter, score_ids
from seqtasks.tasks.text_generation.model import CharLanguageModel, CharRNNBackbone
from seqtasks.tasks.text_generation.preprocessor import (
    UNKNOWN_ID,
    CharVocabulary,
    split_text,
    training_windows,
    validation_windows,
)
from seqtasks.tasks.text_generation.samplers import (
    GreedySampler,
    Sampler,
    TemperatureSampler,
    TopKSampler,
    TopPSampler,
    get_sampler,
)
from seqtasks.tasks.text_generation.task import TextGenerationTask

__all__ = [
    "UNKNOWN_ID",
    "CharLanguageModel",
    "CharRNNBackbone",
    "CharVocabulary",
    "Generator",
    "GreedySampler",
    "Sampler",
    "StreamPrinter",
    "TemperatureSampler",
    "TextGenerationConfig",
    "TextGenerationData",
    "TextGenerationEval",
    "TextGenerationModel",
    "TextGenerationModule",
    "TextGenerationPredict",
    "TextGenerationTask",
    "TextGenerationTrain",
    "TopKSampler",
    "TopPSampler",
    "export_saved_model",
    "get_sampler",
    "score_ids",
    "split_text",
    "training_windows",
    "validation_windows",
]

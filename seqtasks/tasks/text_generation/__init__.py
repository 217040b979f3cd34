"""Character-level text generation (char-RNN): config, data, preprocessor, model, task, export.

`config` (the schema), `data` (the corpus, its train/validation split and the training windows), `preprocessor`
(CharVocabulary and TextGenerationPreprocessor: build, fine-tune extension), `model` (CharRNNBackbone,
CharLanguageModel), `task` (the registered Task), `export` (TextGenerationServing: generate / generate_batch /
score in the graph). The samplers and the stateful generation / scoring loops are shared:
`seqtasks.decoding.samplers` and `seqtasks.decoding.generation`.
"""

from seqtasks.tasks.text_generation.config import (
    TextGenerationConfig,
    TextGenerationDataConfig,
    TextGenerationEvalConfig,
    TextGenerationModelConfig,
    TextGenerationPredictConfig,
    TextGenerationTrainConfig,
)
from seqtasks.tasks.text_generation.data import (
    read_corpus,
    split_text,
    training_windows,
    validation_windows,
    windows_dataset,
)
from seqtasks.tasks.text_generation.export import TextGenerationServing
from seqtasks.tasks.text_generation.model import CharLanguageModel, CharRNNBackbone
from seqtasks.tasks.text_generation.preprocessor import (
    UNKNOWN_ID,
    CharVocabulary,
    TextGenerationPreprocessor,
)
from seqtasks.tasks.text_generation.task import TextGenerationTask

__all__ = [
    "UNKNOWN_ID",
    "CharLanguageModel",
    "CharRNNBackbone",
    "CharVocabulary",
    "TextGenerationConfig",
    "TextGenerationDataConfig",
    "TextGenerationEvalConfig",
    "TextGenerationModelConfig",
    "TextGenerationPredictConfig",
    "TextGenerationPreprocessor",
    "TextGenerationServing",
    "TextGenerationTask",
    "TextGenerationTrainConfig",
    "read_corpus",
    "split_text",
    "training_windows",
    "validation_windows",
    "windows_dataset",
]

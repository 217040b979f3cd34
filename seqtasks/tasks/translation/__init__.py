"""Translation: sentence pairs -> sentencepiece -> bidirectional recurrent encoder -> attentional decoder.

Modules: `config` (the run config), `data` (TSV pairs, Unicode normalisation, leak-free splits),
`preprocessor` (sentencepiece tokenizers and batches), `model` (encoder-decoder with attention), `task` (the
runtime's `translation` task), `export` (strings in, strings out, in one graph; the SavedModel). The named
datasets are found by `seqtasks.data.eng_fra` and `seqtasks.data.tfds_translation`, beam search is
`seqtasks.decoding.search`, attention heat maps `seqtasks.diagnostics.attention`.
"""

from seqtasks.tasks.translation.config import TranslationConfig
from seqtasks.tasks.translation.task import TranslationTask

__all__ = ["TranslationConfig", "TranslationTask"]

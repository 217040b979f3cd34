"""Translation: sentence pairs -> sentencepiece -> bidirectional recurrent encoder -> attentional decoder.

Modules: `data` (TSV pairs, Unicode normalisation, leak-free splits), `datasets` (named datasets),
`preprocessor` (sentencepiece tokenizers and batches), `model` (encoder-decoder with attention),
`serving` (strings in, strings out, in one graph; the SavedModel), `plots` (attention heat maps), `task` (the
runtime's `translation` task and its config).
"""

from seqtasks.tasks.translation.task import TranslationConfig, TranslationTask

__all__ = ["TranslationConfig", "TranslationTask"]

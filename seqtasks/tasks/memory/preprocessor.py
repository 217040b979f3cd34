"""The memory task's preprocessor: none to learn. Its data is generated from the config (problem, sizes, seed),
so a run saves no preprocessing assets and a fine-tune takes over nothing but weights."""

from __future__ import annotations

from seqtasks.runtime.preprocessor import StatelessPreprocessor


class MemoryPreprocessor(StatelessPreprocessor):
    """Stateless: `build`, `adapt_from` and `load` give an empty preprocessor; nothing is saved."""

    files = ()


__all__ = ["MemoryPreprocessor"]

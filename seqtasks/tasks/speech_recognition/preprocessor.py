"""The speech task's preprocessor: the CTC output alphabet (`assets/alphabet.json`).

* `build`: `data.alphabet` when set, else every character of the training transcripts (after normalisation),
  space first; connected digits use the characters of the ten digit words. With `data.targets=phonemes`, a
  `PhonemeAlphabet` (`seqtasks.tokenizers.phonemes`): the phonemes of the transcripts' words by espeak-ng, with
  those pronunciations saved in the same file.
* `adapt_from` (fine-tuning): the source run's alphabet, so every output class keeps its meaning. Training
  transcripts with characters it lacks are refused (`data.new_characters=error`, the default) or appended as
  new output classes (`data.new_characters=extend`; the task's `finetune_from` then starts them fresh and keeps
  the trained columns of the old characters and of the blank).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seqtasks.data.transcripts import Alphabet
from seqtasks.errors import DataError
from seqtasks.runtime.preprocessor import Preprocessor, write_text_atomic
from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig
from seqtasks.tokenizers.phonemes import PhonemeAlphabet, is_phoneme_alphabet_json

ALPHABET_FILE = "alphabet.json"


class SpeechRecognitionPreprocessor(Preprocessor):
    """Holds the `Alphabet` of the model's output classes (the CTC blank is the class after them).

    `build` and `adapt_from` take the training transcripts (`Sequence[str]`) as their data.

    Args:
        alphabet: The output characters.
    """

    files = (ALPHABET_FILE,)

    def __init__(self, alphabet: Alphabet) -> None:
        self.alphabet = alphabet

    @classmethod
    def build(cls, config: SpeechRecognitionConfig, data: Sequence[str]) -> SpeechRecognitionPreprocessor:
        if config.data.targets == "phonemes":
            return cls(PhonemeAlphabet.from_texts(data, config.data.phoneme_voice))
        if config.data.alphabet:
            return cls(Alphabet(config.data.alphabet))
        return cls(Alphabet.from_texts(data))

    @classmethod
    def adapt_from(
        cls, source: SpeechRecognitionPreprocessor, config: SpeechRecognitionConfig, data: Sequence[str]
    ) -> SpeechRecognitionPreprocessor:
        alphabet = source.alphabet
        if isinstance(alphabet, PhonemeAlphabet) != (config.data.targets == "phonemes"):
            raise DataError(
                f"the source model outputs {'phonemes' if isinstance(alphabet, PhonemeAlphabet) else 'characters'}; "
                f"fine-tuning cannot change data.targets. Fix: set data.targets to the source run's value"
            )
        if isinstance(alphabet, PhonemeAlphabet):
            alphabet = alphabet.with_words(w for text in data for w in text.split())
        unknown = sorted({ch for text in data for ch in alphabet.unknown_characters(text)})
        if not unknown:
            return cls(alphabet)
        if config.data.new_characters == "error":
            what = "words with phonemes" if isinstance(alphabet, PhonemeAlphabet) else "characters"
            shown = unknown if isinstance(alphabet, PhonemeAlphabet) else "".join(unknown)
            raise DataError(
                f"fine-tuning data has {what} the source model cannot output: {shown!r}. Fix: "
                "normalise the transcripts, or --set data.new_characters=extend to add output classes"
            )
        return cls(alphabet.extend(data))

    def save(self, directory: Path) -> None:
        write_text_atomic(directory / ALPHABET_FILE, self.alphabet.to_json() + "\n")

    @classmethod
    def load(cls, directory: Path, config: SpeechRecognitionConfig) -> SpeechRecognitionPreprocessor:
        path = directory / ALPHABET_FILE
        try:
            phonemes = is_phoneme_alphabet_json(path.read_text(encoding="utf-8"))
        except OSError:
            phonemes = False  # Alphabet.load names the missing file
        return cls(PhonemeAlphabet.load(path) if phonemes else Alphabet.load(path))


__all__ = ["ALPHABET_FILE", "SpeechRecognitionPreprocessor"]

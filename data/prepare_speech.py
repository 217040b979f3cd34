"""Converts a tensorflow-datasets speech set ahead of time and prints its manifests (see data/speech.md).

Training does the same on first use; run this on a connected machine (or where `tfds build` already prepared the
set) to pay the download and the conversion once, before any training run.

Example:
    python data/prepare_speech.py librispeech --tfds-data-dir ~/tensorflow_datasets
    python data/prepare_speech.py ljspeech --cache-dir /data/seqtasks-cache
    python data/prepare_speech.py tfds:NAME/CONFIG --text-key sentence --train-split "train[:1000]"
"""

from __future__ import annotations

import argparse
import os
import sys

from seqtasks.errors import SeqtasksError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="librispeech, ljspeech or tfds:NAME[/CONFIG][:VERSION]")
    parser.add_argument("--tfds-data-dir", default="", help="tensorflow-datasets data_dir (default: tfds' own)")
    parser.add_argument("--cache-dir", default="", help="seqtasks cache (default: $SEQTASKS_CACHE_DIR or "
                        "~/.cache/seqtasks); pass the same as $SEQTASKS_CACHE_DIR when training")
    for role in ("train", "validation", "test"):
        parser.add_argument(f"--{role}-split", default="", help=f"tfds split or slice for {role} (default: preset)")
    parser.add_argument("--audio-key", default="", help="Audio feature (default: preset or the only one)")
    parser.add_argument("--text-key", default="", help="transcript feature (default: preset or detected)")
    args = parser.parse_args(argv)
    if args.cache_dir:
        os.environ["SEQTASKS_CACHE_DIR"] = args.cache_dir

    from seqtasks.data.speech_tfds import is_tfds_dataset, tfds_manifests
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionDataConfig

    if not is_tfds_dataset(args.dataset):
        print(f"error: {args.dataset!r} is not a tensorflow-datasets speech set (librispeech, ljspeech or "
              "tfds:NAME[/CONFIG][:VERSION])", file=sys.stderr)
        return 2
    data = SpeechRecognitionDataConfig(
        dataset=args.dataset, tfds_data_dir=args.tfds_data_dir, tfds_train_split=args.train_split,
        tfds_validation_split=args.validation_split, tfds_test_split=args.test_split,
        tfds_audio_key=args.audio_key, tfds_text_key=args.text_key,
    )
    try:
        manifests = tfds_manifests(data)
    except SeqtasksError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for role, manifest in manifests.items():
        print(f"{role}: {manifest if manifest is not None else '(none in this set)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

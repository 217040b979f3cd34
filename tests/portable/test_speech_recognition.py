"""Speech recognition's LiteRT/ONNX exports: the waveform -> logits model (features inside) runs in
its runtime without TensorFlow, and the numpy runner's resampling and CTC decoders give the
SavedModel's transcripts.

Two tiny runs on real FSDD recordings: a 2-layer bidirectional GRU on log-mel features decoding with
the digit lexicon (the default), and a 2-layer bidirectional LSTM on MFCCs decoding greedily.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.audio.io import load_audio
from seqtasks.audio.resample import resample
from seqtasks.decoding.ctc import ctc_decode
from seqtasks.decoding.ctc_lm import CTCLMDecoder
from seqtasks.decoding.lexicon import LexiconCTCDecoder
from seqtasks.portable import standalone
from seqtasks.runtime import commands
from tests.conftest import SHARED_DATA
from tests.portable import runner_script

pytest.importorskip("ai_edge_litert")
pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

TINY = [
    "data.train_utterances=16",
    "data.validation_utterances=4",
    "data.test_utterances=4",
    "data.max_digits=2",
    "model.units=8",
    "model.num_layers=2",
    "model.conv_filters=4,4",
    "model.n_mels=16",
    "model.freq_mask_width=2",
    "train.epochs=1",
    "train.batch_size=8",
    "eval.batch_size=8",
    "eval.beam_width=4",
    "train.verbose=none",
    "train.max_minutes=0",
    "train.checkpoint_every_steps=0",
    "data.validation_indices=5",
]
RUNS = {
    "gru": ["model.cell_type=gru"],  # eval.lexicon=auto: the ten digit words
    "lstm": ["model.cell_type=lstm", "model.features=mfcc", "eval.lexicon=", "eval.decoder=greedy"],
}
SPEAKERS = ("george", "jackson")
INDICES = (0, 1, 5, 10, 11)
# The quantized exports' logits may differ from TensorFlow's by this much, relative to their largest
# magnitude (at least 1). Measured on the tiny GRU: LiteRT float16 6e-4, ONNX dynamic_int8 5e-3;
# before the mel filterbank was kept out of int8 (`seqtasks.audio.features`), dynamic_int8 gave 0.27
# (LiteRT) and 0.25 (ONNX).
QUANTIZED_TOLERANCE = 0.05

# Loads the export's own runner with TensorFlow, Keras and seqtasks unimportable and runs its
# pipeline on the utterances of each .npz (`a0, a1, ...` at `rate`); prints one JSON object of
# logits and transcripts per file.
STANDALONE = runner_script("""
results = []
for path in sys.argv[2:]:
    data = np.load(path)
    audio, rate = [data[f"a{i}"] for i in range(len(data.files) - 1)], int(data["rate"])
    results.append({
        "class": type(model).__name__,
        "logits": [x.tolist() for x in model.logits_batch(audio, rate)],
        "configured": [model.transcribe(a, rate) for a in audio],
        "batch": model.transcribe_batch(audio, rate),
        "greedy": model.transcribe_batch(audio, rate, decoder="greedy"),
        "beam": model.transcribe_batch(audio, rate, decoder="beam"),
    })
print(json.dumps(results))
""", blocked=("librosa", "scipy"))


def _recordings(root):
    folder = root / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    for speaker in SPEAKERS:
        for digit in range(10):
            for index in INDICES:
                name = f"{digit}_{speaker}_{index}.wav"
                shutil.copy(SHARED_DATA / "fsdd" / "recordings" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if not (SHARED_DATA / "fsdd" / "recordings").is_dir():
        pytest.skip(f"FSDD recordings absent under {SHARED_DATA} (CI provides them)")
    root = tmp_path_factory.mktemp("speech_portable")
    recordings = _recordings(root / "data")
    for name, overrides in RUNS.items():
        commands.train(
            "speech_recognition",
            root / name,
            overrides=[*TINY, *overrides],
            data_dir=str(root / "data"),
        )
    return root, recordings


_LOADED: dict = {}


def _trained(run):
    """The run's SavedModel (exported by training), its in-process task and model; loaded once."""
    if run not in _LOADED:
        _LOADED[run] = (tf.saved_model.load(str(run / "export")), *commands.load_trained(run))
    return _LOADED[run]


def _utterances(recordings, rate):
    """Five real test utterances at `rate`: three of connected digits (one speaker, 0.1 s apart),
    two single digits."""

    def read(digit, speaker):
        return load_audio(recordings / f"{digit}_{speaker}_0.wav", rate)

    gap = np.zeros(rate // 10, np.float32)
    return [
        np.concatenate([read(3, "george"), gap, read(1, "george"), gap, read(4, "george")]),
        np.concatenate([read(9, "jackson"), gap, read(2, "jackson")]),
        np.concatenate([read(7, "george"), gap, read(0, "george")]),
        read(5, "jackson"),
        read(8, "george"),
    ]


def _run_standalone(folder, inputs, tmp_path):
    """The runner's results for each `(audio, rate)` of `inputs`, without TensorFlow."""
    paths = []
    for i, (audio, rate) in enumerate(inputs):
        paths.append(tmp_path / f"audio{i}.npz")
        np.savez(paths[-1], rate=rate, **{f"a{j}": a for j, a in enumerate(audio)})
    done = subprocess.run(
        [sys.executable, "-c", STANDALONE, str(folder), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _reference(run, audio, rate):
    """What TensorFlow gives: the SavedModel's transcripts, and the in-process model's logits and
    greedy / beam transcripts (TensorFlow resamples in the graph)."""
    served, task, model = _trained(run)
    transcripts, logits, greedy, beam = [], [], [], []
    for waveform in audio:
        transcripts.append(
            served.transcribe(waveform=tf.constant(waveform), sample_rate=tf.constant(rate))[
                "transcript"
            ]
            .numpy()
            .decode()
        )
        at_rate = resample(tf.constant(waveform), tf.constant(rate), task.sample_rate)
        out = model(
            {"waveform": at_rate[None], "waveform_length": tf.shape(at_rate)[:1]}, training=False
        )
        logits.append(out["logits"][0].numpy())
        characters = list(task.alphabet.characters)
        greedy.append(
            ctc_decode(out["logits"], out["logit_lengths"], characters)[0].numpy().decode()
        )
        beam.append(
            CTCLMDecoder(
                characters,
                None,
                beam_width=task.config.eval.beam_width,
                top_k=None,
                prune_log_prob=-np.inf,
            )(out["logits"].numpy(), out["logit_lengths"].numpy())[0]
        )
    return {"transcripts": transcripts, "logits": logits, "greedy": greedy, "beam": beam}


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_export_transcribes_in_its_runtime_without_tensorflow_like_the_saved_model(
    runs, tmp_path, fmt, cell
):
    root, recordings = runs
    run = root / cell
    out = commands.export(run, fmt=fmt)
    description = json.loads((out / "export.json").read_text())
    assert description["pipeline"] == "ctc_recognizer" and description["quantize"] == "none"
    settings = description["settings"]
    assert (
        settings["decoder"] == ("lexicon" if cell == "gru" else "greedy")
        and settings["sample_rate"] == 8000
    )
    assert [s["name"] for s in description["signatures"]["serving_default"]["inputs"]] == [
        "waveforms",
        "lengths",
    ]
    assert "waveforms" in description["in_model"] and any(
        "resampling" in s for s in description["outside_model"]
    )

    audio = _utterances(recordings, 8000)
    want = _reference(run, audio, 8000)
    inputs = [(audio, 8000)]
    if cell == "gru":  # and real 16 kHz recordings into the 8 kHz model: resampled by the runner
        audio16 = _utterances(recordings, 16000)
        inputs.append((audio16, 16000))
    got, *resampled = _run_standalone(out, inputs, tmp_path)
    assert got["class"] == "CTCRecognizerPipeline"
    for mine, theirs in zip(got["logits"], want["logits"], strict=True):
        mine = np.asarray(mine, np.float32)
        assert mine.shape == theirs.shape
        np.testing.assert_allclose(
            mine, theirs, atol=1e-4 * max(1.0, float(np.abs(theirs).max())), rtol=0
        )
    assert got["configured"] == want["transcripts"] and got["batch"] == want["transcripts"]
    assert got["greedy"] == want["greedy"] and got["beam"] == want["beam"]
    assert any(got["greedy"]) and any(got["beam"])
    if cell == "gru":  # the lexicon decoder spells digit words only
        words = set(settings["lexicon"])
        assert all(t and set(t.split()) <= words for t in got["configured"]), got["configured"]
        (got16,) = resampled
        want16 = _reference(run, audio16, 16000)
        for mine, theirs in zip(got16["logits"], want16["logits"], strict=True):
            # numpy resamples in float64, TensorFlow in float32: the waveforms differ by float32
            # rounding.
            np.testing.assert_allclose(
                np.asarray(mine), theirs, atol=1e-3 * max(1.0, float(np.abs(theirs).max()))
            )
        assert got16["configured"] == want16["transcripts"] and got16["greedy"] == want16["greedy"]
    else:  # the SavedModel decodes greedily
        assert want["transcripts"] == want["greedy"]


def test_a_dynamic_int8_export_stays_within_the_documented_tolerance(runs, tmp_path):
    root, recordings = runs
    out = commands.export(
        root / "gru", export_dir=tmp_path / "q", fmt="onnx", quantize="dynamic_int8"
    )
    description = json.loads((out / "export.json").read_text())
    assert description["quantize"] == "dynamic_int8"
    (diff,) = [
        d
        for where, d in description["verification"]["outputs"].items()
        if where.endswith("/logits")
    ]
    assert diff["max_abs_diff"] <= QUANTIZED_TOLERANCE * max(1.0, diff["scale"])
    # The network's weights are int8 (onnxruntime quantizes every MatMul/Conv), the features' mel
    # projection not.
    onnx = pytest.importorskip("onnx")
    integer = [
        n.name
        for n in onnx.load(str(out / "model.onnx")).graph.node
        if n.op_type.endswith("Integer")
    ]
    assert integer and not [name for name in integer if "features" in name], integer
    audio = _utterances(recordings, 8000)
    want = _reference(root / "gru", audio, 8000)
    (got,) = _run_standalone(out, [(audio, 8000)], tmp_path)
    for mine, theirs in zip(got["logits"], want["logits"], strict=True):
        scale = max(1.0, float(np.abs(theirs).max()))
        assert float(np.abs(np.asarray(mine) - theirs).max()) <= QUANTIZED_TOLERANCE * scale


def test_the_runner_decoders_and_resampler_match_seqtasks():
    """The runner's numpy twins against seqtasks' own (TensorFlow graph and numpy) decoders and
    resampler, on peaked random logits; no model needed."""
    rng = np.random.default_rng(3)
    alphabet = " abcdefghinorstuvwxz"
    blank = len(alphabet)
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    index = {c: i for i, c in enumerate(alphabet)}
    graph_lexicon = LexiconCTCDecoder([[index[c] for c in w] for w in words], index[" "], blank)
    runner_lexicon = standalone.CTCLexiconDecoder(
        [[index[c] for c in w] for w in words], index[" "], blank
    )
    # Weighted by unigram counts, with words that are prefixes of others ("on" / "one", "tree" / "three").
    counted = [*words, "on", "tree", "nineteen", "ten"]
    counts = list(rng.integers(1, 1000, len(counted)).astype(float))
    graph_weighted = LexiconCTCDecoder([[index[c] for c in w] for w in counted], index[" "], blank, counts=counts,
                                       lm_weight=0.7, word_bonus=0.5)
    runner_weighted = standalone.CTCLexiconDecoder([[index[c] for c in w] for w in counted], index[" "], blank,
                                                   counts=counts, lm_weight=0.7, word_bonus=0.5)
    beam = CTCLMDecoder(alphabet, None, beam_width=4, top_k=None, prune_log_prob=-np.inf)
    for frames in (
        0,
        1,
        3,
        17,
        40,
    ):  # row 0 of a batch padded to 40 frames (TensorFlow's decoders need one)
        logits = (rng.standard_normal((2, 40, blank + 1)) * 3.0).astype(np.float32)
        lengths = tf.constant([frames, 40])
        mine = logits[0, :frames]
        want_greedy = ctc_decode(logits, lengths, list(alphabet))[0].numpy().decode()
        assert "".join(alphabet[i] for i in standalone.ctc_greedy(mine, blank)) == want_greedy
        ids, n = graph_lexicon.decode(tf.constant(logits), lengths)
        assert runner_lexicon(mine) == ids.numpy()[0, : int(n[0])].tolist()
        ids, n = graph_weighted.decode(tf.constant(logits), lengths)
        assert runner_weighted(mine) == ids.numpy()[0, : int(n[0])].tolist()
        want_beam = beam(mine[None], [frames])[0]
        assert "".join(alphabet[i] for i in standalone.ctc_prefix_beam(mine, blank, 4)) == want_beam
    for n, orig, new in (
        (1000, 16000, 8000),
        (999, 8000, 16000),
        (441, 44100, 8000),
        (10, 8000, 8000),
        (0, 16000, 8000),
    ):
        waveform = rng.standard_normal(n).astype(np.float32)
        want = resample(tf.constant(waveform), tf.constant(orig), new).numpy()
        got = standalone.resample_fft(waveform, orig, new)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-5)


def _onnx_export(run):
    out = run / "export-onnx"
    return out if (out / "export.json").is_file() else commands.export(run, fmt="onnx")


def test_runner_waveform_shapes_dtypes_and_argument_checks(runs):
    """(samples, channels) is averaged to mono and int16 / int32 PCM scaled to [-1, 1] (the
    SavedModel takes float32 in [-1, 1]); other shapes, a single array for a batch, bad sample
    rates, decoders and batch sizes stop in one line."""
    root, recordings = runs
    model = standalone.load(_onnx_export(root / "lstm"))
    audio = _utterances(recordings, 8000)[3]
    want = model.logits_batch([audio], 8000)[0]
    stereo = np.stack([audio * 0.5, audio * 1.5], axis=1)  # averages to `audio` exactly
    np.testing.assert_array_equal(model.logits_batch([stereo], 8000)[0], want)
    pcm = np.round(audio * 32767).astype(np.int16)
    as_float = model.logits_batch([pcm.astype(np.float32) / 32768], 8000)[0]
    np.testing.assert_array_equal(model.logits_batch([pcm], 8000)[0], as_float)
    np.testing.assert_array_equal(
        model.logits_batch([pcm.astype(np.int32) * 65536], 8000)[0], as_float)
    np.testing.assert_allclose(as_float, want, atol=1e-2 * max(1.0, float(np.abs(want).max())))
    assert model.transcribe(pcm, 8000) == model.transcribe(audio, 8000.0)

    def fails(error, match, call):
        with pytest.raises(error, match=match) as caught:
            call()
        assert "\n" not in str(caught.value)

    fails(ValueError, r"got shape \(2, 4000\)", lambda: model.transcribe(np.zeros((2, 4000)), 8000))
    fails(ValueError, r"got shape \(4000, 1, 1\)",
          lambda: model.transcribe(np.zeros((4000, 1, 1)), 8000))
    fails(ValueError, "int16 or int32", lambda: model.transcribe(np.zeros(800, np.uint8), 8000))
    fails(TypeError, "transcribe_batch takes a list of waveforms; use transcribe for one",
          lambda: model.transcribe_batch(audio, 8000))
    for rate in ("16k", None, 8000.5, 0, -8000, float("nan"), True):
        fails((TypeError, ValueError), "sample_rate must be a positive whole number",
              lambda rate=rate: model.transcribe(audio, rate))
    fails(ValueError, "unknown decoder ''", lambda: model.transcribe(audio, 8000, decoder=""))
    fails(ValueError, "batch_size must be a positive integer",
          lambda: standalone.CTCRecognizerPipeline(model.session, batch_size=0))


def test_the_runner_outputs_the_words_of_a_lexicon_spelt_in_phonemes():
    """A phoneme model's export (settings.lexicon_spellings): the runner decodes over the spellings and writes
    the words, as the SavedModel's graph does."""
    from pathlib import Path
    from types import SimpleNamespace

    from seqtasks.decoding.lexicon import Lexicon

    alphabet = " Dkat@"
    blank = len(alphabet)
    lexicon = Lexicon(("the", "thee", "cat", "a"), (50.0, 2.0, 10.0, 30.0), 0.5, 0.2, ("D@", "D@", "kat", "@"))
    settings = {"sample_rate": 16000, "alphabet": alphabet, "blank_index": blank, "decoder": "lexicon",
                "beam_width": 4, "lexicon": list(lexicon.words), "lexicon_counts": list(lexicon.counts),
                "lexicon_lm_weight": 0.5, "lexicon_word_bonus": 0.2, "lexicon_spellings": list(lexicon.spellings)}
    session = SimpleNamespace(description={"settings": settings}, folder=Path("."))
    pipeline = standalone.CTCRecognizerPipeline(session)
    rng = np.random.default_rng(5)
    for frames in (0, 2, 9, 30):
        logits = (rng.standard_normal((1, 30, blank + 1)) * 3.0).astype(np.float32)
        want = ctc_decode(logits, tf.constant([frames]), list(alphabet), method="lexicon", lexicon=lexicon)
        got = pipeline.decode(logits[0, :frames])
        assert got == want[0].numpy().decode() and set(got.split()) <= {"the", "cat", "a"}
    # With a bigram LM (settings.lexicon_bigrams): homophones are told apart by the previous word, as in the graph.
    paired = Lexicon(lexicon.words, lexicon.counts, 0.5, 0.2, lexicon.spellings,
                     bigrams=((-1, 2, 4.0), (2, 1, 3.0), (3, 0, 5.0)), sentences=9.0)
    session.description["settings"].update(lexicon_bigrams=[list(b) for b in paired.bigrams], lexicon_sentences=9.0)
    pipeline = standalone.CTCRecognizerPipeline(session)
    for frames in (0, 2, 9, 30):
        logits = (rng.standard_normal((1, 30, blank + 1)) * 3.0).astype(np.float32)
        want = ctc_decode(logits, tf.constant([frames]), list(alphabet), method="lexicon", lexicon=paired)
        assert pipeline.decode(logits[0, :frames]) == want[0].numpy().decode()

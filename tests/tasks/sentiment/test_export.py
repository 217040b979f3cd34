"""The exported SavedModel: raw strings in, same probabilities as in-process, loads without seqtasks."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seqtasks.tasks.sentiment.export import export_classifier
from seqtasks.tasks.sentiment.model import build_classifier, probabilities
from seqtasks.tasks.sentiment.preprocessor import SentimentPreprocessor
from seqtasks.tokenizers import SentencePieceTokenizer, train_sentencepiece

TEXTS = ["the film was great fun", "dull<br />plot, slow " * 5, "", "great acting"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    corpus = ["the film was great fun", "the plot was dull and slow", "great acting, dull plot"] * 20
    tok = SentencePieceTokenizer(train_sentencepiece(corpus, tmp / "spm.model", vocab_size=40))
    pre = SentimentPreprocessor(tok.model_proto, max_length=12, truncate="head_tail")
    model = build_classifier(tok.vocab_size, 3, embedding_dim=8, units=4, seed=3)
    path = export_classifier(model, pre, ["neg", "neutral", "pos"], tmp / "export")
    ids = pre.encode(TEXTS).to_tensor().numpy()
    expected = probabilities(model.predict(np.pad(ids, ((0, 0), (0, 1))), verbose=0))
    return path, expected


def test_export_loads_without_seqtasks_and_matches(exported):
    path, expected = exported
    script = textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        served = tf.saved_model.load({str(path)!r})
        out = served.signatures["serving_default"](text=tf.constant({TEXTS!r}))
        single = served.serve(tf.constant([{TEXTS[1]!r}]))
        print(json.dumps({{
            "probabilities": out["probabilities"].numpy().tolist(),
            "label": [s.decode() for s in out["label"].numpy()],
            "probability": out["probability"].numpy().tolist(),
            "single": single["probabilities"].numpy().tolist(),
            "empty": served.serve(tf.constant([], tf.string))["probabilities"].shape.as_list(),
            "class_names": [c.decode() for c in served.class_names.numpy()],
            "seqtasks_imported": any(m.split(".")[0] == "seqtasks" for m in sys.modules),
        }}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}, cwd="/")
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not got["seqtasks_imported"]
    np.testing.assert_allclose(got["probabilities"], expected, rtol=1e-5, atol=1e-6)
    names = np.array(["neg", "neutral", "pos"])
    assert got["label"] == names[np.argmax(expected, axis=-1)].tolist()
    np.testing.assert_allclose(got["probability"], expected.max(-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["single"][0], expected[1], rtol=1e-5, atol=1e-6)
    assert got["empty"] == [0, 3]
    assert got["class_names"] == ["neg", "neutral", "pos"]

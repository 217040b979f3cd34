"""The `translation` task end to end on a tiny TSV: train, evaluate, greedy and beam predict, export (reloaded
in a process without seqtasks), fine-tune with the run's tokenizers."""

import io
import json
import subprocess
import sys
import textwrap

import pytest

from seqtasks.errors import DataError
from seqtasks.runtime import commands

WORDS = {
    "cat": "chat",
    "dog": "chien",
    "house": "maison",
    "car": "voiture",
    "tree": "arbre",
    "bird": "oiseau",
}
ADJ = {"big": "grand", "small": "petit", "green": "vert", "old": "vieux"}

TINY = [
    "data.source_vocab_size=70",
    "data.valid_size=0.1",
    "data.test_size=0.1",
    "model.embedding_dim=16",
    "model.encoder_units=16",
    "model.decoder_units=24",
    "train.batch_size=16",
    "train.epochs=1",
    "train.learning_rate=0.01",
    "train.warmup_steps=0",
    "train.checkpoint_every_steps=0",
    "train.verbose=none",
    "train.seed=1",
    "train.max_minutes=0",
    "eval.batch_size=8",
    "eval.beam_size=3",
]


def pairs():
    rows = []
    for noun, nom in WORDS.items():
        for adj, fr in ADJ.items():
            rows.append((f"The {adj} {noun}.", f"Le {nom} {fr}."))
            rows.append((f"Where is the {adj} {noun}?", f"Où est le {nom} {fr}\u202f?"))
    return rows


def write_tsv(path, rows, extra_column=True):
    tail = "\tCC-BY 2.0 (France) Attribution: tatoeba.org" if extra_column else ""
    path.write_text("".join(f"{s}\t{t}{tail}\n" for s, t in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("translation")
    data = write_tsv(tmp / "pairs.tsv", pairs())
    outcome = commands.train("translation", tmp / "run", overrides=TINY, data_paths=[str(data)])
    return tmp, outcome


def test_train_writes_run_splits_and_scores(trained):
    tmp, outcome = trained
    run = outcome.run.root
    for name in ("source.model", "target.model", "tokenizer.json"):
        assert (run / "assets" / name).is_file()
    valid = (run / "splits/valid.tsv").read_text(encoding="utf-8").splitlines()
    test = (run / "splits/test.tsv").read_text(encoding="utf-8").splitlines()
    sources = lambda lines: {line.split("\t")[0] for line in lines}  # noqa: E731
    train_sources = {s for s, _ in pairs()} - sources(valid) - sources(test)
    assert not (sources(test) & sources(valid)) and train_sources
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 1 and "val_token_accuracy" in metrics["epochs"][0]
    evaluation = outcome.evaluation
    assert evaluation["num_sentences"] == len(test)
    for key in ("bleu", "chrf", "bleu_multi_ref", "bleu_greedy", "chrf_greedy"):
        assert 0.0 <= evaluation[key] <= 100.0
    assert (run / "attention_test.png").stat().st_size > 1000
    assert len((run / "translations_test.tsv").read_text(encoding="utf-8").splitlines()) == len(
        test
    )
    assert (run / "export" / "saved_model.pb").is_file()


def test_evaluate_any_pair_file_and_bad_rows(trained):
    tmp, outcome = trained
    good = write_tsv(tmp / "eval.tsv", pairs()[:5], extra_column=False)
    metrics = commands.evaluate(outcome.run.root, paths=[str(good)], out=io.StringIO())
    assert metrics["num_sentences"] == 5
    bad = tmp / "bad.tsv"
    bad.write_text("The cat.\tLe chat.\nno tab here\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.tsv:2:"):
        commands.evaluate(outcome.run.root, paths=[str(bad)], out=io.StringIO())


INPUTS = ["The big cat.", "Where is the small bird?", ""]


@pytest.fixture(scope="module")
def predictions(trained):
    tmp, outcome = trained
    out = io.StringIO()
    beam = commands.predict(outcome.run.root, INPUTS, out=out)
    assert out.getvalue().splitlines() == beam
    png = tmp / "heat.png"
    greedy = commands.predict(
        outcome.run.root,
        INPUTS,
        overrides=["eval.beam_size=1", f"eval.attention_plot={png}"],
        out=io.StringIO(),
    )
    return beam, greedy, png


def test_predict_greedy_and_beam_and_heat_map(trained, predictions):
    tmp, outcome = trained
    beam, greedy, png = predictions
    assert len(beam) == len(greedy) == 3 and all(isinstance(t, str) for t in beam + greedy)
    assert png.stat().st_size > 1000
    with pytest.raises(DataError, match="no input"):
        commands.predict(outcome.run.root, [], out=io.StringIO())


def test_export_reloads_without_seqtasks_and_matches(trained, predictions):
    tmp, outcome = trained
    beam, greedy, _ = predictions
    script = textwrap.dedent(
        f"""
        import json, sys
        import tensorflow as tf, tensorflow_text  # noqa: F401
        m = tf.saved_model.load({str(outcome.run.root / "export")!r})
        x = tf.constant({INPUTS!r})
        beam = [s.decode("utf-8") for s in m.signatures["translate"](source=x)["translation"].numpy()]
        greedy = [s.decode("utf-8") for s in m.translate_greedy(x)["translation"].numpy()]
        assert not any(name.startswith("seqtasks") for name in sys.modules), "seqtasks was imported"
        print(json.dumps({{"beam": beam, "greedy": greedy}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp),
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"beam": beam, "greedy": greedy}


def test_finetune_keeps_tokenizers(trained):
    tmp, outcome = trained
    extra = write_tsv(
        tmp / "more.tsv",
        [(f"A {a} {n}.", f"Un {f} {fr}.") for n, f in WORDS.items() for a, fr in ADJ.items()],
    )
    tuned = commands.finetune(
        None,
        outcome.run.root,
        tmp / "tuned",
        overrides=["export.after_train=false", "eval.score_greedy=false", "eval.max_sentences=3"],
        data_paths=[str(extra)],
    )
    for name in ("source.model", "target.model"):
        assert (tuned.run.root / "assets" / name).read_bytes() == (
            outcome.run.root / "assets" / name
        ).read_bytes()
    assert "bleu" in tuned.evaluation

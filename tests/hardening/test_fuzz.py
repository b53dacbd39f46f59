"""Coverage-guided fuzzing (atheris) of the CoT parser/framing and the scenario loader.

Each target runs in its own process (libFuzzer owns the process and exits
non-zero on a crash: any exception but the module's own error type). The
seed corpora are the committed CoT samples and the bundled `tiny` TOML.
`make test` runs a short campaign; `make soak` a long one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris (coverage-guided fuzzer) is in the test extras")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _fuzz(target: str, runs: int, corpus: Path, tmp_path: Path, *extra: str) -> str:
    cmd = [sys.executable, str(HERE / "fuzz" / target), *extra, f"-atheris_runs={runs}", "-max_len=4096",
           "-timeout=10", f"-artifact_prefix={tmp_path}/", str(corpus)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"fuzzer found a crash:\n{out[-3000:]}"
    assert f"Done {runs}" in out or "Done" in out, out[-1000:]
    return out


def _cot_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "cot-corpus"
    shutil.copytree(ROOT / "tests" / "channel" / "data" / "cot", corpus)
    return corpus


def _scenario_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "scenario-corpus"
    corpus.mkdir()
    shutil.copy(Path(str(resources.files("borderwatch") / "data" / "tiny" / "tiny.toml")), corpus)
    return corpus


def test_cot_parser_and_framing_survive_fuzzing(tmp_path):
    _fuzz("fuzz_cot.py", 20_000, _cot_corpus(tmp_path), tmp_path)


def test_scenario_loader_survives_fuzzing(tmp_path):
    _fuzz("fuzz_scenario.py", 1_500, _scenario_corpus(tmp_path), tmp_path, str(tmp_path / "work"))


@pytest.mark.soak
def test_long_fuzz_campaigns(tmp_path):
    _fuzz("fuzz_cot.py", 2_000_000, _cot_corpus(tmp_path), tmp_path)
    _fuzz("fuzz_scenario.py", 100_000, _scenario_corpus(tmp_path), tmp_path, str(tmp_path / "work"))

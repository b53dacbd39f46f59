"""Coverage-guided fuzzing of the scenario loader's TOML reader (atheris / libFuzzer).

Mutates the bundled `tiny` scenario's TOML; the loader must either load it or
raise a `BorderwatchError` (one clear line), never anything else. Run as a
script: ``python fuzz_scenario.py WORKDIR -atheris_runs=N``.
"""

import shutil
import sys
from importlib import resources
from pathlib import Path

import atheris
import quiet_exit  # noqa: F401  (no SIGALRM death after a clean campaign)

with atheris.instrument_imports():
    from borderwatch.errors import BorderwatchError
    from borderwatch.scenario.load import load_scenario

WORK = Path(sys.argv.pop(1))
shutil.copytree(Path(str(resources.files("borderwatch") / "data" / "tiny")), WORK, dirs_exist_ok=True)
TOML = WORK / "tiny.toml"
SEED = TOML.read_bytes()


def one(data: bytes) -> None:
    TOML.write_bytes(data)
    try:
        load_scenario(TOML)
    except BorderwatchError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()

"""Coverage-guided fuzzing of the CoT parser and TAK framing (atheris / libFuzzer).

Any exception other than `CotError` is a crash. Run as a script:
``python fuzz_cot.py -atheris_runs=N [corpus dirs]``.
"""

import sys

import atheris
import quiet_exit  # noqa: F401  (no SIGALRM death after a clean campaign)

with atheris.instrument_imports():
    from borderwatch.channel.cot import parse_cot
    from borderwatch.channel.takproto_codec import StreamSplitter, decode_mesh, decode_stream
    from borderwatch.errors import CotError


def one(data: bytes) -> None:
    for fn in (parse_cot, decode_stream, decode_mesh):
        try:
            fn(data)
        except CotError:
            pass
    s = StreamSplitter()
    for item in s.feed(data):
        if not isinstance(item, CotError):
            try:
                item.decode()
            except CotError:
                pass
    s.close()


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()

"""Disarm libFuzzer's timeout timer once fuzzing is done.

libFuzzer's ``-timeout`` runs a periodic SIGALRM timer (every timeout/2 + 1 s)
that it never stops. After "Done N", Python's finalisation puts SIGALRM back
to its default action, so a tick that lands while the interpreter shuts down
kills the process with signal 14: a finished, clean campaign reported as a
crash (seen in CI, about once in twenty runs). Python's atexit handlers run
before that reset, so disarming the timer there closes the window. Import
this module before ``atheris.Setup``.
"""

import atexit
import signal


@atexit.register
def _disarm() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_IGN)

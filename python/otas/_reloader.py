"""runserver's autoreloader, made to stop its serving child gracefully.

With the autoreloader, `manage.py runserver` is two processes: a parent
that only restarts a child, and the child that serves.  Django's parent
answers SIGTERM with sys.exit() inside subprocess.run(), which SIGKILLs the
child: whatever the child's engine holds in memory is lost, and so is the
child's own clean exit.  OtasConfig.ready() (it runs in the parent) swaps
in a restart loop that passes SIGTERM on to the child and waits for it, so
the child exits through atexit and the engine delivers or spools what it
holds within OTAS_SHUTDOWN_TIMEOUT_MS.  The loop is Django's own otherwise:
same arguments, same environment, exit status 3 means "restart".
"""

import os
import signal
import subprocess

_GRACE_S = 30  # a child that ignores SIGTERM this long is killed


def install():
    try:
        from django.utils import autoreload
    except ImportError:  # pragma: no cover
        return
    if os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) == "true":
        return  # the serving child: nothing to forward
    if getattr(autoreload.restart_with_reloader, "_otas", False):
        return

    def restart_with_reloader():
        new_environ = {**os.environ, autoreload.DJANGO_AUTORELOAD_ENV: "true"}
        args = autoreload.get_child_arguments()
        while True:
            child = subprocess.Popen(args, env=new_environ, close_fds=False)

            def forward(signum, frame, child=child):
                child.send_signal(signum)

            previous = signal.signal(signal.SIGTERM, forward)
            try:
                code = _wait(child)
            finally:
                signal.signal(signal.SIGTERM, previous)
            if code != 3:
                return code

    restart_with_reloader._otas = True
    autoreload.restart_with_reloader = restart_with_reloader


def _wait(child):
    try:
        return child.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the whole group: the child is stopping too.
        try:
            child.wait(timeout=_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise
    except BaseException:
        child.kill()
        child.wait()
        raise

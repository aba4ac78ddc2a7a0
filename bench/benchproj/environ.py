"""The WSGI environ of every in-process benchmark request (bench/worker.py,
bench/bench_reqpath.py): the same headers a client would send."""

import io
import sys


def environ(method, path, body, ctype="application/json"):
    e = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "",
         "QUERY_STRING": "", "SERVER_NAME": "bench", "SERVER_PORT": "80",
         "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
         "HTTP_HOST": "bench", "HTTP_USER_AGENT": "bench/1.0",
         "HTTP_ACCEPT": "application/json", "HTTP_AUTHORIZATION": "Bearer x",
         "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
         "wsgi.errors": sys.stderr, "wsgi.multithread": False,
         "wsgi.multiprocess": True, "wsgi.run_once": False}
    if body:
        e["CONTENT_LENGTH"] = str(len(body))
        e["CONTENT_TYPE"] = ctype
    return e

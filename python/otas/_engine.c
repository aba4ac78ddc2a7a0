/*
 * _engine.c -- the thin CPython binding of libotas (private: import otas).
 *
 * It converts arguments, borrows bytes and calls the engine; it holds no
 * policy.  The capture call keeps the GIL (it is a copy and a queue push,
 * and releasing the GIL would cost more than the call); the calls that wait
 * -- authenticate, flush, close -- release it.
 *
 * Borrowed memory: every char pointer handed to otas_capture() points into
 * a Python object (str UTF-8 cache, bytes buffer) that the Exchange record
 * passed to capture() keeps alive for the duration of the call (the call
 * only reads str, bytes, dict, list, tuple and buffer objects: it runs no
 * Python code of the app's that could replace a field); the engine copies
 * what it keeps before returning.
 *
 * Logging: the engine calls log_cb() from its sender thread (and, for the
 * OTAS_DEBUG start-up line, from Engine_init's otas_set_logger() call,
 * which holds the GIL already: PyGILState_Ensure() nests).  The callback
 * takes the GIL with PyGILState_Ensure() unless the interpreter is
 * finalizing; otas/_runtime.py closes every engine from an atexit handler,
 * which runs before finalization, so no callback races interpreter teardown.
 *
 * Stable ABI: the module is built against the limited API of CPython 3.11
 * (abi3), so one wheel serves every CPython from 3.11 on.  Only functions
 * of the limited API are used: no object-layout macros (PyTuple_GET_ITEM,
 * PyBytes_AS_STRING, PyUnicode compact-ASCII peeks), types by
 * PyType_FromModuleAndSpec.  Exact-type checks (Py_IS_TYPE) come first
 * because the subclass checks are a function call under the limited API.
 */
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x030B0000
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "otas/otas.h"

#define MAX_HEADERS 256
#define MAX_ERRORS 32
/* Bodies of at least this many bytes are lent to the engine (a reference
 * held until it is done with them) instead of copied: a copy costs about
 * 0.13 us per KB on the request thread (into memory the sender thread last
 * touched), a loan about 0.1 us in all. */
#define LEND_MIN 8192
/* The null engine's body cap: OTAS_MAX_BODY_BYTES' default. */
#define NULL_BODY_CAP 102400

typedef struct {
	PyTypeObject *engine_type;
	PyTypeObject *exchange_type;
	PyTypeObject *djcall_type;
	PyObject *str_request_method;
	PyObject *str_query_string;
	PyObject *str_remote_addr;
	PyObject *str_url_scheme;
	/* Django's request and response attributes (capture_django) */
	PyObject *str_dict, *str_method, *str_path, *str_resolver_match;
	PyObject *str_route, *str_meta, *str_status_code, *str_headers;
	PyObject *str_store, *str_streaming, *str_content, *str_user;
	PyObject *str_cached_user, *str_session, *str_session_key;
	PyObject *str_is_authenticated, *str_pk, *str_body, *str_container;
	PyObject *str_content_length, *str_zero, *str_event_id_header;
	PyObject *str_content_type, *str_body_attr, *str_stream, *str_wsgi_input;
	PyObject *int_zero, *int_skipped;
} module_state;

typedef struct {
	PyObject_HEAD
	otas_engine_t *eng;
	PyObject *log_callable; /* strong ref; called with (level, msg) */
	PyInterpreterState *interp;
	/* Engine(null=True): no engine; capture() and capture_django() read
	 * every argument as for the real one and stop before the copy (the
	 * benchmarks' "null" baseline: the adapter alone). */
	int null;
	/* django_setup(): strong refs, NULL until set */
	PyObject *dj_lazy_type; /* django.utils.functional.SimpleLazyObject */
	PyObject *dj_skip_keys; /* tuple of request.__dict__ keys: slow path */
	int dj_user_in_c;       /* OTAS_USER_ID_FIELD=pk, no OTAS_RESOLVE_USER */
	PyObject *dj_content;   /* HttpResponse.content (the property), or NULL */
	PyObject *dj_plain_resp;/* last response type whose content is it */
	/* Loans the engine handed back (lend_release, any thread), their
	 * references dropped by lend_drain() with the GIL held. */
	_Atomic(struct lend_s *) returned;
} EngineObject;

/* One capture's bodies lent to the engine (otas_capture_t.body_release):
 * strong references to exact bytes objects (immutable), allocated and
 * freed with the GIL held; lend_release() only links it. */
typedef struct lend_s {
	struct lend_s *next;
	_Atomic(struct lend_s *) *home; /* its engine's returned list */
	PyObject *obj[2];
} lend_t;

/* The engine is done with a loan: any thread, no GIL, never blocks. */
static void
lend_release(void *owner)
{
	lend_t *l = owner;
	lend_t *head = atomic_load_explicit(l->home, memory_order_relaxed);

	do {
		l->next = head;
	} while (!atomic_compare_exchange_weak_explicit(
	    l->home, &head, l, memory_order_release, memory_order_relaxed));
}

/* Drop the references of every returned loan (GIL held).  Exact bytes
 * only: their deallocation runs no Python code. */
static void
lend_drain(EngineObject *self)
{
	lend_t *l, *n;

	if (!atomic_load_explicit(&self->returned, memory_order_relaxed))
		return;
	l = atomic_exchange_explicit(&self->returned, NULL,
	                             memory_order_acquire);
	for (; l; l = n) {
		n = l->next;
		Py_XDECREF(l->obj[0]);
		Py_XDECREF(l->obj[1]);
		PyMem_Free(l);
	}
}

static inline module_state *
get_state(PyObject *module)
{
	return (module_state *)PyModule_GetState(module);
}

/* Py_IsFinalizing() is public only from 3.13 on and not in the limited
 * API; the same function is exported by every CPython as _Py_IsFinalizing
 * before that.  Looked up once at import; NULL: never finalizing. */
static int (*is_finalizing)(void);

/* PyObject_GetOptionalAttr() (3.13 on) or _PyObject_LookupAttr() (3.7
 * to 3.12): an attribute or nothing, without raising AttributeError; not
 * in the limited API, looked up once at import like is_finalizing.  NULL:
 * PyObject_GetAttr() and a cleared AttributeError instead. */
static int (*lookup_attr)(PyObject *, PyObject *, PyObject **);

static void
find_is_finalizing(void)
{
	void *f = dlsym(RTLD_DEFAULT, "Py_IsFinalizing");

	if (!f)
		f = dlsym(RTLD_DEFAULT, "_Py_IsFinalizing");
	*(void **)&is_finalizing = f;
	f = dlsym(RTLD_DEFAULT, "PyObject_GetOptionalAttr");
	if (!f)
		f = dlsym(RTLD_DEFAULT, "_PyObject_LookupAttr");
	*(void **)&lookup_attr = f;
}

#define IS_STR(o) (Py_IS_TYPE((o), &PyUnicode_Type) || PyUnicode_Check(o))
#define IS_BYTES(o) (Py_IS_TYPE((o), &PyBytes_Type) || PyBytes_Check(o))
#define IS_TUPLE(o) (Py_IS_TYPE((o), &PyTuple_Type) || PyTuple_Check(o))
#define IS_LIST(o) (Py_IS_TYPE((o), &PyList_Type) || PyList_Check(o))
/* Py_SETREF is not in the limited API. */
#define Py_SETREF_(dst, src) \
	do { \
		PyObject *old_ = (dst); \
		(dst) = (src); \
		Py_XDECREF(old_); \
	} while (0)
#define IS_DICT(o) (Py_IS_TYPE((o), &PyDict_Type) || PyDict_Check(o))

/* A C int from a Python int (PyLong_AsInt is 3.13+). */
static int
as_int(PyObject *o)
{
	long v = PyLong_AsLong(o);

	if (v == -1 && PyErr_Occurred())
		return -1;
	if (v < INT_MIN || v > INT_MAX) {
		PyErr_SetString(PyExc_OverflowError, "value does not fit a C int");
		return -1;
	}
	return (int)v;
}

/* Borrowed item i of a list or tuple (the caller checked the type and i). */
static inline PyObject *
seq_item(PyObject *o, Py_ssize_t i)
{
	return IS_LIST(o) ? PyList_GetItem(o, i) : PyTuple_GetItem(o, i);
}

static inline Py_ssize_t
seq_len(PyObject *o)
{
	return IS_LIST(o) ? PyList_Size(o) : PyTuple_Size(o);
}

/* A bytes object's buffer without copying (embedded NULs allowed). */
static inline const char *
bytes_data(PyObject *o, Py_ssize_t *len)
{
	char *p;

	if (PyBytes_AsStringAndSize(o, &p, len) != 0) {
		PyErr_Clear();
		return NULL;
	}
	return p;
}

/* A str's UTF-8 bytes without copying: CPython's cached UTF-8 (for an
 * ASCII str, its own data).  Returns NULL for non-str (caller skips), sets
 * no error then. */
static inline const char *
str_utf8(PyObject *o, Py_ssize_t *len)
{
	if (!IS_STR(o))
		return NULL;
	const char *p = PyUnicode_AsUTF8AndSize(o, len);
	if (!p)
		PyErr_Clear(); /* lone surrogates: skip the value */
	return p;
}

/* Borrow bytes from bytes/bytearray/memoryview-like objects. *view must be
 * released by the caller when view->obj is set. */
static int
get_bytes(PyObject *o, const char **p, size_t *len, Py_buffer *view)
{
	view->obj = NULL;
	if (o == Py_None) {
		*p = NULL;
		*len = 0;
		return 0;
	}
	if (IS_BYTES(o)) {
		Py_ssize_t n;
		const char *s = bytes_data(o, &n);
		if (!s)
			return -1;
		*p = s;
		*len = (size_t)n;
		return 0;
	}
	if (IS_STR(o)) {
		Py_ssize_t n;
		const char *s = PyUnicode_AsUTF8AndSize(o, &n);
		if (!s)
			return -1;
		*p = s;
		*len = (size_t)n;
		return 0;
	}
	if (PyObject_GetBuffer(o, view, PyBUF_SIMPLE) != 0)
		return -1;
	*p = view->buf;
	*len = (size_t)view->len;
	return 0;
}

/* ------------------------------------------------------------ logging */

/* Set by exit_flush() (below): from then on the logger leaves Python
 * alone. */
static atomic_int g_exiting;

static void
log_cb(otas_log_level_t level, const char *msg, void *userdata)
{
	EngineObject *self = userdata;
	PyGILState_STATE g;
	PyObject *r;

	if (is_finalizing && is_finalizing())
		return;
	/* exit(3) is running exit_flush(), which waits for the sender: the
	 * thread that called exit() may hold the GIL, and a sender waiting
	 * for it would never be joined.  A line logged that late is lost. */
	if (atomic_load_explicit(&g_exiting, memory_order_acquire))
		return;
	g = PyGILState_Ensure();
	if (self->log_callable) {
		r = PyObject_CallFunction(self->log_callable, "is", (int)level,
		                          msg);
		if (!r)
			PyErr_Clear(); /* a failing log handler must not leak */
		Py_XDECREF(r);
	}
	PyGILState_Release(g);
}

/* ------------------------------------------------------------ Engine type */

static int
fill_config(otas_config_t *cfg, PyObject *options)
{
	PyObject *key, *value;
	Py_ssize_t pos = 0;
	char err[512];

	if (!PyDict_Check(options)) {
		PyErr_SetString(PyExc_TypeError, "options must be a dict of str");
		return -1;
	}
	while (PyDict_Next(options, &pos, &key, &value)) {
		const char *k, *v;
		if (!PyUnicode_Check(key) || !PyUnicode_Check(value)) {
			PyErr_SetString(PyExc_TypeError,
			                "options must map str to str");
			return -1;
		}
		k = PyUnicode_AsUTF8AndSize(key, NULL);
		v = PyUnicode_AsUTF8AndSize(value, NULL);
		if (!k || !v)
			return -1;
		if (otas_config_set(cfg, k, v, err, sizeof err) != 0) {
			PyErr_SetString(PyExc_ValueError, err);
			return -1;
		}
	}
	if (otas_config_check(cfg, err, sizeof err) != 0) {
		PyErr_SetString(PyExc_ValueError, err);
		return -1;
	}
	return 0;
}

static void open_add(otas_engine_t *eng, int timeout_ms);

static int
Engine_init(EngineObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"options", "log", "log_level", "null", NULL};
	PyObject *options, *log = Py_None;
	int log_level = OTAS_LOG_WARNING, null = 0, exit_ms;
	otas_config_t *cfg;
	char err[512];

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!|Oip", kwlist,
	                                 &PyDict_Type, &options, &log,
	                                 &log_level, &null))
		return -1;
	if (self->eng || self->null) {
		PyErr_SetString(PyExc_RuntimeError, "Engine already initialised");
		return -1;
	}
	if (null) {
		self->null = 1;
		return 0;
	}
	cfg = otas_config_new();
	if (!cfg) {
		PyErr_NoMemory();
		return -1;
	}
	if (fill_config(cfg, options) != 0) {
		otas_config_free(cfg);
		return -1;
	}
	{
		char ms[32] = "";

		(void)otas_config_get(cfg, "OTAS_SHUTDOWN_TIMEOUT_MS", ms,
		                      sizeof ms);
		exit_ms = atoi(ms);
	}
	self->eng = otas_engine_new(cfg, err, sizeof err); /* takes cfg */
	if (!self->eng) {
		PyErr_SetString(PyExc_ValueError, err);
		return -1;
	}
	open_add(self->eng, exit_ms > 0 ? exit_ms : 0);
	self->interp = PyInterpreterState_Get();
	if (log != Py_None) {
		Py_INCREF(log); /* decref in Engine_clear */
		self->log_callable = log;
		otas_set_logger(self->eng, log_cb, self,
		                (otas_log_level_t)log_level);
	}
	return 0;
}

/* Engines still open, for exit_flush() below; guarded by g_open_mu. */
#define OPEN_MAX 64
static pthread_mutex_t g_open_mu = PTHREAD_MUTEX_INITIALIZER;
static otas_engine_t *g_open[OPEN_MAX];
static int g_open_ms[OPEN_MAX];
static int g_exit_hooked;

/* At exit(3), deliver what the open engines hold and spool the rest.
 * uWSGI runs Python's atexit hooks only when the worker is idle: a worker
 * stopped (SIGINT) while it is still finishing a request it has answered
 * exits without them, and the events of the requests it served were lost
 * (about one stop in ten).  exit(3) handlers run in every case; after a
 * normal interpreter exit every engine is closed already and this does
 * nothing.  otas_engine_stop() delivers until the shutdown timeout,
 * spools what it could not deliver (the back end down) and joins the
 * sender, so no sender thread is left running into the exit handlers
 * that follow (libcrypto's clean-up under a spooling sender crashed the
 * worker); it frees nothing, as other threads may still call in.
 *
 * No Python: the logger is muted first (g_exiting).  A sender already
 * inside the log callback, though, needs the GIL back, which the thread
 * calling exit() may hold (a C signal handler that interrupted Python):
 * it would never be joined.  So the stops run on a thread of their own,
 * waited for at most the engines' shutdown timeouts plus EXIT_MARGIN_MS;
 * past that, exit goes on without them (g_open_mu stays held, so nothing
 * frees an engine under that thread).  A try-lock: exit(3) from a signal
 * handler that interrupted open_add()/open_remove() skips it rather than
 * deadlock. */
#define EXIT_MARGIN_MS 2000
static pthread_mutex_t g_exit_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_exit_cv = PTHREAD_COND_INITIALIZER;
static int g_exit_done;

/* g_open_mu held by exit_flush(). */
static void *
exit_stop_all(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < OPEN_MAX; i++)
		if (g_open[i])
			(void)otas_engine_stop(g_open[i], g_open_ms[i]);
	pthread_mutex_lock(&g_exit_mu);
	g_exit_done = 1;
	pthread_cond_signal(&g_exit_cv);
	pthread_mutex_unlock(&g_exit_mu);
	return NULL;
}

static void
exit_flush(void)
{
	struct timespec ts;
	pthread_t t;
	long long wait_ms = EXIT_MARGIN_MS;
	int i, n = 0, done;

	atomic_store_explicit(&g_exiting, 1, memory_order_release);
	if (pthread_mutex_trylock(&g_open_mu) != 0)
		return;
	for (i = 0; i < OPEN_MAX; i++)
		if (g_open[i]) {
			n++;
			wait_ms += g_open_ms[i];
		}
	if (!n) {
		pthread_mutex_unlock(&g_open_mu);
		return;
	}
	if (pthread_create(&t, NULL, exit_stop_all, NULL) != 0) {
		pthread_mutex_unlock(&g_open_mu);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(wait_ms / 1000);
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g_exit_mu);
	while (!g_exit_done &&
	       pthread_cond_timedwait(&g_exit_cv, &g_exit_mu, &ts) == 0)
		;
	done = g_exit_done;
	pthread_mutex_unlock(&g_exit_mu);
	if (done) {
		pthread_join(t, NULL);
		pthread_mutex_unlock(&g_open_mu);
	} else {
		pthread_detach(t); /* stuck: exit goes on, g_open_mu kept */
	}
}

static void
open_add(otas_engine_t *eng, int timeout_ms)
{
	int i;

	pthread_mutex_lock(&g_open_mu);
	if (!g_exit_hooked && atexit(exit_flush) == 0)
		g_exit_hooked = 1;
	for (i = 0; i < OPEN_MAX; i++)
		if (!g_open[i]) {
			g_open[i] = eng;
			g_open_ms[i] = timeout_ms;
			break;
		}
	pthread_mutex_unlock(&g_open_mu);
}

static void
open_remove(otas_engine_t *eng)
{
	int i;

	pthread_mutex_lock(&g_open_mu);
	for (i = 0; i < OPEN_MAX; i++)
		if (g_open[i] == eng)
			g_open[i] = NULL;
	pthread_mutex_unlock(&g_open_mu);
}

static void
engine_close(EngineObject *self, int timeout_ms)
{
	otas_engine_t *eng = self->eng;

	if (!eng)
		return;
	self->eng = NULL;
	open_remove(eng);
	Py_BEGIN_ALLOW_THREADS
	otas_engine_free(eng, timeout_ms);
	Py_END_ALLOW_THREADS
	lend_drain(self); /* every record is freed: every loan is back */
}

static int
Engine_traverse(EngineObject *self, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE((PyObject *)self));
	Py_VISIT(self->log_callable);
	Py_VISIT(self->dj_lazy_type);
	Py_VISIT(self->dj_skip_keys);
	Py_VISIT(self->dj_content);
	Py_VISIT(self->dj_plain_resp);
	return 0;
}

static int
Engine_clear(EngineObject *self)
{
	Py_CLEAR(self->log_callable);
	Py_CLEAR(self->dj_lazy_type);
	Py_CLEAR(self->dj_skip_keys);
	Py_CLEAR(self->dj_content);
	Py_CLEAR(self->dj_plain_resp);
	return 0;
}

static void
Engine_dealloc(EngineObject *self)
{
	PyTypeObject *tp = Py_TYPE((PyObject *)self);
	freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);

	PyObject_GC_UnTrack(self);
	/* The logger points at self: detach it before the engine stops. */
	if (self->eng)
		otas_set_logger(self->eng, NULL, NULL, OTAS_LOG_ERROR);
	engine_close(self, 0);
	Engine_clear(self);
	tp_free(self);
	Py_DECREF(tp); /* heap type: instances own a reference */
}

#define CHECK_OPEN(self)                                                  \
	do {                                                              \
		if (!(self)->eng) {                                       \
			PyErr_SetString(PyExc_RuntimeError,               \
			                "the OTAS engine is closed");     \
			return NULL;                                      \
		}                                                         \
	} while (0)

/* The capture calls also serve the null engine (Engine(null=True)). */
#define CHECK_CAPTURE(self)                                               \
	do {                                                              \
		if (!(self)->eng && !(self)->null) {                      \
			PyErr_SetString(PyExc_RuntimeError,               \
			                "the OTAS engine is closed");     \
			return NULL;                                      \
		}                                                         \
	} while (0)

static PyObject *
auth_result_tuple(otas_auth_status_t st, const otas_auth_result_t *r)
{
	return Py_BuildValue("(iissss)", (int)st, r->http_status, r->message,
	                     r->project_id, r->project_name,
	                     r->project_description);
}

static PyObject *
Engine_authenticate(EngineObject *self, PyObject *arg)
{
	int timeout_ms = as_int(arg);
	otas_auth_result_t r = OTAS_AUTH_RESULT_INIT;
	otas_auth_status_t st;

	if (timeout_ms == -1 && PyErr_Occurred())
		return NULL;
	CHECK_OPEN(self);
	Py_BEGIN_ALLOW_THREADS
	st = otas_engine_authenticate(self->eng, timeout_ms, &r);
	Py_END_ALLOW_THREADS
	return auth_result_tuple(st, &r);
}

static PyObject *
Engine_flush(EngineObject *self, PyObject *arg)
{
	int timeout_ms = as_int(arg);
	otas_result_t rc;

	if (timeout_ms == -1 && PyErr_Occurred())
		return NULL;
	CHECK_OPEN(self);
	/* otas_flush() blocks: the GIL is released around it. */
	Py_BEGIN_ALLOW_THREADS
	rc = otas_flush(self->eng, timeout_ms);
	Py_END_ALLOW_THREADS
	lend_drain(self);
	return PyBool_FromLong(rc == OTAS_OK);
}

static PyObject *
Engine_close(EngineObject *self, PyObject *arg)
{
	int timeout_ms = as_int(arg);

	if (timeout_ms == -1 && PyErr_Occurred())
		return NULL;
	engine_close(self, timeout_ms);
	Py_RETURN_NONE;
}

static PyObject *
Engine_want_request_body(EngineObject *self, PyObject *const *args,
                         Py_ssize_t nargs)
{
	Py_ssize_t ct_len = 0;
	const char *ct = NULL;
	long long cl;

	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError,
		                "want_request_body(content_type, content_length)");
		return NULL;
	}
	CHECK_OPEN(self);
	if (args[0] != Py_None) {
		ct = str_utf8(args[0], &ct_len);
		if (!ct)
			ct_len = 0;
	}
	cl = PyLong_AsLongLong(args[1]);
	if (cl == -1 && PyErr_Occurred())
		return NULL;
	return PyBool_FromLong(
	    otas_want_request_body(self->eng, ct, (size_t)ct_len, cl));
}

/* should_capture(method, path) -> bool: OTAS_CAPTURE_METHODS and
 * OTAS_EXCLUDE_PATHS, so a host can skip reading the body. */
static PyObject *
Engine_should_capture(EngineObject *self, PyObject *const *args,
                      Py_ssize_t nargs)
{
	Py_ssize_t ml = 0, pl = 0;
	const char *m, *p;

	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "should_capture(method, path)");
		return NULL;
	}
	CHECK_OPEN(self);
	m = str_utf8(args[0], &ml);
	p = str_utf8(args[1], &pl);
	if (!m || !p)
		Py_RETURN_TRUE; /* odd input: let capture decide */
	return PyBool_FromLong(otas_should_capture(self->eng, m, (size_t)ml, p,
	                                           (size_t)pl));
}

/* new_event_id() -> str: a UUIDv7 for an Exchange's event_id. */
static PyObject *
Engine_new_event_id(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
	char id[37];

	otas_new_event_id(id);
	return PyUnicode_FromStringAndSize(id, 36);
}

/* entity(kind, json) -> bool queued; ValueError when the engine refuses
 * the update (unknown kind, not an object, a required id missing). */
static PyObject *
Engine_entity(EngineObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	Py_ssize_t n = 0;
	const char *js;
	otas_result_t rc;
	int kind;

	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "entity(kind, json)");
		return NULL;
	}
	CHECK_OPEN(self);
	kind = as_int(args[0]);
	if (kind == -1 && PyErr_Occurred())
		return NULL;
	js = str_utf8(args[1], &n);
	if (!js) {
		PyErr_SetString(PyExc_TypeError, "entity json must be a str");
		return NULL;
	}
	rc = otas_entity(self->eng, (otas_entity_kind_t)kind, js, (size_t)n);
	if (rc == OTAS_EINVAL) {
		PyErr_SetString(PyExc_ValueError,
		                "invalid entity update (kind or required ids)");
		return NULL;
	}
	return PyBool_FromLong(rc == OTAS_OK);
}

static inline void opt_str(PyObject *o, const char **p, size_t *len);

/* Walk a WSGI environ (dict of str) into CGI-named header entries; the
 * engine keeps only the HTTP_* / CONTENT_* ones.  The query string, the
 * peer and the scheme are picked up on the way (one walk, no look-ups). */
static size_t
walk_environ(PyObject *env, otas_header_t *h, size_t max,
             char *server_host, size_t shlen, size_t *sh_out,
             otas_capture_t *cap)
{
	PyObject *k, *v;
	Py_ssize_t pos = 0, kl, vl;
	size_t n = 0;
	int has_host = 0;
	const char *sname = NULL, *sport = NULL;
	Py_ssize_t snl = 0, spl = 0;

	*sh_out = 0;
	while (PyDict_Next(env, &pos, &k, &v)) {
		const char *ks = str_utf8(k, &kl), *vs;
		if (!ks || kl < 5)
			continue;
		if (ks[0] == 'S' && kl == 11 &&
		    (memcmp(ks, "SERVER_NAME", 11) == 0 ||
		     memcmp(ks, "SERVER_PORT", 11) == 0)) {
			vs = str_utf8(v, &vl);
			if (vs && ks[7] == 'N')
				sname = vs, snl = vl;
			else if (vs)
				sport = vs, spl = vl;
			continue;
		}
		if (ks[0] == 'Q' && kl == 12 &&
		    memcmp(ks, "QUERY_STRING", 12) == 0) {
			opt_str(v, &cap->query, &cap->query_len);
			continue;
		}
		if (ks[0] == 'R' && kl == 11 &&
		    memcmp(ks, "REMOTE_ADDR", 11) == 0) {
			opt_str(v, &cap->remote_addr, &cap->remote_addr_len);
			continue;
		}
		if (ks[0] == 'w' && kl == 15 &&
		    memcmp(ks, "wsgi.url_scheme", 15) == 0) {
			opt_str(v, &cap->scheme, &cap->scheme_len);
			continue;
		}
		if (kl == 9 && memcmp(ks, "HTTP_HOST", 9) == 0)
			has_host = 1;
		/* Cheap pre-filter so only candidate headers pay for the
		 * value conversion; the engine applies the real rule. */
		if ((ks[0] != 'H' && ks[0] != 'C') || n >= max)
			continue;
		vs = str_utf8(v, &vl);
		if (!vs)
			continue;
		h[n].name = ks;
		h[n].name_len = (size_t)kl;
		h[n].value = vs;
		h[n].value_len = (size_t)vl;
		n++;
	}
	/* No Host header: PEP 3333's SERVER_NAME[:SERVER_PORT]. */
	if (!has_host && sname && snl > 0 && (size_t)(snl + spl + 2) <= shlen) {
		int dflt = !sport || (spl == 2 && memcmp(sport, "80", 2) == 0) ||
		           (spl == 3 && memcmp(sport, "443", 3) == 0);
		memcpy(server_host, sname, (size_t)snl);
		*sh_out = (size_t)snl;
		if (!dflt) {
			server_host[*sh_out] = ':';
			memcpy(server_host + *sh_out + 1, sport, (size_t)spl);
			*sh_out += (size_t)spl + 1;
		}
	}
	return n;
}

/* Response headers: a dict {lower: (Name, value)} (Django's
 * ResponseHeaders._store), a dict {name: value}, or a sequence of
 * (name, value) pairs (WSGI); str or bytes names and values. */
static int
pair_into(PyObject *name, PyObject *value, otas_header_t *h)
{
	Py_ssize_t nl, vl;
	const char *ns, *vs;

	if (!(ns = str_utf8(name, &nl)) &&
	    !(IS_BYTES(name) && (ns = bytes_data(name, &nl))))
		return 0;
	if (!(vs = str_utf8(value, &vl)) &&
	    !(IS_BYTES(value) && (vs = bytes_data(value, &vl))))
		return 0;
	h->name = ns;
	h->name_len = (size_t)nl;
	h->value = vs;
	h->value_len = (size_t)vl;
	return 1;
}

static size_t
walk_headers(PyObject *headers, otas_header_t *h, size_t max)
{
	size_t n = 0;

	if (headers == Py_None)
		return 0;
	if (IS_DICT(headers)) {
		PyObject *k, *v;
		Py_ssize_t pos = 0;
		while (n < max && PyDict_Next(headers, &pos, &k, &v)) {
			if (IS_TUPLE(v) && PyTuple_Size(v) == 2)
				n += pair_into(PyTuple_GetItem(v, 0),
				               PyTuple_GetItem(v, 1), &h[n]);
			else
				n += pair_into(k, v, &h[n]);
		}
		return n;
	}
	if (IS_LIST(headers) || IS_TUPLE(headers)) {
		Py_ssize_t i, len = seq_len(headers);
		for (i = 0; i < len && n < max; i++) {
			PyObject *p = seq_item(headers, i);
			if ((IS_TUPLE(p) || IS_LIST(p)) && seq_len(p) == 2)
				n += pair_into(seq_item(p, 0), seq_item(p, 1),
				               &h[n]);
		}
	}
	return n;
}

/* An optional str (UTF-8) or bytes argument; anything else reads as unset. */
static inline void
opt_str(PyObject *o, const char **p, size_t *len)
{
	Py_ssize_t n = 0;

	*p = NULL;
	*len = 0;
	if (o == Py_None)
		return;
	if (IS_BYTES(o)) {
		*p = bytes_data(o, &n);
		*len = *p ? (size_t)n : 0;
		return;
	}
	*p = str_utf8(o, &n);
	*len = *p ? (size_t)n : 0;
}

/* errors: None or a sequence of (type, message, stack) str triples. */
static size_t
walk_errors(PyObject *errors, otas_error_t *e, size_t max)
{
	Py_ssize_t i, len;
	size_t n = 0;

	if (errors == Py_None || !(IS_LIST(errors) || IS_TUPLE(errors)))
		return 0;
	len = seq_len(errors);
	for (i = 0; i < len && n < max; i++) {
		PyObject *t = seq_item(errors, i);
		if (!IS_TUPLE(t) || PyTuple_Size(t) != 3)
			continue;
		opt_str(PyTuple_GetItem(t, 0), &e[n].type, &e[n].type_len);
		opt_str(PyTuple_GetItem(t, 1), &e[n].message,
		        &e[n].message_len);
		opt_str(PyTuple_GetItem(t, 2), &e[n].stack, &e[n].stack_len);
		n++;
	}
	return n;
}

/* ------------------------------------------------------- Exchange type */

/* Exchange: the record one capture call reads -- one request/response as
 * the adapter saw it.  Every field is an object slot (T_OBJECT_EX member:
 * the interpreter's attribute specialisation stores and loads it like a
 * __slots__ slot, and capture() reads the struct directly, no attribute
 * lookup).  The fields, their types and meanings are in _engine.pyi; a
 * field deleted (NULL) reads as its default. */
typedef struct {
	PyObject_HEAD
	/* the request */
	PyObject *method, *path, *route, *headers, *req_body, *req_size;
	/* the response */
	PyObject *status, *resp_headers, *resp_body, *resp_size;
	/* timing and flags */
	PyObject *start_us, *duration_ns, *flags;
	/* errors and identity */
	PyObject *errors, *user_id, *company_id, *session_token, *metadata;
	PyObject *parent_event_id, *event_id;
	/* overrides of what a dict `headers` says */
	PyObject *query, *remote_addr, *scheme;
	/* the adapter's, never read by the engine */
	PyObject *request, *response, *store;
} ExchangeObject;

#define X_NFIELDS 26
#define X_FIELDS(x) (&(x)->method)
_Static_assert(sizeof(ExchangeObject) - offsetof(ExchangeObject, method) ==
                   X_NFIELDS * sizeof(PyObject *),
               "ExchangeObject: every field is a PyObject * after the head");

/* Py_SETREF is not in the limited API. */
#define X_SET(field, value) \
	do { \
		PyObject *old_ = (field); \
		(field) = (value); \
		Py_XDECREF(old_); \
	} while (0)

#ifndef Py_T_OBJECT_EX
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif

#define XM(name, doc) \
	{#name, Py_T_OBJECT_EX, offsetof(ExchangeObject, name), 0, doc}
static PyMemberDef Exchange_members[] = {
    XM(method, "str: the HTTP method (None: REQUEST_METHOD of a dict headers)"),
    XM(path, "str: the path, without the query string"),
    XM(route, "str | None: the route template (api/items/<int:pk>)"),
    XM(headers, "dict (WSGI environ / Django META) or (name, value) pairs"),
    XM(req_body, "bytes-like | None: the request body (cut at the cap here)"),
    XM(req_size, "int: the request body's full size (-1: unknown)"),
    XM(status, "int: the response status"),
    XM(resp_headers, "dict {lower: (Name, value)}, dict or (name, value) pairs"),
    XM(resp_body, "bytes-like | None: the response body (cut at the cap here)"),
    XM(resp_size, "int: the response body's full size (-1: unknown)"),
    XM(start_us, "int: the request's start, Unix microseconds"),
    XM(duration_ns, "int: the request's duration, nanoseconds"),
    XM(flags, "int: CAP_* flags"),
    XM(errors, "list of (type, message, stack) str triples | None"),
    XM(user_id, "str | None: the user (None: the engine reads the JWT)"),
    XM(company_id, "str | None: the company"),
    XM(session_token, "str | None: the session"),
    XM(metadata, "str | None: the user's metadata as a JSON object"),
    XM(parent_event_id, "str | None: the incoming event of an outgoing call"),
    XM(event_id, "str | None: a new_event_id() the event must carry"),
    XM(query, "str | bytes | None: the query string (None: QUERY_STRING)"),
    XM(remote_addr, "str | None: the peer address (None: REMOTE_ADDR)"),
    XM(scheme, "str | None: http or https (None: wsgi.url_scheme)"),
    XM(request, "the framework's request, for hooks; not read by the engine"),
    XM(response, "the framework's response, for hooks; not read by the engine"),
    XM(store, "dict where report_error()/outgoing calls leave errors and the "
              "event id; not read by the engine"),
    {NULL, 0, 0, 0, NULL}};
#undef XM

/* Exchange(method=None, path=None, route=None, headers=None, start_us=0,
 *          **fields): the five positional ones for the request path, any
 * field by keyword. */
static PyObject *
Exchange_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	ExchangeObject *x;
	PyObject **f, *zero, *k, *v;
	Py_ssize_t i, n = PyTuple_Size(args), pos = 0;

	if (n > 5) {
		PyErr_SetString(PyExc_TypeError,
		                "Exchange() takes at most 5 positional arguments "
		                "(method, path, route, headers, start_us)");
		return NULL;
	}
	/* The type is immutable and final: its tp_alloc is the generic one
	 * (zeroed, GC-tracked). */
	x = (ExchangeObject *)PyType_GenericAlloc(type, 0);
	if (!x)
		return NULL;
	zero = PyLong_FromLong(0); /* the small-int cache: no allocation */
	if (!zero) {
		Py_DECREF(x);
		return NULL;
	}
	f = X_FIELDS(x);
	for (i = 0; i < n && i < 4; i++)
		f[i] = Py_NewRef(PyTuple_GetItem(args, i));
	for (; i < X_NFIELDS; i++)
		f[i] = Py_NewRef(Py_None);
	/* The int fields default to 0. */
	X_SET(x->req_size, Py_NewRef(zero));
	X_SET(x->status, Py_NewRef(zero));
	X_SET(x->resp_size, Py_NewRef(zero));
	X_SET(x->duration_ns, Py_NewRef(zero));
	X_SET(x->flags, Py_NewRef(zero));
	X_SET(x->start_us, n == 5 ? Py_NewRef(PyTuple_GetItem(args, 4)) : zero);
	if (n == 5)
		Py_DECREF(zero);
	if (kwds) {
		while (PyDict_Next(kwds, &pos, &k, &v)) {
			if (PyObject_SetAttr((PyObject *)x, k, v) != 0) {
				Py_DECREF(x);
				return NULL;
			}
		}
	}
	return (PyObject *)x;
}

static int
Exchange_traverse(ExchangeObject *x, visitproc visit, void *arg)
{
	PyObject **f = X_FIELDS(x);
	int i;

	Py_VISIT(Py_TYPE((PyObject *)x));
	for (i = 0; i < X_NFIELDS; i++)
		Py_VISIT(f[i]);
	return 0;
}

static int
Exchange_clear(ExchangeObject *x)
{
	PyObject **f = X_FIELDS(x);
	int i;

	for (i = 0; i < X_NFIELDS; i++)
		Py_CLEAR(f[i]);
	return 0;
}

static void
Exchange_dealloc(ExchangeObject *x)
{
	PyTypeObject *tp = Py_TYPE((PyObject *)x);
	freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);

	PyObject_GC_UnTrack(x);
	Exchange_clear(x);
	tp_free(x);
	Py_DECREF(tp);
}

static PyType_Slot Exchange_slots[] = {
    {Py_tp_new, Exchange_new},
    {Py_tp_dealloc, Exchange_dealloc},
    {Py_tp_traverse, Exchange_traverse},
    {Py_tp_clear, Exchange_clear},
    {Py_tp_members, Exchange_members},
    {Py_tp_doc, "Exchange(method, path, route, headers, start_us, **fields): "
                "one request/response for Engine.capture()"},
    {0, NULL}};

static PyType_Spec Exchange_spec = {
    .name = "otas._engine.Exchange",
    .basicsize = sizeof(ExchangeObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Exchange_slots,
};

/* A field's object; a deleted field reads as None. */
#define XF(x, name) ((x)->name ? (x)->name : Py_None)

/* An int field; None or deleted: 0. */
static inline long long
x_ll(PyObject *o)
{
	return (!o || o == Py_None) ? 0 : PyLong_AsLongLong(o);
}

static inline int
x_int(PyObject *o)
{
	return (!o || o == Py_None) ? 0 : as_int(o);
}

/* A body borrowed without a copy, cut at cap + 1 bytes: the engine sees
 * that it is longer than its cap, keeps the cap and marks it truncated. */
static int
x_body(PyObject *o, const char **p, size_t *len, Py_buffer *view,
       size_t cap)
{
	if (get_bytes(o ? o : Py_None, p, len, view) != 0)
		return -1;
	if (*len > cap + 1)
		*len = cap + 1;
	return 0;
}

/* A WSGI environ / Django META dict into cap: its HTTP_* and CONTENT_*
 * keys as CGI-named headers (the engine keeps only those), the query
 * string, peer, scheme and, when cap has none, the method.  Every pointer
 * borrows from the dict's str objects. */
static int
fill_environ(module_state *st, PyObject *env, otas_capture_t *cap,
             otas_header_t *req_h, char *server_host, size_t shlen)
{
	PyObject *o;

	cap->flags |= OTAS_CAP_REQ_HEADERS_CGI;
	/* Every pointer borrows from the environ dict's str objects. */
	cap->n_req_headers = walk_environ(env, req_h, MAX_HEADERS,
	                                  server_host, shlen,
	                                  &cap->server_host_len, cap);
	if (cap->server_host_len)
		cap->server_host = server_host;
	if (!cap->method &&
	    (o = PyDict_GetItemWithError(env, st->str_request_method)))
		opt_str(o, &cap->method, &cap->method_len);
	return PyErr_Occurred() ? -1 : 0;
}

/* The capture call's last step, shared by capture() and capture_django():
 * borrow both bodies (cut at the cap), hand the record to the engine and
 * release the buffers.  The null engine (the benchmarks' baseline) does
 * every step but the engine's copy.  Returns the event id when want_id and
 * queued, else None. */
static PyObject *
capture_bodies(EngineObject *self, otas_capture_t *cap, PyObject *req_body,
               PyObject *resp_body, int want_id)
{
	Py_buffer vreq, vresp;
	size_t body_cap = self->eng ? otas_body_cap(self->eng) : NULL_BODY_CAP;
	char id[37];
	int rc = 1;

	if (x_body(req_body, &cap->req_body, &cap->req_body_len, &vreq,
	           body_cap) != 0)
		return NULL;
	if (x_body(resp_body, &cap->resp_body, &cap->resp_body_len, &vresp,
	           body_cap) != 0) {
		if (vreq.obj)
			PyBuffer_Release(&vreq);
		return NULL;
	}
	if (self->eng) {
		/* Big bodies of exact bytes are lent, not copied: the
		 * engine hands them back (lend_release) once it has
		 * serialised the event; the references go at a later
		 * capture (or flush, close). */
		int lreq = req_body && Py_IS_TYPE(req_body, &PyBytes_Type) &&
		           cap->req_body_len >= LEND_MIN;
		int lresp = resp_body && Py_IS_TYPE(resp_body, &PyBytes_Type) &&
		            cap->resp_body_len >= LEND_MIN;
		lend_t *l = NULL;

		lend_drain(self);
		if ((lreq || lresp) && (l = PyMem_Malloc(sizeof(*l)))) {
			l->next = NULL;
			l->home = &self->returned;
			l->obj[0] = lreq ? Py_NewRef(req_body) : NULL;
			l->obj[1] = lresp ? Py_NewRef(resp_body) : NULL;
			if (lreq)
				cap->flags |= OTAS_CAP_REQ_BODY_BORROWED;
			if (lresp)
				cap->flags |= OTAS_CAP_RESP_BODY_BORROWED;
			cap->body_release = lend_release;
			cap->body_owner = l;
		}
		rc = otas_capture(self->eng, cap, want_id ? id : NULL);
		if (rc != OTAS_OK && l) { /* not queued: still ours */
			Py_XDECREF(l->obj[0]);
			Py_XDECREF(l->obj[1]);
			PyMem_Free(l);
		}
	}
	if (vreq.obj)
		PyBuffer_Release(&vreq);
	if (vresp.obj)
		PyBuffer_Release(&vresp);
	if (rc == 0 && want_id)
		return PyUnicode_FromStringAndSize(id, 36);
	Py_RETURN_NONE;
}

/* capture(x: Exchange, want_id: bool = False) -> event id str | None
 *
 * Returns the event's UUIDv7 when want_id is true and it was queued, else
 * None.  Never raises for a capture the engine drops. */
static PyObject *
Engine_capture(EngineObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	module_state *st;
	otas_header_t req_h[MAX_HEADERS], resp_h[MAX_HEADERS];
	otas_error_t errs[MAX_ERRORS];
	otas_capture_t cap;
	ExchangeObject *x;
	PyObject *env;
	char server_host[300];
	int want_id = 0;

	if (nargs < 1 || nargs > 2) {
		PyErr_SetString(PyExc_TypeError,
		                "capture(exchange, want_id=False)");
		return NULL;
	}
	CHECK_CAPTURE(self);
	st = PyType_GetModuleState(Py_TYPE((PyObject *)self));
	if (!Py_IS_TYPE(args[0], st->exchange_type) &&
	    !PyObject_TypeCheck(args[0], st->exchange_type)) {
		PyErr_SetString(PyExc_TypeError,
		                "capture() takes an otas._engine.Exchange");
		return NULL;
	}
	x = (ExchangeObject *)args[0];
	if (nargs == 2 && (want_id = PyObject_IsTrue(args[1])) < 0)
		return NULL;
	otas_capture_init(&cap);

	cap.flags = x_int(x->flags);
	cap.status = x_int(x->status);
	cap.req_body_size = x_ll(x->req_size);
	cap.resp_body_size = x_ll(x->resp_size);
	cap.start_unix_us = x_ll(x->start_us);
	cap.duration_ns = x_ll(x->duration_ns);
	if (PyErr_Occurred())
		return NULL;
	opt_str(XF(x, method), &cap.method, &cap.method_len);
	opt_str(XF(x, path), &cap.path, &cap.path_len);
	opt_str(XF(x, route), &cap.route, &cap.route_len);

	env = XF(x, headers);
	if (IS_DICT(env)) {
		if (fill_environ(st, env, &cap, req_h, server_host,
		                 sizeof(server_host)) != 0)
			return NULL;
	} else {
		cap.n_req_headers = walk_headers(env, req_h, MAX_HEADERS);
	}
	cap.req_headers = req_h;
	cap.n_resp_headers =
	    walk_headers(XF(x, resp_headers), resp_h, MAX_HEADERS);
	cap.resp_headers = resp_h;
	cap.n_errors = walk_errors(XF(x, errors), errs, MAX_ERRORS);
	cap.errors = errs;

	opt_str(XF(x, user_id), &cap.user_id, &cap.user_id_len);
	opt_str(XF(x, company_id), &cap.company_id, &cap.company_id_len);
	opt_str(XF(x, session_token), &cap.session_token,
	        &cap.session_token_len);
	opt_str(XF(x, metadata), &cap.metadata_json, &cap.metadata_json_len);
	opt_str(XF(x, parent_event_id), &cap.parent_event_id,
	        &cap.parent_event_id_len);
	opt_str(XF(x, event_id), &cap.event_id, &cap.event_id_len);
	/* Set: they override what the environ said. */
	if (XF(x, query) != Py_None)
		opt_str(x->query, &cap.query, &cap.query_len);
	if (XF(x, remote_addr) != Py_None)
		opt_str(x->remote_addr, &cap.remote_addr, &cap.remote_addr_len);
	if (XF(x, scheme) != Py_None)
		opt_str(x->scheme, &cap.scheme, &cap.scheme_len);

	return capture_bodies(self, &cap, x->req_body, x->resp_body, want_id);
}

/* ------------------------------------------------- the Django fast path */

/* django_setup(lazy_type, skip_keys, user_in_c): what capture_django()
 * needs to know of the host once -- Django's SimpleLazyObject type (an
 * unevaluated request.user), the request.__dict__ keys that need the
 * Python core (reported errors, an event id named up front, outgoing calls
 * waiting for the event), and whether the user id is request.user.pk read
 * without forcing the lazy user (the default) or left to Python. */
static PyObject *
Engine_django_setup(EngineObject *self, PyObject *const *args,
                    Py_ssize_t nargs)
{
	PyObject *old;
	int user_in_c;

	if (nargs < 3 || nargs > 4 || !IS_TUPLE(args[1])) {
		PyErr_SetString(PyExc_TypeError,
		                "django_setup(lazy_type, skip_keys: tuple, "
		                "user_in_c, content_property=None)");
		return NULL;
	}
	CHECK_CAPTURE(self);
	if ((user_in_c = PyObject_IsTrue(args[2])) < 0)
		return NULL;
	old = self->dj_lazy_type;
	self->dj_lazy_type = Py_NewRef(args[0]); /* decref in Engine_clear */
	Py_XDECREF(old);
	old = self->dj_skip_keys;
	self->dj_skip_keys = Py_NewRef(args[1]); /* decref in Engine_clear */
	Py_XDECREF(old);
	self->dj_user_in_c = user_in_c;
	/* decref of both in Engine_clear */
	Py_SETREF_(self->dj_content,
	            nargs == 4 && args[3] != Py_None ? Py_NewRef(args[3]) : NULL);
	Py_SETREF_(self->dj_plain_resp, NULL);
	Py_RETURN_NONE;
}

static inline long long
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* An exception the Python adapter would swallow (`except Exception`) is
 * cleared (0); anything else (KeyboardInterrupt) stays set (-1). */
static inline int
swallow(void)
{
	if (!PyErr_ExceptionMatches(PyExc_Exception))
		return -1;
	PyErr_Clear();
	return 0;
}

/* str(user.pk) when user.is_authenticated, else *out = NULL. */
static int
django_user_pk(module_state *st, PyObject *user, PyObject **out)
{
	PyObject *a, *pk;
	int t;

	*out = NULL;
	if (!(a = PyObject_GetAttr(user, st->str_is_authenticated)))
		return swallow();
	t = PyObject_IsTrue(a);
	Py_DECREF(a);
	if (t < 0)
		return swallow();
	if (!t)
		return 0;
	if (!(pk = PyObject_GetAttr(user, st->str_pk)))
		return swallow();
	*out = PyObject_Str(pk);
	Py_DECREF(pk);
	return *out ? 0 : swallow();
}

/* obj.name if it has one: 1 and a new reference in *out, 0 (*out NULL,
 * no exception) when it has none, -1 on an error.  The request's
 * attributes are read this way, never through request.__dict__: on
 * CPython 3.11+ asking for an instance's __dict__ builds it from the
 * inline attribute values, and every later attribute access of Django
 * and the view on that request gets slower (measured: a middleware that
 * only touches request.__dict__ costs 5.1k instructions per GET more than
 * one that does not). */
static inline int
opt_attr(PyObject *obj, PyObject *name, PyObject **out)
{
	if (lookup_attr)
		return lookup_attr(obj, name, out);
	if ((*out = PyObject_GetAttr(obj, name)))
		return 1;
	if (!PyErr_ExceptionMatches(PyExc_AttributeError))
		return -1;
	PyErr_Clear();
	return 0;
}

/* Is this one of Django's plain responses: a type whose content
 * attribute is HttpResponse's own property (django_setup()) and that is
 * not streaming?  Checked once per type (the last one is kept).  For those
 * the binding takes the bytes in _container, the list that content joins
 * (one bytes item is the content itself: JsonResponse,
 * HttpResponse(b"...")), without the property's Python call and copy.
 * 1 yes, 0 no, -1 error. */
static int
plain_response(EngineObject *self, module_state *st, PyObject *response)
{
	PyObject *tp = (PyObject *)Py_TYPE(response), *o;
	int plain, t;

	if (!self->dj_content)
		return 0;
	if (tp == self->dj_plain_resp)
		return 1;
	if (!(o = PyObject_GetAttr(tp, st->str_content)))
		return swallow();
	plain = o == self->dj_content;
	Py_DECREF(o);
	if (!plain)
		return 0;
	if (!(o = PyObject_GetAttr(tp, st->str_streaming)))
		return swallow();
	t = PyObject_IsTrue(o);
	Py_DECREF(o);
	if (t != 0)
		return t < 0 ? swallow() : 0;
	/* decref in Engine_clear or the next django_setup() */
	Py_SETREF_(self->dj_plain_resp, Py_NewRef(tp));
	return 1;
}

/* A plain response's content: its _container's one bytes item, else
 * through the property.  A new reference. */
static PyObject *
plain_content(module_state *st, PyObject *response)
{
	PyObject *c = PyObject_GetAttr(response, st->str_container), *o;

	if (!c) {
		if (!PyErr_ExceptionMatches(PyExc_AttributeError))
			return NULL;
		PyErr_Clear();
	} else if (IS_LIST(c) && PyList_Size(c) == 1 &&
	           (o = PyList_GetItem(c, 0)) && IS_BYTES(o)) {
		Py_INCREF(o); /* the caller's; c still holds it until here */
		Py_DECREF(c);
		return o;
	} else {
		Py_DECREF(c);
	}
	return PyObject_GetAttr(response, st->str_content);
}

/* capture_django(request, response, t0_ns, body, want_id)
 *     -> None | event id str | NotImplemented
 *
 * The Django middleware's whole capture step in one call, for a response
 * the view returned: the request's method, path, route template, META
 * (headers, query, peer, scheme), the body the middleware read (body is
 * (bytes | None, declared size, CAP_* flags); a body the view read itself
 * is taken from request._body), the user id and session key as the Python
 * adapter reads them, the response's status, header store and content, and
 * the duration from t0_ns (time.perf_counter_ns(), CLOCK_MONOTONIC) to
 * now.  Returns NotImplemented, having captured nothing, for what the
 * Python core handles (a streaming response, reported errors, an event id
 * named up front, a user object to read in Python): the middleware then
 * takes its Python path.  Nothing is copied but by the engine. */
static PyObject *
Engine_capture_django(EngineObject *self, PyObject *const *args,
                      Py_ssize_t nargs)
{
	module_state *st;
	otas_header_t req_h[MAX_HEADERS], resp_h[MAX_HEADERS];
	otas_capture_t cap;
	PyObject *request, *response, *body, *o;
	PyObject *meta = NULL, *method = NULL, *path = NULL;
	PyObject *rm = NULL, *route = NULL, *status = NULL, *headers = NULL;
	PyObject *store = NULL, *content = NULL, *uid = NULL, *skey = NULL;
	PyObject *req_body = NULL, *ret = NULL;
	char server_host[300];
	long long t0, mono, real;
	Py_ssize_t i, n, clen;
	int want_id, t, plain;

	if (nargs != 5 || !IS_TUPLE(args[3]) || PyTuple_Size(args[3]) != 3) {
		PyErr_SetString(PyExc_TypeError,
		                "capture_django(request, response, t0_ns, "
		                "(body, size, flags), want_id)");
		return NULL;
	}
	CHECK_CAPTURE(self);
	if (!self->dj_skip_keys) {
		PyErr_SetString(PyExc_RuntimeError, "django_setup() not called");
		return NULL;
	}
	mono = clock_ns(CLOCK_MONOTONIC);
	real = clock_ns(CLOCK_REALTIME);
	request = args[0];
	response = args[1];
	body = args[3];
	t0 = PyLong_AsLongLong(args[2]);
	if (t0 == -1 && PyErr_Occurred())
		return NULL;
	if ((want_id = PyObject_IsTrue(args[4])) < 0)
		return NULL;
	st = PyType_GetModuleState(Py_TYPE((PyObject *)self));
	otas_capture_init(&cap);

	/* A streaming response is counted as it streams: Python's. */
	if ((plain = plain_response(self, st, response)) < 0)
		goto fail;
	if (!plain) {
		if (!(o = PyObject_GetAttr(response, st->str_streaming)))
			goto fail;
		t = PyObject_IsTrue(o);
		Py_DECREF(o);
		if (t)
			goto slow_or_fail; /* t < 0: the error */
	}

	n = PyTuple_Size(self->dj_skip_keys);
	for (i = 0; i < n; i++) {
		t = opt_attr(request, PyTuple_GetItem(self->dj_skip_keys, i), &o);
		Py_XDECREF(o);
		if (t)
			goto slow_or_fail;
	}
	/* The user (_user_id() of middleware.py): an unevaluated lazy user
	 * is read only through the cache it fills once evaluated. */
	if ((t = opt_attr(request, st->str_user, &o)) < 0)
		goto fail;
	if (t && o != Py_None) {
		if (!self->dj_user_in_c) {
			Py_DECREF(o);
			goto slow;
		}
		if (Py_IS_TYPE(o, (PyTypeObject *)self->dj_lazy_type)) {
			Py_DECREF(o);
			if (opt_attr(request, st->str_cached_user, &o) < 0)
				goto fail;
		}
		if (o && o != Py_None) {
			t = django_user_pk(st, o, &uid);
			Py_DECREF(o);
			if (t < 0)
				goto fail;
			o = NULL;
		}
	}
	Py_XDECREF(o);
	/* The session key (the engine stores its hash). */
	if ((t = opt_attr(request, st->str_session, &o)) < 0)
		goto fail;
	if (t && o != Py_None) {
		skey = PyObject_GetAttr(o, st->str_session_key);
		if (!skey && swallow() < 0) {
			Py_DECREF(o);
			goto fail;
		}
	}
	Py_XDECREF(o);

	/* The request body: read by the middleware, else by the view. */
	req_body = Py_NewRef(PyTuple_GetItem(body, 0));
	cap.flags = x_int(PyTuple_GetItem(body, 2));
	cap.req_body_size = x_ll(PyTuple_GetItem(body, 1));
	if (PyErr_Occurred())
		goto fail;
	if (req_body == Py_None && cap.flags) {
		if ((t = opt_attr(request, st->str_body, &o)) < 0)
			goto fail;
		if (t && o != Py_None) {
			Py_SETREF_(req_body, o); /* o's reference */
			cap.flags = 0;
		} else {
			Py_XDECREF(o);
		}
	}

	/* The request: attributes Django sets on the instance. */
	if (!(method = PyObject_GetAttr(request, st->str_method)) ||
	    !(path = PyObject_GetAttr(request, st->str_path)) ||
	    !(rm = PyObject_GetAttr(request, st->str_resolver_match)) ||
	    !(meta = PyObject_GetAttr(request, st->str_meta)))
		goto fail;
	if (rm != Py_None && !(route = PyObject_GetAttr(rm, st->str_route)))
		goto fail;
	if (!IS_DICT(meta))
		goto slow;

	/* The response.  Not through response.__dict__: CPython 3.11+
	 * keeps instance attributes inline and would build that dict. */
	if (!(status = PyObject_GetAttr(response, st->str_status_code)) ||
	    !(headers = PyObject_GetAttr(response, st->str_headers)))
		goto fail;
	if (!(store = PyObject_GetAttr(headers, st->str_store))) {
		if (!PyErr_ExceptionMatches(PyExc_AttributeError))
			goto fail;
		PyErr_Clear();
		store = Py_NewRef(headers);
	}
	opt_str(method, &cap.method, &cap.method_len);
	if (cap.method_len == 4 && memcmp(cap.method, "HEAD", 4) == 0) {
		/* Servers send no body to a HEAD (Django's test client drops
		 * it): none is recorded, its size is 0 (middleware.py's
		 * _record() and the WSGI/ASGI adapters agree). */
		content = Py_NewRef(Py_None);
		clen = 0;
	} else {
		content = plain ? plain_content(st, response)
		                : PyObject_GetAttr(response, st->str_content);
		if (!content)
			goto fail;
		if ((clen = PyObject_Size(content)) < 0)
			goto fail;
	}

	cap.status = x_int(status);
	if (cap.status == -1 && PyErr_Occurred())
		goto fail;
	cap.resp_body_size = clen;
	cap.duration_ns = mono - t0;
	cap.start_unix_us = (real - cap.duration_ns) / 1000;
	opt_str(path, &cap.path, &cap.path_len);
	opt_str(route ? route : Py_None, &cap.route, &cap.route_len);
	if (fill_environ(st, meta, &cap, req_h, server_host,
	                 sizeof(server_host)) != 0)
		goto fail;
	cap.req_headers = req_h;
	cap.n_resp_headers = walk_headers(store, resp_h, MAX_HEADERS);
	cap.resp_headers = resp_h;
	opt_str(uid ? uid : Py_None, &cap.user_id, &cap.user_id_len);
	opt_str(skey ? skey : Py_None, &cap.session_token,
	        &cap.session_token_len);
	/* Every pointer in cap borrows from an object held here. */
	ret = capture_bodies(self, &cap, req_body, content, want_id);
	goto done;

slow_or_fail:
	if (PyErr_Occurred())
		goto fail;
slow:
	ret = Py_NewRef(Py_NotImplemented);
	goto done;
fail:
	ret = NULL;
done:
	Py_XDECREF(meta);
	Py_XDECREF(method);
	Py_XDECREF(path);
	Py_XDECREF(rm);
	Py_XDECREF(route);
	Py_XDECREF(status);
	Py_XDECREF(headers);
	Py_XDECREF(store);
	Py_XDECREF(content);
	Py_XDECREF(uid);
	Py_XDECREF(skey);
	Py_XDECREF(req_body);
	return ret;
}

static PyObject *
Engine_body_cap(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
	CHECK_OPEN(self);
	return PyLong_FromSize_t(otas_body_cap(self->eng));
}

/* Put v (a new reference, stolen; NULL = error) in d under key, or in the
 * sub-dict d[group] (made on first use) when group is not "top".  The
 * keys come out in the order of OTAS_STATS_FIELDS. */
static int
stats_put(PyObject *d, const char *group, const char *key, PyObject *v)
{
	PyObject *sub;
	int rc;

	if (!v)
		return -1;
	if (strcmp(group, "top") != 0) {
		sub = PyDict_GetItemString(d, group); /* borrowed */
		if (!sub) {
			sub = PyDict_New();
			if (!sub || PyDict_SetItemString(d, group, sub) != 0) {
				Py_XDECREF(sub);
				Py_DECREF(v);
				return -1;
			}
			Py_DECREF(sub); /* d holds it */
		}
		d = sub;
	}
	rc = PyDict_SetItemString(d, key, v);
	Py_DECREF(v);
	return rc;
}

/* stats() -> dict: every field of OTAS_STATS_FIELDS (otas.h), generated
 * from the table: counters and gauges as int, strings as str, the
 * "dropped" group as a nested dict. */
static PyObject *
Engine_stats(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
	otas_stats_t s = OTAS_STATS_INIT;
	PyObject *d;

	CHECK_CAPTURE(self); /* the null engine: every counter, 0 */
	otas_stats(self->eng, &s);
	d = PyDict_New();
	if (!d)
		return NULL;
#define C(name, group, key, doc)                                         \
	if (stats_put(d, #group, #key,                                    \
	              PyLong_FromUnsignedLongLong(                        \
	                  (unsigned long long)s.name)) != 0)              \
		goto fail;
#define G(name, type, group, key, doc)                                   \
	if (stats_put(d, #group, #key,                                    \
	              PyLong_FromLongLong((long long)s.name)) != 0)       \
		goto fail;
#define S(name, size, group, key, doc)                                   \
	if (stats_put(d, #group, #key,                                    \
	              PyUnicode_DecodeUTF8(s.name, strlen(s.name),        \
	                                   "replace")) != 0)              \
		goto fail;
	OTAS_STATS_FIELDS(C, G, S)
#undef C
#undef G
#undef S
	return d;
fail:
	Py_DECREF(d);
	return NULL;
}

static PyObject *
Engine_closed(EngineObject *self, void *Py_UNUSED(closure))
{
	return PyBool_FromLong(self->eng == NULL);
}

/* ------------------------------------------- the middleware's call in C */

/* django_caller(get_response, want_id, record, fail, no_body) -> callable
 *
 * The Django middleware's common case (capture_django() applies: no
 * hooks, filters, outgoing capture, async) as one C callable, so that a
 * request costs no Python frame of ours: caller(request) reads the
 * monotonic clock, reads the request body as the Python middleware would
 * (dj_read_body()), calls get_response(request) and captures as
 * capture_django() does.  It returns NotImplemented before the view for
 * what the Python middleware handles (runserver's empty CONTENT_LENGTH, a
 * META that is not a dict).  Like the Python path it replaces: an
 * exception from the view goes to record(request, None, body, t0_ns, exc)
 * and is raised again; capture_django()'s NotImplemented goes to
 * record(request, response, body, t0_ns); an Exception in the capture
 * calls fail() and the response is returned as it is; an event id is set
 * as the X-OTAS-Event-Id header.  body is no_body (None, 0, 0) when the
 * request has none.  With skip_prefixes (a tuple of str) and python (a
 * callable), a request whose path starts with one of the prefixes, and
 * whatever would return NotImplemented, is python(request)'s: the
 * callable is then the whole middleware (OtasMiddleware.__new__ hands it
 * to Django), with no Python frame of ours on the common path. */
typedef struct {
	PyObject_HEAD
	PyObject *engine, *get_response, *record, *fail, *no_body;
	PyObject *want_id; /* bool */
	/* django_caller()'s optional two: the paths not captured (a tuple
	 * of str prefixes, NULL: none) and the Python request path
	 * (callable(request) -> response) that serves them and whatever
	 * the C path leaves (NULL: return NotImplemented instead). */
	PyObject *skip_prefixes, *python;
} DjangoCallObject;

/* Does the request's path start with one of the skipped prefixes?  1, 0,
 * -1 with an exception set. */
static int
dj_skipped(DjangoCallObject *self, module_state *st, PyObject *request)
{
	PyObject *path;
	Py_ssize_t i, n = PyTuple_Size(self->skip_prefixes);
	int hit = 0;

	if (!(path = PyObject_GetAttr(request, st->str_path)))
		return -1;
	if (!IS_STR(path)) {
		Py_DECREF(path);
		return 1; /* not a str path: Python's to judge */
	}
	for (i = 0; i < n && !hit; i++) {
		Py_ssize_t t = PyUnicode_Tailmatch(
		    path, PyTuple_GetItem(self->skip_prefixes, i), 0,
		    PY_SSIZE_T_MAX, -1);
		if (t < 0) {
			Py_DECREF(path);
			return -1;
		}
		hit = t > 0;
	}
	Py_DECREF(path);
	return hit;
}

/* The request body before the view, as the Python middleware's
 * _request_body() reads it: META's CONTENT_LENGTH cl (a str, not "" and not
 * "0") as an int, the engine's want_request_body() (the null engine's rule:
 * 0..NULL_BODY_CAP bytes), then request.body, and META's wsgi.input
 * pointed at the stream Django now reads from.  A body that is not
 * wanted, or whose read fails with an Exception (RequestDataTooBig: the
 * view meets it as before), is (None, size, CAP_REQ_BODY_SKIPPED); a bad
 * length is no_body.  A new reference, NULL with an exception set. */
static PyObject *
dj_read_body(DjangoCallObject *self, module_state *st, PyObject *request,
             PyObject *meta, PyObject *cl)
{
	EngineObject *eng = (EngineObject *)self->engine;
	PyObject *size, *body, *o, *out;
	Py_ssize_t ct_len = 0;
	const char *ct = NULL;
	long long n;
	int want;

	if (!(size = PyNumber_Long(cl))) { /* int(cl) */
		if (!PyErr_ExceptionMatches(PyExc_ValueError))
			return NULL;
		PyErr_Clear();
		return Py_NewRef(self->no_body);
	}
	n = PyLong_AsLongLong(size);
	if (n == -1 && PyErr_Occurred()) {
		PyErr_Clear();
		n = -1; /* beyond long long: not wanted */
	}
	if ((o = PyDict_GetItemWithError(meta, st->str_content_type)) &&
	    o != Py_None && !(ct = str_utf8(o, &ct_len)))
		ct_len = 0;
	if (PyErr_Occurred())
		goto fail;
	if (eng->eng)
		want = otas_want_request_body(eng->eng, ct, (size_t)ct_len, n);
	else
		want = n >= 0 && n <= NULL_BODY_CAP;
	if (want) {
		if ((body = PyObject_GetAttr(request, st->str_body_attr))) {
			/* Django keeps the bytes in a BytesIO (_stream) it
			 * reads from now on: the view reads the same bytes. */
			int got = opt_attr(request, st->str_stream, &o);
			int bad = got < 0 ||
			          (got && o != Py_None &&
			           PyDict_SetItem(meta, st->str_wsgi_input, o) != 0);
			Py_XDECREF(o);
			if (bad) {
				Py_DECREF(body);
				if (!PyErr_ExceptionMatches(PyExc_Exception))
					goto fail;
				PyErr_Clear(); /* the body was read: keep it */
			}
			out = PyTuple_Pack(3, body, size, st->int_zero);
			Py_DECREF(body);
			Py_DECREF(size);
			return out;
		}
		if (swallow() < 0)
			goto fail;
	}
	out = PyTuple_Pack(3, Py_None, size, st->int_skipped);
	Py_DECREF(size);
	return out;
fail:
	Py_DECREF(size);
	return NULL;
}

static PyObject *
DjangoCall_call(DjangoCallObject *self, PyObject *args, PyObject *kwds)
{
	module_state *st;
	PyObject *request, *meta = NULL, *cl, *t0 = NULL, *response, *r;
	PyObject *body = NULL;
	PyObject *cargs[5];
	long long t0_ns;
	int t;

	if (kwds || PyTuple_Size(args) != 1) {
		PyErr_SetString(PyExc_TypeError, "caller(request)");
		return NULL;
	}
	request = PyTuple_GetItem(args, 0);
	t0_ns = clock_ns(CLOCK_MONOTONIC); /* time.perf_counter_ns()'s clock */
	st = PyType_GetModuleState(Py_TYPE((PyObject *)self));
	if (self->skip_prefixes && (t = dj_skipped(self, st, request)) != 0)
		goto python; /* a static file, or an error: Python's */
	meta = PyObject_GetAttr(request, st->str_meta);
	if (!meta || !IS_DICT(meta))
		goto python; /* an error, or a META to read in Python */
	cl = PyDict_GetItemWithError(meta, st->str_content_length);
	if (PyErr_Occurred())
		goto python;
	if (!cl) {
		body = Py_NewRef(self->no_body);
	} else if (!IS_STR(cl) || PyUnicode_GetLength(cl) == 0) {
		goto python; /* runserver's empty CONTENT_LENGTH: Python's */
	} else if ((t = PyObject_RichCompareBool(cl, st->str_zero, Py_EQ)) != 0) {
		if (t < 0)
			goto python;
		body = Py_NewRef(self->no_body);
	} else {
		Py_INCREF(cl); /* reading the body may change META */
		body = dj_read_body(self, st, request, meta, cl);
		Py_DECREF(cl);
		if (!body)
			goto error;
	}
	Py_CLEAR(meta);
	if (!(t0 = PyLong_FromLongLong(t0_ns)))
		goto error;
	response = PyObject_Call(self->get_response, args, NULL); /* (request,) */
	if (!response) {
		/* DEBUG_PROPAGATE_EXCEPTIONS or a middleware above Django's
		 * handler: the event is kept, the exception goes on. */
		PyObject *et, *ev, *etb;
		PyErr_Fetch(&et, &ev, &etb);
		PyErr_NormalizeException(&et, &ev, &etb);
		if (etb && ev)
			PyException_SetTraceback(ev, etb);
		r = PyObject_CallFunctionObjArgs(self->record, request, Py_None,
		                                 body, t0, ev ? ev : Py_None,
		                                 NULL);
		if (!r)
			PyErr_Clear(); /* the view's exception is the one */
		Py_XDECREF(r);
		PyErr_Restore(et, ev, etb); /* steals the three */
		Py_DECREF(t0);
		Py_DECREF(body);
		return NULL;
	}
	cargs[0] = request;
	cargs[1] = response;
	cargs[2] = t0;
	cargs[3] = body;
	cargs[4] = self->want_id;
	r = Engine_capture_django((EngineObject *)self->engine, cargs, 5);
	if (!r) {
		if (!PyErr_ExceptionMatches(PyExc_Exception))
			goto fail;
		PyErr_Clear();
		if (!(r = PyObject_CallNoArgs(self->fail)))
			goto fail;
		Py_DECREF(r);
		goto done;
	}
	if (r == Py_NotImplemented) {
		Py_DECREF(r);
		r = PyObject_CallFunctionObjArgs(self->record, request, response,
		                                 body, t0, NULL);
		if (!r)
			goto fail;
	} else if (r != Py_None &&
	           PyObject_SetItem(response, st->str_event_id_header, r) != 0) {
		Py_DECREF(r);
		goto fail;
	}
	Py_DECREF(r);
done:
	Py_DECREF(t0);
	Py_DECREF(body);
	return response;
fail:
	Py_DECREF(t0);
	Py_DECREF(body);
	Py_DECREF(response);
	return NULL;
python:
	Py_XDECREF(meta);
	if (PyErr_Occurred() && swallow() < 0)
		return NULL;
	if (self->python)
		return PyObject_CallFunctionObjArgs(self->python, request, NULL);
	Py_RETURN_NOTIMPLEMENTED;
error:
	Py_XDECREF(meta);
	Py_XDECREF(body);
	return NULL;
}

static int
DjangoCall_traverse(DjangoCallObject *self, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE((PyObject *)self));
	Py_VISIT(self->engine);
	Py_VISIT(self->get_response);
	Py_VISIT(self->record);
	Py_VISIT(self->fail);
	Py_VISIT(self->no_body);
	Py_VISIT(self->want_id);
	Py_VISIT(self->skip_prefixes);
	Py_VISIT(self->python);
	return 0;
}

static int
DjangoCall_clear(DjangoCallObject *self)
{
	Py_CLEAR(self->engine);
	Py_CLEAR(self->get_response);
	Py_CLEAR(self->record);
	Py_CLEAR(self->fail);
	Py_CLEAR(self->no_body);
	Py_CLEAR(self->want_id);
	Py_CLEAR(self->skip_prefixes);
	Py_CLEAR(self->python);
	return 0;
}

static void
DjangoCall_dealloc(DjangoCallObject *self)
{
	PyTypeObject *tp = Py_TYPE((PyObject *)self);
	freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);

	PyObject_GC_UnTrack(self);
	DjangoCall_clear(self);
	tp_free(self);
	Py_DECREF(tp); /* heap type: instances own a reference */
}

static PyType_Slot DjangoCall_slots[] = {
    {Py_tp_call, DjangoCall_call},
    {Py_tp_dealloc, DjangoCall_dealloc},
    {Py_tp_traverse, DjangoCall_traverse},
    {Py_tp_clear, DjangoCall_clear},
    {Py_tp_doc, "the Django middleware's request path (Engine.django_caller)"},
    {0, NULL}};

static PyType_Spec DjangoCall_spec = {
    .name = "otas._engine.DjangoCall",
    .basicsize = sizeof(DjangoCallObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = DjangoCall_slots,
};

static PyObject *
Engine_django_caller(EngineObject *self, PyObject *const *args,
                     Py_ssize_t nargs)
{
	module_state *st;
	DjangoCallObject *c;
	int want_id;

	if ((nargs != 5 && nargs != 7) || !IS_TUPLE(args[4]) ||
	    PyTuple_Size(args[4]) != 3 || !PyCallable_Check(args[0]) ||
	    !PyCallable_Check(args[2]) || !PyCallable_Check(args[3]) ||
	    (nargs == 7 && (!IS_TUPLE(args[5]) || !PyCallable_Check(args[6])))) {
		PyErr_SetString(PyExc_TypeError,
		                "django_caller(get_response, want_id, record, "
		                "fail, no_body: (body, size, flags)[, "
		                "skip_prefixes: tuple, python])");
		return NULL;
	}
	if (nargs == 7) {
		Py_ssize_t i, n = PyTuple_Size(args[5]);
		for (i = 0; i < n; i++)
			if (!IS_STR(PyTuple_GetItem(args[5], i))) {
				PyErr_SetString(PyExc_TypeError,
				                "skip_prefixes: a tuple of str");
				return NULL;
			}
	}
	CHECK_CAPTURE(self);
	if (!self->dj_skip_keys) {
		PyErr_SetString(PyExc_RuntimeError, "django_setup() not called");
		return NULL;
	}
	if ((want_id = PyObject_IsTrue(args[1])) < 0)
		return NULL;
	st = PyType_GetModuleState(Py_TYPE((PyObject *)self));
	c = (DjangoCallObject *)PyType_GenericAlloc(st->djcall_type, 0);
	if (!c)
		return NULL;
	/* Strong references, released in DjangoCall_clear. */
	c->engine = Py_NewRef((PyObject *)self);
	c->get_response = Py_NewRef(args[0]);
	c->want_id = Py_NewRef(want_id ? Py_True : Py_False);
	c->record = Py_NewRef(args[2]);
	c->fail = Py_NewRef(args[3]);
	c->no_body = Py_NewRef(args[4]);
	if (nargs == 7) {
		c->skip_prefixes = PyTuple_Size(args[5]) ? Py_NewRef(args[5])
		                                         : NULL;
		c->python = Py_NewRef(args[6]);
	}
	return (PyObject *)c;
}

static PyMethodDef Engine_methods[] = {
    {"capture", (PyCFunction)(void (*)(void))Engine_capture, METH_FASTCALL,
     "capture(exchange, want_id=False) -> event id | None: copy one "
     "Exchange into the engine's queue."},
    {"capture_django", (PyCFunction)(void (*)(void))Engine_capture_django,
     METH_FASTCALL,
     "capture_django(request, response, t0_ns, (body, size, flags), "
     "want_id) -> event id | None | NotImplemented: the Django "
     "middleware's capture in one call."},
    {"django_caller", (PyCFunction)(void (*)(void))Engine_django_caller,
     METH_FASTCALL,
     "django_caller(get_response, want_id, record, fail, no_body[, "
     "skip_prefixes, python]): the middleware's request path as one C "
     "callable (see _engine.pyi)."},
    {"django_setup", (PyCFunction)(void (*)(void))Engine_django_setup,
     METH_FASTCALL,
     "django_setup(lazy_type, skip_keys, user_in_c): once, before "
     "capture_django()."},
    {"want_request_body",
     (PyCFunction)(void (*)(void))Engine_want_request_body, METH_FASTCALL,
     "Whether to read a request body of this type and length."},
    {"authenticate", (PyCFunction)Engine_authenticate, METH_O,
     "authenticate(timeout_ms) -> (status, http_status, message, "
     "project_id, project_name, project_description)"},
    {"flush", (PyCFunction)Engine_flush, METH_O,
     "flush(timeout_ms) -> bool: everything delivered or spooled"},
    {"close", (PyCFunction)Engine_close, METH_O,
     "close(timeout_ms): flush, spool the rest, stop the sender"},
    {"stats", (PyCFunction)Engine_stats, METH_NOARGS, "counters as a dict"},
    {"body_cap", (PyCFunction)Engine_body_cap, METH_NOARGS,
     "bytes of a body the engine keeps (0: bodies are not captured)"},
    {"should_capture", (PyCFunction)(void (*)(void))Engine_should_capture,
     METH_FASTCALL, "should_capture(method, path) -> bool"},
    {"new_event_id", (PyCFunction)Engine_new_event_id, METH_NOARGS,
     "new_event_id() -> a UUIDv7 str for an Exchange's event_id"},
    {"entity", (PyCFunction)(void (*)(void))Engine_entity, METH_FASTCALL,
     "entity(kind, json) -> bool queued"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Engine_getset[] = {
    {"closed", (getter)Engine_closed, NULL, "True once closed", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot Engine_slots[] = {
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Engine_init},
    {Py_tp_dealloc, Engine_dealloc},
    {Py_tp_traverse, Engine_traverse},
    {Py_tp_clear, Engine_clear},
    {Py_tp_methods, Engine_methods},
    {Py_tp_getset, Engine_getset},
    {Py_tp_doc, "Engine(options: dict[str, str], log=None, log_level=30)"},
    {0, NULL}};

static PyType_Spec Engine_spec = {
    .name = "otas._engine.Engine",
    .basicsize = sizeof(EngineObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Engine_slots,
};

/* ------------------------------------------------------- module functions */

static PyObject *
mod_authenticate_key(PyObject *module, PyObject *args)
{
	const char *url, *key;
	int timeout_ms;
	otas_auth_result_t r = OTAS_AUTH_RESULT_INIT;
	otas_auth_status_t st;

	if (!PyArg_ParseTuple(args, "ssi", &url, &key, &timeout_ms))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	st = otas_authenticate_key(url, key, timeout_ms, &r);
	Py_END_ALLOW_THREADS
	return auth_result_tuple(st, &r);
}

/* check_options(dict) -> None, or ValueError naming the option and fix. */
static PyObject *
mod_check_options(PyObject *module, PyObject *options)
{
	otas_config_t *cfg = otas_config_new();
	int rc;

	if (!cfg)
		return PyErr_NoMemory();
	rc = fill_config(cfg, options);
	otas_config_free(cfg);
	if (rc != 0)
		return NULL;
	Py_RETURN_NONE;
}

/* option_defaults() -> {name: default value} for every option. */
static PyObject *
mod_option_defaults(PyObject *module, PyObject *Py_UNUSED(ignored))
{
	const char *const *names = otas_config_names();
	otas_config_t *cfg = otas_config_new();
	PyObject *d;
	char buf[1024];

	if (!cfg)
		return PyErr_NoMemory();
	d = PyDict_New();
	for (; d && *names; names++) {
		PyObject *v;
		if (otas_config_get(cfg, *names, buf, sizeof buf) != 0)
			buf[0] = '\0';
		v = PyUnicode_DecodeUTF8(buf, strlen(buf), "replace");
		if (!v || PyDict_SetItemString(d, *names, v) != 0) {
			Py_XDECREF(v);
			Py_CLEAR(d);
			break;
		}
		Py_DECREF(v);
	}
	otas_config_free(cfg);
	return d;
}

/* option_types() -> {name: type} for every option, the type as the
 * lower-case name of its otas_option_type_t ("bool", "secret", ...). */
static PyObject *
mod_option_types(PyObject *module, PyObject *Py_UNUSED(ignored))
{
	static const char *const type_names[] = {
	    "string", "sdk_key", "secret", "url", "rules", "bool", "int",
	    "size"};
	const char *const *names = otas_config_names();
	PyObject *d = PyDict_New();

	for (; d && *names; names++) {
		otas_option_type_t t = otas_config_type(*names);
		PyObject *v;
		if (t < 0 || (size_t)t >= sizeof(type_names) / sizeof(*type_names))
			v = PyUnicode_FromString("unknown");
		else
			v = PyUnicode_FromString(type_names[t]);
		if (!v || PyDict_SetItemString(d, *names, v) != 0) {
			Py_XDECREF(v);
			Py_CLEAR(d);
			break;
		}
		Py_DECREF(v);
	}
	return d;
}

static PyMethodDef module_methods[] = {
    {"authenticate_key", mod_authenticate_key, METH_VARARGS,
     "authenticate_key(auth_url, key, timeout_ms) -> tuple"},
    {"check_options", mod_check_options, METH_O,
     "check_options(dict): raise ValueError for a bad option"},
    {"option_defaults", mod_option_defaults, METH_NOARGS,
     "option_defaults() -> {name: default}"},
    {"option_types", mod_option_types, METH_NOARGS,
     "option_types() -> {name: type}, e.g. \"bool\", \"secret\""},
    {NULL, NULL, 0, NULL}};

static int
module_exec(PyObject *m)
{
	module_state *st = get_state(m);

	find_is_finalizing();
	st->engine_type =
	    (PyTypeObject *)PyType_FromModuleAndSpec(m, &Engine_spec, NULL);
	if (!st->engine_type)
		return -1;
	if (PyModule_AddType(m, st->engine_type) != 0)
		return -1;
	st->exchange_type =
	    (PyTypeObject *)PyType_FromModuleAndSpec(m, &Exchange_spec, NULL);
	if (!st->exchange_type)
		return -1;
	if (PyModule_AddType(m, st->exchange_type) != 0)
		return -1;
	st->str_request_method = PyUnicode_InternFromString("REQUEST_METHOD");
	st->str_query_string = PyUnicode_InternFromString("QUERY_STRING");
	st->str_remote_addr = PyUnicode_InternFromString("REMOTE_ADDR");
	st->str_url_scheme = PyUnicode_InternFromString("wsgi.url_scheme");
	if (!st->str_request_method || !st->str_query_string ||
	    !st->str_remote_addr || !st->str_url_scheme)
		return -1;
#define INTERN(field, text) \
	do { \
		if (!(st->field = PyUnicode_InternFromString(text))) \
			return -1; \
	} while (0)
	INTERN(str_dict, "__dict__");
	INTERN(str_method, "method");
	INTERN(str_path, "path");
	INTERN(str_resolver_match, "resolver_match");
	INTERN(str_route, "route");
	INTERN(str_meta, "META");
	INTERN(str_status_code, "status_code");
	INTERN(str_headers, "headers");
	INTERN(str_store, "_store");
	INTERN(str_streaming, "streaming");
	INTERN(str_content, "content");
	INTERN(str_container, "_container");
	INTERN(str_user, "user");
	INTERN(str_cached_user, "_cached_user");
	INTERN(str_session, "session");
	INTERN(str_session_key, "session_key");
	INTERN(str_is_authenticated, "is_authenticated");
	INTERN(str_pk, "pk");
	INTERN(str_body, "_body");
	INTERN(str_content_length, "CONTENT_LENGTH");
	INTERN(str_zero, "0");
	INTERN(str_event_id_header, "X-OTAS-Event-Id");
	INTERN(str_content_type, "CONTENT_TYPE");
	INTERN(str_body_attr, "body");
	INTERN(str_stream, "_stream");
	INTERN(str_wsgi_input, "wsgi.input");
#undef INTERN
	if (!(st->int_zero = PyLong_FromLong(0)) ||
	    !(st->int_skipped = PyLong_FromLong(OTAS_CAP_REQ_BODY_SKIPPED)))
		return -1;
	st->djcall_type =
	    (PyTypeObject *)PyType_FromModuleAndSpec(m, &DjangoCall_spec, NULL);
	if (!st->djcall_type)
		return -1;
	if (PyModule_AddStringConstant(m, "VERSION", otas_version()) != 0)
		return -1;
	if (PyModule_AddIntConstant(m, "CAP_RESP_STREAMING",
	                            OTAS_CAP_RESP_STREAMING) != 0 ||
	    PyModule_AddIntConstant(m, "CAP_REQ_BODY_SKIPPED",
	                            OTAS_CAP_REQ_BODY_SKIPPED) != 0 ||
	    PyModule_AddIntConstant(m, "CAP_OUTGOING", OTAS_CAP_OUTGOING) != 0)
		return -1;
	if (PyModule_AddIntConstant(m, "AUTH_OK", OTAS_AUTH_OK) != 0 ||
	    PyModule_AddIntConstant(m, "AUTH_INVALID_KEY",
	                            OTAS_AUTH_INVALID_KEY) != 0 ||
	    PyModule_AddIntConstant(m, "AUTH_UNREACHABLE",
	                            OTAS_AUTH_UNREACHABLE) != 0 ||
	    PyModule_AddIntConstant(m, "AUTH_CONFIG", OTAS_AUTH_CONFIG) != 0)
		return -1;
	if (PyModule_AddIntConstant(m, "ENTITY_USER", OTAS_ENTITY_USER) != 0 ||
	    PyModule_AddIntConstant(m, "ENTITY_COMPANY",
	                            OTAS_ENTITY_COMPANY) != 0 ||
	    PyModule_AddIntConstant(m, "ENTITY_SUBSCRIPTION",
	                            OTAS_ENTITY_SUBSCRIPTION) != 0)
		return -1;
	return 0;
}

static int
module_traverse(PyObject *m, visitproc visit, void *arg)
{
	module_state *st = get_state(m);

	Py_VISIT(st->engine_type);
	Py_VISIT(st->exchange_type);
	Py_VISIT(st->djcall_type);
	return 0;
}

static int
module_clear(PyObject *m)
{
	module_state *st = get_state(m);

	Py_CLEAR(st->engine_type);
	Py_CLEAR(st->exchange_type);
	Py_CLEAR(st->djcall_type);
	Py_CLEAR(st->str_content_length);
	Py_CLEAR(st->str_zero);
	Py_CLEAR(st->str_event_id_header);
	Py_CLEAR(st->str_content_type);
	Py_CLEAR(st->str_body_attr);
	Py_CLEAR(st->str_stream);
	Py_CLEAR(st->str_wsgi_input);
	Py_CLEAR(st->int_zero);
	Py_CLEAR(st->int_skipped);
	Py_CLEAR(st->str_request_method);
	Py_CLEAR(st->str_query_string);
	Py_CLEAR(st->str_remote_addr);
	Py_CLEAR(st->str_url_scheme);
	Py_CLEAR(st->str_dict);
	Py_CLEAR(st->str_method);
	Py_CLEAR(st->str_path);
	Py_CLEAR(st->str_resolver_match);
	Py_CLEAR(st->str_route);
	Py_CLEAR(st->str_meta);
	Py_CLEAR(st->str_status_code);
	Py_CLEAR(st->str_headers);
	Py_CLEAR(st->str_store);
	Py_CLEAR(st->str_streaming);
	Py_CLEAR(st->str_content);
	Py_CLEAR(st->str_container);
	Py_CLEAR(st->str_user);
	Py_CLEAR(st->str_cached_user);
	Py_CLEAR(st->str_session);
	Py_CLEAR(st->str_session_key);
	Py_CLEAR(st->str_is_authenticated);
	Py_CLEAR(st->str_pk);
	Py_CLEAR(st->str_body);
	return 0;
}

static void
module_free(void *m)
{
	module_clear((PyObject *)m);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL}};

static struct PyModuleDef engine_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "otas._engine",
    .m_doc = "Private binding of the OTAS C engine; use the otas package.",
    .m_size = sizeof(module_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__engine(void)
{
	return PyModuleDef_Init(&engine_module);
}

/*
 * fake_server.c -- see fake_server.h.
 */
#include "fake_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/gunzip.h"

#define MAX_CONN 64
#define MAX_REQ 4096

struct fs_s {
	int lfd;
	int port;
	char url[64];
	pthread_t acceptor;
	pthread_t conns[MAX_CONN];
	int n_conns;
	atomic_int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	fs_reply_t script[64];
	size_t n_script, script_pos;
	int no_batch;
	int auth_status, auth_times;
	int log_status;
	fs_req_t reqs[MAX_REQ];
	size_t n_reqs, n_events, n_auth;
};

typedef struct {
	fs_t *fs;
	int fd;
} conn_arg_t;

static int
read_some(fs_t *fs, int fd, char *buf, size_t cap, size_t *len)
{
	struct pollfd p = {fd, POLLIN, 0};
	ssize_t n;

	for (;;) {
		if (fs->stop)
			return -1;
		if (poll(&p, 1, 100) == 0)
			continue;
		n = read(fd, buf + *len, cap - *len);
		if (n <= 0)
			return -1;
		*len += (size_t)n;
		return 0;
	}
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int
count_events(const char *body, size_t len)
{
	json_t *o = json_loadb(body, len, 0, NULL), *ev;
	int n = -1;

	if (o && (ev = json_object_get(o, "events")) && json_is_array(ev))
		n = (int)json_array_size(ev);
	json_decref(o);
	return n;
}

static void *
conn_main(void *arg)
{
	conn_arg_t *ca = arg;
	fs_t *fs = ca->fs;
	int fd = ca->fd;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);

	free(ca);
	while (buf) {
		char *end, *line, *hdrs, *p;
		size_t hlen, clen = 0, need;
		fs_req_t req;
		fs_reply_t rep;
		int gz = 0, is_auth, is_batch, st;
		char out[2048], body[1024];

		buf[len] = '\0';
		while (!(end = strstr(buf, "\r\n\r\n"))) {
			if (len + 1 >= cap || read_some(fs, fd, buf, cap - 1, &len))
				goto done;
			buf[len] = '\0';
		}
		hlen = (size_t)(end - buf) + 4;
		memset(&req, 0, sizeof(req));
		line = buf;
		sscanf(line, "%15s %255s", req.method, req.path);
		hdrs = calloc(1, hlen + 1);
		if (!hdrs)
			goto done;
		req.headers = hdrs;
		for (p = strstr(buf, "\r\n") + 2; p < end;) {
			char *e = strstr(p, "\r\n"), *c, *d = hdrs + strlen(hdrs);
			c = memchr(p, ':', (size_t)(e - p));
			if (c) {
				char *q;
				for (q = p; q < c; q++)
					*d++ = (char)tolower((unsigned char)*q);
				*d++ = ':';
				for (q = c + 1; q < e; q++)
					*d++ = *q;
				*d++ = '\n';
				if (strncasecmp(p, "content-length:", 15) == 0)
					clen = strtoul(c + 1, NULL, 10);
				if (strncasecmp(p, "content-encoding:", 17) == 0 &&
				    strstr(c, "gzip") && strstr(c, "gzip") < e)
					gz = 1;
			}
			p = e + 2;
		}
		need = hlen + clen;
		if (need + 1 > cap)
			goto done;
		while (len < need)
			if (read_some(fs, fd, buf, cap - 1, &len))
				goto done;
		if (gz) {
			otas__buf_t b = OTAS__BUF_INIT;
			int cut;
			otas__gunzip_prefix(buf + hlen, clen, 64 << 20, &b, &cut);
			req.body = otas__buf_steal(&b, &req.body_len);
		} else {
			req.body = malloc(clen + 1);
			memcpy(req.body, buf + hlen, clen);
			req.body[clen] = '\0';
			req.body_len = clen;
		}
		memmove(buf, buf + need, len - need);
		len -= need;

		is_auth = strstr(req.path, "/key/authenticate/") != NULL;
		is_batch = strstr(req.path, "/log/sdk/batch/") != NULL;
		memset(&rep, 0, sizeof(rep));
		pthread_mutex_lock(&fs->mu);
		if (is_auth) {
			fs->n_auth++;
			if (fs->auth_times > 0) {
				rep.status = fs->auth_status;
				fs->auth_times--;
			}
			free(req.headers);
			free(req.body);
		} else {
			if (fs->script_pos < fs->n_script)
				rep = fs->script[fs->script_pos++];
			else if (fs->log_status)
				rep.status = fs->log_status;
			if (!rep.status && is_batch && fs->no_batch)
				rep.status = 404;
			req.n_events = is_batch ? count_events(req.body,
			                                       req.body_len)
			                        : 1;
			if (fs->n_reqs < MAX_REQ) {
				fs->reqs[fs->n_reqs++] = req;
				/* Count only what the server accepted. */
				if (!rep.reset && (rep.status == 0 ||
				                   (rep.status >= 200 &&
				                    rep.status < 300)))
					fs->n_events += (size_t)(req.n_events > 0
					                             ? req.n_events
					                             : 0);
			} else {
				free(req.headers);
				free(req.body);
			}
			pthread_cond_broadcast(&fs->cv);
		}
		pthread_mutex_unlock(&fs->mu);
		if (rep.delay_ms)
			sleep_ms(rep.delay_ms);
		if (rep.reset) {
			struct linger lg = {1, 0};
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			goto done;
		}
		st = rep.status;
		if (rep.body[0]) {
			snprintf(body, sizeof(body), "%s", rep.body);
		} else if (is_auth && (st == 0 || st == 200)) {
			st = 200;
			snprintf(body, sizeof(body),
			         "{\"status\":1,\"status_description\":"
			         "\"authenticated\",\"response\":{\"project\":"
			         "{\"id\":\"proj-1\",\"name\":\"P\","
			         "\"description\":\"D\"}}}");
		} else if (is_auth) {
			snprintf(body, sizeof(body), "{\"error\":\"%s\"}",
			         st == 403 ? "Invalid SDK Key" : "server fault");
		} else if (st == 0 && is_batch) {
			st = 200;
			snprintf(body, sizeof(body),
			         "{\"status\":1,\"status_description\":"
			         "\"batch_captured\",\"accepted\":%d,"
			         "\"duplicates\":0,\"rejected\":[]}",
			         req.n_events);
		} else if (st == 0) {
			st = 201;
			snprintf(body, sizeof(body),
			         "{\"status\":1,\"status_description\":"
			         "\"event_captured\",\"response\":{}}");
		} else {
			snprintf(body, sizeof(body),
			         "{\"status\":0,\"status_description\":\"%s\"}",
			         st == 401 ? "invalid_sdk_key" : "error");
		}
		snprintf(out, sizeof(out),
		         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		         "Content-Length: %zu\r\n%s\r\n%s",
		         st, strlen(body), rep.headers, body);
		write_all(fd, out, strlen(out));
	}
done:
	free(buf);
	close(fd);
	return NULL;
}

static void *
accept_main(void *arg)
{
	fs_t *fs = arg;
	struct pollfd p = {fs->lfd, POLLIN, 0};

	while (!fs->stop) {
		int fd;
		conn_arg_t *ca;

		if (poll(&p, 1, 100) <= 0)
			continue;
		fd = accept(fs->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		ca = malloc(sizeof(*ca));
		ca->fs = fs;
		ca->fd = fd;
		pthread_mutex_lock(&fs->mu);
		if (fs->n_conns < MAX_CONN &&
		    pthread_create(&fs->conns[fs->n_conns], NULL, conn_main,
		                   ca) == 0) {
			fs->n_conns++;
		} else {
			close(fd);
			free(ca);
		}
		pthread_mutex_unlock(&fs->mu);
	}
	return NULL;
}

fs_t *
fs_start(void)
{
	fs_t *fs = calloc(1, sizeof(*fs));
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int one = 1;

	pthread_mutex_init(&fs->mu, NULL);
	pthread_cond_init(&fs->cv, NULL);
	fs->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fs->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fs->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fs->lfd, 64) != 0) {
		close(fs->lfd);
		free(fs);
		return NULL;
	}
	getsockname(fs->lfd, (struct sockaddr *)&a, &al);
	fs->port = ntohs(a.sin_port);
	snprintf(fs->url, sizeof(fs->url), "http://127.0.0.1:%d", fs->port);
	pthread_create(&fs->acceptor, NULL, accept_main, fs);
	return fs;
}

void
fs_stop(fs_t *fs)
{
	int i;
	size_t k;

	if (!fs)
		return;
	fs->stop = 1;
	pthread_join(fs->acceptor, NULL);
	for (i = 0; i < fs->n_conns; i++)
		pthread_join(fs->conns[i], NULL);
	close(fs->lfd);
	for (k = 0; k < fs->n_reqs; k++)
		fs_req_free(&fs->reqs[k]);
	pthread_mutex_destroy(&fs->mu);
	pthread_cond_destroy(&fs->cv);
	free(fs);
}

int
fs_port(fs_t *fs)
{
	return fs->port;
}

const char *
fs_url(fs_t *fs)
{
	return fs->url;
}

void
fs_script(fs_t *fs, const fs_reply_t *r, size_t n)
{
	pthread_mutex_lock(&fs->mu);
	memcpy(fs->script, r, n * sizeof(*r));
	fs->n_script = n;
	fs->script_pos = 0;
	pthread_mutex_unlock(&fs->mu);
}

void
fs_no_batch(fs_t *fs, int on)
{
	pthread_mutex_lock(&fs->mu);
	fs->no_batch = on;
	pthread_mutex_unlock(&fs->mu);
}

void
fs_auth_status(fs_t *fs, int status, int times)
{
	pthread_mutex_lock(&fs->mu);
	fs->auth_status = status;
	fs->auth_times = times;
	pthread_mutex_unlock(&fs->mu);
}

void
fs_log_status(fs_t *fs, int status)
{
	pthread_mutex_lock(&fs->mu);
	fs->log_status = status;
	pthread_mutex_unlock(&fs->mu);
}

size_t
fs_count(fs_t *fs)
{
	size_t n;
	pthread_mutex_lock(&fs->mu);
	n = fs->n_reqs;
	pthread_mutex_unlock(&fs->mu);
	return n;
}

size_t
fs_events(fs_t *fs)
{
	size_t n;
	pthread_mutex_lock(&fs->mu);
	n = fs->n_events;
	pthread_mutex_unlock(&fs->mu);
	return n;
}

size_t
fs_auth_count(fs_t *fs)
{
	size_t n;
	pthread_mutex_lock(&fs->mu);
	n = fs->n_auth;
	pthread_mutex_unlock(&fs->mu);
	return n;
}

int
fs_get(fs_t *fs, size_t i, fs_req_t *out)
{
	int ok = 0;

	pthread_mutex_lock(&fs->mu);
	if (i < fs->n_reqs) {
		*out = fs->reqs[i];
		out->headers = strdup(fs->reqs[i].headers);
		out->body = malloc(out->body_len + 1);
		memcpy(out->body, fs->reqs[i].body, out->body_len);
		out->body[out->body_len] = '\0';
		ok = 1;
	}
	pthread_mutex_unlock(&fs->mu);
	return ok;
}

void
fs_req_free(fs_req_t *r)
{
	free(r->headers);
	free(r->body);
	r->headers = r->body = NULL;
}

char *
fs_header(const fs_req_t *r, const char *name)
{
	size_t n = strlen(name);
	const char *p = r->headers;

	while (p && *p) {
		const char *e = strchr(p, '\n');
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			while (*v == ' ')
				v++;
			return strndup(v, (size_t)(e - v));
		}
		p = e ? e + 1 : NULL;
	}
	return NULL;
}

int
fs_wait_events(fs_t *fs, size_t n, int timeout_ms)
{
	struct timespec ts;
	int ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&fs->mu);
	while (fs->n_events < n)
		if (pthread_cond_timedwait(&fs->cv, &fs->mu, &ts) != 0)
			break;
	ok = fs->n_events >= n;
	pthread_mutex_unlock(&fs->mu);
	return ok;
}

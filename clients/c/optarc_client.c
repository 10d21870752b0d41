/*
 * optarc_client.c -- see optarc_client.h.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "optarc_client.h"

static const char *const STATUS_NAMES[] = {
	"OPTARC_OK",
	"OPTARC_BUSY",
	"OPTARC_VERSION_MISMATCH",
	"OPTARC_NO_SESSION",
	"OPTARC_LEASE_EXPIRED",
	"OPTARC_ACCESS_DENIED",
	"OPTARC_BAD_NAME",
	"OPTARC_NOT_FOUND",
	"OPTARC_EXISTS",
	"OPTARC_NOT_DIR",
	"OPTARC_IS_DIR",
	"OPTARC_NOT_EMPTY",
	"OPTARC_QUOTA_EXCEEDED",
	"OPTARC_NO_SPACE",
	"OPTARC_SIZE_MISMATCH",
	"OPTARC_CHECKSUM_MISMATCH",
	"OPTARC_COMMITTED",
	"OPTARC_BAD_COOKIE",
	"OPTARC_BAD_ARGUMENT",
	"OPTARC_NOT_AVAILABLE",
	"OPTARC_NO_SUCH_JOB",
	"OPTARC_NO_SUCH_DRIVE",
	"OPTARC_NO_MEDIUM",
	"OPTARC_IO_ERROR",
	"OPTARC_NOT_READY",
	"OPTARC_EXPIRED",
	"OPTARC_NO_SOURCE",
	"OPTARC_CORRUPT"
};

const char *oc_status_name(optarc_status s)
{
	static char other[32];
	if ((unsigned)s < sizeof STATUS_NAMES / sizeof STATUS_NAMES[0])
		return STATUS_NAMES[s];
	sprintf(other, "status %d", (int)s);
	return other;
}

int oc_parse_common(struct oc_options *o, int argc, char **argv, int i)
{
	const char *a = argv[i];
	const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
	char *end;
	unsigned long n;

	if (strcmp(a, "--auth-sys") == 0) {
		o->auth_sys = 1;
		return 1;
	}
	if (strcmp(a, "--port") != 0 && strcmp(a, "--bufsize") != 0 && strcmp(a, "--client") != 0)
		return 0;
	if (v == NULL)
		return -1;
	if (strcmp(a, "--client") == 0) {
		if (*v == '\0' || strlen(v) > OPTARC_MAX_HOST)
			return -1;
		o->client = v;
		return 2;
	}
	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0)
		return -1;
	if (strcmp(a, "--port") == 0) {
		if (n < 1 || n > 65535)
			return -1;
		o->port = (int)n;
	} else {
		if (n > 64UL * 1024 * 1024)
			return -1;
		o->bufsize = (unsigned int)n;
	}
	return 2;
}

static int resolve_ipv4(const char *host, struct in_addr *out)
{
	struct addrinfo hints, *res = NULL;

	if (inet_pton(AF_INET, host, out) == 1)
		return 0;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return -1;
	*out = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

static void strip_newline(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

int oc_connect(struct oc_conn *c, const char *prog, const struct oc_options *o)
{
	struct timeval tv;
	char msg[512];

	memset(c, 0, sizeof *c);
	c->prog = prog;
	c->host = o->host;
	if (o->port < 0) {
		/* the agent's port from the portmapper on port 111 (rpcbind GETADDR, or portmap GETPORT) */
		c->cl = clnt_create((char *)o->host, OPTARC_PROG, OPTARC_V1, "tcp");
		if (c->cl == NULL) {
			snprintf(msg, sizeof msg, "%s", clnt_spcreateerror((char *)o->host));
			strip_newline(msg);
			fprintf(stderr, "%s: %s\n", prog, msg);
			return EXIT_RPC;
		}
	} else {
		struct sockaddr_in sin;
		int sock = RPC_ANYSOCK;
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons((unsigned short)o->port);
		if (resolve_ipv4(o->host, &sin.sin_addr) < 0) {
			fprintf(stderr, "%s: %s: cannot resolve the host name\n", prog, o->host);
			return EXIT_RPC;
		}
		c->cl = clnttcp_create(&sin, OPTARC_PROG, OPTARC_V1, &sock, o->bufsize, o->bufsize);
		if (c->cl == NULL) {
			snprintf(msg, sizeof msg, "%s", clnt_spcreateerror((char *)o->host));
			strip_newline(msg);
			fprintf(stderr, "%s: %s\n", prog, msg);
			return EXIT_RPC;
		}
		/* the socket is the client's: clnt_destroy closes it */
		clnt_control(c->cl, CLSET_FD_CLOSE, NULL);
	}
	tv.tv_sec = OC_TIMEOUT_SECONDS;
	tv.tv_usec = 0;
	clnt_control(c->cl, CLSET_TIMEOUT, (char *)&tv);
	if (o->auth_sys) {
		AUTH *a = authunix_create_default();
		if (a == NULL) {
			fprintf(stderr, "%s: cannot make AUTH_SYS credentials\n", prog);
			clnt_destroy(c->cl);
			c->cl = NULL;
			return EXIT_RPC;
		}
		auth_destroy(c->cl->cl_auth);
		c->cl->cl_auth = a;
	}
	return EXIT_OK;
}

enum clnt_stat oc_call(struct oc_conn *c, u_long proc, xdrproc_t xargs, void *args, xdrproc_t xres, void *res)
{
	struct timeval tv;
	tv.tv_sec = OC_TIMEOUT_SECONDS;
	tv.tv_usec = 0;
	return clnt_call(c->cl, proc, xargs, (caddr_t)args, xres, (caddr_t)res, tv);
}

int oc_rpc_error(struct oc_conn *c, const char *what, enum clnt_stat st)
{
	char msg[512];
	(void)st;
	snprintf(msg, sizeof msg, "%s", clnt_sperror(c->cl, (char *)what));
	strip_newline(msg);
	fprintf(stderr, "%s: %s\n", c->prog, msg);
	return EXIT_RPC;
}

static void hex(const char *bytes, char *out)
{
	static const char digits[] = "0123456789abcdef";
	int i;
	for (i = 0; i < OPTARC_SHA256_SIZE; i++) {
		out[2 * i] = digits[(unsigned char)bytes[i] >> 4];
		out[2 * i + 1] = digits[(unsigned char)bytes[i] & 15];
	}
	out[2 * OPTARC_SHA256_SIZE] = '\0';
}

int oc_failure(struct oc_conn *c, const char *what, optarc_status st, const optarc_fail *f)
{
	const char *message = (f && f->message && *f->message) ? f->message : "(no message)";
	fprintf(stderr, "%s: %s: %s: %s\n", c->prog, what, oc_status_name(st), message);
	if (f && f->detail.status == st) {
		const optarc_detail *d = &f->detail;
		char e[65], a[65];
		switch (st) {
		case OPTARC_BUSY:
			fprintf(stderr, "%s: %s: detail: held by client %s on %s since %lld\n", c->prog, what,
				d->optarc_detail_u.busy.client, d->optarc_detail_u.busy.holder,
				(long long)d->optarc_detail_u.busy.since.seconds);
			break;
		case OPTARC_VERSION_MISMATCH:
			fprintf(stderr, "%s: %s: detail: the agent speaks protocol %u to %u, this client %u\n", c->prog, what,
				d->optarc_detail_u.versions.low, d->optarc_detail_u.versions.high,
				(unsigned)OPTARC_VERSION);
			break;
		case OPTARC_CHECKSUM_MISMATCH:
			hex(d->optarc_detail_u.digests.expected, e);
			hex(d->optarc_detail_u.digests.actual, a);
			fprintf(stderr, "%s: %s: detail: SHA-256 sent %s, agent has %s\n", c->prog, what, e, a);
			break;
		case OPTARC_SIZE_MISMATCH:
			fprintf(stderr, "%s: %s: detail: size sent %llu, agent has %llu\n", c->prog, what,
				(unsigned long long)d->optarc_detail_u.sizes.expected,
				(unsigned long long)d->optarc_detail_u.sizes.actual);
			break;
		case OPTARC_QUOTA_EXCEEDED:
			fprintf(stderr, "%s: %s: detail: quota %llu bytes, %llu used\n", c->prog, what,
				(unsigned long long)d->optarc_detail_u.quota.limit,
				(unsigned long long)d->optarc_detail_u.quota.used);
			break;
		default:
			break;
		}
	}
	return st == OPTARC_BUSY ? EXIT_BUSY : EXIT_AGENT;
}

int oc_hello(struct oc_conn *c, const struct oc_options *o)
{
	optarc_hello_args args;
	optarc_hello_res res;
	struct timeval now;
	char name[OPTARC_MAX_HOST + 1];
	enum clnt_stat st;
	int rc;

	if (o->client != NULL) {
		strncpy(name, o->client, sizeof name - 1);
		name[sizeof name - 1] = '\0';
	} else if (gethostname(name, sizeof name) != 0 || name[0] == '\0') {
		strcpy(name, "unknown");
	}
	name[sizeof name - 1] = '\0';
	gettimeofday(&now, NULL);
	memset(&args, 0, sizeof args);
	args.protocol = OPTARC_VERSION;
	args.client_time.seconds = now.tv_sec;
	args.client_time.nanoseconds = (u_int)now.tv_usec * 1000u;
	args.client = name;
	memset(&res, 0, sizeof res);
	st = oc_call(c, OPTARC_HELLO, (xdrproc_t)xdr_optarc_hello_args, &args,
		     (xdrproc_t)xdr_optarc_hello_res, &res);
	if (st != RPC_SUCCESS)
		return oc_rpc_error(c, "HELLO", st);
	if (res.status != OPTARC_OK) {
		rc = oc_failure(c, c->host, res.status, &res.optarc_hello_res_u.fail);
		xdr_free((xdrproc_t)xdr_optarc_hello_res, (char *)&res);
		return rc;
	}
	c->hello = res.optarc_hello_res_u.ok;
	c->session = c->hello.session;
	c->have_session = 1;
	xdr_free((xdrproc_t)xdr_optarc_hello_res, (char *)&res);
	return EXIT_OK;
}

int oc_close(struct oc_conn *c)
{
	int rc = EXIT_OK;
	if (c->cl == NULL)
		return rc;
	if (c->have_session) {
		optarc_session_args args;
		optarc_res res;
		enum clnt_stat st;
		args.session = c->session;
		memset(&res, 0, sizeof res);
		st = oc_call(c, OPTARC_BYE, (xdrproc_t)xdr_optarc_session_args, &args,
			     (xdrproc_t)xdr_optarc_res, &res);
		if (st != RPC_SUCCESS) {
			rc = oc_rpc_error(c, "BYE", st);
		} else {
			if (res.status != OPTARC_OK)
				rc = oc_failure(c, c->host, res.status, &res.optarc_res_u.fail);
			xdr_free((xdrproc_t)xdr_optarc_res, (char *)&res);
		}
		c->have_session = 0;
	}
	if (c->cl->cl_auth != NULL)
		auth_destroy(c->cl->cl_auth);
	c->cl->cl_auth = NULL;
	clnt_destroy(c->cl);
	c->cl = NULL;
	return rc;
}

/*
 * Following a job (-w): status lines and the JOB_STATUS poll.
 */

/* A growing string; on an allocation failure it keeps what it had and sets failed. */
struct sbuf {
	char *p;
	size_t len;
	size_t cap;
	int failed;
};

static void sb_add(struct sbuf *b, const char *s, int sanitize)
{
	size_t n, i;
	if (s == NULL || b->failed)
		return;
	n = strlen(s);
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		char *p;
		while (b->len + n + 1 > cap)
			cap *= 2;
		p = (char *)realloc(b->p, cap);
		if (p == NULL) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		/* text from the agent: no control characters on the terminal */
		b->p[b->len++] = (sanitize && (ch < 0x20 || ch == 0x7f)) ? '?' : (char)ch;
	}
	b->p[b->len] = '\0';
}

static void sb_text(struct sbuf *b, const char *s)
{
	sb_add(b, s, 1);
}

static void sb_lit(struct sbuf *b, const char *s)
{
	sb_add(b, s, 0);
}

static void sb_uint(struct sbuf *b, unsigned long long v)
{
	char t[32];
	sprintf(t, "%llu", v);
	sb_add(b, t, 0);
}

static const char *job_state_name(optarc_job_state s, char *other)
{
	switch (s) {
	case OPTARC_JOB_QUEUED:
		return "queued";
	case OPTARC_JOB_RUNNING:
		return "running";
	case OPTARC_JOB_DONE:
		return "done";
	case OPTARC_JOB_FAILED:
		return "failed";
	default:
		sprintf(other, "state %d", (int)s);
		return other;
	}
}

/* "job 7 running burn 40%" */
static char *job_line(const optarc_job_status *s)
{
	struct sbuf b;
	char other[32];
	memset(&b, 0, sizeof b);
	sb_lit(&b, "job ");
	sb_uint(&b, (unsigned long long)s->job);
	sb_lit(&b, " ");
	sb_lit(&b, job_state_name(s->state, other));
	sb_lit(&b, " ");
	sb_text(&b, s->step);
	sb_lit(&b, " ");
	sb_uint(&b, s->percent);
	sb_lit(&b, "%");
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* "OPT000001 writing 40% copy1@sr0 writing 40% copy2@sr1 bad (error)" */
static char *volume_line(const optarc_volume_status *v)
{
	struct sbuf b;
	u_int i;
	memset(&b, 0, sizeof b);
	sb_text(&b, (v->vsn && *v->vsn) ? v->vsn : "-");
	sb_lit(&b, " ");
	sb_text(&b, v->state);
	sb_lit(&b, " ");
	sb_uint(&b, v->percent);
	sb_lit(&b, "%");
	for (i = 0; i < v->copies.copies_len; i++) {
		const optarc_copy_status *c = &v->copies.copies_val[i];
		sb_lit(&b, " copy");
		sb_uint(&b, c->copy);
		sb_lit(&b, "@");
		sb_text(&b, (c->drive && *c->drive) ? c->drive : "-");
		sb_lit(&b, " ");
		sb_text(&b, c->state);
		if (c->state == NULL || strcmp(c->state, "bad") != 0) {
			sb_lit(&b, " ");
			sb_uint(&b, c->percent);
			sb_lit(&b, "%");
		}
		if (c->attempt > 1) {
			sb_lit(&b, " (attempt ");
			sb_uint(&b, c->attempt);
			sb_lit(&b, ")");
		}
		if (c->error && *c->error) {
			sb_lit(&b, " (");
			sb_text(&b, c->error);
			sb_lit(&b, ")");
		}
	}
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* The lines a status prints as; a fresh array, NULL when out of memory. */
static char **status_lines(const optarc_job_status *s, u_int *n)
{
	char **lines;
	u_int i;
	*n = s->volumes.volumes_len + 1;
	lines = (char **)calloc(*n, sizeof *lines);
	if (lines == NULL)
		return NULL;
	lines[0] = job_line(s);
	for (i = 0; i < s->volumes.volumes_len; i++)
		lines[i + 1] = volume_line(&s->volumes.volumes_val[i]);
	for (i = 0; i < *n; i++) {
		if (lines[i] == NULL) {
			for (i = 0; i < *n; i++)
				free(lines[i]);
			free(lines);
			return NULL;
		}
	}
	return lines;
}

static void free_lines(char **lines, u_int n)
{
	u_int i;
	if (lines == NULL)
		return;
	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/*
 * Poll JOB_STATUS once a second until the job is done or failed, printing on
 * stderr every line that differs from the last poll's; then the job's message
 * on stdout. *failed is set when the job failed. Returns an exit code.
 */
int oc_wait_job(struct oc_conn *c, optarc_job job, int *failed)
{
	optarc_job_args args;
	optarc_job_status_res res;
	enum clnt_stat st;
	char what[64], other[32];
	char **prev = NULL, **cur;
	u_int nprev = 0, ncur, i;
	int rc = EXIT_OK;

	sprintf(what, "job %llu", (unsigned long long)job);
	memset(&args, 0, sizeof args);
	args.session = c->session;
	args.job = job;
	for (;;) {
		const optarc_job_status *s;
		memset(&res, 0, sizeof res);
		st = oc_call(c, OPTARC_JOB_STATUS, (xdrproc_t)xdr_optarc_job_args, &args,
			     (xdrproc_t)xdr_optarc_job_status_res, &res);
		if (st != RPC_SUCCESS) {
			rc = oc_rpc_error(c, "JOB_STATUS", st);
			c->have_session = 0;
			break;
		}
		if (res.status != OPTARC_OK) {
			rc = oc_failure(c, what, res.status, &res.optarc_job_status_res_u.fail);
			xdr_free((xdrproc_t)xdr_optarc_job_status_res, (char *)&res);
			break;
		}
		s = &res.optarc_job_status_res_u.ok;
		cur = status_lines(s, &ncur);
		if (cur == NULL) {
			fprintf(stderr, "%s: %s: out of memory\n", c->prog, what);
			xdr_free((xdrproc_t)xdr_optarc_job_status_res, (char *)&res);
			rc = EXIT_LOCAL;
			break;
		}
		for (i = 0; i < ncur; i++)
			if (i >= nprev || strcmp(prev[i], cur[i]) != 0)
				fprintf(stderr, "%s\n", cur[i]);
		fflush(stderr);
		free_lines(prev, nprev);
		prev = cur;
		nprev = ncur;
		if (s->state == OPTARC_JOB_DONE || s->state == OPTARC_JOB_FAILED) {
			struct sbuf m;
			memset(&m, 0, sizeof m);
			sb_text(&m, s->message);
			printf("%s %s: %s\n", what, job_state_name(s->state, other),
			       (m.p && *m.p) ? m.p : "(no message)");
			fflush(stdout);
			free(m.p);
			*failed = s->state == OPTARC_JOB_FAILED;
			xdr_free((xdrproc_t)xdr_optarc_job_status_res, (char *)&res);
			break;
		}
		xdr_free((xdrproc_t)xdr_optarc_job_status_res, (char *)&res);
		sleep(OC_POLL_SECONDS);
	}
	free_lines(prev, nprev);
	return rc;
}

int oc_job_started(struct oc_conn *c, const char *host, const char *what, enum clnt_stat st, optarc_job_res *res,
		   int follow)
{
	optarc_job job;
	int rc = EXIT_OK, rc_close, failed = 0;

	if (st != RPC_SUCCESS) {
		rc = oc_rpc_error(c, what, st);
		c->have_session = 0;
		oc_close(c);
		return rc;
	}
	if (res->status != OPTARC_OK) {
		rc = oc_failure(c, host, res->status, &res->optarc_job_res_u.fail);
		xdr_free((xdrproc_t)xdr_optarc_job_res, (char *)res);
		oc_close(c);
		return rc;
	}
	job = res->optarc_job_res_u.job;
	xdr_free((xdrproc_t)xdr_optarc_job_res, (char *)res);
	printf("job %llu\n", (unsigned long long)job);
	fflush(stdout);
	if (follow)
		rc = oc_wait_job(c, job, &failed);
	rc_close = oc_close(c);
	if (rc != EXIT_OK)
		return rc;
	if (failed)
		return EXIT_JOB_FAILED;
	return rc_close;
}

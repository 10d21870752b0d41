/*
 * optarc-burn -- ask an optarc edge agent to burn what the client staged.
 *
 *   optarc-burn [--port N] [--bufsize B] [--client NAME] [--auth-sys] [-w] <host>
 *               --copies N --media NAME [--label L] [--append]
 *
 * HELLO, then BURN (a new disc, or --append a session) of the working
 * directory that this client (host and --client name) staged, then BYE.
 * Prints "job <id>" when the agent accepts the job.
 *
 * With -w (or --wait) it then follows the job through the same session:
 * JOB_STATUS once a second until the job is done or failed, printing on
 * stderr each line that changed since the last poll, one for the job and one
 * per volume:
 *
 *   job 7 running burn 40%
 *   OPT000001 writing 40% copy1@sr0 writing 40% copy2@sr1 bad (no blank in sr1)
 *
 * and at the end the job's message on stdout ("job 7 done: <message>" or
 * "job 7 failed: <message>").
 *
 * Exit status: 0 accepted (with -w: the job is done); 1 RPC/transport failure,
 * or with -w the job failed; 2 usage; 3 OPTARC_BUSY; 4 any other failure
 * status (an agent without burners answers OPTARC_NOT_AVAILABLE), printed as
 * "optarc-burn: <host>: <STATUS_NAME>: <message>"; 5 out of memory.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "optarc_client.h"

#define PROG "optarc-burn"

/* -w: the job ended OPTARC_JOB_FAILED. */
#define EXIT_JOB_FAILED 1

#define POLL_SECONDS 1

static void usage(void)
{
	fprintf(stderr,
		"usage: " PROG " [--port N] [--bufsize B] [--client NAME] [--auth-sys] [-w] <host>\n"
		"                   --copies N --media NAME [--label L] [--append]\n"
		"  --copies N     discs to burn of each volume (1 or more)\n"
		"  --media NAME   media profile, e.g. DVD+R or BD-R (at most %d bytes)\n"
		"  --label L      volume label (at most %d bytes; default: the agent's)\n"
		"  --append       add a session to the disc instead of starting a new one\n",
		OPTARC_MAX_MEDIA, OPTARC_MAX_LABEL);
	/* a second string: C89 compilers need only take 509 characters in one */
	fputs("  -w, --wait     follow the job until it is done or failed: what changed on\n"
	      "                 stderr once a second, the job's final message on stdout\n"
	      "exit: 0 ok (-w: job done), 1 RPC error (-w: or job failed), 2 usage,\n"
	      "      3 agent busy, 4 agent failure, 5 out of memory\n",
	      stderr);
	exit(EXIT_USAGE);
}

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
static int wait_job(struct oc_conn *c, optarc_job job, int *failed)
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
		sleep(POLL_SECONDS);
	}
	free_lines(prev, nprev);
	return rc;
}

int main(int argc, char **argv)
{
	struct oc_options o;
	struct oc_conn c;
	optarc_burn_args args;
	optarc_job_res res;
	optarc_job job;
	enum clnt_stat st;
	const char *host = NULL, *media = NULL, *label = "";
	unsigned long copies = 0;
	int append = 0, follow = 0, failed = 0, i, rc, rc_close;

	memset(&o, 0, sizeof o);
	o.port = -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
		int used = oc_parse_common(&o, argc, argv, i);
		if (used < 0)
			usage();
		if (used > 0) {
			i += used - 1;
		} else if (strcmp(a, "--copies") == 0 && v) {
			char *end;
			errno = 0;
			copies = strtoul(v, &end, 10);
			if (*v == '\0' || *end != '\0' || errno != 0 || copies < 1 || copies > 1000)
				usage();
			i++;
		} else if (strcmp(a, "--media") == 0 && v) {
			media = v;
			i++;
		} else if (strcmp(a, "--label") == 0 && v) {
			label = v;
			i++;
		} else if (strcmp(a, "--append") == 0) {
			append = 1;
		} else if (strcmp(a, "-w") == 0 || strcmp(a, "--wait") == 0) {
			follow = 1;
		} else if (a[0] == '-' || host != NULL) {
			usage();
		} else {
			host = a;
		}
	}
	if (host == NULL || media == NULL || copies == 0 || *media == '\0' ||
	    strlen(media) > OPTARC_MAX_MEDIA || strlen(label) > OPTARC_MAX_LABEL ||
	    (o.bufsize != 0 && o.port < 0))
		usage();
	o.host = host;
	signal(SIGPIPE, SIG_IGN);

	rc = oc_connect(&c, PROG, &o);
	if (rc != EXIT_OK)
		return rc;
	rc = oc_hello(&c, &o);
	if (rc != EXIT_OK) {
		oc_close(&c);
		return rc;
	}
	memset(&args, 0, sizeof args);
	args.session = c.session;
	args.mode = append ? OPTARC_BURN_APPEND : OPTARC_BURN_NEW;
	args.copies = (u_int)copies;
	args.media = (char *)media;
	args.label = (char *)label;
	memset(&res, 0, sizeof res);
	st = oc_call(&c, OPTARC_BURN, (xdrproc_t)xdr_optarc_burn_args, &args, (xdrproc_t)xdr_optarc_job_res,
		     &res);
	if (st != RPC_SUCCESS) {
		rc = oc_rpc_error(&c, "BURN", st);
		c.have_session = 0;
		oc_close(&c);
		return rc;
	}
	if (res.status != OPTARC_OK) {
		rc = oc_failure(&c, host, res.status, &res.optarc_job_res_u.fail);
		xdr_free((xdrproc_t)xdr_optarc_job_res, (char *)&res);
		oc_close(&c);
		return rc;
	}
	job = res.optarc_job_res_u.job;
	xdr_free((xdrproc_t)xdr_optarc_job_res, (char *)&res);
	printf("job %llu\n", (unsigned long long)job);
	fflush(stdout);
	if (follow)
		rc = wait_job(&c, job, &failed);
	rc_close = oc_close(&c);
	if (rc != EXIT_OK)
		return rc;
	if (failed)
		return EXIT_JOB_FAILED;
	return rc_close;
}

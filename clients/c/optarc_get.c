/*
 * optarc-get -- find archived files in an optarc edge agent's catalog and
 * retrieve them, online (from a disc loaded in a drive, now) or offline
 * (queued by priority, from a loaded disc or the cloud copy, collected later
 * with a token).
 *
 *   optarc-get [common options] <host> find [--like | --glob | --exact] [--vsn V] PATTERN
 *   optarc-get [common options] <host> whereis PATH|SHA256
 *   optarc-get [common options] <host> get [--vsn V] [-o FILE] PATH|SHA256
 *   optarc-get [common options] <host> get --offline --priority N [--deadline T]
 *                                          [--vsn V] [--wait [-o FILE]] PATH|SHA256
 *   optarc-get [common options] <host> pickup [--wait] [-o FILE] TOKEN
 *   optarc-get [common options] <host> status TOKEN
 *
 * The common options are optarc-put's (--port N, --bufsize B, --client NAME,
 * --auth-sys). Each run is one session: HELLO, the calls, BYE.
 *
 * find: CAT_FIND page after page (cookies) until eof, one line per file,
 * "<vsn> <size> <sha256> <path>" (" part i/n" appended for a part of a file
 * cut across volumes). The pattern is a glob by default (* ? [...]), an SQL
 * LIKE pattern with --like (% _), the path itself with --exact.
 * whereis: CAT_WHEREIS (a 64-hex-digit argument is a SHA-256, anything else a
 * path): per location the file's line, then its copies and cloud object.
 * get: RETRIEVE. Online, the agent reads the file off a loaded disc; the
 * client follows RETRIEVE_STATUS once a second until it is READY, then
 * collects it with RETRIEVE_CACHED in chunks of the agent's max_data. Offline
 * (priority 1 first .. 5, deadline in seconds since 1970, 0 or absent: none)
 * it prints the token on stdout and exits 0; with --wait it then collects as
 * pickup --wait does. pickup: RETRIEVE_STATUS; not ready yet: exit 8 (with
 * --wait: poll once a second, changes on stderr); ready: collect.
 * status: the retrieval's fields, one "name value" per line.
 *
 * Collecting writes into a temporary file next to FILE (-o), hashing the
 * bytes with SHA-256 as they come; only when the size and the SHA-256 match
 * what the agent announced is it renamed to FILE. Without -o the data goes to
 * stdout and a mismatch is reported at the end (exit 11). The read that
 * reaches the end frees the agent's cache entry.
 *
 * Exit status: 0 ok; 1 RPC/transport failure; 2 usage; 3 OPTARC_BUSY;
 * 4 any other failure status; 5 local (the output file cannot be written, out
 * of memory); 6 OPTARC_NO_MEDIUM (online needs a loaded disc: use --offline);
 * 7 nothing found (no hits, or OPTARC_NOT_FOUND); 8 not ready yet
 * (OPTARC_NOT_READY, or pickup of a queued or fetching retrieval without
 * --wait); 9 OPTARC_EXPIRED (the token was collected, expired or never
 * issued); 10 OPTARC_NO_SOURCE; 11 OPTARC_CORRUPT, or the local SHA-256 check
 * failed. Failures are printed as "optarc-get: <what>: <STATUS_NAME>: <message>".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/stat.h>

#include "optarc_client.h"
#include "sha256.h"

#define PROG "optarc-get"

#define EXIT_NO_MEDIUM 6
#define EXIT_NOT_FOUND 7
#define EXIT_NOT_READY 8
#define EXIT_EXPIRED 9
#define EXIT_NO_SOURCE 10
#define EXIT_CORRUPT 11

/* Pages of CAT_FIND/CAT_WHEREIS followed at most (OPTARC_MAX_HITS each). */
#define MAX_PAGES 100000

static struct oc_conn conn;

static void usage(void)
{
	fputs("usage: " PROG " [--port N] [--bufsize B] [--client NAME] [--auth-sys] <host> <command>\n"
	      "commands:\n"
	      "  find [--like | --glob | --exact] [--vsn V] PATTERN\n"
	      "  whereis PATH|SHA256\n"
	      "  get [--vsn V] [-o FILE] PATH|SHA256\n"
	      "  get --offline --priority N [--deadline T] [--vsn V] [--wait [-o FILE]] PATH|SHA256\n"
	      "  pickup [--wait] [-o FILE] TOKEN\n"
	      "  status TOKEN\n",
	      stderr);
	fputs("  --offline          queue the retrieval: priority N from 1 (first) to 5, deadline\n"
	      "                     T in seconds since 1970 (0: none); prints the token\n"
	      "  --wait, -w         get --offline, pickup: wait until the data is ready, then\n"
	      "                     collect it\n"
	      "  -o FILE            write the data to FILE (renamed into place only after its\n"
	      "                     SHA-256 is checked); default: stdout\n",
	      stderr);
	fputs("exit: 0 ok, 1 RPC error, 2 usage, 3 agent busy, 4 agent failure, 5 local error,\n"
	      "      6 no disc loaded (use --offline), 7 nothing found, 8 not ready yet,\n"
	      "      9 token expired or collected, 10 no source reachable, 11 corrupt data\n",
	      stderr);
	exit(EXIT_USAGE);
}

/* The exit code a failure status stands for. */
static int status_exit(optarc_status st)
{
	switch (st) {
	case OPTARC_BUSY:
		return EXIT_BUSY;
	case OPTARC_NO_MEDIUM:
		return EXIT_NO_MEDIUM;
	case OPTARC_NOT_FOUND:
		return EXIT_NOT_FOUND;
	case OPTARC_NOT_READY:
		return EXIT_NOT_READY;
	case OPTARC_EXPIRED:
		return EXIT_EXPIRED;
	case OPTARC_NO_SOURCE:
		return EXIT_NO_SOURCE;
	case OPTARC_CORRUPT:
		return EXIT_CORRUPT;
	default:
		return EXIT_AGENT;
	}
}

/* Report a failure status and return its exit code. */
static int failed(const char *what, optarc_status st, const optarc_fail *f)
{
	oc_failure(&conn, what, st, f);
	return status_exit(st);
}

/* Report a transport failure: the session is of no use any more, leave without BYE. */
static int rpc_failed(const char *what, enum clnt_stat st)
{
	int rc = oc_rpc_error(&conn, what, st);
	conn.have_session = 0;
	return rc;
}

/* Bytes from the agent on a terminal: control characters as '?'. */
static void put_bytes(FILE *f, const char *p, u_int n)
{
	u_int i;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		putc((ch < 0x20 || ch == 0x7f) ? '?' : (int)ch, f);
	}
}

static void put_text(FILE *f, const char *s)
{
	if (s != NULL)
		put_bytes(f, s, (u_int)strlen(s));
}

static void hex32(const char *bytes, char out[65])
{
	sha256_hex((const unsigned char *)bytes, out);
}

/* 64 hex digits → 32 bytes; 1 when s is exactly that. */
static int parse_sha256(const char *s, char out[OPTARC_SHA256_SIZE])
{
	int i;
	if (strlen(s) != 2 * OPTARC_SHA256_SIZE)
		return 0;
	for (i = 0; i < 2 * OPTARC_SHA256_SIZE; i++) {
		char ch = s[i];
		int v;
		if (ch >= '0' && ch <= '9')
			v = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v = ch - 'A' + 10;
		else
			return 0;
		if (i % 2 == 0)
			out[i / 2] = (char)(v << 4);
		else
			out[i / 2] = (char)(out[i / 2] | v);
	}
	return 1;
}

static int parse_ulong(const char *v, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long n;
	if (v == NULL || *v == '\0' || *v == '-' || *v == '+')
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (*end != '\0' || errno != 0 || n < lo || n > hi)
		return 0;
	*out = n;
	return 1;
}

static const char *state_name(optarc_retrieval_state s)
{
	switch (s) {
	case OPTARC_RETRIEVAL_QUEUED:
		return "queued";
	case OPTARC_RETRIEVAL_FETCHING:
		return "fetching";
	case OPTARC_RETRIEVAL_READY:
		return "ready";
	case OPTARC_RETRIEVAL_FAILED:
		return "failed";
	case OPTARC_RETRIEVAL_COLLECTED:
		return "collected";
	case OPTARC_RETRIEVAL_EXPIRED:
		return "expired";
	default:
		return "unknown";
	}
}

/* "<vsn> <size> <sha256> <path>[ part i/n]" */
static void print_file(const optarc_cat_file *f)
{
	char h[65];
	hex32(f->sha256, h);
	put_text(stdout, f->vsn);
	printf(" %llu %s ", (unsigned long long)f->size, h);
	put_bytes(stdout, f->path.optarc_path_val, f->path.optarc_path_len);
	if (f->part != 0)
		printf(" part %u/%u", f->part, f->parts);
	putchar('\n');
}

/*
 * find
 */
static int do_find(optarc_match match, const char *vsn, const char *pattern)
{
	optarc_cat_find_args args;
	optarc_cat_find_res res;
	enum clnt_stat st;
	unsigned long hits = 0, pages = 0;
	u_int i;

	memset(&args, 0, sizeof args);
	args.session = conn.session;
	args.match = match;
	args.pattern.optarc_path_len = (u_int)strlen(pattern);
	args.pattern.optarc_path_val = (char *)pattern;
	args.vsn = (char *)(vsn ? vsn : "");
	args.cookie = 0;
	args.count = OPTARC_MAX_HITS;
	for (;;) {
		optarc_cat_find_ok *ok;
		int done;
		u_quad_t before = args.cookie;
		memset(&res, 0, sizeof res);
		st = oc_call(&conn, OPTARC_CAT_FIND, (xdrproc_t)xdr_optarc_cat_find_args, &args,
			     (xdrproc_t)xdr_optarc_cat_find_res, &res);
		if (st != RPC_SUCCESS)
			return rpc_failed("CAT_FIND", st);
		if (res.status != OPTARC_OK) {
			int rc = failed(pattern, res.status, &res.optarc_cat_find_res_u.fail);
			xdr_free((xdrproc_t)xdr_optarc_cat_find_res, (char *)&res);
			return rc;
		}
		ok = &res.optarc_cat_find_res_u.ok;
		for (i = 0; i < ok->files.files_len; i++)
			print_file(&ok->files.files_val[i]);
		hits += ok->files.files_len;
		args.cookie = ok->cookie;
		done = ok->eof;
		xdr_free((xdrproc_t)xdr_optarc_cat_find_res, (char *)&res);
		if (done)
			break;
		if (args.cookie == before || ++pages >= MAX_PAGES) {
			fprintf(stderr, "%s: %s: the agent's paging does not advance (cookie %llu)\n", PROG, pattern,
				(unsigned long long)args.cookie);
			return EXIT_AGENT;
		}
	}
	fflush(stdout);
	if (hits == 0) {
		fprintf(stderr, "%s: nothing in the catalog matches %s\n", PROG, pattern);
		return EXIT_NOT_FOUND;
	}
	return EXIT_OK;
}

/*
 * whereis
 */
static void print_location(const optarc_location *l)
{
	const optarc_cat_volume *v = &l->volume;
	u_int i;
	print_file(&l->file);
	for (i = 0; i < v->copies.copies_len; i++) {
		const optarc_cat_copy *c = &v->copies.copies_val[i];
		printf("  copy %u ", c->copy);
		put_text(stdout, c->state);
		if (c->drive && *c->drive) {
			fputs(" loaded in ", stdout);
			put_text(stdout, c->drive);
		} else if (c->medium && *c->medium) {
			fputs(" at ", stdout);
			put_text(stdout, c->medium);
		}
		if (c->note && *c->note) {
			fputs(" (", stdout);
			put_text(stdout, c->note);
			fputs(")", stdout);
		}
		putchar('\n');
	}
	if (v->cloud_key && *v->cloud_key) {
		fputs("  cloud ", stdout);
		put_text(stdout, v->cloud_key);
		if (v->cloud_version && *v->cloud_version) {
			fputs(" version ", stdout);
			put_text(stdout, v->cloud_version);
		}
		putchar('\n');
	} else {
		fputs("  cloud none (not mirrored yet)\n", stdout);
	}
}

static int do_whereis(const char *what)
{
	optarc_whereis_args args;
	optarc_whereis_res res;
	optarc_sha256 digest;
	enum clnt_stat st;
	unsigned long hits = 0, pages = 0;
	u_int i;

	memset(&args, 0, sizeof args);
	args.session = conn.session;
	if (parse_sha256(what, digest)) {
		args.sha256 = &digest;
		args.path.optarc_path_len = 0;
		args.path.optarc_path_val = (char *)"";
	} else {
		args.sha256 = NULL;
		args.path.optarc_path_len = (u_int)strlen(what);
		args.path.optarc_path_val = (char *)what;
	}
	args.cookie = 0;
	args.count = OPTARC_MAX_HITS;
	for (;;) {
		optarc_whereis_ok *ok;
		int done;
		u_quad_t before = args.cookie;
		memset(&res, 0, sizeof res);
		st = oc_call(&conn, OPTARC_CAT_WHEREIS, (xdrproc_t)xdr_optarc_whereis_args, &args,
			     (xdrproc_t)xdr_optarc_whereis_res, &res);
		if (st != RPC_SUCCESS)
			return rpc_failed("CAT_WHEREIS", st);
		if (res.status != OPTARC_OK) {
			int rc = failed(what, res.status, &res.optarc_whereis_res_u.fail);
			xdr_free((xdrproc_t)xdr_optarc_whereis_res, (char *)&res);
			return rc;
		}
		ok = &res.optarc_whereis_res_u.ok;
		for (i = 0; i < ok->locations.locations_len; i++)
			print_location(&ok->locations.locations_val[i]);
		hits += ok->locations.locations_len;
		args.cookie = ok->cookie;
		done = ok->eof;
		xdr_free((xdrproc_t)xdr_optarc_whereis_res, (char *)&res);
		if (done)
			break;
		if (args.cookie == before || ++pages >= MAX_PAGES) {
			fprintf(stderr, "%s: %s: the agent's paging does not advance (cookie %llu)\n", PROG, what,
				(unsigned long long)args.cookie);
			return EXIT_AGENT;
		}
	}
	fflush(stdout);
	if (hits == 0) {
		fprintf(stderr, "%s: no volume in the catalog holds %s\n", PROG, what);
		return EXIT_NOT_FOUND;
	}
	return EXIT_OK;
}

/*
 * Retrieval: RETRIEVE_STATUS, following it, collecting with RETRIEVE_CACHED.
 */

/* What collecting needs from a READY retrieval, copied out of the XDR result. */
struct ready {
	char token[OPTARC_MAX_TOKEN + 1];
	unsigned long long size;
	char sha256[OPTARC_SHA256_SIZE];
	char source[OPTARC_MAX_NAME + 1];
	char path[OPTARC_MAX_PATH + 1];
};

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* One status line: "<token> queued at priority 3, position 12" and the like. */
static void status_line(const optarc_retrieval *r, char *out, size_t cap)
{
	char tok[OPTARC_MAX_TOKEN + 1];
	copy_str(tok, sizeof tok, r->token);
	switch (r->state) {
	case OPTARC_RETRIEVAL_QUEUED:
		if (r->mode == OPTARC_OFFLINE)
			sprintf(out, "%.64s queued at priority %u, position %u", tok, r->priority, r->position);
		else
			sprintf(out, "%.64s queued", tok);
		break;
	case OPTARC_RETRIEVAL_FETCHING:
		sprintf(out, "%.64s fetching %u%% from %.64s", tok, r->percent,
			(r->source && *r->source) ? r->source : "-");
		break;
	default:
		sprintf(out, "%.64s %s", tok, state_name(r->state));
		break;
	}
	(void)cap;
}

/* RETRIEVE_STATUS of token into *res (the caller frees it); an exit code. */
static int retrieval_status(const char *token, optarc_retrieve_res *res)
{
	optarc_token_args args;
	enum clnt_stat st;
	memset(&args, 0, sizeof args);
	args.session = conn.session;
	args.token = (char *)token;
	memset(res, 0, sizeof *res);
	st = oc_call(&conn, OPTARC_RETRIEVE_STATUS, (xdrproc_t)xdr_optarc_token_args, &args,
		     (xdrproc_t)xdr_optarc_retrieve_res, res);
	if (st != RPC_SUCCESS)
		return rpc_failed("RETRIEVE_STATUS", st);
	if (res->status != OPTARC_OK) {
		int rc = failed(token, res->status, &res->optarc_retrieve_res_u.fail);
		xdr_free((xdrproc_t)xdr_optarc_retrieve_res, (char *)res);
		return rc;
	}
	return EXIT_OK;
}

/* A FAILED retrieval: its message, then the status RETRIEVE_CACHED gives it (CORRUPT, NO_SOURCE). */
static int retrieval_failed(const optarc_retrieval *r)
{
	optarc_cached_args args;
	optarc_vol_read_res res;
	enum clnt_stat st;
	char tok[OPTARC_MAX_TOKEN + 1];
	int rc = EXIT_AGENT;

	copy_str(tok, sizeof tok, r->token);
	fprintf(stderr, "%s: %s: failed: ", PROG, tok);
	put_text(stderr, (r->message && *r->message) ? r->message : "(no message)");
	fputc('\n', stderr);
	memset(&args, 0, sizeof args);
	args.session = conn.session;
	args.token = tok;
	args.offset = 0;
	args.count = 1;
	memset(&res, 0, sizeof res);
	st = oc_call(&conn, OPTARC_RETRIEVE_CACHED, (xdrproc_t)xdr_optarc_cached_args, &args,
		     (xdrproc_t)xdr_optarc_vol_read_res, &res);
	if (st != RPC_SUCCESS)
		return rpc_failed("RETRIEVE_CACHED", st);
	if (res.status != OPTARC_OK)
		rc = failed(tok, res.status, &res.optarc_vol_read_res_u.fail);
	xdr_free((xdrproc_t)xdr_optarc_vol_read_res, (char *)&res);
	return rc;
}

/*
 * Follow token with RETRIEVE_STATUS until it is READY (or, without wait, find
 * out it is not). Changed status lines go to stderr. Fills *out; an exit code.
 */
static int until_ready(const char *token, int wait, struct ready *out)
{
	char line[OPTARC_MAX_TOKEN + OPTARC_MAX_NAME + 128], last[sizeof line];
	last[0] = '\0';
	for (;;) {
		optarc_retrieve_res res;
		optarc_retrieval *r;
		int rc = retrieval_status(token, &res);
		if (rc != EXIT_OK)
			return rc;
		r = &res.optarc_retrieve_res_u.ok;
		switch (r->state) {
		case OPTARC_RETRIEVAL_READY:
			copy_str(out->token, sizeof out->token, r->token);
			out->size = (unsigned long long)r->size;
			memcpy(out->sha256, r->sha256, OPTARC_SHA256_SIZE);
			copy_str(out->source, sizeof out->source, r->source);
			if (r->path.optarc_path_len > OPTARC_MAX_PATH) {
				fprintf(stderr, "%s: %s: the agent named a path longer than %d bytes\n", PROG, token,
					OPTARC_MAX_PATH);
				rc = EXIT_AGENT;
			} else {
				memcpy(out->path, r->path.optarc_path_val, r->path.optarc_path_len);
				out->path[r->path.optarc_path_len] = '\0';
			}
			xdr_free((xdrproc_t)xdr_optarc_retrieve_res, (char *)&res);
			return rc;
		case OPTARC_RETRIEVAL_QUEUED:
		case OPTARC_RETRIEVAL_FETCHING:
			status_line(r, line, sizeof line);
			xdr_free((xdrproc_t)xdr_optarc_retrieve_res, (char *)&res);
			if (!wait) {
				fprintf(stderr, "%s: not ready yet: ", PROG);
				put_text(stderr, line);
				fputs(" (pick it up later, or with --wait)\n", stderr);
				return EXIT_NOT_READY;
			}
			if (strcmp(line, last) != 0) {
				put_text(stderr, line);
				fputc('\n', stderr);
				fflush(stderr);
				strcpy(last, line);
			}
			sleep(OC_POLL_SECONDS);
			break;
		case OPTARC_RETRIEVAL_FAILED:
			rc = retrieval_failed(r);
			xdr_free((xdrproc_t)xdr_optarc_retrieve_res, (char *)&res);
			return rc;
		default: /* collected, expired */
			fprintf(stderr, "%s: %s: %s: the data is no longer in the agent's cache; retrieve it again\n",
				PROG, token, state_name(r->state));
			xdr_free((xdrproc_t)xdr_optarc_retrieve_res, (char *)&res);
			return EXIT_EXPIRED;
		}
	}
}

/* "<file>.optarc-get.<pid>" next to file; NULL when out of memory. */
static char *temp_name(const char *file)
{
	char *t = (char *)malloc(strlen(file) + 40);
	if (t != NULL)
		sprintf(t, "%s.optarc-get.%ld", file, (long)getpid());
	return t;
}

/*
 * Collect a READY retrieval with RETRIEVE_CACHED into file (or stdout when
 * NULL), checking its size and SHA-256. An exit code.
 */
static int collect(const struct ready *r, const char *file)
{
	optarc_cached_args args;
	optarc_vol_read_res res;
	enum clnt_stat st;
	sha256_ctx ctx;
	unsigned char digest[SHA256_DIGEST_SIZE];
	char want[65], got[65];
	char *tmp = NULL;
	FILE *f = stdout;
	unsigned long long offset = 0;
	u_int count = conn.hello.max_data;
	int rc = EXIT_OK, eof = 0;

	if (count == 0 || count > OPTARC_MAX_DATA)
		count = OPTARC_MAX_DATA;
	if (file != NULL) {
		int fd;
		tmp = temp_name(file);
		if (tmp == NULL) {
			fprintf(stderr, "%s: out of memory\n", PROG);
			return EXIT_LOCAL;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || (f = fdopen(fd, "wb")) == NULL) {
			fprintf(stderr, "%s: %s: %s\n", PROG, tmp, strerror(errno));
			if (fd >= 0)
				close(fd);
			free(tmp);
			return EXIT_LOCAL;
		}
	}
	sha256_init(&ctx);
	memset(&args, 0, sizeof args);
	args.session = conn.session;
	args.token = (char *)r->token;
	args.count = count;
	while (!eof) {
		optarc_vol_read_ok *ok;
		args.offset = offset;
		memset(&res, 0, sizeof res);
		st = oc_call(&conn, OPTARC_RETRIEVE_CACHED, (xdrproc_t)xdr_optarc_cached_args, &args,
			     (xdrproc_t)xdr_optarc_vol_read_res, &res);
		if (st != RPC_SUCCESS) {
			rc = rpc_failed("RETRIEVE_CACHED", st);
			break;
		}
		if (res.status != OPTARC_OK) {
			rc = failed(r->token, res.status, &res.optarc_vol_read_res_u.fail);
			xdr_free((xdrproc_t)xdr_optarc_vol_read_res, (char *)&res);
			break;
		}
		ok = &res.optarc_vol_read_res_u.ok;
		if (ok->data.data_len > count || offset + ok->data.data_len > r->size) {
			fprintf(stderr, "%s: %s: the agent sent more than the %llu bytes it announced\n", PROG,
				r->token, r->size);
			xdr_free((xdrproc_t)xdr_optarc_vol_read_res, (char *)&res);
			rc = EXIT_CORRUPT;
			break;
		}
		if (ok->data.data_len == 0 && !ok->eof) {
			fprintf(stderr, "%s: %s: the agent sent no data at offset %llu before the end\n", PROG,
				r->token, offset);
			xdr_free((xdrproc_t)xdr_optarc_vol_read_res, (char *)&res);
			rc = EXIT_AGENT;
			break;
		}
		if (ok->data.data_len > 0)
			sha256_update(&ctx, ok->data.data_val, ok->data.data_len);
		if (ok->data.data_len > 0 && fwrite(ok->data.data_val, 1, ok->data.data_len, f) != ok->data.data_len) {
			fprintf(stderr, "%s: %s: %s\n", PROG, tmp ? tmp : "stdout", strerror(errno));
			xdr_free((xdrproc_t)xdr_optarc_vol_read_res, (char *)&res);
			rc = EXIT_LOCAL;
			break;
		}
		offset += ok->data.data_len;
		eof = ok->eof;
		xdr_free((xdrproc_t)xdr_optarc_vol_read_res, (char *)&res);
	}
	if (fflush(f) != 0 && rc == EXIT_OK) {
		fprintf(stderr, "%s: %s: %s\n", PROG, tmp ? tmp : "stdout", strerror(errno));
		rc = EXIT_LOCAL;
	}
	if (file != NULL && fclose(f) != 0 && rc == EXIT_OK) {
		fprintf(stderr, "%s: %s: %s\n", PROG, tmp, strerror(errno));
		rc = EXIT_LOCAL;
	}
	if (rc == EXIT_OK) {
		sha256_final(&ctx, digest);
		sha256_hex(digest, got);
		hex32(r->sha256, want);
		if (offset != r->size || memcmp(digest, r->sha256, SHA256_DIGEST_SIZE) != 0) {
			fprintf(stderr,
				"%s: %s: the data received fails its check: %llu bytes with SHA-256 %s, expected %llu "
				"bytes with SHA-256 %s%s; retrieve it again\n",
				PROG, r->token, offset, got, r->size, want, file ? " (nothing written)" : "");
			rc = EXIT_CORRUPT;
		}
	}
	if (file != NULL) {
		if (rc == EXIT_OK && rename(tmp, file) != 0) {
			fprintf(stderr, "%s: %s: %s\n", PROG, file, strerror(errno));
			rc = EXIT_LOCAL;
		}
		if (rc != EXIT_OK)
			unlink(tmp);
		free(tmp);
	}
	if (rc == EXIT_OK) {
		FILE *say = file ? stdout : stderr;
		fprintf(say, "%s: %llu bytes of ", r->token, offset);
		put_text(say, r->path);
		fputs(" from ", say);
		put_text(say, *r->source ? r->source : "-");
		fprintf(say, ", SHA-256 %s checked", got);
		if (file) {
			fputs(" -> ", say);
			put_text(say, file);
		}
		fputc('\n', say);
		fflush(say);
	}
	return rc;
}

static int do_pickup(const char *token, int wait, const char *file)
{
	struct ready r;
	int rc;
	memset(&r, 0, sizeof r);
	rc = until_ready(token, wait, &r);
	if (rc != EXIT_OK)
		return rc;
	return collect(&r, file);
}

static int do_get(const char *what, const char *vsn, int offline, unsigned long priority, unsigned long deadline,
		  int wait, const char *file)
{
	optarc_retrieve_args args;
	optarc_retrieve_res res;
	optarc_sha256 digest;
	enum clnt_stat st;
	char token[OPTARC_MAX_TOKEN + 1];
	optarc_retrieval *r;

	memset(&args, 0, sizeof args);
	args.session = conn.session;
	if (parse_sha256(what, digest)) {
		args.sha256 = &digest;
		args.path.optarc_path_len = 0;
		args.path.optarc_path_val = (char *)"";
	} else {
		args.path.optarc_path_len = (u_int)strlen(what);
		args.path.optarc_path_val = (char *)what;
	}
	args.vsn = (char *)(vsn ? vsn : "");
	args.mode = offline ? OPTARC_OFFLINE : OPTARC_ONLINE;
	args.priority = offline ? (u_int)priority : 0;
	args.deadline.seconds = offline ? deadline : 0;
	args.deadline.nanoseconds = 0;
	memset(&res, 0, sizeof res);
	st = oc_call(&conn, OPTARC_RETRIEVE, (xdrproc_t)xdr_optarc_retrieve_args, &args,
		     (xdrproc_t)xdr_optarc_retrieve_res, &res);
	if (st != RPC_SUCCESS)
		return rpc_failed("RETRIEVE", st);
	if (res.status != OPTARC_OK) {
		int rc = failed(what, res.status, &res.optarc_retrieve_res_u.fail);
		if (res.status == OPTARC_NO_MEDIUM && !offline)
			fprintf(stderr, "%s: %s: no disc of the volume is loaded: load one, or retrieve it with "
					"--offline\n",
				PROG, what);
		xdr_free((xdrproc_t)xdr_optarc_retrieve_res, (char *)&res);
		return rc;
	}
	r = &res.optarc_retrieve_res_u.ok;
	if (r->token == NULL || *r->token == '\0' || strlen(r->token) > OPTARC_MAX_TOKEN) {
		fprintf(stderr, "%s: %s: the agent answered without a token\n", PROG, what);
		xdr_free((xdrproc_t)xdr_optarc_retrieve_res, (char *)&res);
		return EXIT_AGENT;
	}
	copy_str(token, sizeof token, r->token);
	if (offline) {
		/* the token on stdout alone, so that scripts can keep it: TOKEN=$(optarc-get ...) */
		printf("%s\n", token);
		fflush(stdout);
		fprintf(stderr, "%s: ", PROG);
		put_bytes(stderr, r->path.optarc_path_val, r->path.optarc_path_len);
		fprintf(stderr, " (%llu bytes on ", (unsigned long long)r->size);
		put_text(stderr, r->vsn);
		fprintf(stderr, ") %s at priority %u, position %u; collect it with: pickup %s\n", state_name(r->state),
			r->priority, r->position, token);
	}
	xdr_free((xdrproc_t)xdr_optarc_retrieve_res, (char *)&res);
	if (offline && !wait)
		return EXIT_OK;
	return do_pickup(token, 1, file);
}

static int do_status(const char *token)
{
	optarc_retrieve_res res;
	optarc_retrieval *r;
	char h[65];
	int rc = retrieval_status(token, &res);
	if (rc != EXIT_OK)
		return rc;
	r = &res.optarc_retrieve_res_u.ok;
	hex32(r->sha256, h);
	fputs("token ", stdout);
	put_text(stdout, r->token);
	printf("\nstate %s\nmode %s\npriority %u\nposition %u\ndeadline %lld\nvsn ", state_name(r->state),
	       r->mode == OPTARC_OFFLINE ? "offline" : "online", r->priority, r->position,
	       (long long)r->deadline.seconds);
	put_text(stdout, r->vsn);
	fputs("\npath ", stdout);
	put_bytes(stdout, r->path.optarc_path_val, r->path.optarc_path_len);
	printf("\nsize %llu\nsha256 %s\nsource ", (unsigned long long)r->size, h);
	put_text(stdout, r->source);
	printf("\npercent %u\nexpires %lld\nmessage ", r->percent, (long long)r->expires.seconds);
	put_text(stdout, r->message);
	putchar('\n');
	fflush(stdout);
	xdr_free((xdrproc_t)xdr_optarc_retrieve_res, (char *)&res);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct oc_options o;
	const char *host = NULL, *command = NULL, *arg = NULL, *vsn = NULL, *file = NULL;
	int offline = 0, wait = 0, have_priority = 0, have_deadline = 0, i, rc, rc_close;
	optarc_match match = OPTARC_MATCH_GLOB;
	int matches = 0;
	unsigned long priority = 0, deadline = 0;

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
		} else if (strcmp(a, "--vsn") == 0 && v) {
			if (*v == '\0' || strlen(v) > OPTARC_MAX_LABEL)
				usage();
			vsn = v;
			i++;
		} else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && v) {
			if (*v == '\0')
				usage();
			file = v;
			i++;
		} else if (strcmp(a, "--priority") == 0 && v) {
			if (!parse_ulong(v, 1, 5, &priority))
				usage();
			have_priority = 1;
			i++;
		} else if (strcmp(a, "--deadline") == 0 && v) {
			if (!parse_ulong(v, 0, 0x7fffffffUL, &deadline))
				usage();
			have_deadline = 1;
			i++;
		} else if (strcmp(a, "--offline") == 0) {
			offline = 1;
		} else if (strcmp(a, "-w") == 0 || strcmp(a, "--wait") == 0) {
			wait = 1;
		} else if (strcmp(a, "--like") == 0) {
			match = OPTARC_MATCH_LIKE;
			matches++;
		} else if (strcmp(a, "--glob") == 0) {
			match = OPTARC_MATCH_GLOB;
			matches++;
		} else if (strcmp(a, "--exact") == 0) {
			match = OPTARC_MATCH_EXACT;
			matches++;
		} else if (a[0] == '-' && a[1] != '\0') {
			usage();
		} else if (host == NULL) {
			host = a;
		} else if (command == NULL) {
			command = a;
		} else if (arg == NULL) {
			arg = a;
		} else {
			usage();
		}
	}
	if (host == NULL || command == NULL || arg == NULL || (o.bufsize != 0 && o.port < 0) || matches > 1)
		usage();
	if (strlen(arg) > OPTARC_MAX_PATH)
		usage();
	/* each option belongs to some commands only */
	if (strcmp(command, "find") == 0) {
		if (offline || wait || have_priority || have_deadline || file)
			usage();
	} else if (strcmp(command, "whereis") == 0 || strcmp(command, "status") == 0) {
		if (offline || wait || have_priority || have_deadline || file || vsn || matches)
			usage();
	} else if (strcmp(command, "get") == 0) {
		if (matches || offline != have_priority || (have_deadline && !offline) || (wait && !offline) ||
		    (file && offline && !wait))
			usage();
	} else if (strcmp(command, "pickup") == 0) {
		if (matches || offline || have_priority || have_deadline || vsn)
			usage();
	} else {
		usage();
	}
	if ((strcmp(command, "pickup") == 0 || strcmp(command, "status") == 0) && strlen(arg) > OPTARC_MAX_TOKEN)
		usage();
	o.host = host;
	signal(SIGPIPE, SIG_IGN);

	rc = oc_connect(&conn, PROG, &o);
	if (rc != EXIT_OK)
		return rc;
	rc = oc_hello(&conn, &o);
	if (rc != EXIT_OK) {
		oc_close(&conn);
		return rc;
	}
	if (strcmp(command, "find") == 0)
		rc = do_find(match, vsn, arg);
	else if (strcmp(command, "whereis") == 0)
		rc = do_whereis(arg);
	else if (strcmp(command, "get") == 0)
		rc = do_get(arg, vsn, offline, priority, deadline, wait, file);
	else if (strcmp(command, "pickup") == 0)
		rc = do_pickup(arg, wait, file);
	else
		rc = do_status(arg);
	rc_close = oc_close(&conn);
	return rc != EXIT_OK ? rc : rc_close;
}

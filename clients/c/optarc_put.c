/*
 * optarc-put -- stage a directory tree on an optarc edge agent.
 *
 *   optarc-put [--port N] [--bufsize B] [--client NAME] [--auth-sys] <host> <dir>
 *
 * Reaches the agent through the portmapper on <host> (clnt_create, "tcp"), or
 * at a fixed TCP port with --port (clnttcp_create, with send and receive
 * buffers of B bytes when --bufsize is given). Calls HELLO (protocol 1, this
 * machine's clock in UTC, --client or the host name), then walks <dir> in
 * byte order of the names, depth first: MKDIR for each directory, and for each
 * regular file WRITE in chunks of OPTARC_MAX_DATA bytes while computing its
 * SHA-256, then COMMIT_FILE with its size, permission bits, modification time
 * and SHA-256, which the agent checks. Paths are sent relative to <dir>.
 * Symbolic links and special files are skipped with a warning. Then BYE.
 * Running it again into the same working directory (same host and --client)
 * is safe: directories that exist are accepted, and a file an earlier run
 * committed is committed again with its SHA-256, which the agent answers OK
 * when the contents are the same and OPTARC_COMMITTED when they differ.
 *
 * Prints "<sha256>  <path>" per file (as sha256sum does) and a "total:" line.
 * Exit status: 0 done; 1 RPC/transport failure; 2 usage; 3 OPTARC_BUSY;
 * 4 any other failure status from the agent; 5 a local file could not be
 * read (or its path is longer than the protocol carries).
 * Failures are printed as "optarc-put: <path>: <STATUS_NAME>: <message>".
 */
#include <dirent.h>
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

#define PROG "optarc-put"
#define CHUNK OPTARC_MAX_DATA

static struct oc_conn conn;
static char *chunk;
static unsigned long n_files, n_dirs, n_skipped;
static unsigned long long n_bytes;

static void usage(void)
{
	fprintf(stderr,
		"usage: " PROG " [--port N] [--bufsize B] [--client NAME] [--auth-sys] <host> <dir>\n"
		"  --port N       the agent's TCP port (default: ask the portmapper on <host>)\n"
		"  --bufsize B    send/receive buffer in bytes with --port (default: the library's)\n"
		"  --client NAME  the name given to the agent (default: this host's name)\n"
		"  --auth-sys     send AUTH_SYS credentials (default AUTH_NONE)\n"
		"exit: 0 ok, 1 RPC error, 2 usage, 3 agent busy, 4 agent failure, 5 local file error\n");
	exit(EXIT_USAGE);
}

/* The session is of no use after a transport failure: leave without BYE. */
static int rpc_failed(const char *what, enum clnt_stat st)
{
	int rc = oc_rpc_error(&conn, what, st);
	conn.have_session = 0;
	oc_close(&conn);
	return rc;
}

/* An agent failure: report it, say BYE so the lease is free, and return the exit code. */
static int agent_failed(const char *path, optarc_status st, const optarc_fail *f)
{
	int rc = oc_failure(&conn, path, st, f);
	oc_close(&conn);
	return rc;
}

static int local_failed(const char *path, const char *what, int err)
{
	if (err)
		fprintf(stderr, "%s: %s: %s: %s\n", PROG, path, what, strerror(err));
	else
		fprintf(stderr, "%s: %s: %s\n", PROG, path, what);
	oc_close(&conn);
	return EXIT_LOCAL;
}

static void set_path(optarc_path *p, const char *rel)
{
	p->optarc_path_len = (u_int)strlen(rel);
	p->optarc_path_val = (char *)rel;
}

static int is_dir_on_agent(const char *rel)
{
	optarc_path_args args;
	optarc_stat_res res;
	int yes;

	args.session = conn.session;
	set_path(&args.path, rel);
	memset(&res, 0, sizeof res);
	if (oc_call(&conn, OPTARC_STAT, (xdrproc_t)xdr_optarc_path_args, &args,
		    (xdrproc_t)xdr_optarc_stat_res, &res) != RPC_SUCCESS)
		return 0;
	yes = res.status == OPTARC_OK && res.optarc_stat_res_u.ok.kind == OPTARC_DIR;
	xdr_free((xdrproc_t)xdr_optarc_stat_res, (char *)&res);
	return yes;
}

static int make_dir(const char *rel, u_int mode)
{
	optarc_mkdir_args args;
	optarc_res res;
	enum clnt_stat st;
	int rc;

	args.session = conn.session;
	set_path(&args.path, rel);
	args.mode = mode;
	memset(&res, 0, sizeof res);
	st = oc_call(&conn, OPTARC_MKDIR, (xdrproc_t)xdr_optarc_mkdir_args, &args,
		     (xdrproc_t)xdr_optarc_res, &res);
	if (st != RPC_SUCCESS)
		return rpc_failed(rel, st);
	if (res.status == OPTARC_EXISTS && is_dir_on_agent(rel)) {
		/* staged by an earlier run into the same working directory: fine */
		xdr_free((xdrproc_t)xdr_optarc_res, (char *)&res);
		n_dirs++;
		return EXIT_OK;
	}
	if (res.status != OPTARC_OK) {
		rc = agent_failed(rel, res.status, &res.optarc_res_u.fail);
		xdr_free((xdrproc_t)xdr_optarc_res, (char *)&res);
		return rc;
	}
	xdr_free((xdrproc_t)xdr_optarc_res, (char *)&res);
	n_dirs++;
	return EXIT_OK;
}

/* Fill chunk from fd up to CHUNK bytes or the end of the file. */
static ssize_t read_chunk(int fd)
{
	size_t have = 0;
	while (have < CHUNK) {
		ssize_t n = read(fd, chunk + have, CHUNK - have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	return (ssize_t)have;
}

static int put_file(const char *local, const char *rel)
{
	struct stat st;
	sha256_ctx ctx;
	unsigned char digest[SHA256_DIGEST_SIZE];
	char hex[2 * SHA256_DIGEST_SIZE + 1];
	unsigned long long offset = 0, staged;
	optarc_write_args wargs;
	optarc_commit_args cargs;
	optarc_commit_res cres;
	optarc_time mtime;
	optarc_sha256 sum;
	enum clnt_stat cst;
	int fd, rc, already = 0;

	fd = open(local, O_RDONLY);
	if (fd < 0)
		return local_failed(rel, "cannot open", errno);
	if (fstat(fd, &st) != 0) {
		rc = errno;
		close(fd);
		return local_failed(rel, "cannot stat", rc);
	}
	sha256_init(&ctx);
	memset(&wargs, 0, sizeof wargs);
	wargs.session = conn.session;
	set_path(&wargs.path, rel);
	for (;;) {
		optarc_write_res wres;
		ssize_t n = read_chunk(fd);
		if (n < 0) {
			rc = errno;
			close(fd);
			return local_failed(rel, "cannot read", rc);
		}
		if (n == 0)
			break;
		sha256_update(&ctx, chunk, (size_t)n);
		if (already) {
			/* committed by an earlier run: only its SHA-256 is needed, for COMMIT_FILE */
			offset += (unsigned long long)n;
			if ((size_t)n < CHUNK)
				break;
			continue;
		}
		wargs.offset = offset;
		wargs.data.data_len = (u_int)n;
		wargs.data.data_val = chunk;
		memset(&wres, 0, sizeof wres);
		cst = oc_call(&conn, OPTARC_WRITE, (xdrproc_t)xdr_optarc_write_args, &wargs,
			      (xdrproc_t)xdr_optarc_write_res, &wres);
		if (cst != RPC_SUCCESS) {
			close(fd);
			return rpc_failed(rel, cst);
		}
		if (wres.status == OPTARC_COMMITTED && offset == 0) {
			/*
			 * An earlier run into this working directory committed the file.
			 * COMMIT_FILE with the same size and SHA-256 is answered OK (a
			 * retransmission), other contents OPTARC_COMMITTED: either way
			 * the agent, not this client, says whether it is the same file.
			 */
			xdr_free((xdrproc_t)xdr_optarc_write_res, (char *)&wres);
			already = 1;
			offset = (unsigned long long)n;
			if ((size_t)n < CHUNK)
				break;
			continue;
		}
		if (wres.status != OPTARC_OK) {
			close(fd);
			rc = agent_failed(rel, wres.status, &wres.optarc_write_res_u.fail);
			xdr_free((xdrproc_t)xdr_optarc_write_res, (char *)&wres);
			return rc;
		}
		offset += (unsigned long long)n;
		staged = (unsigned long long)wres.optarc_write_res_u.ok.size;
		xdr_free((xdrproc_t)xdr_optarc_write_res, (char *)&wres);
		if (staged != offset) {
			fprintf(stderr, "%s: %s: the agent holds %llu bytes after a WRITE up to %llu\n", PROG, rel,
				staged, offset);
			close(fd);
			oc_close(&conn);
			return EXIT_AGENT;
		}
		if ((size_t)n < CHUNK)
			break;
	}
	close(fd);
	sha256_final(&ctx, digest);
	if (offset != (unsigned long long)st.st_size)
		fprintf(stderr, "%s: %s: warning: it changed while it was read (%llu bytes at open, %llu read)\n", PROG, rel,
			(unsigned long long)st.st_size, offset);

	memset(&cargs, 0, sizeof cargs);
	cargs.session = conn.session;
	set_path(&cargs.path, rel);
	cargs.size = offset;
	cargs.mode = (u_int)(st.st_mode & 0777);
	mtime.seconds = st.st_mtime;
#ifdef OPTARC_NO_ST_MTIM
	mtime.nanoseconds = 0;
#else
	mtime.nanoseconds = (u_int)st.st_mtim.tv_nsec;
#endif
	cargs.mtime = &mtime;
	memcpy(sum, digest, sizeof sum);
	cargs.sha256 = &sum;
	memset(&cres, 0, sizeof cres);
	cst = oc_call(&conn, OPTARC_COMMIT_FILE, (xdrproc_t)xdr_optarc_commit_args, &cargs,
		      (xdrproc_t)xdr_optarc_commit_res, &cres);
	if (cst != RPC_SUCCESS)
		return rpc_failed(rel, cst);
	if (cres.status != OPTARC_OK) {
		rc = agent_failed(rel, cres.status, &cres.optarc_commit_res_u.fail);
		xdr_free((xdrproc_t)xdr_optarc_commit_res, (char *)&cres);
		return rc;
	}
	if (memcmp(cres.optarc_commit_res_u.ok.sha256, digest, sizeof digest) != 0 ||
	    (unsigned long long)cres.optarc_commit_res_u.ok.size != offset) {
		fprintf(stderr, "%s: %s: the agent committed other contents than were sent\n", PROG, rel);
		xdr_free((xdrproc_t)xdr_optarc_commit_res, (char *)&cres);
		oc_close(&conn);
		return EXIT_AGENT;
	}
	xdr_free((xdrproc_t)xdr_optarc_commit_res, (char *)&cres);
	sha256_hex(digest, hex);
	printf("%s  %s\n", hex, rel);
	n_files++;
	n_bytes += offset;
	return EXIT_OK;
}

static int by_bytes(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory but . and .., sorted by their bytes; NULL-terminated. */
static char **list_dir(const char *local, int *err)
{
	DIR *d = opendir(local);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;

	*err = 0;
	if (d == NULL) {
		*err = errno;
		return NULL;
	}
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			if (errno != 0)
				*err = errno;
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n + 2 > cap) {
			char **more;
			cap = cap ? cap * 2 : 32;
			more = realloc(names, cap * sizeof *names);
			if (more == NULL) {
				*err = ENOMEM;
				break;
			}
			names = more;
		}
		names[n] = strdup(e->d_name);
		if (names[n] == NULL) {
			*err = ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (*err) {
		while (n > 0)
			free(names[--n]);
		free(names);
		return NULL;
	}
	if (names == NULL) {
		names = malloc(sizeof *names);
		if (names == NULL) {
			*err = ENOMEM;
			return NULL;
		}
	}
	qsort(names, n, sizeof *names, by_bytes);
	names[n] = NULL;
	return names;
}

static char *join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 2);
	if (s == NULL) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		exit(EXIT_LOCAL);
	}
	memcpy(s, a, la);
	s[la] = '/';
	memcpy(s + la + 1, b, lb + 1);
	return s;
}

/* Stage the directory `local`, which is `rel` on the agent ("" for the top). */
static int put_tree(const char *local, const char *rel)
{
	char **names;
	int err, rc = EXIT_OK;
	size_t i;

	names = list_dir(local, &err);
	if (names == NULL)
		return local_failed(*rel ? rel : local, "cannot list the directory", err);
	for (i = 0; names[i] != NULL && rc == EXIT_OK; i++) {
		char *child = join(local, names[i]);
		char *crel = *rel ? join(rel, names[i]) : strdup(names[i]);
		struct stat st;

		if (crel == NULL) {
			fprintf(stderr, "%s: out of memory\n", PROG);
			exit(EXIT_LOCAL);
		}
		if (lstat(child, &st) != 0) {
			rc = local_failed(crel, "cannot stat", errno);
		} else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
			fprintf(stderr, "%s: %s: warning: skipped, %s\n", PROG, crel,
				S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file or directory");
			n_skipped++;
		} else if (strlen(crel) > OPTARC_MAX_PATH) {
			fprintf(stderr, "%s: %s: the path is %lu bytes, longer than the %d the protocol carries\n",
				PROG, crel, (unsigned long)strlen(crel), OPTARC_MAX_PATH);
			oc_close(&conn);
			rc = EXIT_LOCAL;
		} else if (S_ISDIR(st.st_mode)) {
			rc = make_dir(crel, (u_int)(st.st_mode & 0777));
			if (rc == EXIT_OK)
				rc = put_tree(child, crel);
		} else {
			rc = put_file(child, crel);
		}
		free(child);
		free(crel);
	}
	for (i = 0; names[i] != NULL; i++)
		free(names[i]);
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	struct oc_options o;
	const char *pos[2];
	int npos = 0, i, rc;
	struct stat st;

	memset(&o, 0, sizeof o);
	o.port = -1;
	for (i = 1; i < argc; i++) {
		int used = oc_parse_common(&o, argc, argv, i);
		if (used < 0)
			usage();
		if (used > 0) {
			i += used - 1;
			continue;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			usage();
		if (argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2] != '\0')
			usage();
		if (npos == 2)
			usage();
		pos[npos++] = argv[i];
	}
	if (npos != 2 || (o.bufsize != 0 && o.port < 0))
		usage();
	o.host = pos[0];
	if (stat(pos[1], &st) != 0) {
		fprintf(stderr, "%s: %s: %s\n", PROG, pos[1], strerror(errno));
		return EXIT_LOCAL;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: %s: not a directory\n", PROG, pos[1]);
		return EXIT_LOCAL;
	}
	chunk = malloc(CHUNK);
	if (chunk == NULL) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return EXIT_LOCAL;
	}
	/* a write to a connection the agent closed is an RPC error, not a signal */
	signal(SIGPIPE, SIG_IGN);

	rc = oc_connect(&conn, PROG, &o);
	if (rc != EXIT_OK)
		return rc;
	rc = oc_hello(&conn, &o);
	if (rc != EXIT_OK) {
		oc_close(&conn);
		return rc;
	}
	rc = put_tree(pos[1], "");
	if (rc != EXIT_OK)
		return rc;
	printf("total: %lu files, %llu bytes, %lu directories, %lu skipped\n", n_files, n_bytes, n_dirs,
	       n_skipped);
	fflush(stdout);
	return oc_close(&conn);
}

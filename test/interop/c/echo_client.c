/*
 * echo_client -- libtirpc interop client for echo.x.
 *
 * Usage:
 *   echo_client --host H --mode portmap [--auth none|sys] [--proc echo|null]
 *               [--sizes S1,S2,...]
 *   echo_client --host H --mode port --port N [--bufsize B] [--auth none|sys]
 *               [--proc echo|null] [--sizes S1,S2,...]
 *
 *   --mode portmap  clnt_create(host, PROG, VERS, "tcp")  (asks rpcbind)
 *   --mode port     clnttcp_create(&sin, PROG, VERS, &sock, B, B) to host:N
 *   --bufsize B     send/recv XDR record buffer size for --mode port
 *                   (0 = libtirpc default; e.g. 9000 = illumos default)
 *   --auth sys      cl_auth = authunix_create_default()   (default: none)
 *   --proc null     only call NULL once and print "OK null"
 *   --sizes         default 0,1,3,4,5,8999,9000,65536,1048576,4194311
 *
 * For --proc echo (default): calls NULL once, then for every size calls
 * ECHO with a deterministic payload (see fill_payload) and checks that the
 * reply is byte-for-byte identical.  Prints "OK <size>" or
 * "FAIL <size> <reason>" per size; exit status 0 iff everything was OK.
 * Call timeout is 60 s (CLSET_TIMEOUT).
 */
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <rpc/rpc.h>

#include "echo.h"

#define DEFAULT_SIZES "0,1,3,4,5,8999,9000,65536,1048576,4194311"

static const char *opt_host = "127.0.0.1";
static const char *opt_mode = NULL;
static int opt_port = -1;
static u_int opt_bufsize = 0;
static int opt_auth_sys = 0;
static int opt_proc_null = 0;
static const char *opt_sizes = DEFAULT_SIZES;

/*
 * Deterministic payload: 32-bit LCG (Numerical Recipes constants) seeded
 * with the size; each byte is the top 8 bits of the next state.
 *   s = (uint32)size ^ 0x9E3779B9
 *   for i in 0..size-1: s = s*1664525 + 1013904223; buf[i] = s >> 24
 */
static void fill_payload(unsigned char *buf, size_t size)
{
	uint32_t s = (uint32_t)size ^ 0x9E3779B9u;
	size_t i;
	for (i = 0; i < size; i++) {
		s = s * 1664525u + 1013904223u;
		buf[i] = (unsigned char)(s >> 24);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: echo_client --host H --mode portmap|port [--port N] [--bufsize B]\n"
		"                   [--auth none|sys] [--proc echo|null] [--sizes S1,S2,...]\n");
	exit(2);
}

static int resolve_ipv4(const char *host, struct in_addr *out)
{
	if (inet_pton(AF_INET, host, out) == 1)
		return 0;
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return -1;
	*out = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

/* Returns a connected client or NULL (error text in errbuf). */
static CLIENT *make_client(char *errbuf, size_t errlen)
{
	CLIENT *cl;

	if (strcmp(opt_mode, "portmap") == 0) {
		cl = clnt_create(opt_host, ECHO_PROG, ECHO_VERS, "tcp");
		if (cl == NULL) {
			snprintf(errbuf, errlen, "%s", clnt_spcreateerror("clnt_create"));
			return NULL;
		}
	} else {
		struct sockaddr_in sin;
		int sock = RPC_ANYSOCK;
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons((unsigned short)opt_port);
		if (resolve_ipv4(opt_host, &sin.sin_addr) < 0) {
			snprintf(errbuf, errlen, "cannot resolve host %s", opt_host);
			return NULL;
		}
		cl = clnttcp_create(&sin, ECHO_PROG, ECHO_VERS, &sock,
				    opt_bufsize, opt_bufsize);
		if (cl == NULL) {
			snprintf(errbuf, errlen, "%s", clnt_spcreateerror("clnttcp_create"));
			return NULL;
		}
		/* clnttcp_create() gave us the socket; let clnt_destroy close it. */
		clnt_control(cl, CLSET_FD_CLOSE, NULL);
	}

	struct timeval tv = { 60, 0 };
	clnt_control(cl, CLSET_TIMEOUT, (char *)&tv);

	if (opt_auth_sys) {
		AUTH *a = authunix_create_default();
		if (a == NULL) {
			snprintf(errbuf, errlen, "authunix_create_default failed");
			clnt_destroy(cl);
			return NULL;
		}
		auth_destroy(cl->cl_auth);
		cl->cl_auth = a;
	}
	return cl;
}

static void destroy_client(CLIENT *cl)
{
	if (cl == NULL)
		return;
	if (cl->cl_auth != NULL)
		auth_destroy(cl->cl_auth);
	cl->cl_auth = NULL;
	clnt_destroy(cl);
}

static void strip_newline(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static int call_null(CLIENT *cl, char *errbuf, size_t errlen)
{
	struct timeval tv = { 60, 0 };
	enum clnt_stat st = clnt_call(cl, ECHO_NULL, (xdrproc_t)xdr_void, NULL,
				      (xdrproc_t)xdr_void, NULL, tv);
	if (st != RPC_SUCCESS) {
		snprintf(errbuf, errlen, "%s", clnt_sperror(cl, "NULL"));
		strip_newline(errbuf);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
		if (strcmp(a, "--host") == 0 && v) {
			opt_host = v; i++;
		} else if (strcmp(a, "--mode") == 0 && v) {
			opt_mode = v; i++;
		} else if (strcmp(a, "--port") == 0 && v) {
			opt_port = atoi(v); i++;
		} else if (strcmp(a, "--bufsize") == 0 && v) {
			opt_bufsize = (u_int)strtoul(v, NULL, 10); i++;
		} else if (strcmp(a, "--auth") == 0 && v) {
			if (strcmp(v, "sys") == 0)
				opt_auth_sys = 1;
			else if (strcmp(v, "none") == 0)
				opt_auth_sys = 0;
			else
				usage();
			i++;
		} else if (strcmp(a, "--proc") == 0 && v) {
			if (strcmp(v, "null") == 0)
				opt_proc_null = 1;
			else if (strcmp(v, "echo") == 0)
				opt_proc_null = 0;
			else
				usage();
			i++;
		} else if (strcmp(a, "--sizes") == 0 && v) {
			opt_sizes = v; i++;
		} else {
			usage();
		}
	}
	if (opt_mode == NULL)
		opt_mode = (opt_port >= 0) ? "port" : "portmap";
	if (strcmp(opt_mode, "portmap") != 0 && strcmp(opt_mode, "port") != 0)
		usage();
	if (strcmp(opt_mode, "port") == 0 && (opt_port <= 0 || opt_port > 65535))
		usage();

	setvbuf(stdout, NULL, _IOLBF, 0);

	char err[1024];
	CLIENT *cl = make_client(err, sizeof err);
	if (cl == NULL) {
		strip_newline(err);
		printf("FAIL %s %s\n", opt_proc_null ? "null" : "connect", err);
		return 1;
	}

	if (call_null(cl, err, sizeof err) < 0) {
		printf("FAIL null %s\n", err);
		destroy_client(cl);
		return 1;
	}
	if (opt_proc_null) {
		printf("OK null\n");
		destroy_client(cl);
		return 0;
	}

	int failures = 0;
	char *sizes = strdup(opt_sizes);
	char *save = NULL;
	char *tok;
	for (tok = strtok_r(sizes, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long size = strtoul(tok, &end, 10);
		if (*tok == '\0' || *end != '\0') {
			printf("FAIL %s bad size\n", tok);
			failures++;
			continue;
		}
		if (cl == NULL) {
			/* reconnect after a previous transport failure */
			cl = make_client(err, sizeof err);
			if (cl == NULL) {
				strip_newline(err);
				printf("FAIL %lu %s\n", size, err);
				failures++;
				continue;
			}
		}

		unsigned char *payload = malloc(size ? size : 1);
		if (payload == NULL) {
			printf("FAIL %lu out of memory\n", size);
			failures++;
			continue;
		}
		fill_payload(payload, size);

		blob arg, res;
		arg.blob_len = (u_int)size;
		arg.blob_val = (char *)payload;
		memset(&res, 0, sizeof res);

		struct timeval tv = { 60, 0 };
		enum clnt_stat st = clnt_call(cl, ECHO, (xdrproc_t)xdr_blob, (caddr_t)&arg,
					      (xdrproc_t)xdr_blob, (caddr_t)&res, tv);
		if (st != RPC_SUCCESS) {
			snprintf(err, sizeof err, "%s", clnt_sperror(cl, "ECHO"));
			strip_newline(err);
			printf("FAIL %lu %s\n", size, err);
			failures++;
			destroy_client(cl);
			cl = NULL;
		} else if (res.blob_len != size) {
			printf("FAIL %lu length mismatch: got %u bytes\n", size, res.blob_len);
			failures++;
		} else if (size > 0 && memcmp(res.blob_val, payload, size) != 0) {
			unsigned long k = 0;
			while (k < size && (unsigned char)res.blob_val[k] == payload[k])
				k++;
			printf("FAIL %lu content mismatch at offset %lu: got 0x%02x want 0x%02x\n",
			       size, k, (unsigned char)res.blob_val[k], payload[k]);
			failures++;
		} else {
			printf("OK %lu\n", size);
		}
		if (st == RPC_SUCCESS)
			xdr_free((xdrproc_t)xdr_blob, (char *)&res);
		free(payload);
	}
	free(sizes);
	destroy_client(cl);
	return failures ? 1 : 0;
}

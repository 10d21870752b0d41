/*
 * bench_client -- closed-loop load generator for echo.x (libtirpc).
 *
 * Usage: bench_client --host H --port N --proc null|write --size BYTES
 *                     --seconds S --clients C [--bufsize B]
 *
 * Forks C processes.  Each connects with clnttcp_create() (record buffer
 * B bytes; default 262144 for write, 0 = libtirpc default for null), then
 * issues back-to-back synchronous calls.  All children share one time
 * window (CLOCK_MONOTONIC): they warm up (>= 0.2 s) until T0, then count
 * calls completed in [T0, T0 + S).  Counts are aggregated through a pipe
 * and one JSON line is printed:
 *
 *   {"calls":N,"seconds":S,"callsPerSec":X,"bytesPerSec":Y}
 *
 * bytesPerSec = calls * size / seconds (payload bytes only; 0 for null).
 * Any RPC error (or a WRITE reply != size) is printed to stderr and makes
 * the exit status non-zero.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <rpc/rpc.h>

#include "echo.h"

struct result {
	uint64_t calls;
	int32_t ok;
	int32_t pad;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_client --host H --port N --proc null|write --size BYTES\n"
		"                    --seconds S --clients C [--bufsize B]\n");
	exit(2);
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void child(int wfd, struct sockaddr_in *sin, int proc_write, u_int size,
		  u_int bufsize, double t0, double t_end, int id)
{
	struct result r = { 0, 0, 0 };
	int sock = RPC_ANYSOCK;
	CLIENT *cl = clnttcp_create(sin, ECHO_PROG, ECHO_VERS, &sock, bufsize, bufsize);
	if (cl == NULL) {
		fprintf(stderr, "bench_client[%d]: %s\n", id, clnt_spcreateerror("clnttcp_create"));
		write_full(wfd, &r, sizeof r);
		_exit(1);
	}
	struct timeval tv = { 60, 0 };
	clnt_control(cl, CLSET_TIMEOUT, (char *)&tv);

	char *payload = NULL;
	blob arg;
	if (proc_write) {
		payload = malloc(size ? size : 1);
		if (payload == NULL) {
			fprintf(stderr, "bench_client[%d]: out of memory\n", id);
			write_full(wfd, &r, sizeof r);
			_exit(1);
		}
		memset(payload, 0xA5, size);
	}
	arg.blob_len = size;
	arg.blob_val = payload;

	uint64_t counted = 0;
	int ok = 1;
	for (;;) {
		double t = now_s();
		if (t >= t_end)
			break;
		enum clnt_stat st;
		u_int res = 0;
		if (proc_write)
			st = clnt_call(cl, WRITE, (xdrproc_t)xdr_blob, (caddr_t)&arg,
				       (xdrproc_t)xdr_u_int, (caddr_t)&res, tv);
		else
			st = clnt_call(cl, ECHO_NULL, (xdrproc_t)xdr_void, NULL,
				       (xdrproc_t)xdr_void, NULL, tv);
		if (st != RPC_SUCCESS) {
			fprintf(stderr, "bench_client[%d]: %s", id,
				clnt_sperror(cl, proc_write ? "WRITE" : "NULL"));
			ok = 0;
			break;
		}
		if (proc_write && res != size) {
			fprintf(stderr, "bench_client[%d]: WRITE returned %u, expected %u\n",
				id, res, size);
			ok = 0;
			break;
		}
		double done = now_s();
		if (done >= t0 && done < t_end)
			counted++;
	}
	r.calls = counted;
	r.ok = ok;
	write_full(wfd, &r, sizeof r);
	clnt_destroy(cl);
	free(payload);
	_exit(ok ? 0 : 1);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = -1, clients = 1, proc_write = -1;
	long size = 0;
	double seconds = 0;
	long bufsize = -1;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
		if (v == NULL)
			usage();
		if (strcmp(a, "--host") == 0)
			host = v;
		else if (strcmp(a, "--port") == 0)
			port = atoi(v);
		else if (strcmp(a, "--proc") == 0) {
			if (strcmp(v, "null") == 0)
				proc_write = 0;
			else if (strcmp(v, "write") == 0)
				proc_write = 1;
			else
				usage();
		} else if (strcmp(a, "--size") == 0)
			size = atol(v);
		else if (strcmp(a, "--seconds") == 0)
			seconds = atof(v);
		else if (strcmp(a, "--clients") == 0)
			clients = atoi(v);
		else if (strcmp(a, "--bufsize") == 0)
			bufsize = atol(v);
		else
			usage();
		i++;
	}
	if (port <= 0 || port > 65535 || proc_write < 0 || size < 0 ||
	    size > 0x7fffffffL || seconds <= 0 || clients <= 0)
		usage();
	if (!proc_write)
		size = 0;
	if (bufsize < 0)
		bufsize = proc_write ? 262144 : 0;

	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof hints);
		hints.ai_family = AF_INET;
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
			fprintf(stderr, "bench_client: cannot resolve %s\n", host);
			return 2;
		}
		sin.sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
		freeaddrinfo(res);
	}

	signal(SIGPIPE, SIG_IGN);
	int pfd[2];
	if (pipe(pfd) < 0) {
		perror("pipe");
		return 1;
	}

	/* Common window: warm-up of at least 0.2 s plus fork/connect slack. */
	double t0 = now_s() + 0.2 + 0.005 * clients;
	double t_end = t0 + seconds;

	for (i = 0; i < clients; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			close(pfd[0]);
			child(pfd[1], &sin, proc_write, (u_int)size, (u_int)bufsize, t0, t_end, i);
		}
	}
	close(pfd[1]);

	uint64_t total = 0;
	int all_ok = 1, got = 0;
	struct result r;
	while (got < clients && read_full(pfd[0], &r, sizeof r) == 0) {
		total += r.calls;
		if (!r.ok)
			all_ok = 0;
		got++;
	}
	if (got < clients)
		all_ok = 0;
	for (i = 0; i < clients; i++) {
		int status;
		if (wait(&status) < 0)
			break;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			all_ok = 0;
	}

	double cps = (double)total / seconds;
	printf("{\"calls\":%llu,\"seconds\":%g,\"callsPerSec\":%.1f,\"bytesPerSec\":%.1f}\n",
	       (unsigned long long)total, seconds, cps, cps * (double)size);
	fflush(stdout);
	return all_ok ? 0 : 1;
}

/*
 * tcp_send -- raw loopback TCP baseline client for tcp_sink.
 *
 * Usage: tcp_send --host H --port N --size BYTES --seconds S --clients C
 *
 * Forks C processes; each connects (TCP_NODELAY, default socket buffers),
 * then does a synchronous ping-pong loop: send 4-byte big-endian length +
 * SIZE payload bytes (one writev), wait for the 4-byte reply and check it
 * equals SIZE.  Same shared time window as bench_client (>= 0.2 s warm-up,
 * then calls completed in [T0, T0 + S) are counted).  Prints
 *
 *   {"calls":N,"seconds":S,"callsPerSec":X,"bytesPerSec":Y}
 *
 * with bytesPerSec = calls * size / seconds.  Non-zero exit on any error.
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
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

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

/* writev with partial-write handling */
static int writev_full(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t n = writev(fd, iov, cnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: tcp_send --host H --port N --size BYTES --seconds S --clients C\n");
	exit(2);
}

static void child(int wfd, struct sockaddr_in *sin, uint32_t size, double t0,
		  double t_end, int id)
{
	struct result r = { 0, 0, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)sin, sizeof *sin) < 0) {
		fprintf(stderr, "tcp_send[%d]: connect: %s\n", id, strerror(errno));
		write_full(wfd, &r, sizeof r);
		_exit(1);
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	char *payload = malloc(size ? size : 1);
	if (payload == NULL)
		_exit(1);
	memset(payload, 0xA5, size);
	unsigned char hdr[4] = { (unsigned char)(size >> 24), (unsigned char)(size >> 16),
				 (unsigned char)(size >> 8), (unsigned char)size };

	uint64_t counted = 0;
	int ok = 1;
	for (;;) {
		if (now_s() >= t_end)
			break;
		struct iovec iov[2];
		iov[0].iov_base = hdr;
		iov[0].iov_len = 4;
		iov[1].iov_base = payload;
		iov[1].iov_len = size;
		if (writev_full(fd, iov, size ? 2 : 1) < 0) {
			fprintf(stderr, "tcp_send[%d]: write: %s\n", id, strerror(errno));
			ok = 0;
			break;
		}
		unsigned char rep[4];
		if (read_full(fd, rep, 4) < 0) {
			fprintf(stderr, "tcp_send[%d]: read: %s\n", id,
				errno ? strerror(errno) : "EOF");
			ok = 0;
			break;
		}
		if (memcmp(rep, hdr, 4) != 0) {
			fprintf(stderr, "tcp_send[%d]: bad reply count\n", id);
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
	close(fd);
	free(payload);
	_exit(ok ? 0 : 1);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = -1, clients = 1, i;
	long size = -1;
	double seconds = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
		if (v == NULL)
			usage();
		if (strcmp(a, "--host") == 0)
			host = v;
		else if (strcmp(a, "--port") == 0)
			port = atoi(v);
		else if (strcmp(a, "--size") == 0)
			size = atol(v);
		else if (strcmp(a, "--seconds") == 0)
			seconds = atof(v);
		else if (strcmp(a, "--clients") == 0)
			clients = atoi(v);
		else
			usage();
		i++;
	}
	if (port <= 0 || port > 65535 || size < 0 || size > 0x7fffffffL ||
	    seconds <= 0 || clients <= 0)
		usage();

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
			fprintf(stderr, "tcp_send: cannot resolve %s\n", host);
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
			child(pfd[1], &sin, (uint32_t)size, t0, t_end, i);
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

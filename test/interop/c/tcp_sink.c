/*
 * tcp_sink -- raw loopback TCP baseline server (same request/response
 * shape as echo.x WRITE, without RPC/XDR).
 *
 * Usage: tcp_sink [--port N]          (default 0 = ephemeral)
 *
 * Binds 127.0.0.1:N, prints "PORT <n>" (flushed), and forks one process
 * per accepted connection.  Per connection it loops:
 *   read 4-byte big-endian length L, read L bytes (discarded),
 *   reply 4-byte big-endian L
 * until EOF.  TCP_NODELAY is set on accepted sockets; socket buffer sizes
 * are left at the kernel defaults (autotuning).  Exits on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define CHUNK (1024 * 1024)

/* 1 = ok, 0 = clean EOF before any byte, -1 = error / short read */
static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return got == 0 ? 0 : -1;
		got += (size_t)n;
	}
	return 1;
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

static void serve(int fd)
{
	char *buf = malloc(CHUNK);
	if (buf == NULL)
		_exit(1);
	for (;;) {
		unsigned char hdr[4];
		int r = read_full(fd, hdr, 4);
		if (r <= 0)
			break;
		uint32_t len = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
			       ((uint32_t)hdr[2] << 8) | hdr[3];
		uint32_t left = len;
		while (left > 0) {
			size_t want = left < CHUNK ? left : CHUNK;
			ssize_t n = read(fd, buf, want);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				goto out;
			left -= (uint32_t)n;
		}
		if (write_full(fd, hdr, 4) < 0)
			break;
	}
out:
	close(fd);
	free(buf);
	_exit(0);
}

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

int main(int argc, char **argv)
{
	int port = 0, i;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: tcp_sink [--port N]\n");
			return 2;
		}
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN); /* auto-reap connection handlers */

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0) {
		perror("socket");
		return 1;
	}
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0) {
		perror("bind");
		return 1;
	}
	if (listen(lfd, SOMAXCONN) < 0) {
		perror("listen");
		return 1;
	}
	socklen_t slen = sizeof sin;
	getsockname(lfd, (struct sockaddr *)&sin, &slen);
	printf("PORT %d\n", ntohs(sin.sin_port));
	fflush(stdout);

	while (!stop_requested) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("accept");
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		pid_t pid = fork();
		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			close(lfd);
			serve(fd);
		}
		close(fd);
	}
	close(lfd);
	return 0;
}

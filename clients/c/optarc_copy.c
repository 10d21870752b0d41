/*
 * optarc-copy -- copy a disc through an optarc edge agent: read it in, burn it again.
 *
 *   optarc-copy [--port N] [--bufsize B] [--client NAME] [--auth-sys] [-w] <host>
 *               --drive D
 *   optarc-copy [--port N] [--bufsize B] [--client NAME] [--auth-sys] [-w] <host>
 *               --burn-copies N --media NAME
 *
 * HELLO, then either COPY: the agent reads the disc loaded in drive D into
 * the copy area of this client's working directory (host and --client name)
 * and checks it against its mastered image; or BURN_COPY: the agent burns the
 * disc this working directory copied last N more times on NAME media, as
 * further copies of the same volume (same VSN). Then BYE. Prints "job <id>"
 * when the agent accepts the job.
 *
 * With -w (or --wait) it then follows the job through the same session, as
 * optarc-burn -w does (oc_wait_job): what changed on stderr once a second,
 * and at the end the job's message on stdout ("job 7 done: <message>" or
 * "job 7 failed: <message>").
 *
 * Exit status: 0 accepted (with -w: the job is done); 1 RPC/transport failure,
 * or with -w the job failed; 2 usage; 3 OPTARC_BUSY; 4 any other failure
 * status (OPTARC_NO_SUCH_DRIVE for a drive the agent does not have,
 * OPTARC_NOT_FOUND for BURN_COPY before any COPY), printed as
 * "optarc-copy: <host>: <STATUS_NAME>: <message>"; 5 out of memory.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optarc_client.h"

#define PROG "optarc-copy"

static void usage(void)
{
	fputs("usage: " PROG " [--port N] [--bufsize B] [--client NAME] [--auth-sys] [-w] <host>\n"
	      "                   --drive D\n"
	      "       " PROG " [--port N] [--bufsize B] [--client NAME] [--auth-sys] [-w] <host>\n"
	      "                   --burn-copies N --media NAME\n",
	      stderr);
	fprintf(stderr,
		"  --drive D          COPY: read the disc in drive D (at most %d bytes) into\n"
		"                     the agent's copy area\n"
		"  --burn-copies N    BURN_COPY: burn the disc copied last N more times (1 or\n"
		"                     more), as further copies of the same volume\n"
		"  --media NAME       media profile for --burn-copies, e.g. DVD+R or BD-R (at\n"
		"                     most %d bytes)\n",
		OPTARC_MAX_DRIVE, OPTARC_MAX_MEDIA);
	/* separate strings: C89 compilers need only take 509 characters in one */
	fputs("  -w, --wait         follow the job until it is done or failed: what changed on\n"
	      "                     stderr once a second, the job's final message on stdout\n"
	      "exit: 0 ok (-w: job done), 1 RPC error (-w: or job failed), 2 usage,\n"
	      "      3 agent busy, 4 agent failure, 5 out of memory\n",
	      stderr);
	exit(EXIT_USAGE);
}

int main(int argc, char **argv)
{
	struct oc_options o;
	struct oc_conn c;
	optarc_drive_args copy_args;
	optarc_burn_copy_args burn_args;
	optarc_job_res res;
	enum clnt_stat st;
	const char *host = NULL, *drive = NULL, *media = NULL;
	unsigned long copies = 0;
	int follow = 0, i, rc;

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
		} else if (strcmp(a, "--drive") == 0 && v) {
			drive = v;
			i++;
		} else if (strcmp(a, "--burn-copies") == 0 && v) {
			char *end;
			errno = 0;
			copies = strtoul(v, &end, 10);
			if (*v == '\0' || *end != '\0' || errno != 0 || copies < 1 || copies > 1000)
				usage();
			i++;
		} else if (strcmp(a, "--media") == 0 && v) {
			media = v;
			i++;
		} else if (strcmp(a, "-w") == 0 || strcmp(a, "--wait") == 0) {
			follow = 1;
		} else if (a[0] == '-' || host != NULL) {
			usage();
		} else {
			host = a;
		}
	}
	/* exactly one of COPY (--drive) and BURN_COPY (--burn-copies with --media) */
	if (host == NULL || (o.bufsize != 0 && o.port < 0))
		usage();
	if (drive != NULL) {
		if (copies != 0 || media != NULL || *drive == '\0' || strlen(drive) > OPTARC_MAX_DRIVE)
			usage();
	} else {
		if (copies == 0 || media == NULL || *media == '\0' || strlen(media) > OPTARC_MAX_MEDIA)
			usage();
	}
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
	memset(&res, 0, sizeof res);
	if (drive != NULL) {
		memset(&copy_args, 0, sizeof copy_args);
		copy_args.session = c.session;
		copy_args.drive = (char *)drive;
		st = oc_call(&c, OPTARC_COPY, (xdrproc_t)xdr_optarc_drive_args, &copy_args,
			     (xdrproc_t)xdr_optarc_job_res, &res);
	} else {
		memset(&burn_args, 0, sizeof burn_args);
		burn_args.session = c.session;
		burn_args.copies = (u_int)copies;
		burn_args.media = (char *)media;
		st = oc_call(&c, OPTARC_BURN_COPY, (xdrproc_t)xdr_optarc_burn_copy_args, &burn_args,
			     (xdrproc_t)xdr_optarc_job_res, &res);
	}
	return oc_job_started(&c, host, drive != NULL ? "COPY" : "BURN_COPY", st, &res, follow);
}

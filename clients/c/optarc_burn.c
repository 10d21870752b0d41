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

#include "optarc_client.h"

#define PROG "optarc-burn"

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

int main(int argc, char **argv)
{
	struct oc_options o;
	struct oc_conn c;
	optarc_burn_args args;
	optarc_job_res res;
	enum clnt_stat st;
	const char *host = NULL, *media = NULL, *label = "";
	unsigned long copies = 0;
	int append = 0, follow = 0, i, rc;

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
	return oc_job_started(&c, host, "BURN", st, &res, follow);
}

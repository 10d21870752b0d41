/*
 * optarc_client.h -- what optarc-put, optarc-burn and optarc-copy share:
 * reaching the agent (through the portmapper, or a fixed port), HELLO and BYE,
 * calling a procedure, reporting failures the same way with the same exit
 * codes, and following a job (-w) until it ends.
 *
 * Only optarc.h and optarc_xdr.c from rpcgen are used (not the generated
 * client stubs, whose shape differs between rpcgen versions and which keep
 * their results in static storage with a fixed 25-second timeout).
 */
#ifndef OPTARC_CLIENT_H
#define OPTARC_CLIENT_H

#include <rpc/rpc.h>

#include "optarc.h"

/* Exit codes of all the programs. */
#define EXIT_OK 0
#define EXIT_RPC 1       /* RPC or transport failure: could not reach or talk to the agent */
#define EXIT_USAGE 2     /* bad command line */
#define EXIT_BUSY 3      /* another client controls the agent (OPTARC_BUSY) */
#define EXIT_AGENT 4     /* any other failure status from the agent */
#define EXIT_LOCAL 5     /* a local problem: a source file cannot be read or named */
#define EXIT_JOB_FAILED 1 /* -w: the job ended OPTARC_JOB_FAILED */

#define OC_TIMEOUT_SECONDS 60
#define OC_POLL_SECONDS 1 /* between two JOB_STATUS calls of oc_wait_job */

struct oc_options {
	const char *host;
	int port;             /* -1: ask the portmapper (clnt_create) */
	unsigned int bufsize; /* send/receive buffer for a fixed port; 0: the library's default */
	const char *client;   /* name given in HELLO; NULL: this host's name */
	int auth_sys;         /* AUTH_SYS credentials instead of AUTH_NONE */
};

struct oc_conn {
	const char *prog;     /* program name for messages */
	const char *host;
	CLIENT *cl;
	optarc_session session;
	int have_session;
	optarc_hello_ok hello;
};

/* The status's name as in optarc.x ("OPTARC_BUSY"), or "status <n>". */
const char *oc_status_name(optarc_status s);

/*
 * Parse the options every program takes (--port N, --bufsize B, --client NAME,
 * --auth-sys). Returns how many argv entries it consumed at i (0: not one of
 * them, -1: one of them with a bad or missing value).
 */
int oc_parse_common(struct oc_options *o, int argc, char **argv, int i);

/* Connect; on failure prints the reason and returns EXIT_RPC. */
int oc_connect(struct oc_conn *c, const char *prog, const struct oc_options *o);

/* One call with the 60-second timeout; the result is zeroed first. */
enum clnt_stat oc_call(struct oc_conn *c, u_long proc, xdrproc_t xargs, void *args, xdrproc_t xres, void *res);

/* Print "<prog>: <what>: <rpc error>" and return EXIT_RPC. */
int oc_rpc_error(struct oc_conn *c, const char *what, enum clnt_stat st);

/*
 * Print "<prog>: <what>: <STATUS_NAME>: <message>" (and the detail the status
 * carries, when the message does not say it) and return EXIT_BUSY or EXIT_AGENT.
 */
int oc_failure(struct oc_conn *c, const char *what, optarc_status st, const optarc_fail *f);

/* HELLO (protocol OPTARC_VERSION, the clock now, the client's name); returns an exit code. */
int oc_hello(struct oc_conn *c, const struct oc_options *o);

/* BYE if there is a session (errors reported, returned as an exit code), then disconnect. */
int oc_close(struct oc_conn *c);

/*
 * Follow a job (-w): JOB_STATUS every OC_POLL_SECONDS in c's session until the
 * job is done or failed, printing on stderr each status line (one for the job,
 * one per volume) that differs from the last poll's, then the job's message on
 * stdout: "job <id> done: <message>" or "job <id> failed: <message>". *failed
 * is set when the job failed. Returns an exit code: EXIT_OK when the job ended
 * (done or failed), EXIT_RPC (the session is then dropped without BYE),
 * EXIT_BUSY or EXIT_AGENT for a failure status of JOB_STATUS, EXIT_LOCAL when
 * out of memory. Every XDR result is released with xdr_free.
 */
int oc_wait_job(struct oc_conn *c, optarc_job job, int *failed);

/*
 * The end of a call that starts a job (BURN, COPY, BURN_COPY): report an RPC
 * error or the agent's refusal, else print "job N", follow the job when asked
 * (oc_wait_job), say BYE and close. Frees res. Returns the program's exit code.
 */
int oc_job_started(struct oc_conn *c, const char *host, const char *what, enum clnt_stat st, optarc_job_res *res,
		   int follow);

#endif

/* `kvmm ctl`: the control socket's client. Sends one command (the monitor's words, parsed by
 * the same table) and prints the reply for people, or as JSON with --json; `events` follows
 * the event stream. Exit status: 0 ok, 1 an error reply, 2 bad usage, 3 socket unreachable. */
#pragma once

/* argv[0] is "ctl". */
int ctl_main(int argc, char **argv);

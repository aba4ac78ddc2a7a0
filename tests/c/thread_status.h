/*
 * thread_status.h -- a field of a named thread's /proc status, for the C
 * tests that count a thread's wake-ups (voluntary_ctxt_switches) or read
 * its signal mask.
 */
#ifndef OTAS_TEST_THREAD_STATUS_H
#define OTAS_TEST_THREAD_STATUS_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The field `key` (e.g. "SigBlk:") of /proc/self/task/<tid>/status of
 * the thread named `name`, read in `base`; -1 if no such thread. */
static long long
thread_status(const char *name, const char *key, int base)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	long long mask = -1;

	if (!d)
		return -1;
	while (mask < 0 && (de = readdir(d)) != NULL) {
		char path[300], line[256];
		FILE *f;
		int named = 0;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
		if ((f = fopen(path, "r")) != NULL) {
			named = fgets(line, sizeof line, f) &&
			        strncmp(line, name, strlen(name)) == 0 &&
			        (line[strlen(name)] == '\n' || !line[strlen(name)]);
			fclose(f);
		}
		if (!named)
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/status",
		         de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof line, f))
			if (strncmp(line, key, strlen(key)) == 0)
				mask = (long long)(strtoull(line + strlen(key),
				                            NULL, base) &
				                   0x7fffffffffffffffULL);
		fclose(f);
	}
	closedir(d);
	return mask;
}

/* The wake-ups of the thread "otas-sender" (its voluntary context
 * switches, one a sleep) while capture(arg) runs n times, 500 us apart
 * (room for a woken sender to run and sleep again); -1 if there is no
 * such thread. */
static long long
sender_wakeups(void (*capture)(void *), void *arg, int n)
{
	long long before, after;

	before = thread_status("otas-sender", "voluntary_ctxt_switches:", 10);
	for (int i = 0; i < n; i++) {
		capture(arg);
		usleep(500);
	}
	after = thread_status("otas-sender", "voluntary_ctxt_switches:", 10);
	return before < 0 || after < 0 ? -1 : after - before;
}

#endif

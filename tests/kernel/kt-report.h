/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How the tier's own programs (smoke, patch, soak) report: one line a step, and a
 * check that prints where and why it failed, then exits 1 (run-vm.sh counts the
 * exit status). The program defines PROG, its name, before using them.
 */
#ifndef KT_REPORT_H
#define KT_REPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP(...)                             \
	do {                                  \
		printf(PROG ": " __VA_ARGS__); \
		putchar('\n');                \
		fflush(stdout);               \
	} while (0)

/* A check that must hold: report and stop. */
#define CHECK(cond, ...)                                                         \
	do {                                                                     \
		if (!(cond)) {                                                   \
			printf(PROG ": FAIL at %s:%d: %s: ", __FILE__, __LINE__, \
			       #cond);                                           \
			printf(__VA_ARGS__);                                     \
			putchar('\n');                                           \
			fflush(stdout);                                          \
			exit(1);                                                 \
		}                                                                \
	} while (0)

/* A -errno result in words. */
#define RC(rc) ((rc) ? strerror(-(rc)) : "ok")

#endif

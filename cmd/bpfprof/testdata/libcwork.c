/* A libc-heavy workload (qsort, memset, malloc, memcpy, strlen, snprintf)
 * for the test that compares symbol shares with perf report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3;
	enum { N = 1 << 16 };
	int *v = malloc(N * sizeof *v);
	char *buf = malloc(1 << 20);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned seed = 1;
	long sum = 0;
	do {
		for (int i = 0; i < N; i++)
			v[i] = rand_r(&seed);
		qsort(v, N, sizeof *v, cmp);
		memset(buf, v[0] & 0xff, 1 << 20);
		for (int i = 0; i < 64; i++) {
			void *p = malloc(1000 + i * 37);
			memcpy(p, buf + i, 1000);
			sum += strlen((char *)p + 999);
			free(p);
		}
		snprintf(buf, 64, "%d %ld", v[N / 2], sum);
		sum += strlen(buf);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	printf("pid %d sum %ld\n", (int)getpid(), sum);
	return 0;
}

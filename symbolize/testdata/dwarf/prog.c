/* The oracle program of the DWARF tests: static, inlined (nested), cloned
 * (constprop, part, cold) and ordinary functions, built with gcc -O2 -g by
 * the test and symbolized against addr2line -f -i. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int sink;

static int __attribute__((noinline)) leaf(int x)
{
	int acc = 0;
	for (int i = 0; i < x; i++)
		acc += i * x;
	sink = acc;
	return acc;
}

static inline int helper(int x)
{
	return x * 3 + leaf(x);
}

static inline int outer(int x)
{
	return helper(x) ^ helper(x + 1);
}

/* Called with a constant k: gcc clones it as scale.constprop.0. */
static int __attribute__((noinline)) scale(int *v, int n, int k)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s += v[i] * k;
	return s;
}

/* A fast path gcc inlines into callers and a slow part it outlines as
 * check.part.0. */
static int check(const char *s, int n)
{
	if (n == 0)
		return 0;
	int h = 0;
	for (int i = 0; i < n; i++) {
		h = h * 31 + s[i];
		sink = h;
	}
	for (int i = 0; i < n; i++)
		h ^= s[(i * 7) % n] << (i % 5);
	for (int i = 0; i < n; i++)
		h += s[(i * 3) % n] >> (i % 3);
	return h;
}

static void __attribute__((cold, noinline, noreturn)) die(const char *what, int x)
{
	fprintf(stderr, "%s: %d\n", what, x);
	abort();
}

/* The unlikely branch goes to must_be_positive.cold. */
static int __attribute__((noinline)) must_be_positive(int x)
{
	if (x < 0) {
		sink = x;
		die("negative", x);
	}
	for (int i = 0; i < x; i++)
		sink += i;
	return x * 2;
}

int work(int n)
{
	int v[16];
	for (int i = 0; i < 16; i++)
		v[i] = i + n;
	int r = outer(n) + scale(v, 16, 3) + scale(v, 8, 3);
	r += check("hello world", n % 11) + check("bye", 3 - n % 3);
	return r + must_be_positive(n);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10;
	int r = 0;
	for (int i = 0; i < n; i++)
		r += work(i);
	printf("%d\n", r);
	return 0;
}

// A tiny shared object for the ELF symbolizer tests: exported functions
// (in .dynsym and .symtab) and a static one (in .symtab only). Built by
// 'go generate' (see ../doc.go); the objects are committed.

static __attribute__((noinline)) int tiny_static(int x)
{
	int acc = x;
	for (int i = 0; i < x; i++)
		acc = acc * 31 + i;
	return acc;
}

int tiny_add(int a, int b)
{
	return tiny_static(a) + b;
}

int tiny_loop(int n)
{
	int acc = 0;
	for (int i = 0; i < n; i++)
		acc += tiny_add(i, n);
	return acc;
}

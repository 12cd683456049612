// SPDX-License-Identifier: GPL-2.0
/*
 * lib/string.c - the C library functions the kernel (and gcc) need.
 *
 * gcc may emit calls to memcpy/memset/memmove/memcmp on its own, even with
 * -ffreestanding, so these must exist under exactly these names.
 */
#include <linux/string.h>

/*
 * memset and memcpy use the string instructions, 8 bytes at a time and then
 * the tail byte by byte, like Linux's x86-64 memset/memcpy before ERMS.
 * (Emulators run each iteration of a rep prefix as one instruction, so
 * quadwords keep bpflab's instruction count, i.e. virtual time, low.)
 */
void *memset(void *s, int c, size_t n)
{
	unsigned long pattern = 0x0101010101010101UL * (unsigned char)c;
	size_t qwords = n / 8, tail = n % 8;
	void *d = s;

	asm volatile("rep stosq" : "+D"(d), "+c"(qwords) : "a"(pattern) : "memory");
	asm volatile("rep stosb" : "+D"(d), "+c"(tail) : "a"(pattern) : "memory");
	return s;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	size_t qwords = n / 8, tail = n % 8;
	void *d = dst;

	asm volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(qwords) : : "memory");
	asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(tail) : : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return p - s;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

/* Copy at most size-1 bytes and always NUL-terminate (like strscpy). */
char *strscpy_simple(char *dst, const char *src, size_t size)
{
	size_t i;

	if (!size)
		return dst;
	for (i = 0; i + 1 < size && src[i]; i++)
		dst[i] = src[i];
	dst[i] = '\0';
	return dst;
}

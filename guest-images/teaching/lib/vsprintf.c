// SPDX-License-Identifier: GPL-2.0
/*
 * lib/vsprintf.c - a small vsnprintf.
 *
 * Supports %d %i %u %x %X %o %c %s %p %% with the l, ll and z length
 * modifiers, a field width, and the '0', '-' and '#' flags. %p prints the pointer
 * in hex (no hashing: this kernel has no secrets to hide).
 */
#include <linux/kernel.h>
#include <linux/string.h>

struct printf_buf {
	char *buf;
	size_t size;
	size_t pos;	/* may run past size: we report the untruncated length */
};

static void put_char(struct printf_buf *out, char c)
{
	if (out->pos + 1 < out->size)
		out->buf[out->pos] = c;
	out->pos++;
}

static void put_padded(struct printf_buf *out, const char *s, size_t len,
		       int width, bool left, char pad)
{
	int fill = width > (int)len ? width - (int)len : 0;

	if (!left)
		while (fill-- > 0)
			put_char(out, pad);
	while (len--)
		put_char(out, *s++);
	if (left)
		while (fill-- > 0)
			put_char(out, ' ');
}

static void put_number(struct printf_buf *out, unsigned long long num, int base,
		       bool negative, bool upper, int width, bool left, char pad)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = digits[num % base];
		num /= base;
	} while (num);

	if (negative) {
		if (pad == '0') {
			/* "-0042": the sign goes before the zero padding */
			put_char(out, '-');
			width--;
		} else {
			tmp[i++] = '-';
		}
	}
	/* tmp holds the digits in reverse: reverse into place */
	for (int a = 0, b = i - 1; a < b; a++, b--) {
		char c = tmp[a];

		tmp[a] = tmp[b];
		tmp[b] = c;
	}
	put_padded(out, tmp, i, width, left, pad);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list args)
{
	struct printf_buf out = { .buf = buf, .size = size, .pos = 0 };

	for (; *fmt; fmt++) {
		bool left = false, is_signed = false, upper = false, alt = false;
		char pad = ' ';
		int width = 0, lng = 0, base = 10;
		unsigned long long num;

		if (*fmt != '%') {
			put_char(&out, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {		/* flags */
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				pad = '0';
			else if (*fmt == '#')
				alt = true;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')	/* field width */
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {	/* length modifier */
			lng++;
			fmt++;
		}

		switch (*fmt) {
		case 'c':
			put_char(&out, (char)va_arg(args, int));
			continue;
		case 's': {
			const char *s = va_arg(args, const char *);

			if (!s)
				s = "(null)";
			put_padded(&out, s, strlen(s), width, left, ' ');
			continue;
		}
		case 'p':
			num = (unsigned long)va_arg(args, void *);
			put_number(&out, num, 16, false, false, 16, false, '0');
			continue;
		case '%':
			put_char(&out, '%');
			continue;
		case 'd':
		case 'i':
			is_signed = true;
			break;
		case 'u':
			break;
		case 'X':
			upper = true;
			/* fall through */
		case 'x':
			base = 16;
			break;
		case 'o':
			base = 8;
			break;
		default:		/* unknown: print it verbatim */
			put_char(&out, '%');
			put_char(&out, *fmt);
			continue;
		}

		if (alt && base == 16) {	/* %#x: "0x" prefix */
			put_char(&out, '0');
			put_char(&out, upper ? 'X' : 'x');
		}
		if (is_signed) {
			long long v = lng >= 2 ? va_arg(args, long long) :
				      lng == 1 ? va_arg(args, long) : va_arg(args, int);

			num = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
			put_number(&out, num, base, v < 0, upper, width, left, pad);
		} else {
			num = lng >= 2 ? va_arg(args, unsigned long long) :
			      lng == 1 ? va_arg(args, unsigned long) : va_arg(args, unsigned int);
			put_number(&out, num, base, false, upper, width, left, pad);
		}
	}
	if (size)
		buf[out.pos < size ? out.pos : size - 1] = '\0';
	return (int)out.pos;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(buf, size, fmt, args);
	va_end(args);
	return n;
}

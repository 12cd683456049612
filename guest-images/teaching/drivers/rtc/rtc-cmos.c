// SPDX-License-Identifier: GPL-2.0
/*
 * drivers/rtc/rtc-cmos.c - read the date from the CMOS clock, once.
 *
 * Only printed, never used for decisions: the run must not depend on it.
 */
#include <linux/kernel.h>
#include <asm/io.h>

#define RTC_PORT_INDEX	0x70
#define RTC_PORT_DATA	0x71
#define RTC_SECONDS	0x00
#define RTC_MINUTES	0x02
#define RTC_HOURS	0x04
#define RTC_DAY		0x07
#define RTC_MONTH	0x08
#define RTC_YEAR	0x09
#define RTC_REG_A	0x0a
#define RTC_REG_B	0x0b
#define RTC_UIP		0x80	/* update in progress */
#define RTC_DM_BINARY	0x04

static u8 cmos_read(u8 reg)
{
	outb(reg, RTC_PORT_INDEX);
	return inb(RTC_PORT_DATA);
}

static unsigned int bcd2bin(u8 v)
{
	return (v & 0x0f) + (v >> 4) * 10;
}

void rtc_print_time(void)
{
	unsigned int sec, min, hour, day, mon, year;
	int tries = 1000;

	while ((cmos_read(RTC_REG_A) & RTC_UIP) && --tries)
		;
	sec = cmos_read(RTC_SECONDS);
	min = cmos_read(RTC_MINUTES);
	hour = cmos_read(RTC_HOURS);
	day = cmos_read(RTC_DAY);
	mon = cmos_read(RTC_MONTH);
	year = cmos_read(RTC_YEAR);
	if (!(cmos_read(RTC_REG_B) & RTC_DM_BINARY)) {
		sec = bcd2bin(sec);
		min = bcd2bin(min);
		hour = bcd2bin(hour);
		day = bcd2bin(day);
		mon = bcd2bin(mon);
		year = bcd2bin(year);
	}
	printk(KERN_INFO "rtc_cmos: date %04u-%02u-%02u %02u:%02u:%02u UTC (informational only)\n",
	       2000 + year, mon, day, hour, min, sec);
}

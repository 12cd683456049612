/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_JIFFIES_H
#define _LINUX_JIFFIES_H

#include <linux/types.h>

#define HZ		100
#define PIT_TICK_RATE	1193182UL
#define LATCH		((PIT_TICK_RATE + HZ / 2) / HZ)	/* 11932 */

/* Ticks since boot; incremented by the timer interrupt, read anywhere. */
extern volatile unsigned long jiffies;

#define time_after_eq(a, b)	((long)((a) - (b)) >= 0)
#define time_before(a, b)	((long)((a) - (b)) < 0)

#endif

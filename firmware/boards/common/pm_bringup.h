/* Board-internal: bounded waits on hardware ready flags, and the clock the board really runs at. */
#ifndef PM_BRINGUP_H
#define PM_BRINGUP_H

#include <stdint.h>

#include "pm_board_config.h"

#ifndef PM_BRINGUP_POLLS
/* Reads of a clock ready flag before giving up on it. A PLL locks in ~0.1 ms and the over-drive
 * regulator settles in less; 2**18 reads take tens of ms at 16 MHz on silicon, and about as long
 * under an emulator where every read of an unmodelled register is a trip out of the guest. */
#define PM_BRINGUP_POLLS (1u << 18)
#endif

#ifndef PM_UART_POLLS
/* Reads of a UART status flag before giving up on it: a byte at 9600 baud is ~1 ms, far below this
 * at any core clock; past it the transmitter is dead and the byte is dropped, not waited on. */
#define PM_UART_POLLS (1u << 22)
#endif

/* 1 when (*reg & mask) == want within `polls` reads, else 0. */
int pm_wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t want, uint32_t polls);

/* pm_wait_bits for a clock bring-up step, with PM_BRINGUP_POLLS. A build with PM_CLOCK_FALLBACK 0
 * (`pixmcu build --no-clock-fallback`, a test hook) waits for ever instead, as ports once did. */
int pm_clock_wait(volatile uint32_t *reg, uint32_t mask, uint32_t want);

/* Record the clock bring-up's outcome: the PM_CLOCK_STEP_* whose wait timed out, after which the
 * board runs at PM_BOARD_FALLBACK_CLOCK_HZ, or PM_CLOCK_STEP_NONE (it runs at PM_BOARD_CLOCK_HZ). */
void pm_clock_set(uint8_t failed_step);

#endif /* PM_BRINGUP_H */

/* DWT CYCCNT as the cost counter on real Cortex-M3/M4/M7/M33/M55 parts. */
#include "pm_board_config.h"
#include "pm_counter.h"
#include "pm_port.h"
#include "pm_protocol.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)
#define DWT_LAR_KEY 0xC5ACCE55u

static uint32_t last;
static uint64_t high;

void pm_counter_start(void)
{
    DEMCR |= DEMCR_TRCENA;
#if defined(PM_DWT_NEEDS_UNLOCK) && PM_DWT_NEEDS_UNLOCK
    /* Cortex-M7 parts (STM32H7, F7) ignore DWT writes until the lock-access register is unlocked. */
    DWT_LAR = DWT_LAR_KEY;
#endif
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u; /* CYCCNTENA */
}

void pm_port_counter_restart(void)
{
    DWT_CYCCNT = 0;
    last = 0;
    high = 0;
}

uint64_t pm_port_counter_read(void)
{
    /* 32 bits wrap in ~9 s at 480 MHz; the harness reads far more often than that. */
    uint32_t now = DWT_CYCCNT;
    if (now < last) {
        high += 1ull << 32;
    }
    last = now;
    return high | now;
}

uint8_t pm_port_counter_kind(void) { return PM_COUNTER_DWT_CYCLES; }

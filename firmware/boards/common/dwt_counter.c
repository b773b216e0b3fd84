/* The real boards' cost counter: DWT CYCCNT when it advances, else SysTick at the core clock, else
 * none. A counter that reads zero is not a measurement: CYCCNT stays at zero where the DWT is
 * absent (NOCYCCNT), locked (Cortex-M7 lock access) or not modelled (emulators), and HELLO_ACK
 * then names the counter actually used (PM_COUNTER_NONE when no counter advanced). */
#include "pm_board_config.h"
#include "pm_counter.h"
#include "pm_port.h"
#include "pm_protocol.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CTRL_NOCYCCNT (1u << 25)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)
#define DWT_LAR_KEY 0xC5ACCE55u

static uint8_t kind = PM_COUNTER_NONE;
static uint32_t last;
static uint64_t high;

static int dwt_advances(void)
{
    DEMCR |= DEMCR_TRCENA;
#if defined(PM_DWT_NEEDS_UNLOCK) && PM_DWT_NEEDS_UNLOCK
    /* Cortex-M7 parts (STM32H7, F7) ignore DWT writes until the lock-access register is unlocked. */
    DWT_LAR = DWT_LAR_KEY;
#endif
    if (DWT_CTRL & DWT_CTRL_NOCYCCNT) {
        return 0;
    }
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u; /* CYCCNTENA */
    for (volatile int i = 0; i < 16; i++) {
    }
    return DWT_CYCCNT != 0u;
}

void pm_counter_start(void)
{
    if (dwt_advances()) {
        kind = PM_COUNTER_DWT_CYCLES;
    } else if (pm_systick_restart()) {
        kind = PM_COUNTER_SYSTICK_CYCLES;
    } else {
        kind = PM_COUNTER_NONE;
    }
}

void pm_port_counter_restart(void)
{
    if (kind == PM_COUNTER_DWT_CYCLES) {
        DWT_CYCCNT = 0;
        last = 0;
        high = 0;
    } else if (kind == PM_COUNTER_SYSTICK_CYCLES) {
        (void)pm_systick_restart();
    }
}

uint64_t pm_port_counter_read(void)
{
    if (kind == PM_COUNTER_SYSTICK_CYCLES) {
        return pm_systick_read();
    }
    if (kind != PM_COUNTER_DWT_CYCLES) {
        return 0;
    }
    /* 32 bits wrap in ~9 s at 480 MHz; the harness reads far more often than that. */
    uint32_t now = DWT_CYCCNT;
    if (now < last) {
        high += 1ull << 32;
    }
    last = now;
    return high | now;
}

uint8_t pm_port_counter_kind(void) { return kind; }

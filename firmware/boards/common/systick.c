/* SysTick at the core clock, extended to 64 bits by its wrap interrupt: the QEMU ports' counter, and
 * the Nucleo ports' when DWT CYCCNT does not advance. The 24-bit counter wraps every 2**24 ticks
 * (0.1 s at 180 MHz, a few million instructions under QEMU), so the interrupt keeps the count. */
#include "pm_bringup.h"
#include "pm_counter.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define ICSR_PENDSTCLR (1u << 25)
#define RELOAD 0xFFFFFFu

static volatile uint32_t wraps;

void SysTick_Handler(void) { wraps++; }

int pm_systick_restart(void)
{
    SYST_CSR = 0;
    SCB_ICSR = ICSR_PENDSTCLR;
    SYST_CVR = 0;
    wraps = 0;
    SYST_RVR = RELOAD;
    SYST_CSR = 0x7u; /* processor clock, wrap interrupt, enable */
    /* The first reload happens on the next tick; reading before it gives a bogus zero. A SysTick
     * that never reloads is not counting. */
    for (uint32_t i = 0; i < PM_BRINGUP_POLLS; i++) {
        if (SYST_CVR != 0u) {
            return 1;
        }
    }
    SYST_CSR = 0;
    return 0;
}

uint64_t pm_systick_read(void)
{
    uint32_t hi, value, pending;
    do {
        hi = wraps;
        value = SYST_CVR;
        pending = SCB_ICSR & ICSR_PENDSTSET;
    } while (hi != wraps);
    /* Wrapped but the interrupt has not run yet: the value already belongs to the next period. */
    if (pending && value > RELOAD / 2u) {
        hi++;
    }
    return ((uint64_t)hi << 24) + (RELOAD - value);
}

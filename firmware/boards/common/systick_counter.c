/* SysTick as the cost counter under QEMU. DWT CYCCNT reads as zero there; with -icount the SysTick
 * advances with the instruction count, so counts are deterministic. The 24-bit counter wraps every
 * few million instructions, so the wrap interrupt extends it. */
#include "pm_counter.h"
#include "pm_port.h"
#include "pm_protocol.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define RELOAD 0xFFFFFFu

static volatile uint32_t wraps;

void SysTick_Handler(void) { wraps++; }

#define ICSR_PENDSTCLR (1u << 25)

void pm_counter_start(void)
{
    SYST_RVR = RELOAD;
    pm_port_counter_restart();
}

void pm_port_counter_restart(void)
{
    SYST_CSR = 0;
    SCB_ICSR = ICSR_PENDSTCLR;
    SYST_CVR = 0;
    wraps = 0;
    SYST_CSR = 0x7u; /* processor clock, wrap interrupt, enable */
    /* The first reload happens on the next tick; reading before it gives a bogus zero. */
    while (SYST_CVR == 0u) {
    }
}

uint64_t pm_port_counter_read(void)
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

uint8_t pm_port_counter_kind(void) { return PM_COUNTER_SYSTICK_ICOUNT; }

/* pm_port_reset for every Cortex-M port: drain the UART, then request a system reset through the SCB,
 * so the host sees a BOOT frame rather than a half-sent one. */
#include "pm_port.h"

#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
#define AIRCR_RESET (0x05FAu << 16 | 1u << 2)

void pm_port_reset(void)
{
    pm_port_flush();
    __asm volatile("dsb" ::: "memory");
    SCB_AIRCR = AIRCR_RESET;
    for (;;) {
    }
}

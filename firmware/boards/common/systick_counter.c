/* The QEMU ports' cost counter: SysTick. DWT CYCCNT reads as zero there; with -icount the SysTick
 * advances with the instruction count, so counts are deterministic. */
#include "pm_counter.h"
#include "pm_port.h"
#include "pm_protocol.h"

void pm_counter_start(void) { (void)pm_systick_restart(); }

void pm_port_counter_restart(void) { (void)pm_systick_restart(); }

uint64_t pm_port_counter_read(void) { return pm_systick_read(); }

uint8_t pm_port_counter_kind(void) { return PM_COUNTER_SYSTICK_ICOUNT; }

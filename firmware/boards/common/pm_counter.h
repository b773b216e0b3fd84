/* Board-internal: start the cost counter that pm_port_counter_read reads, and the SysTick counter
 * (systick.c) that ports count with where DWT CYCCNT does not advance. */
#ifndef PM_COUNTER_H
#define PM_COUNTER_H

#include <stdint.h>

void pm_counter_start(void);

/* Restart SysTick from zero at the core clock; 1 when it is seen counting, 0 (and stopped) if not. */
int pm_systick_restart(void);
uint64_t pm_systick_read(void);

#endif

/* Board-internal: start the cost counter that pm_port_counter_read reads. */
#ifndef PM_COUNTER_H
#define PM_COUNTER_H
void pm_counter_start(void);
#endif

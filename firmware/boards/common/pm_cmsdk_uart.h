/* Board-internal: the CMSDK UART driver's init (the byte I/O is pm_port.h's). */
#ifndef PM_CMSDK_UART_H
#define PM_CMSDK_UART_H
void pm_cmsdk_uart_init(void);
#endif

/* Port for ST NUCLEO-F446RE (STM32F446RE, Cortex-M4F), register-level, no vendor HAL.
 * Clock: HSI 16 MHz -> PLL (M=8, N=180, P=2) = 180 MHz, which needs voltage scale 1 and over-drive
 * (RM0390 5.1.4) and 5 flash wait states. APB1 = 45 MHz feeds USART2, the ST-LINK virtual COM port
 * on PA2 (TX) / PA3 (RX), alternate function 7. The HSI is used so the port does not depend on the
 * solder bridges that route the ST-LINK's 8 MHz MCO to HSE. */
#include "pm_board_config.h"
#include "pm_counter.h"
#include "pm_port.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define RCC_BASE 0x40023800u
#define RCC_CR REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x04u)
#define RCC_CFGR REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR REG(RCC_BASE + 0x40u)

#define PWR_CR REG(0x40007000u)
#define PWR_CSR REG(0x40007004u)
#define FLASH_ACR REG(0x40023C00u)

#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER REG(GPIOA_BASE + 0x00u)
#define GPIOA_OSPEEDR REG(GPIOA_BASE + 0x08u)
#define GPIOA_PUPDR REG(GPIOA_BASE + 0x0Cu)
#define GPIOA_AFRL REG(GPIOA_BASE + 0x20u)

#define USART2_BASE 0x40004400u
#define USART2_SR REG(USART2_BASE + 0x00u)
#define USART2_DR REG(USART2_BASE + 0x04u)
#define USART2_BRR REG(USART2_BASE + 0x08u)
#define USART2_CR1 REG(USART2_BASE + 0x0Cu)

#define SR_ORE (1u << 3)
#define SR_RXNE (1u << 5)
#define SR_TC (1u << 6)
#define SR_TXE (1u << 7)

#define APB1_HZ (PM_BOARD_CLOCK_HZ / 4u)


static void clock_init(void)
{
    RCC_APB1ENR |= 1u << 28; /* PWREN */
    (void)RCC_APB1ENR;
    PWR_CR = (PWR_CR & ~(3u << 14)) | (3u << 14); /* VOS = scale 1 */

    /* PLLM=8 (2 MHz VCO input), PLLN=180 (360 MHz VCO), PLLP=2, PLLQ=7, PLLR=2, source HSI. */
    RCC_PLLCFGR = 8u | 180u << 6 | 0u << 16 | 0u << 22 | 7u << 24 | 2u << 28;
    RCC_CR |= 1u << 24; /* PLLON */
    while (!(RCC_CR & (1u << 25))) {
    }
    PWR_CR |= 1u << 16; /* ODEN */
    while (!(PWR_CSR & (1u << 16))) {
    }
    PWR_CR |= 1u << 17; /* ODSWEN */
    while (!(PWR_CSR & (1u << 17))) {
    }
    FLASH_ACR = 5u | 1u << 8 | 1u << 9 | 1u << 10; /* 5 WS, prefetch, I-cache, D-cache */
    while ((FLASH_ACR & 0xFu) != 5u) {
    }
    RCC_CFGR = (RCC_CFGR & ~0xFCF0u) | 0u << 4 | 5u << 10 | 4u << 13; /* AHB /1, APB1 /4, APB2 /2 */
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u;                                  /* SYSCLK = PLL */
    while (((RCC_CFGR >> 2) & 3u) != 2u) {
    }
}

static void uart_init(void)
{
    RCC_AHB1ENR |= 1u << 0;  /* GPIOAEN */
    RCC_APB1ENR |= 1u << 17; /* USART2EN */
    (void)RCC_APB1ENR;
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4); /* PA2, PA3 alternate function */
    GPIOA_OSPEEDR |= 0xFu << 4;
    GPIOA_PUPDR = (GPIOA_PUPDR & ~(0xFu << 4)) | (0x4u << 4);      /* pull-up on RX */
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8);     /* AF7 = USART2 */
    USART2_BRR = (APB1_HZ + PM_UART_BAUD / 2u) / PM_UART_BAUD;      /* oversampling by 16 */
    USART2_CR1 = 1u << 13 | 1u << 3 | 1u << 2;                     /* UE, TE, RE */
}

void pm_port_init(void)
{
    clock_init();
    uart_init();
    pm_counter_start();
}

int pm_port_getc(void)
{
    uint32_t sr = USART2_SR;
    if (sr & (SR_RXNE | SR_ORE)) {
        /* Reading DR after SR also clears an overrun; the protocol's CRC catches the lost byte. */
        uint32_t d = USART2_DR;
        if (sr & SR_RXNE) {
            return (int)(d & 0xFFu);
        }
    }
    return -1;
}

void pm_port_putc(uint8_t byte)
{
    while (!(USART2_SR & SR_TXE)) {
    }
    USART2_DR = byte;
}

void pm_port_flush(void)
{
    while (!(USART2_SR & SR_TC)) {
    }
}

/* No host to report to: restart, and the host sees the BOOT frame. */
void pm_port_exit(int status)
{
    (void)status;
    pm_port_reset();
}

void pm_port_fault(uint32_t code)
{
    (void)code;
    pm_port_reset();
}

/* Port for ST NUCLEO-F446RE (STM32F446RE, Cortex-M4F), register-level, no vendor HAL.
 * Clock: HSI 16 MHz -> PLL (M=8, N=180, P=2) = 180 MHz, which needs voltage scale 1 and over-drive
 * (RM0390 5.1.4) and 5 flash wait states. APB1 = 45 MHz feeds USART2, the ST-LINK virtual COM port
 * on PA2 (TX) / PA3 (RX), alternate function 7. The HSI is used so the port does not depend on the
 * solder bridges that route the ST-LINK's 8 MHz MCO to HSE.
 * Every ready flag is waited on a bounded number of times. If one never comes (a PLL that does not
 * lock, an over-drive that does not settle, or an emulator that does not model the RCC and PWR), the
 * port goes back to the HSI with every bus at /1, its reset state, and carries on at 16 MHz: the
 * UART divisor follows the clock actually used and HELLO_ACK reports it. */
#include "pm_board_config.h"
#include "pm_bringup.h"
#include "pm_counter.h"
#include "pm_port.h"
#include "pm_protocol.h"

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

#define CR_PLLON (1u << 24)
#define CR_PLLRDY (1u << 25)
#define CFGR_SW 3u
#define CFGR_SWS (3u << 2)
#define CFGR_PRESCALERS 0xFCF0u /* HPRE, PPRE1, PPRE2 */
#define PWR_CR_ODEN (1u << 16)
#define PWR_CR_ODSWEN (1u << 17)
#define PWR_CSR_ODRDY (1u << 16)
#define PWR_CSR_ODSWRDY (1u << 17)
#define FLASH_LATENCY 0xFu

#define SR_ORE (1u << 3)
#define SR_RXNE (1u << 5)
#define SR_TC (1u << 6)
#define SR_TXE (1u << 7)

/* The bring-up as RM0390 orders it; returns the PM_CLOCK_STEP_* whose ready flag never came, or
 * PM_CLOCK_STEP_NONE once SYSCLK runs from the PLL. */
static uint8_t clock_init(void)
{
    RCC_APB1ENR |= 1u << 28; /* PWREN */
    (void)RCC_APB1ENR;
    PWR_CR = (PWR_CR & ~(3u << 14)) | (3u << 14); /* VOS = scale 1 */

    /* PLLM=8 (2 MHz VCO input), PLLN=180 (360 MHz VCO), PLLP=2, PLLQ=7, PLLR=2, source HSI. */
    RCC_PLLCFGR = 8u | 180u << 6 | 0u << 16 | 0u << 22 | 7u << 24 | 2u << 28;
    RCC_CR |= CR_PLLON;
    if (!pm_clock_wait(&RCC_CR, CR_PLLRDY, CR_PLLRDY)) {
        return PM_CLOCK_STEP_PLL;
    }
    PWR_CR |= PWR_CR_ODEN;
    if (!pm_clock_wait(&PWR_CSR, PWR_CSR_ODRDY, PWR_CSR_ODRDY)) {
        return PM_CLOCK_STEP_OVERDRIVE;
    }
    PWR_CR |= PWR_CR_ODSWEN;
    if (!pm_clock_wait(&PWR_CSR, PWR_CSR_ODSWRDY, PWR_CSR_ODSWRDY)) {
        return PM_CLOCK_STEP_OVERDRIVE_SWITCH;
    }
    FLASH_ACR = 5u | 1u << 8 | 1u << 9 | 1u << 10; /* 5 WS, prefetch, I-cache, D-cache */
    if (!pm_clock_wait(&FLASH_ACR, FLASH_LATENCY, 5u)) {
        return PM_CLOCK_STEP_FLASH_LATENCY;
    }
    RCC_CFGR = (RCC_CFGR & ~CFGR_PRESCALERS) | 0u << 4 | 5u << 10 | 4u << 13; /* AHB /1, APB1 /4, APB2 /2 */
    RCC_CFGR = (RCC_CFGR & ~CFGR_SW) | 2u;                                       /* SYSCLK = PLL */
    if (!pm_clock_wait(&RCC_CFGR, CFGR_SWS, 2u << 2)) {
        return PM_CLOCK_STEP_SYSCLK_SWITCH;
    }
    return PM_CLOCK_STEP_NONE;
}

/* Back to the reset clock tree: SYSCLK = HSI, AHB and both APBs /1, PLL off. The wait states go back
 * to zero only once the switch to the HSI is confirmed (more wait states than needed are safe). */
static void fall_back(void)
{
    RCC_CFGR &= ~(CFGR_SW | CFGR_PRESCALERS);
    if (pm_wait_bits(&RCC_CFGR, CFGR_SWS, 0u, PM_BRINGUP_POLLS)) {
        FLASH_ACR &= ~FLASH_LATENCY;
    }
    RCC_CR &= ~CR_PLLON;
}

static void uart_init(uint32_t apb1_hz)
{
    RCC_AHB1ENR |= 1u << 0;  /* GPIOAEN */
    RCC_APB1ENR |= 1u << 17; /* USART2EN */
    (void)RCC_APB1ENR;
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4); /* PA2, PA3 alternate function */
    GPIOA_OSPEEDR |= 0xFu << 4;
    GPIOA_PUPDR = (GPIOA_PUPDR & ~(0xFu << 4)) | (0x4u << 4);      /* pull-up on RX */
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8);     /* AF7 = USART2 */
    USART2_BRR = (apb1_hz + PM_UART_BAUD / 2u) / PM_UART_BAUD;      /* oversampling by 16 */
    USART2_CR1 = 1u << 13 | 1u << 3 | 1u << 2;                     /* UE, TE, RE */
}

void pm_port_init(void)
{
    uint8_t failed = clock_init();
    if (failed != PM_CLOCK_STEP_NONE) {
        fall_back();
    }
    pm_clock_set(failed);
    /* APB1 runs at a quarter of the PLL clock, or at the HSI's own after a fallback. */
    uart_init(failed != PM_CLOCK_STEP_NONE ? PM_BOARD_FALLBACK_CLOCK_HZ : PM_BOARD_CLOCK_HZ / 4u);
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

/* A transmitter that never frees drops the byte rather than hang; the host's retry covers it. */
void pm_port_putc(uint8_t byte)
{
    if (pm_wait_bits(&USART2_SR, SR_TXE, SR_TXE, PM_UART_POLLS)) {
        USART2_DR = byte;
    }
}

void pm_port_flush(void) { (void)pm_wait_bits(&USART2_SR, SR_TC, SR_TC, PM_UART_POLLS); }

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

/* Vector table and reset handler shared by every Cortex-M board; the linker script (rendered from
 * templates/linker.ld.j2) provides the symbols. */
#include <stdint.h>
#include <string.h>

#include "pm_board_config.h"
#include "pm_port.h"

extern uint32_t __stack_top__;
extern uint32_t __data_load__, __data_start__, __data_end__;
extern uint32_t __zero_start__, __zero_end__;

int main(void);
void Reset_Handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

static void fault_entry(uint32_t code) { pm_port_fault(code); }

void NMI_Handler(void) { fault_entry(2); }
void HardFault_Handler(void) { fault_entry(3); }
void MemManage_Handler(void) { fault_entry(4); }
void BusFault_Handler(void) { fault_entry(5); }
void UsageFault_Handler(void) { fault_entry(6); }
void SecureFault_Handler(void) { fault_entry(7); }
void Default_Handler(void) { fault_entry(0x100); }

/* Ports override what they use (SysTick for the QEMU counter); the rest stays on the defaults. */
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*pm_vector_t)(void);

__attribute__((section(".vectors"), used)) const pm_vector_t pm_vectors[16 + PM_BOARD_NUM_IRQS] = {
    [0] = (pm_vector_t)(&__stack_top__),
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [7] = SecureFault_Handler,
    [11] = SVC_Handler,
    [12] = DebugMon_Handler,
    [14] = PendSV_Handler,
    [15] = SysTick_Handler,
    [16 ... 16 + PM_BOARD_NUM_IRQS - 1] = Default_Handler,
};

void Reset_Handler(void)
{
    /* FPU first: GCC may vectorise the copy loops below with FP registers. */
    SCB_CPACR |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");

    uint32_t *src = &__data_load__;
    for (uint32_t *dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    /* .bss and the model arena together: generated code may rely on zeroed statics. */
    for (uint32_t *dst = &__zero_start__; dst < &__zero_end__;) {
        *dst++ = 0;
    }
    main();
    pm_port_exit(0);
}

/* Bench-only vector table and reset handler for the QEMU mps2 boards: just enough to run the
 * first-layer kernels and exit with a status through semihosting. Kept separate from
 * firmware/boards/ so the first-layer benchmark does not depend on the harness or a rendered config. */
#include <stdint.h>

#include "pm_bench.h"

extern uint32_t __stack_top__;
extern uint32_t __data_load__, __data_start__, __data_end__;
extern uint32_t __bss_start__, __bss_end__;

int main(void);
void Reset_Handler(void);

static void fault(void) { pm_bench_exit(0x80); }

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) const vector_t pm_bench_vectors[16] = {
    [0] = (vector_t)(&__stack_top__),
    [1] = Reset_Handler,
    [2 ... 15] = fault,
};

void Reset_Handler(void)
{
    /* FPU first: GCC may vectorise the copy loops below with FP registers. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
    uint32_t *src = &__data_load__;
    for (uint32_t *dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0;
    }
    pm_bench_exit(main());
}

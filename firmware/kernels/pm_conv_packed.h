/* Private to the kernels: the body of the packed-weight convolutions (pm_conv2d_packed_*).
 *
 * The generator widens the filter to int16 and interleaves it for this loop (see
 * pixmcu/codegen/packing.py): for each block of four output channels, each tap and each group of
 * four input channels, eight words (four channels x two words): word 0 holds the weights of input
 * channels 0 and 2, word 1 those of channels 1 and 3 - the lanes SXTAB16 and SXTAB16 ROR #8 produce
 * from one input word. So the inner loop spends one LDR and two SXTAB16 on four input bytes and shares
 * them among four output channels: 16 MACs in 15 instructions on Armv7E-M, no scratch, no im2col.
 * Output pixels are finished in raster order, each after all its input bytes are read (the planner's
 * overlap rule); the optional residual element is read before the sum is written over it.
 */
#ifndef PM_CONV_PACKED_H
#define PM_CONV_PACKED_H

#include <string.h>

#include "pm_dsp.h"
#include "pm_kernels.h"
#include "pm_requant_fast.h"


/* Two packed words from an 8-byte aligned address (one LDRD; little-endian: word 0 is the low half). */
static PM_ALWAYS_INLINE uint64_t pm_read_w64(const int32_t *w)
{
    uint64_t v;
    memcpy(&v, __builtin_assume_aligned(w, 8), sizeof v);
    return v;
}

#if PM_HAVE_DSP && defined(__thumb2__)
#define PM_PACKED_ASM 1
#define PM_UNUSED __attribute__((unused))
/* The window of one pixel for four output channels, in assembly: GCC splits the weight loads into
 * single LDRs and runs out of registers. Here LDM fetches four packed words at once, so a group of
 * four input bytes costs 15 instructions (14 when two groups share the loop test) for 16 MACs, and
 * the kernel rows are walked without returning to C.
 * s = {acc0..acc3, off2, rows, groups per row, input step between rows, weight step between rows (bytes)};
 * x, w: the first group of the first row. acc0..acc3 are updated in place. */
__attribute__((naked, noinline)) static void pm_packed_window_asm(PM_UNUSED const int8_t *x,
                                                                 PM_UNUSED const int32_t *w, PM_UNUSED int32_t *s)
{
    __asm__ volatile(
        "push   {r2-r11, lr}\n\t"
        "sub    sp, sp, #4\n\t"
        "ldm    r2, {r4-r7}\n\t"
        "ldr    r3, [r2, #16]\n\t"
        "ldr    r2, [r2, #24]\n\t"
        "0:\n\t"
        "lsrs   r2, r2, #1\n\t"
        "bcc    1f\n\t"
        "ldr    r9, [r0], #4\n\t"
        "sxtab16 r8, r3, r9\n\t"
        "sxtab16 r9, r3, r9, ror #8\n\t"
        "ldm    r1!, {r10, r11, r12, lr}\n\t"
        "smlad  r4, r8, r10, r4\n\t"
        "smlad  r4, r9, r11, r4\n\t"
        "smlad  r5, r8, r12, r5\n\t"
        "smlad  r5, r9, lr, r5\n\t"
        "ldm    r1!, {r10, r11, r12, lr}\n\t"
        "smlad  r6, r8, r10, r6\n\t"
        "smlad  r6, r9, r11, r6\n\t"
        "smlad  r7, r8, r12, r7\n\t"
        "smlad  r7, r9, lr, r7\n\t"
        "1:\n\t"
        "beq    3f\n\t"
        "2:\n\t"
        "ldr    r9, [r0], #4\n\t"
        "sxtab16 r8, r3, r9\n\t"
        "sxtab16 r9, r3, r9, ror #8\n\t"
        "ldm    r1!, {r10, r11, r12, lr}\n\t"
        "smlad  r4, r8, r10, r4\n\t"
        "smlad  r4, r9, r11, r4\n\t"
        "smlad  r5, r8, r12, r5\n\t"
        "smlad  r5, r9, lr, r5\n\t"
        "ldm    r1!, {r10, r11, r12, lr}\n\t"
        "smlad  r6, r8, r10, r6\n\t"
        "smlad  r6, r9, r11, r6\n\t"
        "smlad  r7, r8, r12, r7\n\t"
        "smlad  r7, r9, lr, r7\n\t"
        "ldr    r9, [r0], #4\n\t"
        "sxtab16 r8, r3, r9\n\t"
        "sxtab16 r9, r3, r9, ror #8\n\t"
        "ldm    r1!, {r10, r11, r12, lr}\n\t"
        "smlad  r4, r8, r10, r4\n\t"
        "smlad  r4, r9, r11, r4\n\t"
        "smlad  r5, r8, r12, r5\n\t"
        "smlad  r5, r9, lr, r5\n\t"
        "ldm    r1!, {r10, r11, r12, lr}\n\t"
        "smlad  r6, r8, r10, r6\n\t"
        "smlad  r6, r9, r11, r6\n\t"
        "smlad  r7, r8, r12, r7\n\t"
        "smlad  r7, r9, lr, r7\n\t"
        "subs   r2, r2, #1\n\t"
        "bne    2b\n\t"
        "3:\n\t"
        "ldr    r8, [sp, #4]\n\t"
        "ldr    r9, [r8, #20]\n\t"
        "subs   r9, r9, #1\n\t"
        "beq    4f\n\t"
        "str    r9, [r8, #20]\n\t"
        "add    r8, r8, #24\n\t"
        "ldm    r8, {r2, r10, r11}\n\t"
        "add    r0, r0, r10\n\t"
        "add    r1, r1, r11\n\t"
        "b      0b\n\t"
        "4:\n\t"
        "stm    r8, {r4-r7}\n\t"
        "add    sp, sp, #4\n\t"
        "pop    {r2-r11, pc}\n\t");
}

/* The frame of the int8- and int4-weight window loops: x widened once per group (r8, r9), then
 * the loop body of each layout, then the row step (s[7], s[8]) and the sums stored. */
#define PM_WINDOW_ASM_HEAD                                                                          \
        "push   {r2-r11, lr}\n\t"                                                                   \
        "sub    sp, sp, #4\n\t"                                                                     \
        "ldm    r2, {r4-r7}\n\t"                                                                    \
        "ldr    r3, [r2, #16]\n\t"                                                                  \
        "0:\n\t"                                                                                    \
        "ldr    r2, [sp, #4]\n\t"                                                                   \
        "ldr    r2, [r2, #24]\n\t"                                                                  \
        "1:\n\t"                                                                                    \
        "ldr    r9, [r0], #4\n\t"                                                                   \
        "sxtab16 r8, r3, r9\n\t"                                                                    \
        "sxtab16 r9, r3, r9, ror #8\n\t"
#define PM_WINDOW_ASM_TAIL                                                                          \
        "subs   r2, r2, #1\n\t"                                                                     \
        "bne    1b\n\t"                                                                             \
        "ldr    r8, [sp, #4]\n\t"                                                                   \
        "ldr    r9, [r8, #20]\n\t"                                                                  \
        "subs   r9, r9, #1\n\t"                                                                     \
        "beq    4f\n\t"                                                                             \
        "str    r9, [r8, #20]\n\t"                                                                  \
        "ldr    r10, [r8, #28]\n\t"                                                                 \
        "ldr    r11, [r8, #32]\n\t"                                                                 \
        "add    r0, r0, r10\n\t"                                                                    \
        "add    r1, r1, r11\n\t"                                                                    \
        "b      0b\n\t"                                                                             \
        "4:\n\t"                                                                                    \
        "stm    r8, {r4-r7}\n\t"                                                                    \
        "add    sp, sp, #4\n\t"                                                                     \
        "pop    {r2-r11, pc}\n\t"

/* As pm_packed_window_asm for int8 weights (pm_conv2d_packed8_*): per group one word per output
 * channel, its four bytes widened here with SXTB16 (and ROR #8): 21 instructions for 16 MACs. */
__attribute__((naked, noinline)) static void pm_packed8_window_asm(PM_UNUSED const int8_t *x,
                                                                  PM_UNUSED const int32_t *w, PM_UNUSED int32_t *s)
{
    __asm__ volatile(
        PM_WINDOW_ASM_HEAD
        "ldrd   r10, r11, [r1], #8\n\t"
        "sxtb16 r12, r10\n\t"
        "sxtb16 lr, r10, ror #8\n\t"
        "smlad  r4, r8, r12, r4\n\t"
        "smlad  r4, r9, lr, r4\n\t"
        "sxtb16 r12, r11\n\t"
        "sxtb16 lr, r11, ror #8\n\t"
        "smlad  r5, r8, r12, r5\n\t"
        "smlad  r5, r9, lr, r5\n\t"
        "ldrd   r10, r11, [r1], #8\n\t"
        "sxtb16 r12, r10\n\t"
        "sxtb16 lr, r10, ror #8\n\t"
        "smlad  r6, r8, r12, r6\n\t"
        "smlad  r6, r9, lr, r6\n\t"
        "sxtb16 r12, r11\n\t"
        "sxtb16 lr, r11, ror #8\n\t"
        "smlad  r7, r8, r12, r7\n\t"
        "smlad  r7, r9, lr, r7\n\t"
        PM_WINDOW_ASM_TAIL);
}

/* As pm_packed8_window_asm for int4 weights (pm_conv2d_packed4_*): per group two words, word j byte i
 * holding input channel i of output channel 2j (low nibble) and 2j+1 (high nibble). Each nibble is
 * moved to the top of its byte (AND, or LSL and AND, with 0xF0F0F0F0) and widened with SXTB16, so the
 * sums come out times 16 (exact: the generator proves 16 x the largest sum fits int32; the C caller
 * divides). 28 instructions for 16 MACs. */
__attribute__((naked, noinline)) static void pm_packed4_window_asm(PM_UNUSED const int8_t *x,
                                                                  PM_UNUSED const int32_t *w, PM_UNUSED int32_t *s)
{
    __asm__ volatile(
        PM_WINDOW_ASM_HEAD
        "ldrd   r10, r11, [r1], #8\n\t"
        "and    r12, r10, #0xF0F0F0F0\n\t"
        "lsl    r10, r10, #4\n\t"
        "and    r10, r10, #0xF0F0F0F0\n\t"
        "sxtb16 lr, r10\n\t"
        "smlad  r4, r8, lr, r4\n\t"
        "sxtb16 lr, r10, ror #8\n\t"
        "smlad  r4, r9, lr, r4\n\t"
        "sxtb16 lr, r12\n\t"
        "smlad  r5, r8, lr, r5\n\t"
        "sxtb16 lr, r12, ror #8\n\t"
        "smlad  r5, r9, lr, r5\n\t"
        "and    r12, r11, #0xF0F0F0F0\n\t"
        "lsl    r11, r11, #4\n\t"
        "and    r11, r11, #0xF0F0F0F0\n\t"
        "sxtb16 lr, r11\n\t"
        "smlad  r6, r8, lr, r6\n\t"
        "sxtb16 lr, r11, ror #8\n\t"
        "smlad  r6, r9, lr, r6\n\t"
        "sxtb16 lr, r12\n\t"
        "smlad  r7, r8, lr, r7\n\t"
        "sxtb16 lr, r12, ror #8\n\t"
        "smlad  r7, r9, lr, r7\n\t"
        PM_WINDOW_ASM_TAIL);
}

/* The 2-bit weight word in r10 against the input lanes r8 (channels 0|2) and r9 (1|3), into the sums
 * r4..r7; t: the widened-lane temporary. Each field is moved to the top of its byte by one AND with a
 * shifted operand (mask 0xC0C0C0C0 in r12, set once by PM_W2_MASK: the loop frames leave r12 alone) and
 * widened with SXTB16: 64 x the weights. */
#define PM_W2_MASK "mov    r12, #0xC0C0C0C0\n\t"
#define PM_W2_LANES(t)                                                                            \
        "and    r11, r12, r10, lsl #6\n\t"                                                     \
        "sxtb16 " t ", r11\n\t"                                                                \
        "smlad  r4, r8, " t ", r4\n\t"                                                         \
        "sxtb16 " t ", r11, ror #8\n\t"                                                        \
        "smlad  r4, r9, " t ", r4\n\t"                                                         \
        "and    r11, r12, r10, lsl #4\n\t"                                                     \
        "sxtb16 " t ", r11\n\t"                                                                \
        "smlad  r5, r8, " t ", r5\n\t"                                                         \
        "sxtb16 " t ", r11, ror #8\n\t"                                                        \
        "smlad  r5, r9, " t ", r5\n\t"                                                         \
        "and    r11, r12, r10, lsl #2\n\t"                                                     \
        "sxtb16 " t ", r11\n\t"                                                                \
        "smlad  r6, r8, " t ", r6\n\t"                                                         \
        "sxtb16 " t ", r11, ror #8\n\t"                                                        \
        "smlad  r6, r9, " t ", r6\n\t"                                                         \
        "and    r11, r12, r10\n\t"                                                             \
        "sxtb16 " t ", r11\n\t"                                                                \
        "smlad  r7, r8, " t ", r7\n\t"                                                         \
        "sxtb16 " t ", r11, ror #8\n\t"                                                        \
        "smlad  r7, r9, " t ", r7\n\t"

/* As pm_packed4_window_asm for 2-bit weights (pm_conv2d_packed2_*): per group one word, byte i holding
 * input channel i of output channels 0..3 in bits 2k+1:2k (lowest bits first); the sums come out
 * times 64 (exact: the generator proves 64 x the largest sum fits int32; the C caller divides).
 * 26 instructions for 16 MACs (28 for int4). */
__attribute__((naked, noinline)) static void pm_packed2_window_asm(PM_UNUSED const int8_t *x,
                                                                  PM_UNUSED const int32_t *w, PM_UNUSED int32_t *s)
{
    __asm__ volatile(PM_W2_MASK PM_WINDOW_ASM_HEAD "ldr    r10, [r1], #4\n\t" PM_W2_LANES("lr") PM_WINDOW_ASM_TAIL);
}

/* One pixel of a 1x1 convolution against every block of four output channels, on an input already
 * widened to int16 (word pairs {channels 0|2, 1|3} per group of four, pm_packed_widen): no SXTAB16 in
 * the loop, so 16 MACs take 12 instructions with int16 weights (w8 = 0) and 19 with int8 weights
 * (w8 = 1, widened here), two groups per loop test. s = {groups, blocks, bias, acc out, x16}; bias and acc out advance by one
 * block of four per block, the raw sums are stored for the C epilogue. */
#define PM_PIXEL_ASM_HEAD                                                                         \
        "push   {r2, r4-r11, lr}\n\t"                                                              \
        "0:\n\t"                                                                                   \
        "ldr    r3, [sp]\n\t"                                                                      \
        "ldr    r2, [r3, #8]\n\t"                                                                  \
        "ldm    r2!, {r4-r7}\n\t"                                                                  \
        "str    r2, [r3, #8]\n\t"                                                                  \
        "ldr    r2, [r3]\n\t"                                                                      \
        "ldr    r0, [r3, #16]\n\t"                                                                 \
        "lsrs   r2, r2, #1\n\t"                                                                    \
        "bcc    2f\n\t"
/* The odd group, then pairs of groups (half the loop tests); the body leaves the flags alone. */
#define PM_PIXEL_ASM_LOOP(body)                                                                   \
        body                                                                                       \
        "2:\n\t"                                                                                   \
        "beq    3f\n\t"                                                                            \
        "1:\n\t"                                                                                   \
        body                                                                                       \
        body                                                                                       \
        "subs   r2, r2, #1\n\t"                                                                    \
        "bne    1b\n\t"                                                                            \
        "3:\n\t"
#define PM_PIXEL_ASM_TAIL                                                                         \
        "ldr    r3, [sp]\n\t"                                                                      \
        "ldr    r2, [r3, #12]\n\t"                                                                 \
        "stm    r2!, {r4-r7}\n\t"                                                                  \
        "str    r2, [r3, #12]\n\t"                                                                 \
        "ldr    r2, [r3, #4]\n\t"                                                                  \
        "subs   r2, r2, #1\n\t"                                                                    \
        "str    r2, [r3, #4]\n\t"                                                                  \
        "bne    0b\n\t"                                                                            \
        "pop    {r2, r4-r11, pc}\n\t"
#define PM_PIXEL_GROUP16                                                                          \
        "ldrd   r8, r9, [r0], #8\n\t"                                                              \
        "ldm    r1!, {r10, r11, r12, lr}\n\t"                                                      \
        "smlad  r4, r8, r10, r4\n\t"                                                               \
        "smlad  r4, r9, r11, r4\n\t"                                                               \
        "smlad  r5, r8, r12, r5\n\t"                                                               \
        "smlad  r5, r9, lr, r5\n\t"                                                                \
        "ldm    r1!, {r10, r11, r12, lr}\n\t"                                                      \
        "smlad  r6, r8, r10, r6\n\t"                                                               \
        "smlad  r6, r9, r11, r6\n\t"                                                               \
        "smlad  r7, r8, r12, r7\n\t"                                                               \
        "smlad  r7, r9, lr, r7\n\t"
#define PM_PIXEL_GROUP8                                                                           \
        "ldrd   r8, r9, [r0], #8\n\t"                                                              \
        "ldm    r1!, {r10, r11, r12, lr}\n\t"                                                      \
        "sxtb16 r3, r10\n\t"                                                                       \
        "smlad  r4, r8, r3, r4\n\t"                                                                \
        "sxtb16 r3, r10, ror #8\n\t"                                                               \
        "smlad  r4, r9, r3, r4\n\t"                                                                \
        "sxtb16 r3, r11\n\t"                                                                       \
        "smlad  r5, r8, r3, r5\n\t"                                                                \
        "sxtb16 r3, r11, ror #8\n\t"                                                               \
        "smlad  r5, r9, r3, r5\n\t"                                                                \
        "sxtb16 r3, r12\n\t"                                                                       \
        "smlad  r6, r8, r3, r6\n\t"                                                                \
        "sxtb16 r3, r12, ror #8\n\t"                                                               \
        "smlad  r6, r9, r3, r6\n\t"                                                                \
        "sxtb16 r3, lr\n\t"                                                                        \
        "smlad  r7, r8, r3, r7\n\t"                                                                \
        "sxtb16 r3, lr, ror #8\n\t"                                                                \
        "smlad  r7, r9, r3, r7\n\t"

__attribute__((naked, noinline)) static void pm_packed_pixel_asm(PM_UNUSED const int32_t *x16,
                                                                PM_UNUSED const int32_t *w, PM_UNUSED int32_t *s)
{
    __asm__ volatile(PM_PIXEL_ASM_HEAD PM_PIXEL_ASM_LOOP(PM_PIXEL_GROUP16) PM_PIXEL_ASM_TAIL);
}

__attribute__((naked, noinline)) static void pm_packed8_pixel_asm(PM_UNUSED const int32_t *x16,
                                                                 PM_UNUSED const int32_t *w, PM_UNUSED int32_t *s)
{
    __asm__ volatile(PM_PIXEL_ASM_HEAD PM_PIXEL_ASM_LOOP(PM_PIXEL_GROUP8) PM_PIXEL_ASM_TAIL);
}

/* int4 weights: two nibbles per byte, widened in the loop (the body of PM_PIXEL_ASM_LOOP). */
#define PM_PIXEL_GROUP4                                                                          \
        "ldrd   r8, r9, [r0], #8\n\t"                                                            \
        "ldrd   r10, r11, [r1], #8\n\t"                                                          \
        "and    r12, r10, #0xF0F0F0F0\n\t"                                                       \
        "lsl    r10, r10, #4\n\t"                                                                \
        "and    r10, r10, #0xF0F0F0F0\n\t"                                                       \
        "sxtb16 r3, r10\n\t"                                                                     \
        "smlad  r4, r8, r3, r4\n\t"                                                              \
        "sxtb16 r3, r10, ror #8\n\t"                                                             \
        "smlad  r4, r9, r3, r4\n\t"                                                              \
        "sxtb16 r3, r12\n\t"                                                                     \
        "smlad  r5, r8, r3, r5\n\t"                                                              \
        "sxtb16 r3, r12, ror #8\n\t"                                                             \
        "smlad  r5, r9, r3, r5\n\t"                                                              \
        "and    r12, r11, #0xF0F0F0F0\n\t"                                                       \
        "lsl    r11, r11, #4\n\t"                                                                \
        "and    r11, r11, #0xF0F0F0F0\n\t"                                                       \
        "sxtb16 r3, r11\n\t"                                                                     \
        "smlad  r6, r8, r3, r6\n\t"                                                              \
        "sxtb16 r3, r11, ror #8\n\t"                                                             \
        "smlad  r6, r9, r3, r6\n\t"                                                              \
        "sxtb16 r3, r12\n\t"                                                                     \
        "smlad  r7, r8, r3, r7\n\t"                                                              \
        "sxtb16 r3, r12, ror #8\n\t"                                                             \
        "smlad  r7, r9, r3, r7\n\t"

__attribute__((naked, noinline)) static void pm_packed4_pixel_asm(PM_UNUSED const int32_t *x16,
                                                                 PM_UNUSED const int32_t *w, PM_UNUSED int32_t *s)
{
    __asm__ volatile(PM_PIXEL_ASM_HEAD PM_PIXEL_ASM_LOOP(PM_PIXEL_GROUP4) PM_PIXEL_ASM_TAIL);
}
/* 2-bit weights: four fields per byte, widened in the loop (the body of PM_PIXEL_ASM_LOOP). */
#define PM_PIXEL_GROUP2 "ldrd   r8, r9, [r0], #8\n\t" "ldr    r10, [r1], #4\n\t" PM_W2_LANES("r3")

__attribute__((naked, noinline)) static void pm_packed2_pixel_asm(PM_UNUSED const int32_t *x16,
                                                                 PM_UNUSED const int32_t *w, PM_UNUSED int32_t *s)
{
    __asm__ volatile(PM_W2_MASK PM_PIXEL_ASM_HEAD PM_PIXEL_ASM_LOOP(PM_PIXEL_GROUP2) PM_PIXEL_ASM_TAIL);
}
#else
#define PM_PACKED_ASM 0
#endif

#if !PM_PACKED_ASM
/* Four output channels' sums over n groups of four input bytes. */
static PM_ALWAYS_INLINE void pm_packed_dot4(const int8_t *x, const int32_t *w, int32_t n, uint32_t off2, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    if (n & 1) {
        const uint32_t xv = pm_read_u32(x);
        x += 4;
        const uint32_t x02 = (uint32_t)pm_sxtab16(off2, xv);
        const uint32_t x13 = (uint32_t)pm_sxtab16_ror8(off2, xv);
        a0 = pm_smlad(x02, (uint32_t)w[0], a0);
        a0 = pm_smlad(x13, (uint32_t)w[1], a0);
        a1 = pm_smlad(x02, (uint32_t)w[2], a1);
        a1 = pm_smlad(x13, (uint32_t)w[3], a1);
        a2 = pm_smlad(x02, (uint32_t)w[4], a2);
        a2 = pm_smlad(x13, (uint32_t)w[5], a2);
        a3 = pm_smlad(x02, (uint32_t)w[6], a3);
        a3 = pm_smlad(x13, (uint32_t)w[7], a3);
        w += 8;
    }
    /* Two groups per iteration halve the loop overhead; pointers only keep it in registers. The
     * packed weights are 8-byte aligned, so each pair of words is one LDRD. */
    const int8_t *const end = x + (size_t)(n >> 1) * 8;
    while (x != end) {
        uint32_t xv = pm_read_u32(x);
        uint32_t x02 = (uint32_t)pm_sxtab16(off2, xv);
        uint32_t x13 = (uint32_t)pm_sxtab16_ror8(off2, xv);
        uint64_t v = pm_read_w64(w);
        a0 = pm_smlad(x02, (uint32_t)v, a0);
        a0 = pm_smlad(x13, (uint32_t)(v >> 32), a0);
        v = pm_read_w64(w + 2);
        a1 = pm_smlad(x02, (uint32_t)v, a1);
        a1 = pm_smlad(x13, (uint32_t)(v >> 32), a1);
        v = pm_read_w64(w + 4);
        a2 = pm_smlad(x02, (uint32_t)v, a2);
        a2 = pm_smlad(x13, (uint32_t)(v >> 32), a2);
        v = pm_read_w64(w + 6);
        a3 = pm_smlad(x02, (uint32_t)v, a3);
        a3 = pm_smlad(x13, (uint32_t)(v >> 32), a3);
        xv = pm_read_u32(x + 4);
        x += 8;
        x02 = (uint32_t)pm_sxtab16(off2, xv);
        x13 = (uint32_t)pm_sxtab16_ror8(off2, xv);
        v = pm_read_w64(w + 8);
        a0 = pm_smlad(x02, (uint32_t)v, a0);
        a0 = pm_smlad(x13, (uint32_t)(v >> 32), a0);
        v = pm_read_w64(w + 10);
        a1 = pm_smlad(x02, (uint32_t)v, a1);
        a1 = pm_smlad(x13, (uint32_t)(v >> 32), a1);
        v = pm_read_w64(w + 12);
        a2 = pm_smlad(x02, (uint32_t)v, a2);
        a2 = pm_smlad(x13, (uint32_t)(v >> 32), a2);
        v = pm_read_w64(w + 14);
        a3 = pm_smlad(x02, (uint32_t)v, a3);
        a3 = pm_smlad(x13, (uint32_t)(v >> 32), a3);
        w += 16;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* As pm_packed_dot4 for int8 weights: one word (four input channels) per output channel and group. */
static PM_ALWAYS_INLINE void pm_packed8_dot4(const int8_t *x, const int32_t *w, int32_t n, uint32_t off2,
                                             int32_t *acc)
{
    for (int32_t g = 0; g < n; ++g) {
        const uint32_t xv = pm_read_u32(x + 4 * g);
        const uint32_t x02 = (uint32_t)pm_sxtab16(off2, xv);
        const uint32_t x13 = (uint32_t)pm_sxtab16_ror8(off2, xv);
        for (int k = 0; k < 4; ++k) {
            const uint32_t v = (uint32_t)w[4 * g + k];
            acc[k] = pm_smlad(x02, (uint32_t)pm_sxtb16(v), acc[k]);
            acc[k] = pm_smlad(x13, (uint32_t)pm_sxtb16_ror8(v), acc[k]);
        }
    }
}

/* An int4 weight word's two output channels as SMLAD operands, 16 x the weights (pm_packed4_window_asm). */
static PM_ALWAYS_INLINE void pm_packed4_lanes(uint32_t v, uint32_t *even02, uint32_t *even13, uint32_t *odd02,
                                              uint32_t *odd13)
{
    const uint32_t lo = (v << 4) & 0xF0F0F0F0u, hi = v & 0xF0F0F0F0u;
    *even02 = (uint32_t)pm_sxtb16(lo);
    *even13 = (uint32_t)pm_sxtb16_ror8(lo);
    *odd02 = (uint32_t)pm_sxtb16(hi);
    *odd13 = (uint32_t)pm_sxtb16_ror8(hi);
}

/* As pm_packed8_dot4 for int4 weights (two words per group); the sums come out times 16. */
static PM_ALWAYS_INLINE void pm_packed4_dot4(const int8_t *x, const int32_t *w, int32_t n, uint32_t off2,
                                             int32_t *acc)
{
    for (int32_t g = 0; g < n; ++g) {
        const uint32_t xv = pm_read_u32(x + 4 * g);
        const uint32_t x02 = (uint32_t)pm_sxtab16(off2, xv);
        const uint32_t x13 = (uint32_t)pm_sxtab16_ror8(off2, xv);
        for (int j = 0; j < 2; ++j) {
            uint32_t e02, e13, o02, o13;
            pm_packed4_lanes((uint32_t)w[2 * g + j], &e02, &e13, &o02, &o13);
            acc[2 * j] = pm_smlad(x13, e13, pm_smlad(x02, e02, acc[2 * j]));
            acc[2 * j + 1] = pm_smlad(x13, o13, pm_smlad(x02, o02, acc[2 * j + 1]));
        }
    }
}

/* Output channel k (0..3) of a 2-bit weight word as SMLAD operands, 64 x the weights (pm_packed2_window_asm). */
static PM_ALWAYS_INLINE void pm_packed2_lanes(uint32_t v, int k, uint32_t *l02, uint32_t *l13)
{
    const uint32_t top = (v << (6 - 2 * k)) & 0xC0C0C0C0u;
    *l02 = (uint32_t)pm_sxtb16(top);
    *l13 = (uint32_t)pm_sxtb16_ror8(top);
}

/* As pm_packed8_dot4 for 2-bit weights (one word per group); the sums come out times 64. */
static PM_ALWAYS_INLINE void pm_packed2_dot4(const int8_t *x, const int32_t *w, int32_t n, uint32_t off2,
                                             int32_t *acc)
{
    for (int32_t g = 0; g < n; ++g) {
        const uint32_t xv = pm_read_u32(x + 4 * g);
        const uint32_t x02 = (uint32_t)pm_sxtab16(off2, xv);
        const uint32_t x13 = (uint32_t)pm_sxtab16_ror8(off2, xv);
        for (int k = 0; k < 4; ++k) {
            uint32_t l02, l13;
            pm_packed2_lanes((uint32_t)w[g], k, &l02, &l13);
            acc[k] = pm_smlad(x13, l13, pm_smlad(x02, l02, acc[k]));
        }
    }
}
#endif


/* Weight layouts of the packed kernels (the `w8` argument below): int16 pre-widened, int8, int4. */
#define PM_W16 0
#define PM_W8 1
#define PM_W4 2
#define PM_W2 3
/* Words per group of four input channels and four output channels. */
#define PM_WPG(wk) ((wk) == PM_W2 ? 1 : (wk) == PM_W4 ? 2 : (wk) == PM_W8 ? 4 : 8)
/* log2 of the factor the low-bit layouts scale their sums by (0: none). */
#define PM_WSCALE(wk) ((wk) == PM_W2 ? 6 : (wk) == PM_W4 ? 4 : 0)

/* The int4 (2-bit) kernels' sums start at the bias and gain 16 (64) x the dot product: back to bias +
 * dot. The difference is taken modulo 2^32, exact because the generator proves |16 (64) x dot| < 2^31. */
static PM_ALWAYS_INLINE void pm_packed4_unscale(int32_t *acc, const int32_t *bias, int32_t m, const int sh)
{
    for (int32_t k = 0; k < m; ++k) {
        acc[k] = (int32_t)((uint32_t)bias[k] + (uint32_t)((int32_t)((uint32_t)acc[k] - (uint32_t)bias[k]) >> sh));
    }
}

static inline int pm_packed_check(const pm_conv_packed_params_t *p, const int8_t *input, const int8_t *output)
{
    if (p == NULL || input == NULL || output == NULL || p->weights == NULL || p->bias == NULL ||
        p->requant == NULL || p->stride_h < 1 || p->stride_w < 1) {
        return PM_ERR_ARG;
    }
    if (p->input.n != p->output.n || p->input.c % 4 != 0 || p->filter.c != p->input.c ||
        p->filter.n != p->output.c) {
        return PM_ERR_SHAPE;
    }
    return PM_OK;
}

/* The convolution; with add != NULL each value then goes through the residual addition.
 * short_path and sat8 (the convolution's) and add_fast (the ADD's output takes the short path and the
 * int8 clamp) are compile-time constants in each instantiation (see PM_PACKED_DISPATCH). */
static PM_ALWAYS_INLINE void pm_packed_body(const pm_conv_packed_params_t *p, const int8_t *input,
                                            const pm_conv_packed_add_params_t *add, const int8_t *residual,
                                            int8_t *output, const int short_path, const int sat8, const int add_fast,
                                            const int w8)
{
    const int32_t in_h = p->input.h, in_w = p->input.w, in_c = p->input.c;
    const int32_t kh = p->filter.h, kw = p->filter.w;
    const int32_t out_c = p->output.c;
    const int32_t groups = in_c / 4;
    const int32_t wpg = PM_WPG(w8);
    const size_t block_words = (size_t)kh * kw * groups * wpg;
    const size_t row_bytes = (size_t)in_w * in_c;
    const size_t row_words = (size_t)kw * groups * wpg;
    const uint32_t off2 = ((uint32_t)(uint16_t)p->input_offset) | ((uint32_t)(uint16_t)p->input_offset << 16);
    const int32_t out_offset = p->output_offset, act_min = p->act_min, act_max = p->act_max;
    /* The tables are indexed by int8 values. */
    const int32_t *const conv_table = add != NULL ? add->conv_table + 128 : NULL;
    const int32_t *const residual_table = add != NULL ? add->residual_table + 128 : NULL;
    /* Local copies: output stores may alias the parameters as far as the compiler knows. */
    int32_t add_rec[4] = {0, 0, 0, 0};
    int32_t add_offset = 0, add_min = -128, add_max = 127, add_short = 0;
    if (add != NULL) {
        for (int k = 0; k < 4; ++k) {
            add_rec[k] = add->requant[k];
        }
        add_offset = add->output_offset;
        add_min = add->act_min;
        add_max = add->act_max;
        add_short = add->short_requant;
    }
    int32_t s[9];
    s[4] = (int32_t)off2;
    for (int32_t b = 0; b < p->output.n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * row_bytes;
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t ky0 = y0 < 0 ? -y0 : 0;
            const int32_t ky1 = in_h - y0 < kh ? in_h - y0 : kh;
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0;
                const int32_t kx1 = in_w - x0 < kw ? in_w - x0 : kw;
                const int32_t n = kx1 > kx0 ? (kx1 - kx0) * groups : 0;
                const int32_t rows = ky1 > ky0 && n > 0 ? ky1 - ky0 : 0;
                const int8_t *x_first = in_b + (size_t)(y0 + ky0) * row_bytes + (size_t)(x0 + kx0) * in_c;
                const int32_t *w_first = p->weights + ((size_t)ky0 * kw + kx0) * groups * wpg;
                s[6] = n;
                s[7] = (int32_t)(row_bytes - (size_t)n * 4);
                s[8] = (int32_t)((row_words - (size_t)n * wpg) * sizeof(int32_t));
                const int32_t *bias = p->bias;
                const int32_t *rec = p->requant;
                for (int32_t oc = 0; oc < out_c; oc += 4) {
                    memcpy(s, bias, 4 * sizeof(int32_t));
                    bias += 4;
                    if (rows > 0) {
#if PM_PACKED_ASM
                        s[5] = rows;
                        if (w8 == PM_W2) {
                            pm_packed2_window_asm(x_first, w_first, s);
                        } else if (w8 == PM_W4) {
                            pm_packed4_window_asm(x_first, w_first, s);
                        } else if (w8) {
                            pm_packed8_window_asm(x_first, w_first, s);
                        } else {
                            pm_packed_window_asm(x_first, w_first, s);
                        }
#else
                        const int8_t *xr = x_first;
                        const int32_t *wr = w_first;
                        for (int32_t r = 0; r < rows; ++r) {
                            if (w8 == PM_W2) {
                                pm_packed2_dot4(xr, wr, n, off2, s);
                            } else if (w8 == PM_W4) {
                                pm_packed4_dot4(xr, wr, n, off2, s);
                            } else if (w8) {
                                pm_packed8_dot4(xr, wr, n, off2, s);
                            } else {
                                pm_packed_dot4(xr, wr, n, off2, s);
                            }
                            xr += row_bytes;
                            wr += row_words;
                        }
#endif
                    }
                    if (PM_WSCALE(w8)) {
                        pm_packed4_unscale(s, bias - 4, 4, PM_WSCALE(w8));
                    }
                    w_first += block_words;
                    const int32_t m = out_c - oc < 4 ? out_c - oc : 4;
                    /* A constant 4 lets the compiler unroll the common case (no loop test per value). */
                    if (m == 4) {
                        pm_packed_epilogue(s, rec, 4, output, residual, conv_table, residual_table, add_rec,
                                           out_offset, act_min, act_max, add_offset, add_min, add_max, add_short,
                                           add != NULL, short_path, sat8, add_fast);
                    } else {
                        pm_packed_epilogue(s, rec, m, output, residual, conv_table, residual_table, add_rec,
                                           out_offset, act_min, act_max, add_offset, add_min, add_max, add_short,
                                           add != NULL, short_path, sat8, add_fast);
                    }
                    rec += 4 * PM_REC_WORDS(short_path);  /* records are padded to whole blocks */
                    output += m;
                    if (add != NULL) {
                        residual += m;
                    }
                }
            }
        }
    }
}

#if !PM_PACKED_ASM
/* Portable pm_packed_pixel_asm / pm_packed8_pixel_asm (the same layouts; pointers as arguments). */
static void pm_packed_pixel_c(const int32_t *x16, const int32_t *w, int32_t groups, int32_t blocks,
                              const int32_t *bias, int32_t *out, const int w8)
{
    for (int32_t blk = 0; blk < blocks; ++blk) {
        int32_t acc[4] = {bias[4 * blk], bias[4 * blk + 1], bias[4 * blk + 2], bias[4 * blk + 3]};
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t x02 = (uint32_t)x16[2 * g], x13 = (uint32_t)x16[2 * g + 1];
            if (w8 == PM_W2) {
                for (int k = 0; k < 4; ++k) {
                    uint32_t l02, l13;
                    pm_packed2_lanes((uint32_t)w[0], k, &l02, &l13);
                    acc[k] = pm_smlad(x13, l13, pm_smlad(x02, l02, acc[k]));
                }
                w += 1;
                continue;
            }
            if (w8 == PM_W4) {
                for (int j = 0; j < 2; ++j) {
                    uint32_t e02, e13, o02, o13;
                    pm_packed4_lanes((uint32_t)w[j], &e02, &e13, &o02, &o13);
                    acc[2 * j] = pm_smlad(x13, e13, pm_smlad(x02, e02, acc[2 * j]));
                    acc[2 * j + 1] = pm_smlad(x13, o13, pm_smlad(x02, o02, acc[2 * j + 1]));
                }
                w += 2;
                continue;
            }
            for (int k = 0; k < 4; ++k) {
                if (w8) {
                    const uint32_t v = (uint32_t)w[k];
                    acc[k] = pm_smlad(x02, (uint32_t)pm_sxtb16(v), acc[k]);
                    acc[k] = pm_smlad(x13, (uint32_t)pm_sxtb16_ror8(v), acc[k]);
                } else {
                    acc[k] = pm_smlad(x02, (uint32_t)w[2 * k], acc[k]);
                    acc[k] = pm_smlad(x13, (uint32_t)w[2 * k + 1], acc[k]);
                }
            }
            w += w8 ? 4 : 8;
        }
        memcpy(out + 4 * blk, acc, sizeof acc);
    }
}
#endif

/* A pixel's int8 channels plus the input offset as int16 word pairs {0|2, 1|3} per group of four. */
static PM_ALWAYS_INLINE void pm_packed_widen(const int8_t *px, int32_t groups, uint32_t off2, int32_t *x16)
{
    /* Pointers only (an index loop spills its bounds on the M4); one post-indexed STRD per group (GCC
     * splits the pair into two STRs and an add). */
    const int8_t *const end = px + 4 * (size_t)groups;
    while (px != end) {
        const uint32_t xv = pm_read_u32(px);
        px += 4;
        const uint32_t x02 = (uint32_t)pm_sxtab16(off2, xv), x13 = (uint32_t)pm_sxtab16_ror8(off2, xv);
#if PM_PACKED_ASM
        __asm__ volatile("strd %1, %2, [%0], #8" : "+r"(x16) : "r"(x02), "r"(x13) : "memory");
#else
        x16[0] = (int32_t)x02;
        x16[1] = (int32_t)x13;
        x16 += 2;
#endif
    }
}

/* Blocks of four output channels per assembly call of the 1x1 kernels (their raw sums wait in scratch). */
#define PM_1X1_CHUNK 8

/* Scratch of the 1x1 kernels: the widened pixel and the raw sums of one chunk of blocks. */
static inline int32_t pm_packed_1x1_scratch(const pm_conv_packed_params_t *p)
{
    const int32_t blocks = (p->output.c + 3) / 4;
    return (p->input.c / 4) * 8 + (blocks < PM_1X1_CHUNK ? blocks : PM_1X1_CHUNK) * 16;
}

/* 1x1 convolution without padding (any stride), per pixel: widen once, all blocks in one call. */
static PM_ALWAYS_INLINE void pm_packed_1x1_body(const pm_conv_packed_params_t *p, const int8_t *input,
                                                int32_t *scratch, int8_t *output, const int short_path,
                                                const int sat8, const int w8)
{
    const int32_t in_h = p->input.h, in_w = p->input.w, in_c = p->input.c, out_c = p->output.c;
    const int32_t groups = in_c / 4, blocks = (out_c + 3) / 4;
    const uint32_t off2 = ((uint32_t)(uint16_t)p->input_offset) | ((uint32_t)(uint16_t)p->input_offset << 16);
    int32_t *const x16 = scratch;
    int32_t *const acc = scratch + 2 * groups;
    const int32_t zero_rec[4] = {0, 0, 0, 0};
    for (int32_t b = 0; b < p->output.n; ++b) {
        for (int32_t oy = 0; oy < p->output.h; ++oy) {
            const int8_t *row = input + ((size_t)b * in_h + (size_t)oy * p->stride_h) * in_w * in_c;
            for (int32_t ox = 0; ox < p->output.w; ++ox) {
                pm_packed_widen(row + (size_t)ox * p->stride_w * in_c, groups, off2, x16);
                const int32_t *rec = p->requant;
                for (int32_t blk = 0; blk < blocks; blk += PM_1X1_CHUNK) {
                    const int32_t nb = blocks - blk < PM_1X1_CHUNK ? blocks - blk : PM_1X1_CHUNK;
                    const int32_t *w = p->weights + (size_t)blk * groups * PM_WPG(w8);
#if PM_PACKED_ASM
                    /* A 32-bit target: the pointers fit the int32 record the assembly reads. */
                    int32_t s[5] = {groups, nb, (int32_t)(uintptr_t)(p->bias + 4 * blk), (int32_t)(uintptr_t)acc,
                                    (int32_t)(uintptr_t)x16};
                    if (w8 == PM_W2) {
                        pm_packed2_pixel_asm(x16, w, s);
                    } else if (w8 == PM_W4) {
                        pm_packed4_pixel_asm(x16, w, s);
                    } else if (w8) {
                        pm_packed8_pixel_asm(x16, w, s);
                    } else {
                        pm_packed_pixel_asm(x16, w, s);
                    }
#else
                    pm_packed_pixel_c(x16, w, groups, nb, p->bias + 4 * blk, acc, w8);
#endif
                    if (PM_WSCALE(w8)) {
                        pm_packed4_unscale(acc, p->bias + 4 * blk, 4 * nb, PM_WSCALE(w8));
                    }
                    const int32_t oc0 = 4 * blk;
                    const int32_t oc_end = oc0 + 4 * nb < out_c ? oc0 + 4 * nb : out_c;
                    int32_t oc = oc0;
                    for (; oc + 4 <= oc_end; oc += 4, rec += 4 * PM_REC_WORDS(short_path)) {
                        pm_packed_epilogue(acc + (oc - oc0), rec, 4, output + oc, NULL, NULL, NULL, zero_rec,
                                           p->output_offset, p->act_min, p->act_max, 0, -128, 127, 0, 0, short_path,
                                           sat8, 0);
                    }
                    if (oc < oc_end) {
                        pm_packed_epilogue(acc + (oc - oc0), rec, oc_end - oc, output + oc, NULL, NULL, NULL, zero_rec,
                                           p->output_offset, p->act_min, p->act_max, 0, -128, 127, 0, 0, short_path,
                                           sat8, 0);
                    }
                }
                output += out_c;
            }
        }
    }
}

/* The 1x1 kernels' checks and instantiations (pm_conv2d_packed_1x1_s8, pm_conv2d_packed8_1x1_s8). */
static inline int pm_packed_1x1_run(const pm_conv_packed_params_t *p, const int8_t *input, int8_t *scratch,
                                    int8_t *output, const int w8)
{
    const int status = pm_packed_check(p, input, output);
    if (status != PM_OK) {
        return status;
    }
    if (scratch == NULL || ((uintptr_t)scratch & 3u) != 0) {
        return PM_ERR_ARG;
    }
    if (p->filter.h != 1 || p->filter.w != 1 || p->pad_h != 0 || p->pad_w != 0) {
        return PM_ERR_SHAPE;
    }
    int32_t *const s32 = (int32_t *)(void *)scratch;
    if (p->short_requant && pm_packed_sat8(p->act_min, p->act_max)) {
        pm_packed_1x1_body(p, input, s32, output, 1, 1, w8);
    } else if (p->short_requant) {
        pm_packed_1x1_body(p, input, s32, output, 1, 0, w8);
    } else {
        pm_packed_1x1_body(p, input, s32, output, 0, 0, w8);
    }
    return PM_OK;
}

/* One instantiation per (short path, int8 clamp) so neither test runs per value; w8: PM_W16/PM_W8/PM_W4/PM_W2. */
#define PM_PACKED_DISPATCH_W(p, input, output, w8)                                                 \
    do {                                                                                           \
        if ((p)->short_requant && pm_packed_sat8((p)->act_min, (p)->act_max)) {                    \
            pm_packed_body((p), (input), NULL, NULL, (output), 1, 1, 0, (w8));                     \
        } else if ((p)->short_requant) {                                                           \
            pm_packed_body((p), (input), NULL, NULL, (output), 1, 0, 0, (w8));                     \
        } else {                                                                                   \
            pm_packed_body((p), (input), NULL, NULL, (output), 0, 0, 0, (w8));                     \
        }                                                                                          \
    } while (0)
#define PM_PACKED_DISPATCH(p, input, output) PM_PACKED_DISPATCH_W(p, input, output, 0)

/* The fused residual ADD (pm_conv2d_packed_add_s8, pm_conv2d_packed8_add_s8). */
static inline int pm_packed_add_run(const pm_conv_packed_add_params_t *p, const int8_t *input, const int8_t *residual,
                                    int8_t *output, const int w8)
{
    if (p == NULL || residual == NULL || p->conv_table == NULL || p->residual_table == NULL || p->requant == NULL) {
        return PM_ERR_ARG;
    }
    const int status = pm_packed_check(&p->conv, input, output);
    if (status != PM_OK) {
        return status;
    }
    const pm_conv_packed_params_t *c = &p->conv;
    /* The ResNet case gets its own instantiation; everything else the general one. */
    if (c->short_requant && pm_packed_sat8(c->act_min, c->act_max) && p->short_requant &&
        pm_packed_sat8(p->act_min, p->act_max)) {
        pm_packed_body(c, input, p, residual, output, 1, 1, 1, w8);
    } else if (c->short_requant) {  /* the records of the two paths differ: never mix them */
        pm_packed_body(c, input, p, residual, output, 1, 0, 0, w8);
    } else {
        pm_packed_body(c, input, p, residual, output, 0, 0, 0, w8);
    }
    return PM_OK;
}

#endif /* PM_CONV_PACKED_H */

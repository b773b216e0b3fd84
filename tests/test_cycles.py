"""The counting plugin and the estimated-cycles cost tables."""

import shutil
import subprocess

import pytest

from pixmcu.cycles import cost_tables, count_regions, estimate, parse_plugin_output
from pixmcu.resources import firmware_dir

# Between the markers: movs; 3 x (ldr, ldr, adds, smlad, subs, bne); push {r4,r5}; pop {r4,r5};
# vldmia {s0-s3}; vfma; vmul; vadd.
SEQUENCE = r"""
#include "pm_bench.h"
int main(void)
{
    PM_BENCH_START();
    __asm volatile("movs r0, #3\n"
                   "1: ldr r1, [sp]\n"
                   "ldr r2, [sp, #4]\n"
                   "adds r1, r1, r2\n"
                   "smlad r3, r1, r2, r3\n"
                   "subs r0, r0, #1\n"
                   "bne 1b\n"
                   "push {r4, r5}\n"
                   "pop {r4, r5}\n"
                   "vldmia sp, {s0-s3}\n"
                   "vfma.f32 s4, s0, s1\n"
                   "vmul.f32 s5, s0, s1\n"
                   "vadd.f32 s6, s5, s2\n"
                   ::: "r0", "r1", "r2", "r3", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "cc", "memory");
    PM_BENCH_STOP();
    PM_BENCH_START();
    __asm volatile("nop\nnop\n" ::: "memory");
    PM_BENCH_STOP();
    return 0;
}
"""


# Markers that end 2 bytes before a 1 KiB page boundary (QEMU then reports them as 6-byte
# instructions): the START of region 0 at page - 6, a STOP at 2 * page - 6; three regions in all.
PAGE_EDGE = r"""
int main(void)
{
    __asm volatile(".balign 1024\n"
                   ".rept 509\nnop\n.endr\n"
                   ".inst.w 0xf3af8030\n"
                   "nop\nnop\nnop\n"
                   ".inst.w 0xf3af8031\n"
                   ".balign 1024\n"
                   ".inst.w 0xf3af8030\n"
                   ".rept 504\nnop\n.endr\n"
                   ".inst.w 0xf3af8031\n"
                   ".inst.w 0xf3af8030\n"
                   "nop\n"
                   ".inst.w 0xf3af8031\n" ::: "memory");
    return 0;
}
"""


# Helium and Armv8.1-M encodings, one per class, between the markers. Capstone 4 (QEMU 7.2) cannot
# decode most of them (it prints .byte or LDC/STC), so the plugin classifies them by encoding.
MVE_SEQUENCE = r"""
#include "pm_bench.h"
#include <stdint.h>
static int8_t buf[64] __attribute__((aligned(16)));
int main(void)
{
    PM_BENCH_START();
    __asm volatile("mov r0, %0\n"
                   "movs r1, #20\n"                    /* alu */
                   "vldrb.s8 q0, [r0]\n"               /* mve_load */
                   "vldrb.s16 q1, [r0, #16]\n"         /* mve_load (widening) */
                   "vadd.i8 q3, q0, q1\n"              /* mve_int, overlaps the load's 2nd beat */
                   "vmladava.s8 r2, q0, q1\n"          /* mve_mul, overlaps */
                   "vmla.s32 q3, q0, r2\n"             /* mve_mul, same pipe: no overlap */
                   "vqrdmulh.s32 q3, q3, r2\n"         /* mve_mul */
                   "vrshl.s32 q3, r1\n"                /* mve_int (shift by a scalar), overlaps */
                   "vmovnb.i32 q3, q2\n"               /* mve_int */
                   "vpsel q0, q1, q2\n"                /* mve_int */
                   "vcmp.s8 gt, q0, q1\n"              /* mve_mul (compares run in the FP/MUL pipe), overlaps */
                   "vctp.8 r1\n"                       /* mve_ctl, overlaps */
                   "vmrs r3, p0\n"                     /* mve_ctl (VPR to a register) */
                   "vpst\n"                            /* mve_ctl */
                   "vstrbt.8 q3, [r0]\n"               /* mve_store */
                   "vdup.32 q4, r1\n"                  /* mve_int, overlaps */
                   "sqrshr r2, r3\n"                   /* simd (long shift), overlaps */
                   ".inst.w 0xf3af8032\n"              /* a reserved hint, not a marker: unknown */
                   "dlstp.8 lr, r1\n"                  /* lob; 20 bytes: two iterations */
                   "1: vldrb.8 q0, [r0]\n"             /* mve_load x2 */
                   "vstrb.8 q0, [r0], #16\n"           /* mve_store x2 */
                   "letp lr, 1b\n"                     /* le x2, one taken */
                   :: "r"(buf) : "r0", "r1", "r2", "r3", "lr", "q0", "q1", "q2", "q3", "q4", "cc", "memory");
    PM_BENCH_STOP();
    return 0;
}
"""


def _build(d, source: str, cpu: tuple[str, ...] = ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16")):
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.fail("arm-none-eabi-gcc and qemu-system-arm are required")
    (d / "seq.c").write_text(source)
    bench = firmware_dir() / "first_layer" / "bench"
    ld = bench / "pm_bench.ld"
    if "-mcpu=cortex-m55" in cpu:  # mps3-an547: 512 KiB DTCM, so the stack must start there
        ld = d / "m55.ld"
        ld.write_text((bench / "pm_bench.ld").read_text().replace("LENGTH = 4M", "LENGTH = 512K"))
    elf = d / "seq.elf"
    subprocess.run(["arm-none-eabi-gcc", *cpu, "-mfloat-abi=hard", "-mthumb",
                    "-O2", f"-I{bench}", str(d / "seq.c"), str(bench / "pm_bench_startup.c"),
                    str(bench / "pm_bench_semihost.c"), "-T", str(ld), "-nostartfiles",
                    "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
                    "-Wl,--no-warn-rwx-segments", "-o", str(elf)], check=True)
    return elf


@pytest.fixture(scope="module")
def sequence_elf(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("seq"), SEQUENCE)


def test_markers_at_a_page_edge_are_seen(tmp_path):
    """A marker ending 2 bytes before a page boundary still opens / closes its region (QEMU reports it
    as a 6-byte instruction), so no region is lost or renumbered."""
    elf = _build(tmp_path, PAGE_EDGE)
    regions, rc = count_regions(elf, "qemu-m4")
    assert rc == 0
    assert [r.index for r in regions] == [0, 1, 2]
    assert [r.insns for r in regions] == [3, 504, 1]


def test_plugin_counts_known_sequence(sequence_elf):
    regions, rc = count_regions(sequence_elf, "qemu-m4")
    assert rc == 0 and len(regions) == 2
    r = regions[0]
    assert r.insns == 1 + 3 * 6 + 2 + 4
    nonzero = {k: v for k, v in r.classes.items() if v}
    assert nonzero == {"alu": 7, "mul": 3, "load": 6, "branch": 3, "ldm": 1, "stm": 1, "vldm": 1, "fp_mac": 1,
                       "fp_alu": 2}
    assert r.events == {"taken_branch": 2, "xfer_regs": 2 + 2 + 4, "ls_after_ls": 3, "load_use": 3,
                        "beat_overlap": 0, "taken_le": 0}
    assert regions[1].insns == 2
    # Deterministic: a second run gives the same counts.
    again, _ = count_regions(sequence_elf, "qemu-m4")
    assert again == regions


def test_cost_table_hand_computed(sequence_elf):
    r = count_regions(sequence_elf, "qemu-m4")[0][0]
    # M4: alu 7 + mul 3 + load 6*2 + branch 3 + ldm 1 + stm 1 + vldm 1 + fp_mac 3 + fp_alu 2
    #     + taken 2*2 + xfer 8*1 - ls_after_ls 3 = 42
    assert estimate(r, "cortex-m4") == 42.0
    # M7: alu 7*0.5 + mul 3 + load 6 + branch 3 + ldm 1 + stm 1 + vldm 1 + fp_mac 1 + fp_alu 2
    #     + taken 2*1 + xfer 8*0.5 + load_use 3*1 = 30.5
    assert estimate(r, "cortex-m7") == 30.5


def test_plugin_classifies_helium_by_encoding(tmp_path):
    """MVE, tail-predicated loops and long shifts land in their classes, none in `alu`; an instruction
    the plugin has no class for (a reserved hint) is `unknown`, never a cheap class; the cost table turns them into
    an estimate by the dual-beat rule."""
    elf = _build(tmp_path, MVE_SEQUENCE, ("-mcpu=cortex-m55",))
    regions, rc = count_regions(elf, "qemu-m55")
    assert rc == 0 and len(regions) == 1
    r = regions[0]
    nonzero = {k: v for k, v in r.classes.items() if v}
    assert nonzero == {"load": 1, "alu": 2, "simd": 1, "mve_load": 4, "mve_store": 3, "mve_int": 5, "mve_mul": 4,
                       "mve_ctl": 3, "lob": 1, "le": 2, "unknown": 1}
    assert r.insns == sum(nonzero.values())
    assert r.events["taken_le"] == 1 and r.events["taken_branch"] == 0
    # Pairs: load->int, int->mul, mul->int; store->int, int->simd; store->LETP on both passes (same-pipe
    # pairs do not overlap). QEMU ends a block at VCMP and at VCTP (they change the predication
    # state) and the plugin pairs only inside a block, so int->mul (VPSEL, VCMP) and mul->ctl are not.
    assert r.events["beat_overlap"] == 3 + 2 + 2
    # M55: load 2 (the buffer address) + alu 2 + simd 1 + 16 two-beat x 2 + ctl 3 + lob 1 + le 0
    #      + unknown 2 - overlap 7 = 36
    assert estimate(r, "cortex-m55") == 36.0


def test_unknown_encodings_are_not_cheap():
    (r,) = parse_plugin_output("classes alu unknown\nevents taken_branch\nregion 0 insns 3 classes 1 2 events 0\n")
    for core in cost_tables.COST_TABLES:
        assert estimate(r, core) >= 1 * cost_tables.COST_TABLES[core]["classes"]["alu"] + 2 * 2


def test_parse_and_unknown_core_falls_back_to_m4():
    text = ("classes alu load\nevents taken_branch ls_after_ls\n"
            "region 0 insns 5 classes 3 2 events 1 1\n")
    (r,) = parse_plugin_output(text)
    assert r.insns == 5 and r.classes == {"alu": 3, "load": 2}
    assert estimate(r, "cortex-m4") == 3 + 4 + 2 - 1
    assert cost_tables.cost_table("cortex-m33") is cost_tables.CORTEX_M4


def test_every_class_has_a_cost():
    for table in cost_tables.COST_TABLES.values():
        assert set(table["classes"]) == set(cost_tables.CLASSES)
        assert set(table["events"]) == set(cost_tables.EVENTS)

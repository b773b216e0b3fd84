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


def _build(d, source: str):
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.fail("arm-none-eabi-gcc and qemu-system-arm are required")
    (d / "seq.c").write_text(source)
    bench = firmware_dir() / "first_layer" / "bench"
    elf = d / "seq.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb",
                    "-O2", f"-I{bench}", str(d / "seq.c"), str(bench / "pm_bench_startup.c"),
                    str(bench / "pm_bench_semihost.c"), "-T", str(bench / "pm_bench.ld"), "-nostartfiles",
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
    assert r.events == {"taken_branch": 2, "xfer_regs": 2 + 2 + 4, "ls_after_ls": 3, "load_use": 3}
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

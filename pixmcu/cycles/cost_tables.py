"""Per-instruction-class cost tables for estimated cycles on Cortex-M4 and Cortex-M7.

An estimate, never a measurement: QEMU counts every instruction as one, which flatters FPU code and
multi-register transfers. These tables weight the plugin's per-class counts with the costs the
Technical Reference Manuals give (see docs/cycles.md for the assumptions and their limits):

  estimated_cycles = sum(class_count * class_cost) + sum(event_count * event_cost)

Classes are decided at translation time from the instruction; events are `taken_branch` (counted at
run time), `xfer_regs` (registers moved by LDM/STM/PUSH/POP/VLDM/VSTM/VPUSH/VPOP, a D register
counting two), `ls_after_ls` (a single load or store right after another, not dependent on it) and
`load_use` (an instruction reading the register the previous load wrote).
"""

from __future__ import annotations

CLASSES = ("alu", "simd", "it", "mul", "div", "load", "store", "ldrd", "strd", "ldm", "stm", "branch",
           "fp_alu", "fp_mac", "fp_div", "vldr", "vstr", "vldm", "vstm")
EVENTS = ("taken_branch", "xfer_regs", "ls_after_ls", "load_use")

# Cortex-M4 (TRM r0p1 §3.3, FPv4-SP TRM §7.2): zero flash wait states, in-order single issue.
CORTEX_M4 = {
    "classes": {
        "alu": 1, "simd": 1, "it": 1,   # IT may fold into a preceding 16-bit instruction; counted 1
        "mul": 1,                        # MUL, MLA, SMULL, SMLAL, SMLAD, ...: single-cycle on M4
        "div": 7,                        # SDIV/UDIV 2..12 with early termination; the midpoint
        "load": 2, "store": 2,           # LDR/STR 2 cycles; a neighbour pipelines (ls_after_ls -1)
        "ldrd": 3, "strd": 3,            # 1 + N, N = 2 words
        "ldm": 1, "stm": 1,              # 1 + N: the N comes from xfer_regs
        "branch": 1,                     # 1 not taken; taken adds P (taken_branch)
        "fp_alu": 1,                     # VADD/VSUB/VMUL/VMOV/VCVT/VCMP/VABS/VNEG
        "fp_mac": 3,                     # VMLA/VMLS/VFMA/VFMS/VNMLA: 3 cycles, not pipelined back to back
        "fp_div": 14,                    # VDIV/VSQRT
        "vldr": 2, "vstr": 2,
        "vldm": 1, "vstm": 1,            # 1 + N single-precision registers
    },
    "events": {
        "taken_branch": 2,               # pipeline refill P: 1..3 cycles, taken as 2
        "xfer_regs": 1,
        "ls_after_ls": -1,               # neighbouring single loads/stores pipeline: N of them cost N + 1
        "load_use": 0,                   # the 2-cycle LDR already returns data to the next instruction
    },
}

# Cortex-M7 (no public per-instruction table: TRM r1p2 and Arm's M7 optimisation notes). Dual issue
# of simple integer pairs is modelled as half a cycle each, one load/store and one MAC pipe,
# 64-bit AXI/TCM loads (LDM/VLDM move two words a cycle), predicted branches.
CORTEX_M7 = {
    "classes": {
        "alu": 0.5, "simd": 1, "it": 0.5,
        "mul": 1, "div": 7,
        "load": 1, "store": 1,
        "ldrd": 1, "strd": 1,
        "ldm": 1, "stm": 1,
        "branch": 1,
        "fp_alu": 1,
        "fp_mac": 1,                     # FPv5 VFMA.F32 pipelined: one per cycle when independent
        "fp_div": 14,
        "vldr": 1, "vstr": 1,
        "vldm": 1, "vstm": 1,
    },
    "events": {
        "taken_branch": 1,               # BTAC-predicted loops refill little; mispredicts ignored
        "xfer_regs": 0.5,
        "ls_after_ls": 0,
        "load_use": 1,                   # load-to-use latency 2: the consumer waits one cycle
    },
}

COST_TABLES = {"cortex-m4": CORTEX_M4, "cortex-m7": CORTEX_M7}


def cost_table(core: str) -> dict:
    """The cost table of `core` ('cortex-m4' or 'cortex-m7'); other cores fall back to the M4's."""
    return COST_TABLES.get(core, CORTEX_M4)


def apply(classes: dict[str, int], events: dict[str, int], core: str) -> float:
    """Estimated cycles of the given class and event counts on `core`."""
    table = cost_table(core)
    total = sum(n * table["classes"][c] for c, n in classes.items())
    total += sum(n * table["events"][e] for e, n in events.items())
    return float(total)

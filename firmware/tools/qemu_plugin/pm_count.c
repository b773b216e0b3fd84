/* pm_count: a QEMU TCG plugin that counts executed guest instructions per instruction class between
 * marker instructions, for pixmcu's estimated-cycles model (pixmcu/cycles).
 *
 * Markers are reserved Thumb-2 hints (they execute as NOPs on silicon and in QEMU):
 *   START  .inst.w 0xf3af8030   opens region k (k counts up from 0)
 *   STOP   .inst.w 0xf3af8031   closes it and appends one line to the output file
 * Instructions are classified once, at translation time, from QEMU's disassembly (capstone). Each
 * translation block keeps a histogram of its classes and pair events, added on every execution of the
 * block, so the run costs one callback per block. Blocks holding a marker fall back to one callback
 * per instruction so that a region starts and ends exactly at its marker.
 *
 * Arguments: out=PATH (required); profile=PATH (optional: per-address execution counts inside regions,
 * "ADDR COUNT" lines written at exit; slower, for finding where a kernel spends its instructions).
 * Output lines:
 *   classes NAME...            (once)
 *   events NAME...             (once)
 *   region K insns N classes C... events E...
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_plugin_api.h"

PM_QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

enum cls {
    C_ALU, C_SIMD, C_IT, C_MUL, C_DIV, C_LOAD, C_STORE, C_LDRD, C_STRD, C_LDM, C_STM, C_BRANCH,
    C_FP_ALU, C_FP_MAC, C_FP_DIV, C_VLDR, C_VSTR, C_VLDM, C_VSTM,
    /* Armv8.1-M: Helium (MVE) by the EPU pipe that runs it, predication control, low-overhead loops. */
    C_MVE_LOAD, C_MVE_STORE, C_MVE_INT, C_MVE_MUL, C_MVE_CTL, C_LOB, C_LE,
    C_UNKNOWN, /* neither the encoding nor the disassembly was recognised: never folded into a cheap class */
    N_CLS
};
static const char *const cls_names[N_CLS] = {
    "alu", "simd", "it", "mul", "div", "load", "store", "ldrd", "strd", "ldm", "stm", "branch",
    "fp_alu", "fp_mac", "fp_div", "vldr", "vstr", "vldm", "vstm",
    "mve_load", "mve_store", "mve_int", "mve_mul", "mve_ctl", "lob", "le", "unknown",
};

/* Events: taken_branch and taken_le are counted at run time; the others at translation time from
 * neighbouring pairs. beat_overlap: a two-beat MVE instruction followed by one that does not need the
 * same EPU pipe, which then runs beside its second beat. */
enum ev { E_TAKEN, E_XFER_REGS, E_LS_AFTER_LS, E_LOAD_USE, E_BEAT_OVERLAP, E_TAKEN_LE, N_EV };
static const char *const ev_names[N_EV] = {"taken_branch", "xfer_regs", "ls_after_ls", "load_use",
                                           "beat_overlap", "taken_le"};

#define MARK_NONE 0
#define MARK_START 1
#define MARK_STOP 2

typedef struct {
    unsigned long long cls[N_CLS];
    unsigned long long ev[N_EV];
    unsigned long long insns;
} counts_t;

typedef struct {
    counts_t hist;
    unsigned long long vaddr;
    unsigned long long fallthrough;
    int ends_le; /* the block ends in LE/LETP: its taken branch is the loop's, not an ordinary one */
} tb_info_t;

typedef struct {
    int cls;
    int xfer;
    int ls_after_ls;
    int load_use;
    int overlap;
    int marker;
    int first;      /* first instruction of its block */
    int last;       /* last instruction of its block */
    unsigned long long vaddr;
    unsigned long long fallthrough;
} insn_info_t;

static FILE *out_file;
static FILE *profile_file;

/* Profile: open-addressing table of instruction address -> executions inside regions. */
#define PROF_SLOTS (1u << 16)
static unsigned long long prof_addr[PROF_SLOTS];
static unsigned long long prof_count[PROF_SLOTS];

static void prof_add(unsigned long long vaddr)
{
    unsigned h = (unsigned)((vaddr >> 1) * 2654435761u) & (PROF_SLOTS - 1);
    for (unsigned i = 0; i < PROF_SLOTS; ++i, h = (h + 1) & (PROF_SLOTS - 1)) {
        if (prof_addr[h] == vaddr || prof_count[h] == 0) {
            prof_addr[h] = vaddr;
            prof_count[h] += 1;
            return;
        }
    }
}
static int active;
static unsigned region;
static counts_t cur;
static unsigned long long prev_fallthrough; /* 0: the previous block did not end in a control transfer */
static int prev_ends_le;

static void add_counts(counts_t *dst, const counts_t *src)
{
    for (int i = 0; i < N_CLS; ++i) {
        dst->cls[i] += src->cls[i];
    }
    for (int i = 0; i < N_EV; ++i) {
        dst->ev[i] += src->ev[i];
    }
    dst->insns += src->insns;
}

/* A block that starts anywhere but where the previous one fell through was reached by a taken branch. */
static void enter_block(unsigned long long vaddr)
{
    if (active && prev_fallthrough != 0 && vaddr != prev_fallthrough) {
        cur.ev[prev_ends_le ? E_TAKEN_LE : E_TAKEN] += 1;
    }
}

static void emit_region(void)
{
    if (out_file == NULL) {
        return;
    }
    fprintf(out_file, "region %u insns %llu classes", region, cur.insns);
    for (int i = 0; i < N_CLS; ++i) {
        fprintf(out_file, " %llu", cur.cls[i]);
    }
    fprintf(out_file, " events");
    for (int i = 0; i < N_EV; ++i) {
        fprintf(out_file, " %llu", cur.ev[i]);
    }
    fprintf(out_file, "\n");
    fflush(out_file);
}

static void tb_exec(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    tb_info_t *tb = udata;
    enter_block(tb->vaddr);
    if (active) {
        add_counts(&cur, &tb->hist);
    }
    prev_fallthrough = tb->fallthrough;
    prev_ends_le = tb->ends_le;
}

static void insn_exec(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    insn_info_t *in = udata;
    if (in->first) {
        enter_block(in->vaddr);
    }
    if (in->marker == MARK_START) {
        memset(&cur, 0, sizeof cur);
        active = 1;
    } else if (in->marker == MARK_STOP) {
        if (active) {
            emit_region();
            region += 1;
        }
        active = 0;
    } else if (active) {
        if (profile_file != NULL) {
            prof_add(in->vaddr);
        }
        cur.cls[in->cls] += 1;
        cur.insns += 1;
        cur.ev[E_XFER_REGS] += (unsigned long long)in->xfer;
        cur.ev[E_LS_AFTER_LS] += (unsigned long long)in->ls_after_ls;
        cur.ev[E_LOAD_USE] += (unsigned long long)in->load_use;
        cur.ev[E_BEAT_OVERLAP] += (unsigned long long)in->overlap;
    }
    if (in->last) {
        prev_fallthrough = in->fallthrough;
        prev_ends_le = in->cls == C_LE;
    }
}

/* ---- classification from the disassembly text ---- */

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static const char *const conds[] = {"eq", "ne", "cs", "cc", "hs", "lo", "mi", "pl", "vs", "vc",
                                    "hi", "ls", "ge", "lt", "gt", "le", "al"};

static int is_cond(const char *s)
{
    for (size_t i = 0; i < sizeof conds / sizeof conds[0]; ++i) {
        if (strcmp(s, conds[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int is_branch(const char *mn)
{
    static const char *const exact[] = {"b", "bl", "blx", "bx", "cbz", "cbnz", "tbb", "tbh"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; ++i) {
        if (strcmp(mn, exact[i]) == 0) {
            return 1;
        }
    }
    return mn[0] == 'b' && strlen(mn) == 3 && is_cond(mn + 1);
}

static int is_it(const char *mn)
{
    if (!starts(mn, "it")) {
        return 0;
    }
    for (const char *p = mn + 2; *p; ++p) {
        if (*p != 't' && *p != 'e') {
            return 0;
        }
    }
    return 1;
}

/* Registers named in a {list}; a D register moves two words. */
static int count_list(const char *ops)
{
    const char *open = strchr(ops, '{');
    if (open == NULL) {
        return 1;
    }
    int n = 0;
    const char *p = open + 1;
    while (*p && *p != '}') {
        while (*p == ' ' || *p == ',') {
            ++p;
        }
        char kind = *p;
        int a = atoi(p + 1), b = a;
        while (*p && *p != ',' && *p != '}' && *p != '-') {
            ++p;
        }
        if (*p == '-') {
            ++p;
            b = atoi(p + 1);
            while (*p && *p != ',' && *p != '}') {
                ++p;
            }
        }
        int regs = b >= a ? b - a + 1 : 1;
        n += kind == 'd' ? 2 * regs : regs;
    }
    return n;
}

/* Single-cycle integer instructions by base mnemonic; a flag-setting 's' and an IT condition may follow. */
static const char *const alu_names[] = {
    "adc", "add", "adr", "and", "asr", "bfc", "bfi", "bic", "clz", "cmn", "cmp", "eor", "lsl", "lsr", "mov",
    "mvn", "neg", "nop", "orn", "orr", "rbit", "rev", "ror", "rrx", "rsb", "sbc", "sbfx", "sub", "sxt", "teq",
    "tst", "ubfx", "uxt", "sxta", "uxta", "movt", "csel", "csinc", "csinv", "csneg", "csetm", "cset", "cinc", "cinv", "cneg",
    "dmb", "dsb", "isb", "cpsid", "cpsie", "msr", "mrs", "svc", "bkpt", "wfi", "wfe", "sev", "yield", "clrex", "pld", "pli",
};
/* FP register moves and single-cycle FP arithmetic (FPv4/FPv5). */
static const char *const fp_alu_names[] = {
    "vmov", "vmrs", "vmsr", "vadd", "vsub", "vmul", "vnmul", "vneg", "vabs", "vcvt", "vcmp", "vsel",
    "vmaxnm", "vminnm", "vrint", "vins", "vscclrm", "vlldm", "vlstm",
};

static int any_prefix(const char *mn, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        if (starts(mn, names[i])) {
            return 1;
        }
    }
    return 0;
}

static int is_alu(const char *mn)
{
    for (size_t i = 0; i < sizeof alu_names / sizeof alu_names[0]; ++i) {
        if (!starts(mn, alu_names[i])) {
            continue;
        }
        const char *rest = mn + strlen(alu_names[i]);
        if (*rest == 's') {
            ++rest;
        }
        if (*rest == '\0' || is_cond(rest)) {
            return 1;
        }
        /* A width: sxtb, uxtah, revsh, movw, addw (widths with 16 are SIMD, above). */
        while (*rest == 'b' || *rest == 'h' || *rest == 'w') {
            ++rest;
        }
        if (*rest == '\0' || is_cond(rest)) {
            return 1;
        }
    }
    return 0;
}

static int classify(const char *mn, const char *ops, int *xfer)
{
    *xfer = 0;
    /* Capstone 4 (QEMU 7.2) knows no Armv8.1-M: MVE it prints as .byte or as coprocessor
     * instructions (LDC/STC/MCR/MRC/CDP on cp14/cp15), which these cores do not have. Whatever the
     * encoding classifier left over of that kind is unknown, not a cheap ALU instruction. */
    if (mn[0] == '\0' || mn[0] == '.' || starts(mn, "ldc") || starts(mn, "stc") || starts(mn, "mcr") ||
        starts(mn, "mrc") || starts(mn, "cdp") || starts(mn, "hint") || starts(mn, "udf") ||
        starts(mn, "(bad)") || starts(mn, "invalid")) {
        return C_UNKNOWN;
    }
    if (mn[0] == 'v') {
        if (starts(mn, "vldm") || starts(mn, "vpop")) {
            *xfer = count_list(ops);
            return C_VLDM;
        }
        if (starts(mn, "vstm") || starts(mn, "vpush")) {
            *xfer = count_list(ops);
            return C_VSTM;
        }
        if (starts(mn, "vldr")) {
            return C_VLDR;
        }
        if (starts(mn, "vstr")) {
            return C_VSTR;
        }
        if (starts(mn, "vfma") || starts(mn, "vfms") || starts(mn, "vfnm") || starts(mn, "vmla") ||
            starts(mn, "vmls") || starts(mn, "vnml")) {
            return C_FP_MAC;
        }
        if (starts(mn, "vdiv") || starts(mn, "vsqrt")) {
            return C_FP_DIV;
        }
        return any_prefix(mn, fp_alu_names, sizeof fp_alu_names / sizeof fp_alu_names[0]) ? C_FP_ALU : C_UNKNOWN;
    }
    if (starts(mn, "ldm") || starts(mn, "pop")) {
        *xfer = count_list(ops);
        return C_LDM;
    }
    if (starts(mn, "stm") || starts(mn, "push")) {
        *xfer = count_list(ops);
        return C_STM;
    }
    if (starts(mn, "ldrd")) {
        return C_LDRD;
    }
    if (starts(mn, "strd")) {
        return C_STRD;
    }
    if (starts(mn, "ldr")) {
        return C_LOAD;
    }
    if (starts(mn, "str")) {
        return C_STORE;
    }
    if (is_branch(mn)) {
        return C_BRANCH;
    }
    if (is_it(mn)) {
        return C_IT;
    }
    if (starts(mn, "sdiv") || starts(mn, "udiv")) {
        return C_DIV;
    }
    if (starts(mn, "mul") || starts(mn, "mla") || starts(mn, "mls") || starts(mn, "smul") ||
        starts(mn, "smla") || starts(mn, "smls") || starts(mn, "smua") || starts(mn, "smus") ||
        starts(mn, "smmu") || starts(mn, "smml") || starts(mn, "umul") || starts(mn, "umla") ||
        starts(mn, "umaa")) {
        return C_MUL;
    }
    size_t n = strlen(mn);
    if ((n > 1 && mn[n - 1] == '8') || (n > 2 && strcmp(mn + n - 2, "16") == 0) || starts(mn, "ssat") ||
        starts(mn, "usat") || starts(mn, "pkh") || starts(mn, "sel") || starts(mn, "qadd") ||
        starts(mn, "qsub") || starts(mn, "qdadd") || starts(mn, "qdsub")) {
        return C_SIMD;
    }
    return is_alu(mn) ? C_ALU : C_UNKNOWN;
}

/* ---- classification from the encoding (Armv8.1-M: MVE, low-overhead loops, long shifts) ----
 * Field layouts follow QEMU's own decoders (target/arm/mve.decode, t32.decode) for the instructions
 * QEMU executes; the EPU pipe of each group follows LLVM's Cortex-M55 model (ARMScheduleM55.td).
 * Returns -1 when the instruction is not one of these, so the disassembly decides. */
static int classify_encoding(unsigned hw0, unsigned hw1)
{
    /* LE/LETP, DLS/DLSTP/LCTP, WLS/WLSTP, VCTP: 1111 0000 0xxx xxxx 11x0 xxxx xxxx xxx1. */
    if ((hw0 & 0xff80u) == 0xf000u && (hw1 & 0xd001u) == 0xc001u) {
        if (hw1 == 0xe801u) {
            return C_MVE_CTL; /* VCTP */
        }
        if (hw1 == 0xe001u) {
            return C_LOB; /* DLS, DLSTP, LCTP */
        }
        if ((hw1 & 0xf000u) == 0xc000u) {
            return (hw0 & 0x4fu) == 0x0fu ? C_LE : C_LOB; /* LE/LETP (Rn = 1111), else WLS/WLSTP */
        }
        return -1;
    }
    /* Long shifts (ASRL, LSLL, SQRSHR, UQSHL, ...): ORRS.W encodings with Rm = SP/PC, invalid as ORR. */
    if ((hw0 & 0xfff0u) == 0xea50u && (hw1 & 0x0100u) != 0 &&
        (((hw1 & 0x800fu) == 0x000fu) || (hw1 & 0x5fu) == 0x0du)) {
        return C_SIMD;
    }
    /* VMSR P0, Rt / VMRS Rt, P0: the predication register VPR (cp10 encoding capstone cannot name). */
    if ((hw0 & 0xffefu) == 0xeeedu && (hw1 & 0x0fffu) == 0x0a10u) {
        return C_MVE_CTL;
    }
    /* VDUP.{8,16,32} Qd, Rt (cp11 encoding; NEON's VDUP, absent from M4/M7). */
    if ((hw0 & 0xffb1u) == 0xeea0u && (hw1 & 0x0f5fu) == 0x0b10u) {
        return C_MVE_INT;
    }
    /* 111x 1111: MVE vector data processing (Advanced SIMD space, which M-profile has no other use for). */
    if ((hw0 & 0xef00u) == 0xef00u) {
        unsigned op = (hw1 >> 8) & 0xfu;
        if ((hw0 & 0x0080u) == 0 && ((op == 0x9u && (hw1 & 0x10u)) || (op == 0xbu && !(hw1 & 0x10u)))) {
            return C_MVE_MUL; /* VMUL, VQDMULH, VQRDMULH */
        }
        return C_MVE_INT;
    }
    /* Coprocessor space on cp14/cp15: MVE. */
    if ((hw0 & 0xec00u) == 0xec00u && (hw1 & 0x0e00u) == 0x0e00u) {
        if ((hw0 & 0xee00u) == 0xec00u) { /* 111x 110x: loads, stores, two-lane moves */
            if ((hw0 & 0xffa0u) == 0xec00u && (hw1 & 0x0fe0u) == 0x0f00u) {
                return C_MVE_INT; /* VMOV Qd[i], Qd[j], Rt, Rt2 (both directions) */
            }
            return (hw0 & 0x10u) ? C_MVE_LOAD : C_MVE_STORE;
        }
        /* 111x 1110 */
        if ((hw0 & 0xffbfu) == 0xfe31u && (hw1 & 0x1fffu) == 0x0f4du) {
            return C_MVE_CTL; /* VPST, VPNOT */
        }
        if (hw0 & 0x80u) {
            if (hw1 & 0x40u) {
                return C_MVE_INT; /* shifts: VSHLL, VSHRN, VQSHRN, VSHLC, ... */
            }
            if ((hw0 & 0xf0u) == 0xe0u || ((hw0 & 0xc0u) == 0x80u && (hw1 & 0x0f01u) == 0x0f01u)) {
                return C_MVE_INT; /* VMAXV/VMINV family, VABAV */
            }
            return C_MVE_MUL; /* VMLADAV, VMLALDAV, VRMLALDAVH, VADDV, VADDLV */
        }
        if ((hw1 & 0x0f00u) == 0x0e00u) { /* cp14 group: multiplies, except narrowing moves and shifts */
            if ((hw0 & 0x30u) == 0x30u && (hw1 & 0x41u) == 0x01u) {
                return C_MVE_INT; /* VMOVN, VQMOVN, VQMOVUN, VSHLL T2, VCVTB/T */
            }
            if ((hw0 & 0x31u) == 0x31u && (hw1 & 0x1070u) == 0x1060u) {
                return C_MVE_INT; /* VSHL/VRSHL/VQSHL/VQRSHL by a scalar */
            }
            return C_MVE_MUL;
        }
        /* cp15 group: integer, except compares (VCMP/VPT run in the FP/MUL pipe) and VQDMULL */
        if ((hw0 & 0x31u) == 0x31u && (hw1 & 0x1f51u) == 0x0f01u) {
            return C_MVE_INT; /* VPSEL (the compare encoding with size 11) */
        }
        if ((hw0 & 0x01u) && (hw1 & 0x50u) == 0) {
            return C_MVE_MUL; /* VCMP/VPT Qn, Qm */
        }
        if ((hw0 & 0x31u) == 0x30u && (hw1 & 0x51u) == 0x01u) {
            return C_MVE_MUL; /* VQDMULLB/T */
        }
        return C_MVE_INT;
    }
    return -1;
}

/* The EPU pipe a two-beat MVE class occupies; 0 for everything else. */
static int mve_pipe(int cls)
{
    switch (cls) {
    case C_MVE_LOAD:
    case C_MVE_STORE:
        return 1;
    case C_MVE_INT:
        return 2;
    case C_MVE_MUL:
        return 3;
    default:
        return 0;
    }
}

/* Split "ldr.w r3, [r2, #4]" into mnemonic "ldr" (width suffix dropped) and operands. */
static void split(const char *text, char *mn, size_t mn_size, const char **ops)
{
    while (*text == ' ' || *text == '\t') {
        ++text;
    }
    size_t i = 0;
    while (text[i] && text[i] != ' ' && text[i] != '\t' && i + 1 < mn_size) {
        mn[i] = (char)tolower((unsigned char)text[i]);
        ++i;
    }
    mn[i] = '\0';
    char *dot = strchr(mn, '.');
    if (dot != NULL && mn[0] != 'v') {
        *dot = '\0';
    }
    *ops = text + i;
}

/* Register tokens of an operand string (r0..r12, sb, sl, fp, ip, sp, lr, pc, s0..s31, d0..d15). */
static int reg_tokens(const char *ops, char regs[][5], int max)
{
    int n = 0;
    const char *p = ops;
    while (*p && n < max) {
        if (isalpha((unsigned char)*p) && (p == ops || !isalnum((unsigned char)p[-1]))) {
            char tok[8];
            int k = 0;
            while (isalnum((unsigned char)p[k]) && k < 7) {
                tok[k] = p[k];
                ++k;
            }
            tok[k] = '\0';
            int reg = (tok[0] == 'r' || tok[0] == 's' || tok[0] == 'd') && k >= 2 && k <= 3 &&
                      isdigit((unsigned char)tok[1]) && (k == 2 || isdigit((unsigned char)tok[2]));
            if (!reg) {
                reg = !strcmp(tok, "sb") || !strcmp(tok, "sl") || !strcmp(tok, "fp") || !strcmp(tok, "ip") ||
                      !strcmp(tok, "sp") || !strcmp(tok, "lr") || !strcmp(tok, "pc");
            }
            if (reg) {
                memcpy(regs[n++], tok, (size_t)k + 1);
            }
            p += k;
        } else {
            ++p;
        }
    }
    return n;
}

/* Instructions whose first operand is read, not written. */
static int first_is_source(int cls, const char *mn)
{
    return cls == C_STORE || cls == C_STRD || cls == C_STM || cls == C_VSTR || cls == C_VSTM ||
           cls == C_BRANCH || starts(mn, "cmp") || starts(mn, "cmn") || starts(mn, "tst") ||
           starts(mn, "teq") || starts(mn, "vcmp");
}

typedef struct {
    int cls;
    int loaded_n;
    char loaded[2][5];
    int valid;
} prev_t;

static int uses_loaded(const prev_t *prev, int cls, const char *mn, const char *ops)
{
    char regs[16][5];
    int n = reg_tokens(ops, regs, 16);
    /* Pre/post-indexed addressing also reads the base, which reg_tokens already includes. */
    for (int i = first_is_source(cls, mn) ? 0 : 1; i < n; ++i) {
        for (int j = 0; j < prev->loaded_n; ++j) {
            if (strcmp(regs[i], prev->loaded[j]) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* The instruction's architectural size from its first halfword (Thumb: 0b11101, 0b11110, 0b11111 open
 * a 32-bit encoding). QEMU's size can be larger: when an instruction ends 2 bytes before a page boundary
 * the translator peeks at the next halfword (does the next instruction cross the page?) and the plugin
 * API counts the peeked bytes as part of this instruction, reporting e.g. a 6-byte marker. */
static size_t thumb_size(const struct qemu_plugin_insn *insn)
{
    const size_t reported = qemu_plugin_insn_size(insn);
    if (reported < 2) {
        return reported;
    }
    const unsigned char *b = qemu_plugin_insn_data(insn);
    const unsigned top = (unsigned)b[1] >> 3;
    const size_t size = top == 0x1du || top == 0x1eu || top == 0x1fu ? 4 : 2;
    return size <= reported ? size : reported;
}

static unsigned marker_of(const struct qemu_plugin_insn *insn)
{
    if (thumb_size(insn) != 4) {
        return MARK_NONE;
    }
    const unsigned char *b = qemu_plugin_insn_data(insn);
    unsigned hw0 = (unsigned)b[0] | ((unsigned)b[1] << 8);
    unsigned hw1 = (unsigned)b[2] | ((unsigned)b[3] << 8);
    if (hw0 == 0xf3afu && hw1 == 0x8030u) {
        return MARK_START;
    }
    if (hw0 == 0xf3afu && hw1 == 0x8031u) {
        return MARK_STOP;
    }
    return MARK_NONE;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (n == 0) {
        return;
    }
    int has_marker = profile_file != NULL; /* profiling: one callback per instruction everywhere */
    for (size_t i = 0; i < n; ++i) {
        has_marker |= marker_of(qemu_plugin_tb_get_insn(tb, i)) != MARK_NONE;
    }
    tb_info_t *info = calloc(1, sizeof *info);
    insn_info_t *ins = has_marker ? calloc(n, sizeof *ins) : NULL;
    if (info == NULL || (has_marker && ins == NULL)) {
        fprintf(stderr, "pm_count: out of memory\n");
        abort();
    }
    info->vaddr = qemu_plugin_tb_vaddr(tb);
    prev_t prev = {0};
    for (size_t i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        char *text = qemu_plugin_insn_disas(insn);
        char mn[24];
        const char *ops = "";
        split(text ? text : "", mn, sizeof mn, &ops);
        int xfer = 0;
        int cls = -1;
        if (thumb_size(insn) == 4) {
            const unsigned char *b = qemu_plugin_insn_data(insn);
            cls = classify_encoding((unsigned)b[0] | ((unsigned)b[1] << 8), (unsigned)b[2] | ((unsigned)b[3] << 8));
        }
        if (cls < 0) {
            cls = classify(mn, ops, &xfer);
        } else {
            ops = ""; /* capstone's text of these encodings is wrong: no register dependencies from it */
        }
        int single_ls = cls == C_LOAD || cls == C_STORE;
        int overlap = prev.valid && mve_pipe(prev.cls) != 0 && mve_pipe(prev.cls) != mve_pipe(cls);
        int load_use = prev.valid && prev.loaded_n > 0 && uses_loaded(&prev, cls, mn, ops);
        int ls_after_ls = single_ls && prev.valid && (prev.cls == C_LOAD || prev.cls == C_STORE) && !load_use;
        unsigned mark = marker_of(insn);
        if (mark == MARK_NONE) {
            info->hist.cls[cls] += 1;
            info->hist.insns += 1;
            info->hist.ev[E_XFER_REGS] += (unsigned long long)xfer;
            info->hist.ev[E_LS_AFTER_LS] += (unsigned long long)ls_after_ls;
            info->hist.ev[E_LOAD_USE] += (unsigned long long)load_use;
            info->hist.ev[E_BEAT_OVERLAP] += (unsigned long long)overlap;
        }
        unsigned long long va = qemu_plugin_insn_vaddr(insn);
        unsigned long long ft = va + thumb_size(insn);
        if (ins != NULL) {
            ins[i] = (insn_info_t){cls, xfer, ls_after_ls, load_use, overlap, (int)mark, i == 0, i + 1 == n, va, ft};
        }
        /* Remember what this instruction loaded, for the next one's load-use check. */
        prev = (prev_t){cls, 0, {{0}}, 1};
        if (cls == C_LOAD || cls == C_LDRD || cls == C_VLDR) {
            char regs[4][5];
            int r = reg_tokens(ops, regs, 4);
            int take = cls == C_LDRD ? 2 : 1;
            for (int k = 0; k < take && k < r; ++k) {
                memcpy(prev.loaded[prev.loaded_n++], regs[k], 5);
            }
        }
        if (i + 1 == n) {
            info->fallthrough = ft;
            info->ends_le = cls == C_LE;
        }
        free(text);
    }
    if (has_marker) {
        for (size_t i = 0; i < n; ++i) {
            qemu_plugin_register_vcpu_insn_exec_cb(qemu_plugin_tb_get_insn(tb, i), insn_exec,
                                                   QEMU_PLUGIN_CB_NO_REGS, &ins[i]);
        }
    } else {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, info);
    }
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    if (profile_file != NULL) {
        for (unsigned i = 0; i < PROF_SLOTS; ++i) {
            if (prof_count[i] != 0) {
                fprintf(profile_file, "%llx %llu\n", prof_addr[i], prof_count[i]);
            }
        }
        fclose(profile_file);
        profile_file = NULL;
    }
    if (out_file != NULL) {
        fclose(out_file);
        out_file = NULL;
    }
}

PM_QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                              char **argv)
{
    (void)info;
    const char *path = NULL;
    for (int i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            path = argv[i] + 4;
        } else if (strncmp(argv[i], "profile=", 8) == 0) {
            profile_file = fopen(argv[i] + 8, "w");
            if (profile_file == NULL) {
                fprintf(stderr, "pm_count: cannot open %s\n", argv[i] + 8);
                return -1;
            }
        }
    }
    if (path == NULL) {
        fprintf(stderr, "pm_count: missing argument out=PATH\n");
        return -1;
    }
    out_file = fopen(path, "w");
    if (out_file == NULL) {
        fprintf(stderr, "pm_count: cannot open %s\n", path);
        return -1;
    }
    fprintf(out_file, "classes");
    for (int i = 0; i < N_CLS; ++i) {
        fprintf(out_file, " %s", cls_names[i]);
    }
    fprintf(out_file, "\nevents");
    for (int i = 0; i < N_EV; ++i) {
        fprintf(out_file, " %s", ev_names[i]);
    }
    fprintf(out_file, "\n");
    fflush(out_file);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}

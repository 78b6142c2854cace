/* ganalyze.c — static checks and analysis of a byte grammar (layer: grammar).
 *
 * Rejects grammars the matcher cannot run safely — left recursion (expansion would never end)
 * and reachable rules that derive no finite string (a matcher state could become a dead end) —
 * and computes what the mask cache needs: nullable rules, FOLLOW byte sets and unique call
 * sites. All passes are iterative (no recursion on grammar depth).
 */
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "grammar/grammar.h"

static bool set_or(gbyteset *d, const gbyteset *s) {
    bool ch = false;
    for (int i = 0; i < 4; i++) {
        uint64_t v = d->w[i] | s->w[i];
        ch |= v != d->w[i];
        d->w[i] = v;
    }
    return ch;
}

static bool set_empty(const gbyteset *s) { return !(s->w[0] | s->w[1] | s->w[2] | s->w[3]); }

ky_status gram_analyze(gram *g, ky_error *err) {
    uint32_t nr = g->n_rules;
    g->reachable = calloc(nr ? nr : 1, 1);
    g->nullable = calloc(nr ? nr : 1, 1);
    g->follow = calloc(nr ? nr : 1, sizeof *g->follow);
    g->site = malloc((nr ? nr : 1) * sizeof *g->site);
    uint8_t *prod = calloc(nr ? nr : 1, 1);
    gbyteset *first = calloc(nr ? nr : 1, sizeof *first);
    uint32_t *work = malloc((nr ? nr : 1) * sizeof *work);
    uint32_t *indeg = calloc(nr ? nr : 1, sizeof *indeg);
    uint32_t *count = calloc(nr ? nr : 1, sizeof *count);
    ky_status st = KY_OK;
    if (!g->reachable || !g->nullable || !g->follow || !g->site || !prod || !first || !work ||
        !indeg || !count) {
        st = ky_errf(err, KY_ERR_NOMEM, "grammar: out of memory");
        goto done;
    }
    /* Reachability */
    uint32_t nw = 0;
    g->reachable[g->root] = 1;
    work[nw++] = g->root;
    while (nw) {
        uint32_t r = work[--nw];
        for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++)
            for (uint32_t p = g->alt_first[a]; GE_TYPE(g->elems[p]) != GE_END; p++) {
                uint32_t e = g->elems[p];
                if (GE_TYPE(e) == GE_REF && !g->reachable[GE_VAL(e)]) {
                    g->reachable[GE_VAL(e)] = 1;
                    work[nw++] = GE_VAL(e);
                }
            }
    }
    /* Nullable and productive (fixpoints) */
    for (bool ch = true; ch;) {
        ch = false;
        for (uint32_t r = 0; r < nr; r++) {
            if (!g->reachable[r] || (g->nullable[r] && prod[r])) continue;
            for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++) {
                bool nul = true, pr = true;
                for (uint32_t p = g->alt_first[a]; GE_TYPE(g->elems[p]) != GE_END; p++) {
                    uint32_t e = g->elems[p];
                    if (GE_TYPE(e) == GE_BYTES) {
                        nul = false;
                        if (set_empty(&g->sets[GE_VAL(e)])) pr = false;
                    } else {
                        if (!g->nullable[GE_VAL(e)]) nul = false;
                        if (!prod[GE_VAL(e)]) pr = false;
                    }
                }
                if (nul && !g->nullable[r]) g->nullable[r] = 1, ch = true;
                if (pr && !prod[r]) prod[r] = 1, ch = true;
            }
        }
    }
    for (uint32_t r = 0; r < nr; r++)
        if (g->reachable[r] && !prod[r]) {
            st = ky_errf(err, KY_ERR_FORMAT, "grammar: rule '%s' can never match a finite string",
                         g->rule_name[r]);
            goto done;
        }
    /* Left recursion: edge r -> s when s can start r; Kahn's algorithm finds a cycle. */
    {
        for (uint32_t r = 0; r < nr; r++) {
            if (!g->reachable[r]) continue;
            for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++)
                for (uint32_t p = g->alt_first[a]; GE_TYPE(g->elems[p]) == GE_REF; p++) {
                    uint32_t s = GE_VAL(g->elems[p]);
                    indeg[s]++;
                    if (!g->nullable[s]) break;
                }
        }
        nw = 0;
        for (uint32_t r = 0; r < nr; r++)
            if (g->reachable[r] && indeg[r] == 0) work[nw++] = r;
        uint32_t removed = 0;
        while (nw) {
            uint32_t r = work[--nw];
            removed++;
            for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++)
                for (uint32_t p = g->alt_first[a]; GE_TYPE(g->elems[p]) == GE_REF; p++) {
                    uint32_t s = GE_VAL(g->elems[p]);
                    if (--indeg[s] == 0) work[nw++] = s;
                    if (!g->nullable[s]) break;
                }
        }
        uint32_t n_reach = 0;
        for (uint32_t r = 0; r < nr; r++) n_reach += g->reachable[r];
        if (removed < n_reach) {
            for (uint32_t r = 0; r < nr; r++)
                if (g->reachable[r] && indeg[r] > 0) {
                    st = ky_errf(err, KY_ERR_FORMAT, "grammar: left recursion through rule '%s'",
                                 g->rule_name[r]);
                    goto done;
                }
        }
    }
    /* FIRST byte sets */
    for (bool ch = true; ch;) {
        ch = false;
        for (uint32_t r = 0; r < nr; r++) {
            if (!g->reachable[r]) continue;
            for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++)
                for (uint32_t p = g->alt_first[a]; GE_TYPE(g->elems[p]) != GE_END; p++) {
                    uint32_t e = g->elems[p];
                    if (GE_TYPE(e) == GE_BYTES) {
                        ch |= set_or(&first[r], &g->sets[GE_VAL(e)]);
                        break;
                    }
                    ch |= set_or(&first[r], &first[GE_VAL(e)]);
                    if (!g->nullable[GE_VAL(e)]) break;
                }
        }
    }
    /* FOLLOW byte sets: walk each alternative backwards with the FIRST of its rest. */
    for (bool ch = true; ch;) {
        ch = false;
        for (uint32_t r = 0; r < nr; r++) {
            if (!g->reachable[r]) continue;
            for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++) {
                uint32_t end = g->alt_first[a];
                while (GE_TYPE(g->elems[end]) != GE_END) end++;
                gbyteset rest = g->follow[r]; /* FIRST of the rest, plus FOLLOW(r) if nullable */
                for (uint32_t p = end; p-- > g->alt_first[a];) {
                    uint32_t e = g->elems[p];
                    if (GE_TYPE(e) == GE_BYTES) {
                        rest = g->sets[GE_VAL(e)];
                        continue;
                    }
                    uint32_t s = GE_VAL(e);
                    ch |= set_or(&g->follow[s], &rest);
                    if (g->nullable[s])
                        set_or(&rest, &first[s]);
                    else
                        rest = first[s];
                }
            }
        }
    }
    /* Unique call sites (a rule's own tail calls do not change where it returns). */
    for (uint32_t r = 0; r < nr; r++) g->site[r] = UINT32_MAX;
    for (uint32_t r = 0; r < nr; r++) {
        if (!g->reachable[r]) continue;
        for (uint32_t a = g->rule_alt[r]; a < g->rule_alt[r + 1]; a++)
            for (uint32_t p = g->alt_first[a]; GE_TYPE(g->elems[p]) != GE_END; p++) {
                uint32_t e = g->elems[p];
                if (GE_TYPE(e) != GE_REF) continue;
                uint32_t s = GE_VAL(e);
                if (s == r && GE_TYPE(g->elems[p + 1]) == GE_END) continue;
                if (count[s]++ == 0) g->site[s] = p;
            }
    }
    for (uint32_t r = 0; r < nr; r++)
        if (count[r] != 1 || r == g->root) g->site[r] = UINT32_MAX;
done:
    free(prod);
    free(first);
    free(work);
    free(indeg);
    free(count);
    return st;
}

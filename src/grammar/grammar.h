/* grammar.h — the grammar engine's internal view (layer: grammar; depends on base only).
 *
 * A grammar is a set of rules over BYTES. Each rule has alternatives; each alternative is a
 * sequence of elements ending in an END element. Elements are a byte set (one input byte from a
 * 256-bit set) or a reference to a rule. Character classes over code points are compiled to
 * UTF-8 byte sequences, so the matcher works on bytes and a token may end mid-character; x*, x+,
 * x? and x{m,n} are expanded into helper rules. Everything is stored flat:
 *
 *   elems:     [alt 0 of rule 0 ..., END, alt 1 of rule 0 ..., END, alt 0 of rule 1 ..., END ...]
 *   rule_alt:  rule r owns alternatives rule_alt[r] .. rule_alt[r+1]-1
 *   alt_first: element index where each alternative starts
 *
 * A "position" is an element index. The matcher state is a set of parse stacks; a stack is a
 * list of positions: return positions below, the byte-set element to match next on top.
 * gbnf.c parses the GBNF text form; ganalyze.c checks and analyses the result; gstate.c runs
 * stacks over bytes; tokmask.c turns states into allowed-token masks for a vocabulary.
 */
#ifndef KY_GRAMMAR_GRAMMAR_H
#define KY_GRAMMAR_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaiyuan.h"

#define GE_END   0u
#define GE_REF   1u
#define GE_BYTES 2u
#define GE_TYPE(e)    ((e) >> 30)
#define GE_VAL(e)     ((e) & 0x3FFFFFFFu)
#define GE_MAKE(t, v) (((uint32_t)(t) << 30) | (uint32_t)(v))

typedef struct gbyteset {
    uint64_t w[4]; /* bit b set: byte b allowed */
} gbyteset;

static inline bool gset_has(const gbyteset *s, unsigned b) { return (s->w[b >> 6] >> (b & 63)) & 1; }
static inline void gset_add(gbyteset *s, unsigned b) { s->w[b >> 6] |= 1ull << (b & 63); }

typedef struct gram {
    uint32_t n_rules;
    char **rule_name;    /* [n_rules] NUL-terminated; helpers are "<parent>-<n>" */
    uint32_t *rule_alt;  /* [n_rules + 1] */
    uint32_t n_alts;
    uint32_t *alt_first; /* [n_alts] */
    uint32_t n_elems;
    uint32_t *elems;     /* [n_elems] GE_MAKE(...) */
    uint32_t *elem_rule; /* [n_elems] rule owning each element */
    uint32_t n_sets;
    gbyteset *sets; /* [n_sets] */
    uint32_t root;
    /* Analysis (ganalyze.c) */
    uint8_t *reachable; /* [n_rules] */
    uint8_t *nullable;  /* [n_rules] */
    gbyteset *follow;   /* [n_rules] bytes that may follow a rule anywhere */
    /* Static call context: a rule with exactly one call site (not counting its own tail calls)
     * always returns to the same place. site[r] is that REF's position, or UINT32_MAX. */
    uint32_t *site; /* [n_rules] */
} gram;

/* Parses GBNF text (llama.cpp's syntax: `name ::= alts`, "lit", [a-z], [^"\\], ( ), . , * + ?
 * {m} {m,} {m,n}, # comments; rules may span lines) into *out, then runs gram_analyze. The root
 * rule is `root`. Errors: KY_ERR_FORMAT with "grammar:LINE:COL: ..." (syntax, undefined rule,
 * left recursion, a rule that can never finish), KY_ERR_UNSUPPORTED (a size limit of
 * base/limits.h), KY_ERR_NOMEM. The caller owns *out (gram_free). */
ky_status gram_parse_gbnf(const char *text, size_t len, gram **out, ky_error *err);
void gram_free(gram *g);

/* Checks and analyses a built grammar: reachability from the root, nullability, that every
 * reachable rule can derive a finite string, no left recursion, FOLLOW byte sets and call
 * sites. KY_ERR_FORMAT naming the rule on failure. Called by gram_parse_gbnf. */
ky_status gram_analyze(gram *g, ky_error *err);

/* ---------------------------------------------------------------------------------------------
 * Stack sets (gstate.c). A state is n_stacks stacks stored back to back in w as
 * [len, pos_0 .. pos_{len-1}] (top last, always a GE_BYTES position) plus can_end: whether the
 * grammar may stop here (some stack emptied). A state with no stack and !can_end is dead.
 * ------------------------------------------------------------------------------------------- */

typedef struct gstate {
    uint32_t *w;
    uint32_t n_words, n_stacks;
    bool can_end;
} gstate;

/* Reusable machinery for producing states: scratch stack, dedup table. Everything is sized at
 * gadv_init; advancing never allocates. */
typedef struct gadv {
    const gram *g;
    uint32_t *cur; /* [KY_GRAMMAR_MAX_DEPTH + 1] scratch stack */
    uint32_t *ht;  /* [ht_cap] 1 + offset of a stack in the output state, 0 empty */
    uint32_t *ht_stamp;
    uint32_t ht_cap, stamp;
    /* output being built */
    uint32_t *out;
    uint32_t out_cap, out_n, out_stacks;
    bool out_can_end;
    /* flags of the last call */
    bool boundary_mode; /* popping below the bottom frame sets hit_boundary instead of can_end */
    bool hit_boundary;
    bool overflow; /* a limit was hit: the result is incomplete */
    uint32_t depth, steps;
} gadv;

ky_status gadv_init(gadv *a, const gram *g);
void gadv_free(gadv *a);

/* Starts a new output state in buf[0..cap). */
void gadv_begin(gadv *a, uint32_t *buf, uint32_t cap);
/* Ends the output and returns it (a view into the buffer given to gadv_begin). */
gstate gadv_end(gadv *a);
/* Adds the expansion of "stack base[0..len) with position pos next" to the output. */
void gadv_expand(gadv *a, const uint32_t *base, uint32_t len, uint32_t pos);
/* Adds the grammar's start (every alternative of the root). */
void gadv_start(gadv *a);
/* Adds every stack of in advanced by byte b. */
void gadv_step(gadv *a, const gstate *in, uint8_t b);

/* Sorts the stacks of s into a canonical order (by content) using tmp (s->n_words words) so
 * that equal sets compare equal with memcmp; returns a 64-bit hash of the result. */
uint64_t gstate_canon(gstate *s, uint32_t *tmp);

/* ---------------------------------------------------------------------------------------------
 * Vocabulary index and masks (tokmask.c)
 * ------------------------------------------------------------------------------------------- */

/* Token byte trie of a vocabulary, in preorder. Tokens with an empty piece are left out; the
 * end-of-generation tokens are listed apart (allowed exactly where the grammar may end). */
typedef struct gvocab {
    int32_t n_vocab;
    uint32_t *piece_off; /* [n_vocab + 1] into piece */
    uint8_t *piece;
    int32_t *eog;
    uint32_t n_eog;
    uint32_t n_nodes;
    uint8_t *nbyte;     /* [n_nodes] */
    uint16_t *ndepth;   /* [n_nodes] 1-based */
    uint32_t *nend;     /* [n_nodes] index after the node's subtree */
    uint32_t *ntok;     /* [n_nodes] first index into sorted of tokens ending here */
    uint16_t *nntok;    /* [n_nodes] their count */
    int32_t *sorted;    /* token ids in trie order */
    uint32_t max_len;
} gvocab;

/* Builds the index from n_vocab pieces: piece(user, t, &len) returns token t's bytes (may be
 * NULL/0 to leave it out); is_eog(user, t) marks end-of-generation tokens. KY_ERR_UNSUPPORTED
 * for a piece over KY_GRAMMAR_MAX_TOKEN_BYTES, KY_ERR_NOMEM. The caller owns *out. */
ky_status gvocab_build(int32_t n_vocab, const uint8_t *(*piece)(void *user, int32_t t, size_t *len),
                       bool (*is_eog)(void *user, int32_t t), void *user, gvocab **out,
                       ky_error *err);
void gvocab_free(gvocab *v);

typedef struct gmask gmask; /* per (grammar, vocabulary) precomputed token sets */

/* Precomputes, for every reachable byte-set position, the tokens accepted without looking below
 * the position's static call context, and the suffixes that must be checked against it. The
 * grammar and vocabulary must outlive the result. Errors: KY_ERR_UNSUPPORTED (a walk exceeded
 * KY_GRAMMAR_* limits: the grammar is too ambiguous), KY_ERR_NOMEM. */
ky_status gmask_build(const gram *g, const gvocab *v, gmask **out, ky_error *err);
void gmask_free(gmask *m);
/* Seconds gmask_build spent (for benchmarks). */
double gmask_build_seconds(const gmask *m);

/* Scratch for gmask_fill, sized at creation (a mask computation allocates nothing). */
typedef struct gmask_scratch gmask_scratch;
ky_status gmask_scratch_create(const gmask *m, gmask_scratch **out);
void gmask_scratch_free(gmask_scratch *s);

/* Writes the allowed-token bit mask of state s into mask (ceil(n_vocab/32) words; bit t%32 of
 * word t/32). End-of-generation tokens are allowed iff s->can_end. Returns false when a walk hit
 * a limit (the mask is then incomplete: only tokens proven valid are set). */
bool gmask_fill(const gmask *m, gmask_scratch *sc, const gstate *s, uint32_t *mask);

#endif

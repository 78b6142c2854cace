/* sampler.h — module-internal view of the sampler chain (layer: sampler).
 *
 * The public ky_sampler_* API lives in kaiyuan.h. This header exposes what tests and diagnostics
 * need beyond it: the candidate set a sampling step would draw from, with its probabilities, and
 * the raw PRNG so its stream can be checked.
 */
#ifndef KY_SAMPLER_SAMPLER_H
#define KY_SAMPLER_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "kaiyuan.h"

/* Runs the chain up to (not including) the draw on n_vocab logits: logit bias, penalties, top-k,
 * top-p, min-p, temperature, softmax. Writes at most cap candidates to ids/probs (either may be
 * NULL when cap is 0) and their count to *n_out. With top-k active candidates are ordered by
 * descending logit (ties: lower id first); otherwise the order is deterministic but unspecified. In
 * greedy mode (temperature 0) the set is the argmax alone with probability 1. An empty set
 * (every token banned) gives *n_out = 0. Does not touch the PRNG or the history. Returns
 * KY_ERR_INVALID_ARG with *n_out set when cap is too small. */
ky_status sampler_candidates(ky_sampler *sampler, const float *logits, ky_token *ids, float *probs,
                             size_t cap, size_t *n_out);

/* Next raw 64-bit output of the sampler's xoshiro256** generator (advances it). */
uint64_t sampler_rng_next(ky_sampler *sampler);

#endif

/* engine.h — internal state behind the public handles of kaiyuan.h (layer: engine).
 *
 * struct ky_model ties together the GGUF mapping, the tokenizer (tokenizer/) and the weights
 * (model/). Public API files in src/engine/ implement kaiyuan.h on top of these.
 */
#ifndef KY_ENGINE_ENGINE_H
#define KY_ENGINE_ENGINE_H

#include "kaiyuan.h"

struct ky_vocab;   /* tokenizer/vocab.h */
struct ky_weights; /* model/model.h */

struct ky_model {
    ky_gguf *gguf;              /* the metadata file: parts[0] */
    ky_gguf **parts;            /* [n_parts]: own the mappings every weight and string points into
                                   (more than one for a split model) */
    int n_parts;
    struct ky_vocab *vocab;     /* NULL when the file carries no tokenizer */
    struct ky_weights *weights; /* NULL when loaded with vocab_only */
    char *chat_template;        /* NUL-terminated copy or NULL */
    char general_name[128];     /* general.name (truncated) or "" */
};

#endif

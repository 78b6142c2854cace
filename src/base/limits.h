/* limits.h — every hard limit of the engine in one place (layer: base).
 *
 * Limits bound what untrusted input may ask for; they are far above what real models need.
 */
#ifndef KY_BASE_LIMITS_H
#define KY_BASE_LIMITS_H

#define KY_MAX_DIMS             4          /* tensor dimensions (GGUF) */
#define KY_GGUF_MAX_ARRAY_DEPTH 8          /* nesting of arrays of arrays */
#define KY_GGUF_MAX_KEY_LEN     65535      /* bytes in a metadata key */
#define KY_GGUF_MAX_NAME_LEN    4096       /* bytes in a tensor name */
#define KY_GGUF_MAX_ALIGNMENT   (1u << 20) /* general.alignment upper bound */
#define KY_MAX_LAYERS           1024
#define KY_MAX_EXPERTS          1024
#define KY_MAX_SEQ              256       /* sequences per context */
#define KY_MAX_CTX              (1 << 22) /* positions per sequence */
#define KY_MAX_VOCAB            (1 << 24)
#define KY_MAX_THREADS          256
#define KY_MAX_TOKENIZE_BYTES   (1u << 28) /* bytes of text in one tokenize call */
#define KY_MAX_PIPE_RANKS       64         /* pipeline stages (ranks) of one model */
#define KY_MPI_MAX_MESSAGE      (1u << 30) /* bytes of one MPI message (logits of a batch) */

/* Model store (src/store/): bounds on what a hub, a manifest or a REF may ask for. */
#define KY_STORE_MAX_LISTING     (32u << 20)  /* bytes of a repository listing response */
#define KY_STORE_MAX_FILES       100000       /* entries of a repository listing */
#define KY_STORE_MAX_REPO_PATH   1024         /* bytes of a file path inside a repository */
#define KY_STORE_MAX_PARTS       512          /* parts of a split GGUF model */
#define KY_STORE_MAX_FILE_BYTES  (1ull << 42) /* 4 TiB: larger listed sizes are rejected */
#define KY_STORE_MAX_MANIFEST    (1u << 20)   /* bytes of a manifest file (ours or ollama's) */
#define KY_STORE_MAX_MODELS      100000       /* models `list` reads */
#define KY_STORE_MAX_REF_LEN     512          /* bytes of a REF argument */
#define KY_STORE_CONNECT_TIMEOUT 10           /* seconds to connect before "cannot reach" */
#define KY_STORE_STALL_SECONDS   60           /* a transfer below 1 byte/s this long is broken */
#define KY_STORE_MAX_REDIRECTS   10
#define KY_STORE_RETRY_DELAY_MS  1000 /* before an automatic resume */
#define KY_GGUF_MAX_SPLITS       512  /* files of one split GGUF model */

/* Chat templates (src/chat/): a template is untrusted input, so parsing and rendering are bounded. */
#define KY_TMPL_MAX_SOURCE (1u << 20)      /* bytes of template source */
#define KY_TMPL_MAX_NEST 200               /* nesting of expressions and blocks while parsing */
#define KY_TMPL_MAX_STEPS 5000000u         /* evaluation steps (nodes + loop iterations) */
#define KY_TMPL_MAX_DEPTH 100              /* macro call depth */
#define KY_TMPL_MAX_OUTPUT (16u << 20)     /* bytes of rendered text */
#define KY_TMPL_MAX_MEMORY (256u << 20)    /* bytes one rendering may allocate */
#define KY_TMPL_MAX_RANGE 1000000          /* elements of one range() / list */
#define KY_TMPL_MAX_JSON_DEPTH 64          /* nesting of the variables given to a rendering */
#define KY_CHAT_MAX_CONTEXT_BYTES (64u << 20) /* bytes of the JSON variables of a rendering */

/* HTTP server (src/server/) */
#define KY_SRV_DEFAULT_MAX_BODY (8u << 20) /* --max-body default: bytes of a request body */
#define KY_SRV_MAX_HEADERS 64              /* request headers; more gets 431 */
#define KY_SRV_CONN_MEMORY (64u << 10)     /* MHD per-connection header pool (larger: 431) */
#define KY_SRV_MAX_CONNECTIONS 1024        /* open client connections */
#define KY_SRV_CONN_TIMEOUT_S 30           /* idle connection (slowloris) timeout */
#define KY_SRV_DRAIN_S 30                  /* SIGTERM: longest wait for in-flight requests */
#define KY_SRV_MAX_N 16                    /* choices per request (n) */
#define KY_SRV_MAX_STOP 16                 /* stop strings per request */
#define KY_SRV_MAX_STOP_LEN 1024           /* bytes of one stop string */
#define KY_SRV_MAX_TOP_LOGPROBS 20         /* chat top_logprobs; completions allow 5 */
#define KY_SRV_MAX_LOGIT_BIAS 1024         /* logit_bias entries */
#define KY_SRV_MAX_PARALLEL 64             /* --parallel */
#define KY_SRV_MAX_CACHE_SLOTS 64          /* --cache-slots */
#define KY_SRV_MAX_QUEUE 4096              /* --queue */
#define KY_SRV_OUTBOX_HIGH (256u << 10)    /* bytes queued for a client before its choices pause */
#define KY_SRV_MAX_CORS 16                 /* --cors origins */
#define KY_SRV_STALL_S 60                  /* a paused (unread) stream is cancelled after this */
#define KY_SRV_MAX_DRAFT 16                /* --draft: drafted tokens per sequence and step */
#define KY_SRV_COMPILE_NICE 5              /* nice of the grammar compile thread (decode wins) */

/* Constrained decoding (src/grammar/): grammars, schemas and model output are untrusted input. */
#define KY_GRAMMAR_MAX_SOURCE (4u << 20)    /* bytes of GBNF text or JSON schema */
#define KY_GRAMMAR_MAX_RULES 65536          /* rules, helper rules included */
#define KY_GRAMMAR_MAX_ELEMS (1u << 21)     /* grammar elements after expanding repetitions */
#define KY_GRAMMAR_MAX_REPEAT 10000         /* m and n of x{m,n} */
#define KY_GRAMMAR_MAX_NEST 256             /* nesting of groups / schema objects while parsing */
#define KY_GRAMMAR_MAX_CLONE_REPEAT 64      /* x{m,n} up to this n clones x per copy (caching) */
#define KY_GRAMMAR_MAX_STACKS 1024          /* parse stacks alive at once in a matcher */
#define KY_GRAMMAR_MAX_DEPTH 512            /* frames in one parse stack */
#define KY_GRAMMAR_MAX_STATE_WORDS (1u << 16) /* words of one matcher state (all its stacks) */
#define KY_GRAMMAR_WALK_WORDS (1u << 18)    /* words of the per-byte state arena of a mask walk */
#define KY_GRAMMAR_MAX_TOKEN_BYTES 1024     /* longest token piece a vocabulary index accepts */
#define KY_GRAMMAR_MASK_CACHE 128           /* full-state masks a matcher remembers */
#define KY_GRAMMAR_JSON_MAX_DEPTH 12        /* nesting of the any-JSON grammar (json_object) */
#define KY_GRAMMAR_WS_MAX 20                /* spaces/tabs after a newline in JSON whitespace */
#define KY_TOOLCALL_MAX_CALL_BYTES (1u << 20) /* bytes of one tool call's markup being parsed */
#define KY_TOOLCALL_MAX_TRIGGERS 16         /* trigger strings of a lazy grammar */
#define KY_TOOLCALL_MAX_HEAD_BYTES 4096     /* a streamed call's {"name": ..., "arguments": head */

#endif

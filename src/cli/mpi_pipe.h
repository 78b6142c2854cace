/* mpi_pipe.h — Open MPI for `kaiyuan serve --mpi` and `kaiyuan logits --mpi` (layer: cli).
 *
 * The only place that includes mpi.h: it starts MPI (only when --mpi is given), decides each
 * rank's layer range (--layer-split, else proportional to each host's MemAvailable — an even
 * split when every rank is on one host) and implements the engine's ky_pipe_transport with
 * MPI_Send / MPI_Recv on MPI_COMM_WORLD. The engine never sees MPI.
 */
#ifndef KY_CLI_MPI_PIPE_H
#define KY_CLI_MPI_PIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/limits.h"
#include "kaiyuan.h"

typedef struct cli_mpi {
    int rank, n_ranks;
    ky_pipe_transport tr;              /* valid after cli_mpi_init (tr.user = this struct) */
    int32_t n_layer;                   /* the model's layers (after cli_mpi_plan) */
    int32_t counts[KY_MAX_PIPE_RANKS]; /* layers per rank */
    int32_t layer_begin, layer_end;    /* this rank's range */
} cli_mpi;

/* Starts MPI (MPI_THREAD_SERIALIZED: the server's engine thread makes the calls) and fills m.
 * SIGTERM, SIGINT and SIGPIPE are blocked in the calling thread first (so in every thread MPI
 * starts); a caller that wants the default action unblocks them in its own thread. 
 * Errors are returned by MPI calls (MPI_ERRORS_RETURN) and become KY_ERR_NETWORK messages.
 * Returns 0, or the exit status after printing "kaiyuan CMD: ..." (rank 0): 1 when MPI cannot
 * start or gives less thread support, 2 when the job has one rank or more than
 * KY_MAX_PIPE_RANKS. MPI is running either way (cli_mpi_finalize). */
int cli_mpi_init(const char *cmd, cli_mpi *m);
/* Collective: every rank calls it with the same arguments. Reads the model's layer count from
 * the GGUF at path and sets the layer ranges from split ("a,b,..." layer counts, one positive
 * count per rank summing to the layer count) or, when split is NULL, from each host's
 * MemAvailable. Returns 0, or the exit status after printing "kaiyuan CMD: ..." (rank 0 only,
 * every rank decides alike): 2 for a bad --layer-split or more ranks than layers, 1 for a file
 * that cannot be read. Unless quiet, rank 0 prints the split. */
int cli_mpi_plan(const char *cmd, cli_mpi *m, const char *path, const char *split, bool quiet);
/* Ends MPI normally (every rank). */
void cli_mpi_finalize(void);
/* Ends every rank of the job at once with exit status code (a rank that cannot go on). */
_Noreturn void cli_mpi_abort(int code);

#endif

/*
 * state: what the gateway must remember across restarts, in one small JSON
 * file replaced atomically (written to a temporary file, fsync'd, renamed,
 * directory fsync'd), so a crash leaves either the old or the new file.
 *
 * - Energy counters per meter (last raw value and the offset folded in by
 *   rollovers and meter replacements), so the published total continues
 *   after a restart instead of falling back to the raw counter; a rollover
 *   or replacement that happened while the gateway was down is detected
 *   against the last raw value saved.
 * - The ids of the last SG_STATE_COMMANDS control commands executed, so a
 *   command redelivered after a restart is refused as a duplicate.
 * - The time of the last write to each equipment, so the rate limit between
 *   writes (control_min_interval) holds across restarts too.
 *
 * Poll workers update counters through slots (sg_state_counter_set(), cheap,
 * under a mutex); the main thread saves (sg_state_flush()): at once after an
 * offset changed or a command was remembered, otherwise at most every
 * interval. A command id is saved before the command is written to the
 * plant (sg_state_command_add() saves synchronously).
 *
 * File format (version 1):
 *   {"version":1,
 *    "counters":{"meter-1":{"prev_raw":123.5,"offset":4294967.296}, ...},
 *    "commands":["c-1","c-2", ...],          (oldest first)
 *    "writes":{"dryer-1":1763758937000, ...}} (optional)
 */
#ifndef EMS_SCADA_STATE_H
#define EMS_SCADA_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scada-gateway/norm.h"

#define SG_STATE_COMMANDS 4096

typedef struct sg_state sg_state_t;

/* An empty state that will be saved to path (NULL: never saved). Returns
 * NULL on allocation failure. */
sg_state_t *sg_state_new(const char *path);
/* Frees. NULL is a no-op. Does not save. */
void sg_state_destroy(sg_state_t *st);

/* Loads the state file; a missing file is an empty state (its directory is
 * created). Returns the
 * state, or NULL with errstr naming the file and the problem (unreadable,
 * not JSON, wrong version or types): the caller stops start-up. */
sg_state_t *sg_state_load(const char *path, char *errstr, size_t errstr_size);

/* Replaces the contents with those of JSON text. Returns 0, or -1 with
 * errstr (the state is then unchanged). Pure. */
int sg_state_decode(sg_state_t *st, const char *text, char *errstr, size_t errstr_size);
/* The contents as JSON text (caller frees), or NULL. Pure. */
char *sg_state_encode(sg_state_t *st);

/* The slot of a meter's counter, created (zeroed) when missing; *c receives
 * its current value. Slots stay valid for the life of the state. Returns the
 * slot or -1 on allocation failure. Call before the poll workers start. */
int sg_state_counter_slot(sg_state_t *st, const char *meter_id, sg_counter_t *c);
/* Stores a counter; urgent (an offset changed) asks the next flush to save
 * at once. Any thread. */
void sg_state_counter_set(sg_state_t *st, int slot, const sg_counter_t *c, bool urgent);

/* True when command id was remembered. Any thread. */
bool sg_state_command_seen(sg_state_t *st, const char *id);
/* Remembers command id (the oldest is forgotten beyond SG_STATE_COMMANDS)
 * and, when equipment_id is not NULL, now_ms as the time of the write to it
 * the command allows, and saves both at once (now_ms is also the time of the
 * save). Returns 0, or -1 with errstr when the file could not be written:
 * the id is remembered in memory all the same (a redelivery is refused as a
 * duplicate), but the equipment's last write is put back as it was, since
 * the caller then does not write. */
int sg_state_command_add(sg_state_t *st, const char *id, const char *equipment_id,
                         int64_t now_ms, char *errstr, size_t errstr_size);

/* The time of the last write to the equipment, when one was remembered.
 * Any thread. */
bool sg_state_last_write(sg_state_t *st, const char *equipment_id, int64_t *ms);
/* Remembers it; saved by the next sg_state_command_add() or flush. (A
 * command's write is remembered by sg_state_command_add().) */
void sg_state_set_last_write(sg_state_t *st, const char *equipment_id, int64_t ms);

/* Saves when something changed and (force, urgent, or interval_ms passed
 * since the last save at now_ms). Returns 0, or -1 with errstr naming the
 * file. Main thread. */
int sg_state_flush(sg_state_t *st, bool force, int64_t now_ms, int64_t interval_ms,
                   char *errstr, size_t errstr_size);

#endif

/* Filesystem storage backend: objects are regular files under a root
 * directory (the data dir), names map to relative paths.
 *
 * Publish = write "<name>.<random>.tmp" in the object's own directory,
 * fsync it, rename it over (or, with CG_STORAGE_NOREPLACE, to) the name, and
 * fsync the directory, so after a crash a name holds either nothing or the
 * complete object. Appends fsync before returning and are cut back to the
 * previous size when they fail. Every path is resolved relative to a
 * descriptor of the root directory opened once, and names have been
 * validated by the front (no "..", no absolute paths), so no name reaches
 * outside the root. Symbolic links that an operator places inside the root
 * are followed on purpose (to spread recordings over disks). */
#ifndef CG_STORAGE_FS_H
#define CG_STORAGE_FS_H

#include <stdint.h>

#include "storage/storage.h"

/* Gives a store rooted at root_dir (borrowed; created with its parents if
 * missing). Returns 0, CG_EINVAL, CG_ENOMEM or CG_EIO (root cannot be
 * created or opened). */
int cg_storage_fs_new(cg_storage **out, const char *root_dir);

/* Test hook: after the next ok_bytes bytes of file data written by this
 * store, every write fails with errno err (ENOSPC, EIO, ...), as a full
 * disk would, until ok_bytes < 0 turns the fault off. Lets unit tests prove
 * the failure paths without root or a tiny filesystem. s must come from
 * cg_storage_fs_new. */
void cg_storage_fs_set_fault(cg_storage *s, int64_t ok_bytes, int err);

#endif

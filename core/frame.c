#include "frame.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int cg_frame_new(cg_frame **out, size_t len)
{
    cg_frame *f = malloc(sizeof(*f) + len);
    if (!f)
        return CG_ENOMEM;
    memset(f, 0, sizeof(*f));
    f->data = (uint8_t *)(f + 1);
    f->len = len;
    f->refs_ = 1;
    *out = f;
    return 0;
}

cg_frame *cg_frame_ref(cg_frame *f)
{
    __atomic_add_fetch(&f->refs_, 1, __ATOMIC_RELAXED);
    return f;
}

cg_frame *cg_frame_unref(cg_frame *f)
{
    if (f && __atomic_sub_fetch(&f->refs_, 1, __ATOMIC_ACQ_REL) == 0)
        free(f);
    return NULL;
}

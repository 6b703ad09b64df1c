/* The web UI's files, embedded in the binary at build time.
 *
 * scripts/embed_web.cmake turns every file of web/ into an entry named after
 * it ("index.html", "studio.js") and node_modules/hls.js/dist/hls.min.js
 * into "vendor/hls.min.js"; the generated C source is part of this library.
 * http/ui.c serves them: "/" is index.html, "/ui/<name>" is <name>. */
#ifndef CG_HTTP_UI_H
#define CG_HTTP_UI_H

#include <stddef.h>

typedef struct cg_ui_asset {
    const char *name;          /* path under /ui/: "watch.html", "vendor/hls.min.js" */
    const unsigned char *data; /* NULL when the file was missing at build time */
    size_t len;
    const char *etag; /* quoted: "\"<hash>\"", from the content; NULL with data */
} cg_ui_asset;

extern const cg_ui_asset cg_ui_assets[];
extern const size_t cg_ui_asset_count;

/* The asset called name, or NULL. Static storage; any thread. */
const cg_ui_asset *cg_ui_find(const char *name);

/* Content-Type for a file name by its extension ("text/html;
 * charset=utf-8"); "application/octet-stream" when unknown. Static string. */
const char *cg_ui_content_type(const char *name);

#endif

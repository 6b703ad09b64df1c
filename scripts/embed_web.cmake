# Turns the web UI into C: every file in web/ (and hls.js from node_modules)
# becomes a byte array in one generated source that http/ui.c serves, so the
# binary needs nothing beside it at run time.
#
#   web/<file>                               -> GET /ui/<file>  (index.html also at /)
#   node_modules/hls.js/dist/hls.min.js      -> GET /ui/vendor/hls.min.js
#
# Run by the build (see the top-level CMakeLists.txt) as
#   cmake -DWEB_DIR=... -DHLSJS=<path or empty> -DOUT=<file.c> -P embed_web.cmake
# The build reruns it when a file in web/ changes or hls.js appears. When hls.js is not installed the table still names
# vendor/hls.min.js, without data: the server then answers 503 and says to
# run scripts/setup.sh.
cmake_minimum_required(VERSION 3.20)

if(NOT WEB_DIR OR NOT OUT)
  message(FATAL_ERROR "usage: cmake -DWEB_DIR=dir -DHLSJS=file -DOUT=file.c -P embed_web.cmake")
endif()

file(GLOB files RELATIVE ${WEB_DIR} ${WEB_DIR}/*.html ${WEB_DIR}/*.css ${WEB_DIR}/*.js
     ${WEB_DIR}/*.svg)
list(SORT files)

set(arrays "")
set(entries "")
set(i 0)

# Appends one table entry for web path `name` with the bytes of `path`.
macro(embed name path)
  file(READ ${path} hex HEX)
  file(SHA256 ${path} sum)
  string(SUBSTRING ${sum} 0 20 etag)
  file(SIZE ${path} size)
  # 16 bytes per line keeps the generated file readable in a diff or an editor.
  string(REPEAT "[0-9a-f]" 32 line)
  string(REGEX REPLACE "(${line})" "\\1\n" hex "${hex}")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND arrays "/* ${name} */\nstatic const unsigned char asset_${i}[] = {\n${hex}0};\n\n")
  string(APPEND entries
         "    {.name = \"${name}\", .data = asset_${i}, .len = ${size}, .etag = \"\\\"${etag}\\\"\"},\n")
  math(EXPR i "${i} + 1")
endmacro()

foreach(f ${files})
  embed(${f} ${WEB_DIR}/${f})
endforeach()
if(HLSJS AND EXISTS ${HLSJS})
  embed(vendor/hls.min.js ${HLSJS})
else()
  string(APPEND entries "    {.name = \"vendor/hls.min.js\", .data = NULL, .len = 0, .etag = NULL},\n")
endif()

string(CONCAT text "/* Generated at build time by scripts/embed_web.cmake from web/ and\n"
         " * node_modules/hls.js: do not edit; edit web/ instead. */\n"
         "#include <stddef.h>\n\n#include \"http/ui.h\"\n\n"
         "${arrays}"
         "const cg_ui_asset cg_ui_assets[] = {\n${entries}};\n"
         "const size_t cg_ui_asset_count = sizeof(cg_ui_assets) / sizeof(cg_ui_assets[0]);\n")

file(WRITE ${OUT} "${text}")

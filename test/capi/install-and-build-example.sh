#!/bin/sh
# Installs the build tree into a temporary prefix, extracts the example program from docs/c-api.md
# (the ```c block after the "<!-- example: ima_example.c -->" marker), compiles it as C11 with
# `pkg-config --cflags --libs ima` against that prefix, and runs it.
# Usage: install-and-build-example.sh BUILD_DIR DOC WORK_DIR C_COMPILER
set -eu
build=$1 doc=$2 work=$3 cc=$4
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
test -f "$work/prefix/include/ima.h"

awk '/<!-- example: ima_example.c -->/ { found = 1 }
     found && /^```c$/ { inside = 1; next }
     inside && /^```$/ { exit }
     inside { print }' "$doc" > "$work/ima_example.c"
test -s "$work/ima_example.c" || { echo "no example found in $doc"; exit 1; }

pc=$(find "$work/prefix" -name ima.pc)
test -n "$pc" || { echo "ima.pc was not installed"; exit 1; }
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs ima)
echo "pkg-config --cflags --libs ima: $flags"
case "$flags" in *"$work/prefix"*) ;; *) echo "pkg-config does not point into the install prefix"; exit 1 ;; esac
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror -o "$work/ima_example" "$work/ima_example.c" $flags
LD_LIBRARY_PATH=$(pkg-config --variable=libdir ima)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$work/ima_example" "$work"

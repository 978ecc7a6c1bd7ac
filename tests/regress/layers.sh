#!/bin/sh
# layers.sh: every include between the folders of src/ points down the
# layers (scripts/check-layers; docs/architecture.md has the picture).
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"

check "no include in src/ points up or sideways a layer" \
    sh "$DEPOT_SRCDIR/scripts/check-layers" "$DEPOT_SRCDIR/src"

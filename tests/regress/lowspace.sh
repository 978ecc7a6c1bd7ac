#!/bin/sh
. "${DEPOT_SRCDIR:-.}/tests/regress/lib.sh"
skip_all "todo"

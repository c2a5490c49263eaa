#!/bin/sh
# Fails when groff has anything to say about a man page.
out=$(groff -man -ww -z -rCHECKSTYLE=3 "$1" 2>&1)
[ -z "$out" ] || { echo "$out"; exit 1; }

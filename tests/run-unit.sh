#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs test binaries (cmocka or plain); exit 77 counts as skipped. Prints one summary line
# "unit: N passed, N failed, N skipped" and fails when anything failed.
pass=0 fail=0 skip=0
for t in "$@"; do
	# A wait that regresses into waiting for ever fails the binary, not the whole run.
	timeout 300 "$t"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)); echo "SKIP: $t" ;;
	124) fail=$((fail + 1)); echo "FAIL: $t (still running after 300 s)" ;;
	*) fail=$((fail + 1)); echo "FAIL: $t (exit $rc)" ;;
	esac
done
echo "unit: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

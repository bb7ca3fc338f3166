#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs test binaries (cmocka or plain); exit 77 counts as skipped. Prints one summary line
# "unit: N passed, N failed, N skipped" and fails when anything failed.
pass=0 fail=0 skip=0
for t in "$@"; do
	"$t"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)); echo "SKIP: $t" ;;
	*) fail=$((fail + 1)); echo "FAIL: $t (exit $rc)" ;;
	esac
done
echo "unit: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

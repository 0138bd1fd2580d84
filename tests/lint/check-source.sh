#!/usr/bin/env bash
# Source rules that the compiler does not enforce (curl's checksrc idea):
# banned functions, assignments in conditions, and clang-format layout.
# Usage: check-source.sh SOURCE_DIR
set -u
src=${1:?source dir}
cd "$src" || exit 2
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find lib broker workers policyd certd cli tests bench -name '*.[ch]')
fail=0

banned='\b(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|atoll|gets|sscanf|localtime|gmtime)[[:space:]]*\('
if grep -nE "$banned" $files; then
    echo "check-source: banned function used (see README, Style)"
    fail=1
fi
# if ((x = f()) ...) / while ((x = ...)): assignment inside a condition.
if grep -nE '\b(if|while)[[:space:]]*\(\([a-zA-Z_][a-zA-Z0-9_>.-]*[[:space:]]*=[^=]' $files; then
    echo "check-source: assignment inside a condition"
    fail=1
fi
if command -v clang-format >/dev/null 2>&1; then
    if ! clang-format --dry-run --Werror $files 2>/tmp/xgw-clang-format.$$; then
        head -40 /tmp/xgw-clang-format.$$
        echo "check-source: clang-format differences (run clang-format -i on the files above)"
        fail=1
    fi
    rm -f /tmp/xgw-clang-format.$$
fi
[ "$fail" = 0 ] && echo "check-source: ok ($(echo $files | wc -w) files)"
exit $fail

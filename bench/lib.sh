# Shared by the bench scripts (sourced, not run).

# median FILE: the "seconds peak_KB" line of the median run.
median() {
  sort -n "$1" | awk -v n="$(wc -l <"$1")" 'NR == int((n + 1) / 2) { print $1, $2 }'
}

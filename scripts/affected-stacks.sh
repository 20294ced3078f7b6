#!/usr/bin/env bash
# Reads changed file paths (one per line, e.g. `git diff --name-only BASE HEAD`) and prints, as a
# JSON list, the CI stacks whose preview they can change: a stack file changes its own stack; the
# program, the components, the rules, the policy pack or the dependencies change every stack.
# Docs, tests, templates and workflows change none.
#
#   git diff --name-only "$BASE" HEAD | scripts/affected-stacks.sh [STACKS...]   (default: dev prod)
set -euo pipefail

stacks=("$@")
[[ ${#stacks[@]} -gt 0 ]] || stacks=(dev prod)

all=false
declare -A hit=()
while IFS= read -r file; do
  [[ -z "$file" ]] && continue
  case "$file" in
    Pulumi.yaml | index.ts | package.json | package-lock.json | tsconfig.json | components/* | rules/* | policy/*)
      all=true ;;
    Pulumi.*.yaml)
      stack="${file#Pulumi.}"
      hit["${stack%.yaml}"]=1 ;;
  esac
done

out=()
for stack in "${stacks[@]}"; do
  if $all || [[ -n "${hit[$stack]:-}" ]]; then out+=("\"$stack\""); fi
done
(IFS=,; echo "[${out[*]}]")

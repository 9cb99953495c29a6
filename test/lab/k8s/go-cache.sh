# Shared by the lab's Go builds (build.sh beside each go.mod): where a build
# is cached and how it is keyed. Sourced, not run.
#
# The cache root is KROUTER_LAB_CACHE (default /var/cache/krouter-lab); a
# build's folder is PREFIX-VERSION-KEY, KEY a hash of go.mod (without
# comments) and go.sum, so any change of a pin builds afresh.

# go_cache_dir PREFIX VERSION: the folder of this build (cwd holds go.mod).
go_cache_dir() {
  local key
  key=$( (grep -v "^//" go.mod; cat go.sum) | sha256sum | cut -c1-12)
  echo "${KROUTER_LAB_CACHE:-/var/cache/krouter-lab}/$1-$2-$key"
}

# go_require MODULE: the version go.mod requires of MODULE.
go_require() {
  awk -v m="$1" '$1 == "require" && $2 == m { print $3 } $1 == m && $2 ~ /^v/ { print $2 }' go.mod | head -1
}

# go_toolchain: puts Go on PATH (these machines keep it in /usr/local/go).
go_toolchain() {
  command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
  command -v go >/dev/null 2>&1 || { echo "$1: no Go toolchain (expected /usr/local/go/bin/go)" >&2; exit 2; }
}

# go_cache_commit TMP DIR PREFIX: moves a finished build into place and
# removes other builds of the same PREFIX (of no further use here).
go_cache_commit() {
  local tmp=$1 dir=$2 prefix=$3 old
  rm -rf "$dir"
  mv "$tmp" "$dir"
  for old in "$(dirname "$dir")/$prefix"-*; do
    [ "$old" = "$dir" ] || rm -rf "$old"
  done
}

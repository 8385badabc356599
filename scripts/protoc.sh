#!/usr/bin/env bash
# Regenerates internal/rpc/daisypb from proto/daisy/v1/*.proto with the
# pinned code generators (installed into $(go env GOPATH)/bin when
# missing). OUT=DIR writes elsewhere (the drift test compares).
#
#   scripts/protoc.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Pinned: the generated code in the repository is what these versions
# give, and TestGeneratedCodeIsCurrent compares with it.
PROTOC_GEN_GO=v1.36.12
PROTOC_GEN_GO_GRPC=v1.6.0
bin=$(go env GOPATH)/bin
want() { # want TOOL VERSION PACKAGE
	if ! "$bin/$1" --version 2>/dev/null | grep -q -- "${2#v}"; then
		GOFLAGS=-mod=mod go install "$3@$2"
	fi
}
command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler" >&2; exit 2; }
want protoc-gen-go "$PROTOC_GEN_GO" google.golang.org/protobuf/cmd/protoc-gen-go
want protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC" google.golang.org/grpc/cmd/protoc-gen-go-grpc
out=${OUT:-internal/rpc/daisypb}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PATH=$bin:$PATH protoc -I proto \
	--go_out="$tmp" --go_opt=paths=source_relative \
	--go-grpc_out="$tmp" --go-grpc_opt=paths=source_relative \
	proto/daisy/v1/*.proto
mkdir -p "$out"
cp "$tmp"/daisy/v1/*.go "$out"/

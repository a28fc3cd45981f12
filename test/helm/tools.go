//go:build tools

// Package tools names the command build.sh compiles, so that go.mod and
// go.sum pin every module it needs.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)

//go:build tools

// Package tools pins the chosen dependencies before every one of them is used,
// so that go mod tidy keeps them. Remove a line once the dependency is imported
// by real code.
package tools

import (
	_ "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	_ "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/hashicorp/memberlist"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "google.golang.org/grpc"
	_ "istio.io/api/networking/v1alpha3"
	_ "istio.io/client-go/pkg/clientset/versioned"
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/yaml"
)

// Package kubernetes tests the Kubernetes manifests under deploy/kubernetes
// the way a cluster reads them: each kustomize base built by kustomize's own
// code, every object decoded strictly into the Kubernetes API types (an
// unknown or misspelt field is an error), and the pieces checked against each
// other and against the canary binary. It is a module of its own so that the
// main module never depends on Kubernetes.
package kubernetes

// Package argo tests canary's Argo Rollouts AnalysisTemplates (deploy/argo)
// with Argo Rollouts' own code: each template decoded strictly into Argo's
// types and validated by Argo, then measured by Argo's providers and judged
// by Argo's analysis controller against a real canary daemon, a real
// Prometheus and the real `canary run`. It is a module of its own so that
// the main module never depends on Argo or Kubernetes.
package argo

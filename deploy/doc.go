// Package deploy holds no code: its tests check that the deployment files
// beside it (the Dockerfile at the repository's root, the manifests, the CI
// jobs) keep the promises docs/deployment.md and docs/gates.md make, and that
// those pages show the files exactly as they are.
package deploy

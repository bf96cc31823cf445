package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocsShowTheFilesVerbatim: the files users copy are shown in the docs
// exactly as they are in the repository (and as the tests feed them to
// Argo, Kubernetes and the CI runners), never a hand-edited copy.
func TestDocsShowTheFilesVerbatim(t *testing.T) {
	included := []struct{ doc, file, lang string }{
		{"gates.md", "argo/verdict.yaml", "yaml"},
		{"gates.md", "argo/run.yaml", "yaml"},
		{"gates.md", "argo/prometheus.yaml", "yaml"},
		{"gates.md", "argo/job.yaml", "yaml"},
		{"gates.md", "ci/github-actions.yml", "yaml"},
		{"gates.md", "ci/gitlab-ci.yml", "yaml"},
		{"deployment.md", "kubernetes/loadtest/job.yaml", "yaml"},
	}
	for _, tc := range included {
		t.Run(tc.file, func(t *testing.T) {
			file, err := os.ReadFile(tc.file)
			require.NoError(t, err)
			doc, err := os.ReadFile(filepath.Join("..", "docs", tc.doc))
			require.NoError(t, err)
			require.True(t, strings.Contains(string(doc), "```"+tc.lang+"\n"+string(file)+"```\n"),
				"docs/%s must show deploy/%s verbatim in a ```%s block", tc.doc, tc.file, tc.lang)
		})
	}
	t.Run("every Argo template and CI job is shown", func(t *testing.T) {
		for _, dir := range []string{"argo", "ci"} {
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				path := dir + "/" + e.Name()
				found := false
				for _, tc := range included {
					found = found || tc.file == path
				}
				require.True(t, found, "deploy/%s is not in the docs", path)
			}
		}
	})
}

package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// invoke runs canary in this process with only env for an environment and
// returns its exit code, stdout and stderr.
func invoke(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = RunEnv(t.Context(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	return code, out.String(), errb.String()
}

// healthyTarget is an HTTP server on 127.0.0.1 that answers 200 to
// everything; it closes when the test ends.
func healthyTarget(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

package limits

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(strings.Repeat("x", size)), 0o600))
		return p
	}
	for _, tc := range []struct {
		name    string
		path    string
		limit   int64
		wantErr string
	}{
		{name: "at the limit", path: write("at.yaml", 1024), limit: 1024},
		{name: "one byte over", path: write("over.yaml", 1025), limit: 1024, wantErr: "over.yaml: 1025 bytes, more than the limit of 1 KiB"},
		{name: "far over", path: write("big.yaml", 3<<20), limit: 1 << 20, wantErr: "big.yaml: 3145728 bytes, more than the limit of 1 MiB"},
		{name: "missing", path: filepath.Join(dir, "nope.yaml"), limit: 1024, wantErr: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := ReadFile(tc.path, tc.limit)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, data, int(tc.limit))
		})
	}
}

// TestReadFileOfUnknownSize reads through a pipe, whose size stat cannot
// tell, so the limit is enforced while reading.
func TestReadFileOfUnknownSize(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	go func() {
		defer w.Close()
		_, _ = w.Write(make([]byte, 4096))
	}()
	_, err = ReadAll(r, 1000, "stdin")
	var tl *TooLargeError
	require.True(t, errors.As(err, &tl), "err = %v", err)
	require.EqualError(t, err, "stdin: more than 1000 bytes, the limit")
}

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Check    string `json:"check"`
		Duration string `json:"duration"`
		N        int    `json:"n"`
	}
	for _, tc := range []struct {
		name    string
		in      string
		want    body
		wantErr string
	}{
		{name: "object", in: `{"check":"checkout","n":2}`, want: body{Check: "checkout", N: 2}},
		{name: "trailing white space", in: "{\"check\":\"a\"}\n\t ", want: body{Check: "a"}},
		{name: "trailing object", in: `{"check":"a"}{"check":"b"}`, wantErr: "body: unexpected data after the JSON value at offset 13"},
		{name: "trailing garbage", in: `{"check":"a"} x`, wantErr: "body: unexpected data after the JSON value at offset 13"},
		{name: "unknown field", in: `{"chek":"a"}`, wantErr: `body: json: unknown field "chek"`},
		{name: "wrong type", in: `{"n":"two"}`, wantErr: "body: n: want int, got a JSON string"},
		{name: "syntax error names the offset, not the text", in: `{"check": secret-text}`, wantErr: "body: invalid JSON at offset 11"},
		{name: "empty", in: ``, wantErr: "body: empty body: want a JSON object"},
		{name: "cut short", in: `{"check":"a"`, wantErr: "body: the JSON value ends early"},
		{name: "too large", in: `{"check":"` + strings.Repeat("a", 200) + `"}`, wantErr: "body: more than 128 bytes, the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got body
			err := DecodeJSON(strings.NewReader(tc.in), 128, "body", &got)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "secret-text")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestBytes(t *testing.T) {
	for in, want := range map[int64]string{
		0: "0 bytes", 900: "900 bytes", 1024: "1 KiB", 1536: "1.5 KiB",
		1 << 20: "1 MiB", 52428800: "50 MiB", 1<<20 + 1<<19: "1.5 MiB",
	} {
		require.Equal(t, want, Bytes(in), "Bytes(%d)", in)
	}
}

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int
		wantErr string
	}{
		{name: "under", size: 99},
		{name: "at", size: 100},
		{name: "over", size: 101, wantErr: "data.csv: more than 100 bytes, the limit"},
		{name: "far over", size: 100_000, wantErr: "data.csv: more than 100 bytes, the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := io.ReadAll(Reader(strings.NewReader(strings.Repeat("x", tc.size)), 100, "data.csv"))
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				require.Len(t, got, 100, "what is read is the first limit bytes, never more")
				return
			}
			require.NoError(t, err)
			require.Len(t, got, tc.size)
		})
	}
}

func TestDecodeForeignJSON(t *testing.T) {
	type payload struct {
		Name     string            `json:"name"`
		Metadata map[string]string `json:"metadata"`
	}
	for _, tc := range []struct {
		name    string
		in      string
		want    payload
		wantErr string
	}{
		{name: "unknown keys are ignored", in: `{"name":"podinfo","checksum":"abc","phase":"Progressing","metadata":{"token":"t"}}`, want: payload{Name: "podinfo", Metadata: map[string]string{"token": "t"}}},
		{name: "trailing data is not", in: `{"name":"a"} {"name":"b"}`, wantErr: "payload: unexpected data after the JSON value at offset 12"},
		{name: "too large", in: `{"name":"` + strings.Repeat("a", 200) + `"}`, wantErr: "payload: more than 128 bytes, the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got payload
			err := DecodeForeignJSON(strings.NewReader(tc.in), 128, "payload", &got)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

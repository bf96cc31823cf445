// Package limits is the one place that bounds what canary decodes: the size
// of every file and request body it reads, and how many values a YAML
// document may expand to, with the readers that enforce them. The bounds
// of saved reports and their histograms live in stats (a leaf package);
// docs/security.md lists them all with their defaults.
package limits

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

const (
	// MaxFileBytes bounds a YAML file: a scenario, a profile, the daemon
	// config, and --env-file. Parsing YAML allocates up to ~120 bytes per
	// input byte (a flow list of one-digit numbers is the worst case), so
	// this keeps a hostile file under ~130 MB of allocation; real files
	// are a few KB.
	MaxFileBytes = 1 << 20

	// MaxNodes bounds a YAML document's values once its aliases are
	// expanded (each use of an alias counts every value under its anchor).
	// It stops alias bombs — nine anchors, each a list of nine aliases to
	// the one before, stand for 9^9 values in under 500 bytes — and is
	// above what a MaxFileBytes document without aliases can hold in
	// practice.
	MaxNodes = 250_000

	// MaxBodyBytes bounds a request body the daemon's API decodes (runs,
	// silences, Flagger payloads, pushed reports excepted: they are
	// reports, bounded by stats.MaxReportBytes).
	MaxBodyBytes = 1 << 20

	// MaxDataBytes bounds a scenario's CSV data file.
	MaxDataBytes = 64 << 20
	// MaxDataRows bounds the rows of a data file.
	MaxDataRows = 100_000
)

// TooLargeError reports an input over its size limit. It carries sizes
// only: nothing of the input's content.
type TooLargeError struct {
	Name  string // the file or body, as the user knows it
	Size  int64  // bytes, or -1 when only "more than Limit" is known
	Limit int64
}

func (e *TooLargeError) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("%s: more than %s, the limit", e.Name, Bytes(e.Limit))
	}
	return fmt.Sprintf("%s: %d bytes, more than the limit of %s", e.Name, e.Size, Bytes(e.Limit))
}

// ReadFile reads path whole, refusing a file larger than limit before
// reading it (and, for files whose size is not known in advance such as
// pipes, as soon as more than limit bytes arrive).
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, &TooLargeError{Name: path, Size: fi.Size(), Limit: limit}
	}
	return ReadAll(f, limit, path)
}

// ReadAll reads r to its end, failing with a *TooLargeError as soon as more
// than limit bytes arrive. name is what the error calls the input.
func ReadAll(r io.Reader, limit int64, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, &TooLargeError{Name: name, Size: -1, Limit: limit}
	}
	return data, nil
}

// Reader reads r and fails with a *TooLargeError once more than limit bytes
// have come, for decoders that stream (CSV) rather than read whole. Unlike
// io.LimitReader, it never passes a cut input off as a complete one.
func Reader(r io.Reader, limit int64, name string) io.Reader {
	return &capped{r: r, left: limit, limit: limit, name: name}
}

type capped struct {
	r           io.Reader
	left, limit int64
	name        string
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, &TooLargeError{Name: c.name, Size: -1, Limit: c.limit}
	}
	// Ask for one byte more than is left, to learn whether the input
	// goes on past the limit.
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n + int(c.left), &TooLargeError{Name: c.name, Size: -1, Limit: c.limit}
	}
	return n, err
}

// DecodeJSON decodes exactly one JSON value from r into v, strictly: at
// most limit bytes, no unknown object keys, nothing but white space after
// the value. Its errors name the problem and its byte offset, never the
// body's content.
func DecodeJSON(r io.Reader, limit int64, name string, v any) error {
	return decodeJSON(r, limit, name, v, true)
}

// DecodeForeignJSON is DecodeJSON for documents whose schema belongs to
// someone else (a Flagger webhook payload): object keys v does not know are
// ignored, the rest is as strict.
func DecodeForeignJSON(r io.Reader, limit int64, name string, v any) error {
	return decodeJSON(r, limit, name, v, false)
}

func decodeJSON(r io.Reader, limit int64, name string, v any, strict bool) error {
	data, err := ReadAll(r, limit, name)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, describeJSONError(err))
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(data[off:])) > 0 {
		return fmt.Errorf("%s: unexpected data after the JSON value at offset %d", name, off)
	}
	return nil
}

// describeJSONError keeps encoding/json's message where it names a field or
// a position, and replaces the ones that quote the input.
func describeJSONError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Errorf("%s: want %s, got a JSON %s", te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("want %s, got a JSON %s", te.Type, te.Value)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("empty body: want a JSON object")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the JSON value ends early")
	}
	return err
}

// Bytes formats a byte count for messages: "1 MiB", "52.4 MiB", "900 bytes".
func Bytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

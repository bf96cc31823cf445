package transport

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// errBodyTooLarge is the cause of every body_too_large error.
var errBodyTooLarge = errors.New("response body too large")

func bodyTooLarge(maxBody int64) error {
	return fmt.Errorf("%w (more than %d bytes)", errBodyTooLarge, maxBody)
}

// readBody appends r's content to dst, reading at most maxBody+1 bytes:
// one more than maxBody tells a body over the cap from one exactly at it. A
// contentLength over maxBody fails before anything is read.
func readBody(dst []byte, r io.Reader, maxBody, contentLength int64) ([]byte, error) {
	if contentLength > maxBody {
		return dst, bodyTooLarge(maxBody)
	}
	limit := maxBody + 1
	if contentLength >= 0 && int64(cap(dst)) < contentLength+1 {
		// The +1 leaves room for the read that sees the end.
		dst = slices.Grow(dst, int(contentLength+1))
	}
	lr := io.LimitedReader{R: r, N: limit}
	for {
		if len(dst) == cap(dst) {
			// Grow by doubling, but never past the limit: the cap bounds
			// memory, not only what is kept.
			n := min(max(2*cap(dst), 512), int(limit))
			if n <= cap(dst) {
				break
			}
			dst = slices.Grow(dst, n-len(dst))
		}
		n, err := lr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, err
		}
	}
	if int64(len(dst)) > maxBody {
		return dst, bodyTooLarge(maxBody)
	}
	return dst, nil
}

// sortHeader orders response header fields by name, keeping the order of
// repeated fields: net/http hands them over as a map, so sorting is what
// makes both paths fill Response.Header alike.
func sortHeader(h []Header) {
	slices.SortStableFunc(h, func(a, b Header) int { return strings.Compare(a.Name, b.Name) })
}

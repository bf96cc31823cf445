package logtest

import (
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				_, _ = b.Write([]byte("line\n"))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 800, strings.Count(b.String(), "line\n"), "every concurrent write, whole")

	big := make([]byte, MaxBytes)
	n, err := b.Write(big)
	assert.NoError(t, err)
	assert.Equal(t, MaxBytes, n, "a dropped write still reports success to the logger")
	assert.Equal(t, MaxBytes, b.Dropped())
	assert.Equal(t, 800*len("line\n"), len(b.String()), "bounded: what came first is kept")
}

func TestLines(t *testing.T) {
	var b Buffer
	_, _ = b.Write([]byte("level=INFO msg=a\nlevel=WARN msg=b\nlevel=INFO msg=ab\n"))
	assert.Equal(t, []string{"level=INFO msg=a", "level=INFO msg=ab"}, b.Lines("msg=a"))
	assert.Nil(t, b.Lines("msg=c"))
}

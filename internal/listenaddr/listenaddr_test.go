package listenaddr

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListen(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer held.Close()
	addr := held.Addr().String()

	for _, tc := range []struct {
		name, addr string
		inUse      bool
		want       string
	}{
		{"taken", addr, true, "cannot listen on " + addr + ": the address is already in use by "},
		{"not an address", "127.0.0.1:http-ish", false, "cannot listen on 127.0.0.1:http-ish: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := Listen(t.Context(), tc.addr, "move it with --listen", "--listen sets it")
			require.Nil(t, ln)
			var e *Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, tc.inUse, e.InUse())
			assert.Contains(t, err.Error(), tc.want)
			if tc.inUse {
				assert.Contains(t, err.Error(), ". move it with --listen")
				if runtime.GOOS == "linux" {
					assert.True(t, strings.HasPrefix(e.Holder, fmt.Sprintf("pid %d (", os.Getpid())), "this test process holds it: %q", e.Holder)
				}
			} else {
				assert.Contains(t, err.Error(), "(--listen sets it)")
				assert.Empty(t, e.Holder)
			}
		})
	}

	ln, err := Listen(t.Context(), "127.0.0.1:0", "", "")
	require.NoError(t, err)
	require.NoError(t, ln.Close())
}

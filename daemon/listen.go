package daemon

import (
	"context"
	"net"

	"github.com/canaryproj/canary/internal/listenaddr"
)

// ListenError is the daemon failing to listen on its API address when it
// starts; InUse tells an address taken by another process.
type ListenError = listenaddr.Error

// listen opens the API's listener, explaining a failure.
func listen(addr string) (net.Listener, error) {
	return listenaddr.Listen(context.Background(), addr,
		"This is not a problem with the config: stop that process, or give canary another address with --listen ADDR (or server.listen in the config)",
		"server.listen in the config, or --listen ADDR, sets the address")
}

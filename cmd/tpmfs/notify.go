package main

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// notifyTimeout bounds a send to the service manager, whose socket
// buffer may be full.
const notifyTimeout = 5 * time.Second

// sdNotify sends state (such as "READY=1") to the service manager's
// notification socket, as sd_notify(3) does. socket is $NOTIFY_SOCKET:
// a path, or an abstract socket name starting with '@'. An empty socket
// means no service manager is listening, and is not an error.
func sdNotify(socket, state string) error {
	if socket == "" {
		return nil
	}
	// Go maps a leading '@' to the NUL byte of an abstract address.
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return fmt.Errorf("notify %s: NOTIFY_SOCKET %q: only paths and abstract sockets are supported", state, socket)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify %s: %w", state, err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(notifyTimeout)); err != nil {
		return fmt.Errorf("notify %s: %w", state, err)
	}
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify %s: %w", state, err)
	}
	return nil
}

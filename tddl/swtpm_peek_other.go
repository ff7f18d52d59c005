//go:build !unix

package tddl

import "net"

// peerHungUp cannot peek here; a dead connection shows up as a failed Send.
func peerHungUp(net.Conn) bool { return false }

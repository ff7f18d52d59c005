package mountopts

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// Env is what Parse needs from the process environment, injectable so
// that parsing stays pure and testable.
type Env interface {
	// Geteuid and Getegid give the identity of the mounting process.
	Geteuid() int
	Getegid() int
	// Getenv returns an environment variable, "" if unset.
	Getenv(key string) string
	// LookupUser and LookupGroup resolve a name to its numeric id. An
	// unknown name gives an error wrapping ErrUnknownUser/ErrUnknownGroup.
	LookupUser(name string) (uint32, error)
	LookupGroup(name string) (uint32, error)
}

// OSEnv is the Env of the running process.
type OSEnv struct{}

var _ Env = OSEnv{}

func (OSEnv) Geteuid() int             { return os.Geteuid() }
func (OSEnv) Getegid() int             { return os.Getegid() }
func (OSEnv) Getenv(key string) string { return os.Getenv(key) }

func (OSEnv) LookupUser(name string) (uint32, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return 0, ErrUnknownUser
		}
		return 0, fmt.Errorf("look up user %q: %w", name, err)
	}
	id, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %q has uid %q: %w", name, u.Uid, ErrInvalidID)
	}
	return uint32(id), nil
}

func (OSEnv) LookupGroup(name string) (uint32, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) {
			return 0, ErrUnknownGroup
		}
		return 0, fmt.Errorf("look up group %q: %w", name, err)
	}
	id, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q has gid %q: %w", name, g.Gid, ErrInvalidID)
	}
	return uint32(id), nil
}

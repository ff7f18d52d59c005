package mountopts

import "errors"

// Sentinel errors, wrapped with the offending option; test with errors.Is.
var (
	ErrUnknownOption = errors.New("unknown mount option")
	ErrNeedsValue    = errors.New("needs a value")
	ErrTakesNoValue  = errors.New("takes no value")
	ErrInvalidMode   = errors.New("invalid octal mode")
	ErrInvalidID     = errors.New("invalid id")
	ErrUnknownUser   = errors.New("unknown user")
	ErrUnknownGroup  = errors.New("unknown group")
	ErrNotAbsolute   = errors.New("not an absolute path")
	ErrInvalidBank   = errors.New("unknown PCR bank")
	ErrInvalidSRK    = errors.New("want well-known or file:PATH")
	ErrInvalidChar   = errors.New("contains a control character")
	ErrUnsupported   = errors.New("not supported")
	ErrEscape        = errors.New("trailing backslash")
	ErrSource        = errors.New("invalid SOURCE")
	ErrNoStateDir    = errors.New("no default state directory: neither $XDG_STATE_HOME nor $HOME is an absolute path; give state=")
)

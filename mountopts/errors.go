package mountopts

import "errors"

// Sentinel errors, wrapped with the offending option; test with errors.Is.
var (
	ErrUnknownOption    = errors.New("unknown mount option")
	ErrNeedsValue       = errors.New("needs a value")
	ErrTakesNoValue     = errors.New("takes no value")
	ErrInvalidMode      = errors.New("invalid octal mode")
	ErrInvalidID        = errors.New("invalid id")
	ErrUnknownUser      = errors.New("unknown user")
	ErrUnknownGroup     = errors.New("unknown group")
	ErrNotAbsolute      = errors.New("not an absolute path")
	ErrInvalidBank      = errors.New("unknown PCR bank")
	ErrInvalidSRK       = errors.New("want well-known or file:PATH")
	ErrInvalidSealQuota = errors.New("want OBJECTS:BYTES (bytes with an optional K, M or G) or none")
	ErrInvalidPolicy    = errors.New("want strict, standard or open")
	ErrInvalidQuota     = errors.New("want OBJECTS:SESSIONS:OPENS, three numbers from 0 to 65536, such as 16:4:8")
	ErrInvalidChar      = errors.New("contains a control character")
	ErrUnsupported      = errors.New("not supported")
	ErrEscape           = errors.New("trailing backslash")
	ErrSource           = errors.New("invalid SOURCE")
	ErrNoStateDir       = errors.New("no default state directory: neither $XDG_STATE_HOME nor $HOME is an absolute path; give state=")
)

// Package mountopts turns the SOURCE argument and the -o mount options into
// a validated Config; it is pure: it never exits, logs or touches the
// system, and reads the environment only through the Env it is given. Of
// tpmfs it imports only two leaves: the SOURCE parser (tddl/source) and
// the table of PCR banks (tpmcore/pcrsel), never the device layer.
//
// Options follow fstab and libfuse conventions: comma-separated, several
// -o arguments allowed, a later option overrides an earlier one, and a
// backslash escapes the next character (so "fsname=a\,b" holds a comma).
// Options that mount(8), mount.fuse3 and fstab add for their own use are
// accepted and recorded in Config.Ignored; anything else unknown is an
// error naming the option.
//
// The tables Options, Ignored, Refused and Sources are the whole of what
// is accepted, with its documentation: tpmfs --help and the man page are
// rendered from them, so they cannot disagree with the parser.
package mountopts

// Package cmdpolicy decides which TPM 2.0 commands a raw-device caller
// without admin rights may send through tpmrm0, at one of three levels
// (rm_policy=): open lets everything through, as /dev/tpmrm0 does;
// standard refuses what could change or deny the TPM for other users
// (clearing it, hierarchy and dictionary-attack settings, persistent
// objects, NV definitions, PCRs, clock, audit, firmware) and any
// authorisation by a hierarchy other than the few that only create or
// read; strict also refuses NV writes and locks and self tests.
//
// The rules are one table (table.go), one entry per command code with the
// reason for it; a command the table does not know (a vendor command, one
// newer than the table) is refused below open. The package is pure: it
// looks at a command's code and the handles of its handle area, never at
// a TPM, a session or a caller, and it names commands for logs.
package cmdpolicy

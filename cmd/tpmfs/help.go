package main

import (
	"strings"

	"tpmfs/mountopts"
)

// The help and the man page (manpage.go) are rendered from the same
// tables the parsers use: flags here, mountopts.Options, Ignored, Refused
// and Sources. Text in them marks literals with `backquotes`, shown plain
// here and bold in the man page.

// helpWidth is the width the help is wrapped to, and helpColumn where
// the descriptions start.
const (
	helpWidth  = 79
	helpColumn = 25
)

// Texts that the help and the man page share.
const (
	summary      = "Mounts a TPM at MOUNTPOINT as a tree of files: `info`, `random`, `pcrs/`, `seal/` and `tpmrm0`."
	flagsIntro   = "Flags may come before, between or after SOURCE and MOUNTPOINT, since mount.fuse3 runs `tpmfs SOURCE MOUNTPOINT -o OPTIONS`."
	optionsIntro = "Mount options are comma-separated, in one or several `-o`; a later one overrides an earlier one, and a backslash makes the next character literal. An unknown or malformed option is an error that names it, and nothing is mounted."
	ignoredIntro = "Accepted and ignored, for fstab, mount(8) and mount.fuse3"
	refusedIntro = "Refused, with an error saying why"
)

// examples are shell lines, each with what it does.
var examples = []struct{ Cmd, Doc string }{
	{"tpmfs /dev/tpmrm0 /var/tpm -o allow_other,gid=tss,pcr_mode=0664,seal_mode=1777", "everyone reads PCRs, group tss extends them, every user keeps their own secrets"},
	{"mount -t tpmfs auto /var/tpm -o allow_other", "the same through mount(8); -t fuse.tpmfs works as well"},
	{"/dev/tpmrm0 /var/tpm fuse.tpmfs allow_other,nofail 0 0", "an /etc/fstab line"},
	{"tpmfs -f sim: /tmp/tpm -o state=/tmp/tpmfs-demo", "try it on the built-in simulator, in the foreground"},
}

// exitStatus documents the exit codes of run.
var exitStatus = []struct{ Code, Doc string }{
	{"0", "mounted (in the background), or unmounted cleanly (with -f); or --help, --version"},
	{"1", "the mount failed, or ended in an error"},
	{"2", "a bad command line or mount option; nothing was mounted"},
}

// usage renders tpmfs --help.
func usage() string {
	var b strings.Builder
	b.WriteString("Usage: tpmfs [flags] SOURCE MOUNTPOINT [-o OPTIONS]\n")
	b.WriteString("       mount -t tpmfs SOURCE MOUNTPOINT [-o OPTIONS]\n\n")
	b.WriteString(wrap(plain(summary), helpWidth, "", ""))
	b.WriteString("\nSOURCE, in the TCTI syntax of tpm2-tools:\n")
	for _, s := range mountopts.Sources {
		b.WriteString(item(s.Syntax, plain(s.Doc)))
	}
	b.WriteString("\nFlags, also accepted after SOURCE and MOUNTPOINT:\n")
	for _, f := range flags {
		b.WriteString(item(flagHeading(f, "-", "--", " "), plain(f.Doc)))
	}
	b.WriteString("\nMount options, comma-separated; a later one overrides an earlier one:\n")
	for _, o := range mountopts.Options {
		doc := plain(o.Doc)
		if o.Default != "" {
			doc += " (default: " + plain(o.Default) + ")"
		}
		b.WriteString(item(optionHeading(o), doc))
	}
	b.WriteString("\n" + wrap(ignoredIntro+": "+strings.Join(compatNames(mountopts.Ignored), ", ")+".", helpWidth, "", ""))
	b.WriteString(wrap(refusedIntro+": "+strings.Join(compatNames(mountopts.Refused), ", ")+".", helpWidth, "", ""))
	b.WriteString("\nExamples:\n")
	for _, e := range examples {
		b.WriteString("  " + e.Cmd + "\n")
		b.WriteString(wrap(e.Doc, helpWidth, "      ", "      "))
	}
	b.WriteString("\nExit status:\n")
	for _, e := range exitStatus {
		b.WriteString(wrap(e.Doc, helpWidth, "  "+e.Code+"  ", "     "))
	}
	b.WriteString("\nThe manual page tpmfs(8) has the details.\n")
	return b.String()
}

// item renders one entry of a list: the heading indented by two, the
// text from helpColumn on (below the heading when it is too long).
func item(heading, text string) string {
	head := "  " + heading
	if len(head) >= helpColumn-1 {
		return head + "\n" + wrap(text, helpWidth, strings.Repeat(" ", helpColumn), strings.Repeat(" ", helpColumn))
	}
	return wrap(text, helpWidth, head+strings.Repeat(" ", helpColumn-len(head)), strings.Repeat(" ", helpColumn))
}

// flagHeading writes a flag's names and value, with the given dashes and
// the separator between a flag and its value.
func flagHeading(f cliFlag, short, long, sep string) string {
	var names []string
	for _, n := range f.Names {
		if len(n) == 1 {
			names = append(names, short+n)
		} else {
			names = append(names, long+n)
		}
	}
	h := strings.Join(names, ", ")
	if len(f.Names) == 1 && len(f.Names[0]) > 1 {
		h = "    " + h // long flags line up after "-x, "
	}
	if f.Arg != "" {
		h += sep + f.Arg
	}
	return h
}

// optionHeading writes an option as it is given: name or name=ARG.
func optionHeading(o mountopts.Option) string {
	if o.Arg == "" {
		return o.Name
	}
	return o.Name + "=" + o.Arg
}

// compatNames lists the names of groups of compatibility options; a
// prefix is shown with a star (x-*).
func compatNames(groups []mountopts.Compat) []string {
	var names []string
	for _, g := range groups {
		for _, n := range g.Names {
			if g.Prefix {
				n += "*"
			}
			names = append(names, n)
		}
	}
	return names
}

// plain drops the literal marks.
func plain(s string) string { return strings.ReplaceAll(s, "`", "") }

// wrap fills text to width, the first line after first and the others
// after rest, and ends it with a newline.
func wrap(text string, width int, first, rest string) string {
	var b strings.Builder
	line := first
	empty := true
	for _, w := range strings.Fields(text) {
		if !empty && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line, empty = rest, true
		}
		if !empty {
			line += " "
		}
		line += w
		empty = false
	}
	b.WriteString(line + "\n")
	return b.String()
}

package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"tpmfs/internal/swtpmtest"
	"tpmfs/mountopts"
)

var update = flag.Bool("update", false, "rewrite docs/tpmfs.8 from the tables")

const manPath = "../../docs/tpmfs.8"

// TestManPageUpToDate keeps docs/tpmfs.8, which the Debian package
// installs, equal to what the tables give.
func TestManPageUpToDate(t *testing.T) {
	got := manPage()
	if *update {
		if err := os.WriteFile(manPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(manPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("docs/tpmfs.8 differs from what the option tables give; run: go generate ./cmd/tpmfs")
	}
}

// TestManPageRenders renders the page with groff, warnings on, and with
// man -l as a reader would: no warnings, every section there.
func TestManPageRenders(t *testing.T) {
	swtpmtest.Require(t, "groff", "man")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	groff := exec.CommandContext(ctx, "groff", "-ww", "-man", "-Tutf8", "-z", manPath)
	groff.Stderr = &stderr
	if err := groff.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("groff -ww: %v\n%s", err, stderr.String())
	}
	stderr.Reset()
	man := exec.CommandContext(ctx, "man", "--warnings", "-l", manPath)
	man.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
	man.Stderr = &stderr
	out, err := man.Output()
	if err != nil || stderr.Len() > 0 {
		t.Errorf("man -l: %v\n%s", err, stderr.String())
	}
	for _, sec := range []string{"NAME", "SYNOPSIS", "SOURCE", "OPTIONS", "MOUNT OPTIONS", "FILES OF A MOUNT", "EXIT STATUS", "SEE ALSO"} {
		if !regexp.MustCompile(`(?m)^` + sec + `$`).Match(out) {
			t.Errorf("man -l output has no section %s", sec)
		}
	}
}

// section returns the lines of text from the line equal to start up to
// the next line for which end holds.
func section(t *testing.T, text, start string, end func(string) bool) []string {
	t.Helper()
	lines := strings.Split(text, "\n")
	i := slices.Index(lines, start)
	if i < 0 {
		t.Fatalf("no line %q in\n%s", start, text)
	}
	var out []string
	for _, l := range lines[i+1:] {
		if end(l) {
			break
		}
		out = append(out, l)
	}
	return out
}

// helpHeadings returns the headings of a list in the help: the first
// word of lines indented by two.
func helpHeadings(lines []string) []string {
	var hs []string
	for _, l := range lines {
		if strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") {
			hs = append(hs, strings.Fields(l)[0])
		}
	}
	return hs
}

// manHeadings returns the headings of a .TP list in man(7) source, with
// the roff escapes undone.
func manHeadings(lines []string) []string {
	var hs []string
	for i, l := range lines {
		if l == ".TP" && i+1 < len(lines) {
			hs = append(hs, unroff(lines[i+1]))
		}
	}
	return hs
}

func unroff(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, ".B "), `\&`)
	return strings.NewReplacer(`\fB`, "", `\fI`, "", `\fR`, "", `\-`, "-", `\e`, `\`).Replace(s)
}

// optionName is the name in a heading such as "uid=USER".
func optionName(h string) string { name, _, _ := strings.Cut(h, "="); return name }

func isHelpHeader(l string) bool { return l == "" || !strings.HasPrefix(l, " ") }
func isManSection(l string) bool { return strings.HasPrefix(l, ".SH") || strings.HasPrefix(l, ".SS") }

// TestDocsCoverParser checks that the help and the man page list exactly
// the options, flags and ignored options the parsers accept, and the
// README's option table too: an option added without its documentation,
// or documented and not parsed, fails here.
func TestDocsCoverParser(t *testing.T) {
	help, man := usage(), manPage()
	var names []string
	for _, o := range mountopts.Options {
		names = append(names, o.Name)
		var opt string
		if o.Arg == "" {
			opt = o.Name
		} else {
			opt = o.Name + "=" + o.Example
		}
		if _, err := mountopts.Parse("sim:", []string{opt}); err != nil {
			t.Errorf("documented option %s: %v", opt, err)
		}
	}
	helpOpts := helpHeadings(section(t, help, "Mount options, comma-separated; a later one overrides an earlier one:", isHelpHeader))
	manOpts := manHeadings(section(t, man, ".SH MOUNT OPTIONS", isManSection))
	for what, got := range map[string][]string{"--help": helpOpts, "the man page": manOpts} {
		var gotNames []string
		for _, h := range got {
			gotNames = append(gotNames, optionName(h))
		}
		if !slices.Equal(gotNames, names) {
			t.Errorf("%s lists the mount options %q; the parser takes %q", what, gotNames, names)
		}
	}

	var flagNames []string
	for _, f := range flags {
		want := []string{}
		for _, n := range f.Names {
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			want = append(want, dash+n)
			flagNames = append(flagNames, dash+n)
			argv := []string{dash + n, "auto", "/mnt"}
			if f.Arg != "" {
				argv = []string{dash + n, f.Example, "auto", "/mnt"}
			}
			base, err1 := parseArgs([]string{"auto", "/mnt"})
			inv, err2 := parseArgs(argv)
			if err1 != nil || err2 != nil || reflect.DeepEqual(base, inv) {
				t.Errorf("documented flag %q: parsed %+v, %v; want it to change the invocation", argv, inv, err2)
			}
		}
	}
	var helpFlags []string
	for _, l := range section(t, help, "Flags, also accepted after SOURCE and MOUNTPOINT:", isHelpHeader) {
		if strings.HasPrefix(strings.TrimSpace(l), "-") {
			for _, w := range strings.Fields(strings.ReplaceAll(l, ",", " ")) {
				if strings.HasPrefix(w, "-") {
					helpFlags = append(helpFlags, w)
				}
			}
		}
	}
	var manFlags []string
	for _, h := range manHeadings(section(t, man, ".SH OPTIONS", isManSection)) {
		for _, w := range strings.Split(h, ", ") {
			manFlags = append(manFlags, strings.Fields(w)[0])
		}
	}
	for what, got := range map[string][]string{"--help": helpFlags, "the man page": manFlags} {
		if !slices.Equal(got, flagNames) {
			t.Errorf("%s lists the flags %q; the parser takes %q", what, got, flagNames)
		}
	}
	for name, takes := range flagTakesValue {
		dash := "--"
		if len(name) == 1 {
			dash = "-"
		}
		if !slices.Contains(flagNames, dash+name) {
			t.Errorf("the parser takes flag %s (value: %v), which is not documented", dash+name, takes)
		}
	}

	// The README's table of mount options: every option there parses,
	// and every option is there.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := section(t, string(readme), "### Mount options", func(l string) bool { return strings.HasPrefix(l, "#") })
	var readmeNames []string
	for _, row := range rows {
		cells := strings.Split(row, "|")
		if len(cells) < 3 || strings.Trim(cells[1], " -") == "" || strings.TrimSpace(cells[1]) == "option" {
			continue
		}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[1], -1) {
			readmeNames = append(readmeNames, m[1])
		}
	}
	if len(readmeNames) == 0 {
		t.Fatal("README.md: no option table under ### Mount options")
	}
	for _, n := range readmeNames {
		opt := n
		if name, ok := strings.CutSuffix(n, "="); ok {
			opt = name + "=" + mountoptsExample(name)
		}
		opt = strings.ReplaceAll(opt, "*", "anything")
		if _, err := mountopts.Parse("sim:", []string{opt}); err != nil {
			t.Errorf("README.md's option table lists %q: %v", n, err)
		}
	}
	for _, o := range mountopts.Options {
		written := o.Name // as the README writes it: ro, uid=
		if o.Arg != "" {
			written += "="
		}
		if !slices.Contains(readmeNames, written) {
			t.Errorf("README.md's option table does not list `%s`", written)
		}
	}
}

// mountoptsExample is the documented example value of option name.
func mountoptsExample(name string) string {
	for _, o := range mountopts.Options {
		if o.Name == name {
			return o.Example
		}
	}
	return ""
}

// TestHelpIgnoredIsIgnored reads the help's list of accepted-and-ignored
// options and checks that each is: it changes neither the parsed
// configuration nor the options the mount is made with. (noexec was
// listed there and honoured.)
func TestHelpIgnoredIsIgnored(t *testing.T) {
	help := usage()
	i := strings.Index(help, ignoredIntro+": ")
	if i < 0 {
		t.Fatalf("--help has no %q", ignoredIntro)
	}
	list, _, _ := strings.Cut(help[i+len(ignoredIntro)+2:], ".\n")
	names := strings.Split(strings.Join(strings.Fields(list), " "), ", ")
	if len(names) < 10 {
		t.Fatalf("--help's ignored list %q is too short to be right", names)
	}
	base, err := mountopts.Parse("sim:", nil)
	if err != nil {
		t.Fatal(err)
	}
	baseMount := mountOptions(base)
	adaptMountOptions(baseMount, base, "/var/tpm")
	for _, n := range names {
		opt := strings.ReplaceAll(n, "*", "anything")
		cfg, err := mountopts.Parse("sim:", []string{opt})
		if err != nil {
			t.Errorf("--help says %q is accepted: %v", n, err)
			continue
		}
		mo := mountOptions(cfg)
		adaptMountOptions(mo, cfg, "/var/tpm")
		if !reflect.DeepEqual(mo, baseMount) {
			t.Errorf("--help says %q is ignored, but the mount differs: %+v", n, mo.MountOptions)
		}
		cfg.Ignored = nil
		if !reflect.DeepEqual(cfg, base) {
			t.Errorf("--help says %q is ignored, but the configuration differs:\n %+v\nwant\n %+v", n, cfg, base)
		}
	}
	for _, o := range mountopts.Options {
		if slices.Contains(names, o.Name) {
			t.Errorf("--help lists %s as ignored; the parser acts on it", o.Name)
		}
	}
}

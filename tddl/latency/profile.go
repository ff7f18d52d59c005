package latency

import (
	"bufio"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed profiles.tsv
var profilesTSV string

// Cost is one row of a profile: what one kind of command costs.
type Cost struct {
	Code    uint32 // TPM_CC; 0 with Any for every other command
	Any     bool   // the row for commands the profile does not list
	Command string // its name, as in TPM2_CC_<name>
	Variant string // "*" or a variant (see Variant)
	Time    time.Duration
	// Interpolated marks a value no measurement was found for.
	Interpolated bool
	Source       string // key of a source line
	Note         string // how an interpolated value was chosen
}

// Profile is a named table of costs.
type Profile struct {
	Name  string
	Costs []Cost
	// Sources maps source keys to what they cite.
	Sources map[string]string
}

// profiles are parsed once from profiles.tsv; a malformed file is a
// programming error caught by the package's tests.
var profiles = mustParse(profilesTSV)

// Profiles lists the names of the built-in profiles.
func Profiles() []string {
	var names []string
	for name := range profiles {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the built-in profile called name ("dtpm", "ftpm").
func Lookup(name string) (*Profile, bool) {
	p, ok := profiles[name]
	return p, ok
}

// Cost returns what command code costs in variant: the exact row, else
// the command's "*" row, else the profile's row for any command.
func (p *Profile) Cost(code uint32, variant string) Cost {
	var generic, any Cost
	for _, c := range p.Costs {
		switch {
		case c.Any:
			any = c
		case c.Code != code:
		case c.Variant == variant:
			return c
		case c.Variant == "*":
			generic = c
		}
	}
	if generic.Command != "" {
		return generic
	}
	return any
}

// mustParse parses profiles.tsv, panicking on a malformed file.
func mustParse(text string) map[string]*Profile {
	ps, err := parse(text)
	if err != nil {
		panic("latency: profiles.tsv: " + err.Error())
	}
	return ps
}

// parse reads a profile table: comment lines (#), "source KEY TEXT"
// lines, and cost rows "profile code command variant ms[~] source [note]".
func parse(text string) (map[string]*Profile, error) {
	ps := map[string]*Profile{}
	sources := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if f[0] == "source" {
			if len(f) < 3 {
				return nil, fmt.Errorf("line %d: source without key or text", n)
			}
			sources[f[1]] = strings.Join(f[2:], " ")
			continue
		}
		if len(f) < 6 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 6", n, len(f))
		}
		c := Cost{Command: f[2], Variant: f[3], Source: f[5], Note: strings.Join(f[6:], " ")}
		if f[1] == "*" {
			c.Any = true
		} else {
			code, err := strconv.ParseUint(f[1], 0, 32)
			if err != nil {
				return nil, fmt.Errorf("line %d: command code %q: %w", n, f[1], err)
			}
			c.Code = uint32(code)
		}
		ms := f[4]
		if c.Interpolated = strings.HasSuffix(ms, "~"); c.Interpolated {
			ms = strings.TrimSuffix(ms, "~")
		}
		v, err := strconv.ParseFloat(ms, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("line %d: milliseconds %q: want a positive number", n, f[4])
		}
		c.Time = time.Duration(v * float64(time.Millisecond))
		p := ps[f[0]]
		if p == nil {
			p = &Profile{Name: f[0], Sources: sources}
			ps[f[0]] = p
		}
		for _, o := range p.Costs {
			if o.Any == c.Any && o.Code == c.Code && o.Variant == c.Variant {
				return nil, fmt.Errorf("line %d: %s %s %s listed twice", n, f[0], c.Command, c.Variant)
			}
		}
		p.Costs = append(p.Costs, c)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, p := range ps {
		hasAny := false
		for _, c := range p.Costs {
			if _, ok := sources[c.Source]; !ok {
				return nil, fmt.Errorf("profile %s: %s cites unknown source %q", p.Name, c.Command, c.Source)
			}
			if c.Interpolated != (c.Source == "interp") || c.Interpolated && c.Note == "" && !c.Any {
				return nil, fmt.Errorf("profile %s: %s %s: an interpolated value (~) must cite interp with a note, and only it", p.Name, c.Command, c.Variant)
			}
			hasAny = hasAny || c.Any
		}
		if !hasAny {
			return nil, fmt.Errorf("profile %s: no row for other commands (*)", p.Name)
		}
	}
	return ps, nil
}

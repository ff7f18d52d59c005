package mountopts

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestOptionsDocumented checks every entry of the option table: it is
// documented, its example parses, a flag refuses a value and a valued
// option refuses none. An option added without documentation fails here.
func TestOptionsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range Options {
		if o.Name == "" || seen[o.Name] {
			t.Errorf("option %q: empty or listed twice", o.Name)
		}
		seen[o.Name] = true
		if strings.TrimSpace(o.Doc) == "" {
			t.Errorf("option %q has no Doc", o.Name)
		}
		if o.set == nil {
			t.Errorf("option %q has no parser", o.Name)
			continue
		}
		if o.Arg == "" {
			if o.Example != "" {
				t.Errorf("flag %q has an example value %q", o.Name, o.Example)
			}
			if _, err := ParseEnv(newFakeEnv(), "auto", []string{o.Name}); err != nil {
				t.Errorf("flag %q: %v", o.Name, err)
			}
			if _, err := ParseEnv(newFakeEnv(), "auto", []string{o.Name + "=1"}); !errors.Is(err, ErrTakesNoValue) {
				t.Errorf("flag %q=1: error %v, want ErrTakesNoValue", o.Name, err)
			}
			continue
		}
		if o.Example == "" {
			t.Errorf("option %q=%s has no example value", o.Name, o.Arg)
		}
		if _, err := ParseEnv(newFakeEnv(), "auto", []string{o.Name + "=" + o.Example}); err != nil {
			t.Errorf("documented example %s=%s: %v", o.Name, o.Example, err)
		}
		if _, err := ParseEnv(newFakeEnv(), "auto", []string{o.Name}); !errors.Is(err, ErrNeedsValue) {
			t.Errorf("option %q without a value: error %v, want ErrNeedsValue", o.Name, err)
		}
	}
	for _, groups := range [][]Compat{Ignored, Refused} {
		for _, g := range groups {
			if strings.TrimSpace(g.Why) == "" || len(g.Names) == 0 {
				t.Errorf("compatibility group %q: names and a reason are required", g.Names)
			}
			for _, n := range g.Names {
				if _, ok := byName[strings.TrimSuffix(n, "=")]; ok {
					t.Errorf("%q is both in the option table and a compatibility group", n)
				}
			}
		}
	}
}

// TestIgnoredChangeNothing parses every ignored option, and a name
// extending every ignored prefix: each is recorded in Config.Ignored, and
// the rest of the Config is the default. (cmd/tpmfs checks that nothing
// but those fields reaches the mount.)
func TestIgnoredChangeNothing(t *testing.T) {
	want, err := ParseEnv(newFakeEnv(), "auto", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range Ignored {
		for _, n := range g.Names {
			opt := n
			if g.Prefix {
				opt += "anything"
			}
			got, err := ParseEnv(newFakeEnv(), "auto", []string{opt})
			if err != nil {
				t.Errorf("ignored option %q: %v", opt, err)
				continue
			}
			if !reflect.DeepEqual(got.Ignored, []string{opt}) {
				t.Errorf("ignored option %q recorded as %q", opt, got.Ignored)
			}
			got.Ignored = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ignored option %q changed the config:\n %+v\nwant\n %+v", opt, got, want)
			}
		}
	}
	for _, g := range Refused {
		for _, n := range g.Names {
			if _, err := ParseEnv(newFakeEnv(), "auto", []string{n}); !errors.Is(err, ErrUnsupported) {
				t.Errorf("refused option %q: error %v, want ErrUnsupported", n, err)
			}
		}
	}
}

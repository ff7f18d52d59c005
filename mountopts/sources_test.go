package mountopts

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"tpmfs/tddl/source"
)

// TestSourcesDocumented parses every documented example, and checks the
// table against what the parser accepts: every backend it names and every
// key it takes must be documented, and nothing else.
func TestSourcesDocumented(t *testing.T) {
	keys := map[source.Kind][]string{}
	for _, s := range Sources {
		if s.Syntax == "" || s.Doc == "" || len(s.Examples) == 0 {
			t.Errorf("SOURCE form %+v: syntax, doc and an example are required", s)
		}
		for _, ex := range s.Examples {
			cfg, err := ParseEnv(newFakeEnv(), ex, nil)
			if err != nil {
				t.Errorf("documented SOURCE %q: %v", ex, err)
				continue
			}
			if cfg.TPM.Kind != s.Kind {
				t.Errorf("documented SOURCE %q selects %q, documented as %q", ex, cfg.TPM.Kind, s.Kind)
			}
		}
		keys[s.Kind] = append(keys[s.Kind], s.Keys...)
	}
	// The parser names its backends when it refuses an unknown one.
	_, err := ParseEnv(newFakeEnv(), "no-such-backend:", nil)
	m := regexp.MustCompile(`want (.*) or an absolute device path`).FindStringSubmatch(fmtErr(err))
	if m == nil {
		t.Fatalf("unknown backend error %q does not list the backends (want \"want a, b or an absolute device path\")", fmtErr(err))
	}
	for _, name := range strings.Split(m[1], ", ") {
		if !slices.ContainsFunc(Sources, func(s SourceForm) bool { return string(s.Kind) == name }) {
			t.Errorf("the parser accepts backend %q, which Sources does not document", name)
		}
	}
	// And its keys when it refuses an unknown key.
	for kind, documented := range keys {
		_, err := ParseEnv(newFakeEnv(), string(kind)+":no-such-key=1", nil)
		if kind == source.Auto || kind == source.Device {
			if err == nil {
				t.Errorf("%s takes no keys, but %s:no-such-key=1 parsed", kind, kind)
			}
			continue
		}
		m := regexp.MustCompile(`unknown key "no-such-key", want (.*)$`).FindStringSubmatch(fmtErr(err))
		if m == nil {
			t.Errorf("unknown key error %q does not list %s's keys", fmtErr(err), kind)
			continue
		}
		accepted := strings.Split(m[1], ", ")
		slices.Sort(accepted)
		slices.Sort(documented)
		if !slices.Equal(accepted, documented) {
			t.Errorf("%s takes keys %q, Sources documents %q", kind, accepted, documented)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	if !errors.Is(err, ErrSource) {
		return "not ErrSource: " + err.Error()
	}
	return err.Error()
}

package sealing

import (
	"errors"
	"testing"

	"tpmfs/tpmcore/pcrsel"
)

func TestSim(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, openSim(t, 1)) })
	}
}

func TestWrongTPMSim(t *testing.T) {
	first := openSim(t, 1)
	obj, err := Seal(first, nil, "w", Bind(mustParse(t, "sha256:7")), []byte("only here"))
	if err != nil {
		t.Fatal(err)
	}
	free, err := Seal(first, nil, "w", Bind(pcrsel.Selection{}), []byte("only here"))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := openSim(t, 2)
	old := *obj
	old.Parent = nil // as sealed before tpmfs recorded it
	for _, o := range []*Object{obj, free, &old} {
		if _, err := Unseal(second, nil, "w", o, nil); !errors.Is(err, ErrWrongTPM) {
			t.Errorf("Unseal on another TPM (pcrs %q): %v, want ErrWrongTPM", o.Selection, err)
		}
		r, err := Inspect(second, nil, Bind(mustParse(t, o.Selection)), o, nil)
		if err != nil || r.Belongs != BelongsElsewhere {
			t.Errorf("Inspect on another TPM (pcrs %q, parent %x): %+v, %v", o.Selection, o.Parent, r, err)
		}
	}
	assertNoHandles(t, second, "wrong TPM")
}

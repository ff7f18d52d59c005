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
	obj, err := Seal(first, nil, "w", mustParse(t, "sha256:7"), []byte("only here"))
	if err != nil {
		t.Fatal(err)
	}
	free, err := Seal(first, nil, "w", pcrsel.Selection{}, []byte("only here"))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := openSim(t, 2)
	for _, o := range []*Object{obj, free} {
		if _, err := Unseal(second, nil, "w", o); !errors.Is(err, ErrWrongTPM) {
			t.Errorf("Unseal on another TPM (pcrs %q): %v, want ErrWrongTPM", o.Selection, err)
		}
	}
	assertNoHandles(t, second, "wrong TPM")
}

package eventlog

import (
	"bytes"

	"tpmfs/tpmcore/pcrsel"
)

// Values are replayed PCR values: Values[bank][pcr], for the banks being
// replayed.
type Values map[string]*[NumPCRs][]byte

// Initial returns the values every PCR of the banks has after a TPM's
// reset on a PC Client platform: PCRs 17–22 (the dynamic root of trust's)
// all ones, the others zero, but for PCR 0, whose last byte is the
// locality the TPM was started from (a StartupLocality event says which;
// 0 without one). Banks Go cannot hash (sm3_256) are left out: they
// cannot be replayed.
func Initial(banks []pcrsel.Bank, locality byte) Values {
	v := Values{}
	for _, b := range banks {
		if b.Hash == 0 || !b.Hash.Available() {
			continue
		}
		var pcrs [NumPCRs][]byte
		for i := range pcrs {
			pcrs[i] = make([]byte, b.Size)
			if i >= 17 && i <= 22 {
				for j := range pcrs[i] {
					pcrs[i][j] = 0xff
				}
			}
		}
		pcrs[0][b.Size-1] = locality
		v[b.Name] = &pcrs
	}
	return v
}

// Extend extends PCR pcr of each bank in v that digests has a digest for
// with it: new = H(old ‖ digest). Banks with no digest in digests keep
// their value; digests of other banks are ignored.
func (v Values) Extend(pcr int, digests []Digest) {
	if pcr < 0 || pcr >= NumPCRs {
		return
	}
	for _, d := range digests {
		pcrs, ok := v[d.Alg]
		if !ok {
			continue
		}
		b, _ := pcrsel.BankByName(d.Alg)
		if len(d.Value) != b.Size {
			continue // a log that says otherwise was refused by its parser
		}
		h := b.Hash.New()
		h.Write(pcrs[pcr])
		h.Write(d.Value)
		pcrs[pcr] = h.Sum(nil)
	}
}

// Replay extends v with every event that extends a PCR: all but
// EV_NO_ACTION.
func (fw *Firmware) Replay(v Values) {
	for _, ev := range fw.Events {
		if ev.Type != EvNoAction {
			v.Extend(ev.PCR, ev.Digests)
		}
	}
}

// Replay extends v with every record of the log.
func (l *Log) Replay(v Values) {
	for i := range l.Records {
		v.Extend(l.Records[i].PCR, l.Records[i].Digests)
	}
}

// Equal reports whether the replayed value of bank's PCR pcr is want.
func (v Values) Equal(bank string, pcr int, want []byte) bool {
	pcrs, ok := v[bank]
	return ok && pcr >= 0 && pcr < NumPCRs && bytes.Equal(pcrs[pcr], want)
}

package attest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// The C structures tpm2-tools writes whole with fwrite (tss2_tpm2_types.h).
const (
	numBanks       = 16 // TPM2_NUM_PCR_BANKS: TPML_PCR_SELECTION's array
	pcrSelectMax   = 4  // TPM2_PCR_SELECT_MAX
	pcrSelectionC  = 8  // TPMS_PCR_SELECTION: hash, sizeofSelect, pcrSelect[4], padding
	digestsPerList = 8  // TPML_DIGEST's array
	digestBuffer   = 64 // TPM2B_DIGEST's buffer: sizeof(TPMU_HA)
)

// Serialized renders the quote's PCR values in tpm2-tools' serialized
// form, as tpm2_quote -o writes it and tpm2_checkquote -f reads it: the
// TPML_PCR_SELECTION as the C structure, a count of TPML_DIGEST
// structures, and those, each holding up to eight digests in selection
// order, every integer little-endian (tpm2-tools 5.x).
func (q *Quote) Serialized() []byte {
	tpml := q.Selection.TPML()
	b := make([]byte, 0, 4+numBanks*pcrSelectionC+4+((len(q.Values)+digestsPerList-1)/digestsPerList)*(4+digestsPerList*(2+digestBuffer)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(tpml.PCRSelections)))
	for i := 0; i < numBanks; i++ {
		var s [pcrSelectionC]byte
		if i < len(tpml.PCRSelections) {
			ps := tpml.PCRSelections[i]
			binary.LittleEndian.PutUint16(s[0:2], uint16(ps.Hash))
			s[2] = byte(len(ps.PCRSelect))
			copy(s[3:3+pcrSelectMax], ps.PCRSelect)
		}
		b = append(b, s[:]...)
	}
	lists := (len(q.Values) + digestsPerList - 1) / digestsPerList
	b = binary.LittleEndian.AppendUint32(b, uint32(lists))
	for l := 0; l < lists; l++ {
		vals := q.Values[l*digestsPerList : min(len(q.Values), (l+1)*digestsPerList)]
		b = binary.LittleEndian.AppendUint32(b, uint32(len(vals)))
		for i := 0; i < digestsPerList; i++ {
			var d [2 + digestBuffer]byte
			if i < len(vals) {
				binary.LittleEndian.PutUint16(d[0:2], uint16(len(vals[i].Digest)))
				copy(d[2:], vals[i].Digest)
			}
			b = append(b, d[:]...)
		}
	}
	return b
}

// Keylime is the quote as keylime's agent sends it: "r", then the
// attestation, the signature and the serialized PCRs, each in base64,
// separated by colons.
func (q *Quote) Keylime() string {
	enc := base64.StdEncoding
	return "r" + enc.EncodeToString(q.Attest) + ":" + enc.EncodeToString(q.Signature) + ":" + enc.EncodeToString(q.Serialized())
}

// quoteJSON is the answer ak/NAME/quote gives.
type quoteJSON struct {
	Attest         string                       `json:"attest"`
	Signature      string                       `json:"signature"`
	PCRsSerialized string                       `json:"pcrs_serialized"`
	PCRs           map[string]map[string]string `json:"pcrs"`
	Selection      string                       `json:"selection"`
	Nonce          string                       `json:"nonce"`
	Keylime        string                       `json:"keylime"`
}

// JSON renders the quote as one JSON object and a newline: attest,
// signature and pcrs_serialized in base64 (tpm2_checkquote's -m, -s and
// -f once decoded), pcrs by bank and index in hex, the selection in
// tpm2-tools syntax, the nonce in hex, and the keylime string.
func (q *Quote) JSON() []byte {
	enc := base64.StdEncoding
	out := quoteJSON{
		Attest:         enc.EncodeToString(q.Attest),
		Signature:      enc.EncodeToString(q.Signature),
		PCRsSerialized: enc.EncodeToString(q.Serialized()),
		PCRs:           map[string]map[string]string{},
		Selection:      q.Selection.String(),
		Nonce:          hex.EncodeToString(q.Nonce),
		Keylime:        q.Keylime(),
	}
	for _, v := range q.Values {
		if out.PCRs[v.Bank] == nil {
			out.PCRs[v.Bank] = map[string]string{}
		}
		out.PCRs[v.Bank][strconv.Itoa(v.Index)] = hex.EncodeToString(v.Digest)
	}
	b, _ := json.Marshal(out) // strings and maps of strings: cannot fail
	return append(b, '\n')
}

package mountopts

import "tpmfs/tddl/source"

// SourceForm documents one way of writing SOURCE, the TCTI syntax of
// tpm2-tools (-T, TPM2TOOLS_TCTI). Sources is the table tpmfs --help and
// the man page render; its tests parse every example and check that the
// keys each backend accepts are the ones listed.
type SourceForm struct {
	Syntax   string      // as documented, placeholders in capitals
	Doc      string      // what it selects; `backquotes` mark literal text
	Kind     source.Kind // the backend it selects
	Keys     []string    // the key=value keys after "kind:", in order
	Examples []string    // valid SOURCEs of this form
}

// Sources lists every form of SOURCE, in the order documented.
var Sources = []SourceForm{
	{Syntax: "auto", Kind: source.Auto, Examples: []string{"auto", "device", "device:"},
		Doc: "`/dev/tpmrm0` if it exists, else `/dev/tpm0` (also written `device` or `device:`)"},
	{Syntax: "/dev/tpmrm0, device:/dev/tpm0", Kind: source.Device, Examples: []string{"/dev/tpmrm0", "device:/dev/tpm0"},
		Doc: "a kernel TPM character device, by absolute path"},
	{Syntax: "swtpm:host=HOST,port=PORT", Kind: source.Swtpm, Keys: []string{"host", "port"},
		Examples: []string{"swtpm:", "swtpm:host=127.0.0.1,port=2321", "swtpm:port=2400"},
		Doc:      "swtpm's data channel over TCP; HOST defaults to `127.0.0.1`, PORT to `2321`"},
	{Syntax: "swtpm:path=SOCKET", Kind: source.Swtpm, Keys: []string{"path"}, Examples: []string{"swtpm:path=/run/swtpm/sock"},
		Doc: "swtpm's data channel over a Unix socket"},
	{Syntax: "sim:, sim:state=DIR", Kind: source.Sim, Keys: []string{"state"}, Examples: []string{"sim:", "sim", "sim:state=/var/lib/tpmfs-sim"},
		Doc: "the in-process reference TPM 2.0 simulator, for trying out and tests only, never for secrets (it logs a warning); with `state=` its seeds, and so its keys, survive restarts"},
}

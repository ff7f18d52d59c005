package tests

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"tpmfs/internal/swtpmtest"
)

// getcapProps runs tpm2_getcap properties-fixed and returns each
// property's raw value and, where tpm2-tools prints one, its value line.
func getcapProps(t *testing.T, tpm *swtpmtest.Swtpm) (raw map[string]uint32, value map[string]string) {
	t.Helper()
	out := tpm.Tool(t, nil, "tpm2_getcap", "properties-fixed")
	raw, value = map[string]uint32{}, map[string]string{}
	var prop string
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		v = strings.TrimSpace(v)
		switch {
		case !strings.HasPrefix(line, " ") && strings.HasPrefix(k, "TPM2_PT_"):
			prop = k
		case k == "raw" && prop != "":
			n, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 32)
			if err != nil {
				t.Fatalf("tpm2_getcap: %s raw %q: %v", prop, v, err)
			}
			raw[prop] = uint32(n)
		case k == "value" && prop != "":
			value[prop] = strings.Trim(v, `"`)
		}
	}
	return raw, value
}

// chars are the characters of 32-bit TPM properties that hold text,
// NUL padding dropped, as the TPM 2.0 spec defines the vendor strings.
func chars(vs ...uint32) string {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, nil)))
}

// The TPM 2.0 info file says what tpm2_getcap properties-fixed says:
// manufacturer, vendor strings, firmware version (FIRMWARE_VERSION_1 the
// high 32 bits, each 32 bits two 16-bit numbers), revision and family.
func TestInfoMatchesGetcap(t *testing.T) {
	require(t, "tpm2_getcap")
	tpm := swtpmtest.Start(t)
	raw, value := getcapProps(t, tpm) // before the mount holds swtpm's one connection
	for _, p := range []string{"TPM2_PT_MANUFACTURER", "TPM2_PT_VENDOR_STRING_1", "TPM2_PT_FIRMWARE_VERSION_1",
		"TPM2_PT_FIRMWARE_VERSION_2", "TPM2_PT_REVISION", "TPM2_PT_FAMILY_INDICATOR"} {
		if _, ok := raw[p]; !ok {
			t.Fatalf("tpm2_getcap printed no %s", p)
		}
	}
	fw1, fw2 := raw["TPM2_PT_FIRMWARE_VERSION_1"], raw["TPM2_PT_FIRMWARE_VERSION_2"]
	want := map[string]string{
		"family":       value["TPM2_PT_FAMILY_INDICATOR"],
		"manufacturer": chars(raw["TPM2_PT_MANUFACTURER"]),
		"vendor": chars(raw["TPM2_PT_VENDOR_STRING_1"], raw["TPM2_PT_VENDOR_STRING_2"],
			raw["TPM2_PT_VENDOR_STRING_3"], raw["TPM2_PT_VENDOR_STRING_4"]),
		"firmware": fmt.Sprintf("%d.%d.%d.%d", fw1>>16, fw1&0xffff, fw2>>16, fw2&0xffff),
		"revision": value["TPM2_PT_REVISION"],
		"source":   tpm.Source(),
	}
	// tpm2-tools' own rendering of the manufacturer agrees with ours.
	if want["manufacturer"] != value["TPM2_PT_MANUFACTURER"] {
		t.Errorf("manufacturer from raw %q, tpm2_getcap's value %q", want["manufacturer"], value["TPM2_PT_MANUFACTURER"])
	}
	m := mountTPM(t, tpm.Source())
	info := infoFields(t, m)
	for k, v := range want {
		if v == "" || info[k] != v {
			t.Errorf("info %s: %q, tpm2_getcap says %q", k, info[k], v)
		}
	}
}

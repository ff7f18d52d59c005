package tpmcore

import (
	"context"
	"os"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"tpmfs/internal/swtpmtest"
	"tpmfs/tddl"
	"tpmfs/tddl/source"
)

func TestMain(m *testing.M) { os.Exit(swtpmtest.RunMain(m)) }

// newCore12 runs a Core on the swtpm at port through tddl's swtpm
// backend; its log goes to the returned hook.
func newCore12(t *testing.T, port int, ownerAuth []byte) (*Core, *logtest.Hook) {
	t.Helper()
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	cfg := source.Config{Kind: source.Swtpm, Host: "127.0.0.1", Port: port}
	c, err := New(func() (tddl.TPM, error) { return tddl.Open(cfg) }, Options{
		Source: cfg.String(), OwnerAuth: ownerAuth, Log: logrus.NewEntry(log),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, hook
}

// clientTPM is a raw Client as a transport.TPM.
type clientTPM struct{ cl *Client }

func (c clientTPM) Send(cmd []byte) ([]byte, error) {
	return c.cl.Transmit(context.Background(), cmd)
}

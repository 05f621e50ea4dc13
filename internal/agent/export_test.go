package agent

import (
	"context"
	"time"

	"k8s.io/client-go/rest"
)

// Credential exposes credential to the external tests.
func (a *Agent) Credential(ctx context.Context) (*rest.Config, error) { return a.credential(ctx) }

// LoadCredential exposes loadCredential to the external tests.
func LoadCredential(dir, node string, ca []byte, now time.Time) error {
	_, err := loadCredential(dir, node, ca, now)
	return err
}

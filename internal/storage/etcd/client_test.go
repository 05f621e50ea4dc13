package etcd_test

import (
	"path/filepath"
	"testing"

	"github.com/berth/berth/internal/storage/etcd"
)

func TestNewClientRejectsBadTLSInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	cases := []struct {
		name                      string
		endpoints                 []string
		caFile, certFile, keyFile string
	}{
		{"no endpoints", nil, "", "", ""},
		{"cert without key", []string{"https://127.0.0.1:2379"}, "", missing, ""},
		{"key without cert", []string{"https://127.0.0.1:2379"}, "", "", missing},
		{"unreadable CA", []string{"https://127.0.0.1:2379"}, missing, "", ""},
		{"unreadable key pair", []string{"https://127.0.0.1:2379"}, "", missing, missing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, err := etcd.NewClient(tc.endpoints, tc.caFile, tc.certFile, tc.keyFile)
			if err == nil {
				_ = client.Close()
				t.Fatal("NewClient accepted bad input")
			}
		})
	}
}

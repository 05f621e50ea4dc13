package server

import (
	"strings"
	"testing"
)

func TestAdvertiseAddress(t *testing.T) {
	for _, tt := range []struct {
		configured, listen, want, err string
	}{
		{configured: "192.0.2.7", listen: "127.0.0.1", want: "192.0.2.7"},
		{listen: "192.0.2.8", want: "192.0.2.8"},
		{listen: "127.0.0.1", want: "invalid IP"},
		{listen: "localhost", want: "invalid IP"},
		{listen: "::1", want: "invalid IP"},
		{configured: "127.0.0.1", err: "not loopback or 0.0.0.0"},
		{configured: "0.0.0.0", err: "not loopback or 0.0.0.0"},
		{configured: "nope", err: `advertise address "nope"`},
	} {
		got, err := advertiseAddress(tt.configured, tt.listen)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("advertiseAddress(%q, %q): err %v, want %q", tt.configured, tt.listen, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("advertiseAddress(%q, %q) = %v, %v; want %s", tt.configured, tt.listen, got, err, tt.want)
		}
	}
	// Listening everywhere: the default route's address, if this machine has one.
	if got, err := advertiseAddress("", "0.0.0.0"); err != nil || (got.IsValid() && (got.IsLoopback() || !got.Is4())) {
		t.Errorf("0.0.0.0 gave %v, %v", got, err)
	}
}

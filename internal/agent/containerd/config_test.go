package containerd

import (
	"strings"
	"testing"
)

func TestRenderConfigHasTheSettingsThisMachineNeeds(t *testing.T) {
	p := PathsFor("/var/lib/berth", "", "")
	got := RenderConfig(p, ConfigParams{
		SandboxImage: "localhost/berth/pause:abc", RuncBinary: "/usr/sbin/runc",
		StreamAddress: "127.0.0.1", StreamPort: "0", LogLevel: "info",
	})
	for _, want := range []string{
		"version = 2",
		`root = "/var/lib/berth/containerd/root"`,
		`state = "/var/lib/berth/containerd/state"`,
		`address = "/var/lib/berth/containerd/containerd.sock"`,
		`address = "/var/lib/berth/containerd/containerd.sock.ttrpc"`,
		`sandbox_image = "localhost/berth/pause:abc"`,
		"restrict_oom_score_adj = true",
		"disable_apparmor = true",
		"netns_mounts_under_state_dir = true",
		"SystemdCgroup = false",
		`Root = "/var/lib/berth/containerd/state/runc"`,
		`bin_dir = "/usr/lib/cni"`,
		`conf_dir = "/var/lib/berth/cni/net.d"`,
		`config_path = "/var/lib/berth/containerd/certs.d"`,
		`"io.containerd.internal.v1.opt"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %s:\n%s", want, got)
		}
	}
}

func TestTOMLString(t *testing.T) {
	for in, want := range map[string]string{
		`/plain/path`: `"/plain/path"`,
		`a"b`:         `"a\"b"`,
		`a\b`:         `"a\\b"`,
		"tab\there":   `"tab\u0009here"`,
	} {
		if got := tomlString(in); got != want {
			t.Errorf("tomlString(%q) = %s, want %s", in, got, want)
		}
	}
}

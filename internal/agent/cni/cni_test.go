package cni

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestConflist(t *testing.T) {
	dir := t.TempDir()
	n := Network{PodCIDR: "10.42.3.0/24", ConfDir: filepath.Join(dir, "net.d"), IPAMDir: filepath.Join(dir, "ipam")}
	res, err := n.Write()
	if err != nil || !res.Changed {
		t.Fatalf("Write = %+v, %v", res, err)
	}
	raw, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Name    string           `json:"name"`
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(raw, &conf); err != nil {
		t.Fatal(err)
	}
	if conf.Name != "berth" || len(conf.Plugins) != 2 || conf.Plugins[0]["type"] != "bridge" || conf.Plugins[1]["type"] != "portmap" {
		t.Fatalf("conflist %s", raw)
	}
	if conf.Plugins[0]["bridge"] != "cni0" {
		t.Errorf("bridge %v", conf.Plugins[0]["bridge"])
	}
	ipam := conf.Plugins[0]["ipam"].(map[string]any)
	if ipam["type"] != "host-local" || ipam["dataDir"] != n.IPAMDir {
		t.Errorf("ipam %v", ipam)
	}
	for _, p := range conf.Plugins {
		if p["type"] == "loopback" {
			t.Error("loopback plugin in the conflist")
		}
	}
	if res, err := n.Write(); err != nil || res.Changed {
		t.Errorf("second Write = %+v, %v; want unchanged", res, err)
	}
	if _, err := (Network{PodCIDR: "nonsense", ConfDir: dir, IPAMDir: dir}).Write(); err == nil {
		t.Error("bad CIDR accepted")
	}
}

package pods

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DNS is the cluster DNS the node's pods use.
type DNS struct {
	Servers []string // default 10.43.0.10
	Domain  string   // default cluster.local
	// HostResolvConf is the node's resolv.conf (dnsPolicy Default); default /etc/resolv.conf.
	HostResolvConf string
}

func (d DNS) withDefaults() DNS {
	if len(d.Servers) == 0 {
		d.Servers = []string{"10.43.0.10"}
	}
	if d.Domain == "" {
		d.Domain = "cluster.local"
	}
	if d.HostResolvConf == "" {
		d.HostResolvConf = "/etc/resolv.conf"
	}
	return d
}

// Limits of resolv.conf that the kubelet enforces.
const (
	maxDNSSearches = 32
	maxDNSServers  = 3
)

// podDNS is the sandbox's DNS config for the pod's dnsPolicy, with spec.dnsConfig merged
// in as the kubelet does.
func (d DNS) podDNS(pod *corev1.Pod) (*runtimeapi.DNSConfig, error) {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault // ClusterFirst on the host network falls back, as in Kubernetes
	}
	cfg := &runtimeapi.DNSConfig{}
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		cfg.Servers = slices.Clone(d.Servers)
		cfg.Searches = []string{pod.Namespace + ".svc." + d.Domain, "svc." + d.Domain, d.Domain}
		if host, err := d.host(); err == nil {
			cfg.Searches = append(cfg.Searches, host.Searches...)
		}
		cfg.Options = []string{"ndots:5"}
	case corev1.DNSDefault:
		host, err := d.host()
		if err != nil {
			return nil, err
		}
		cfg = host
	case corev1.DNSNone:
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Servers = appendNew(cfg.Servers, dc.Nameservers...)
		cfg.Searches = appendNew(cfg.Searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			cfg.Options = slices.DeleteFunc(cfg.Options, func(have string) bool {
				name, _, _ := strings.Cut(have, ":")
				return name == o.Name
			})
			cfg.Options = append(cfg.Options, opt)
		}
	}
	if len(cfg.Servers) > maxDNSServers {
		cfg.Servers = cfg.Servers[:maxDNSServers]
	}
	if len(cfg.Searches) > maxDNSSearches {
		cfg.Searches = cfg.Searches[:maxDNSSearches]
	}
	return cfg, nil
}

func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

// host parses the node's resolv.conf.
func (d DNS) host() (*runtimeapi.DNSConfig, error) {
	raw, err := os.ReadFile(d.HostResolvConf)
	if err != nil {
		return nil, fmt.Errorf("read host resolv.conf: %w", err)
	}
	return parseResolvConf(raw), nil
}

func parseResolvConf(raw []byte) *runtimeapi.DNSConfig {
	cfg := &runtimeapi.DNSConfig{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			cfg.Servers = append(cfg.Servers, f[1])
		case "search", "domain":
			cfg.Searches = f[1:]
		case "options":
			cfg.Options = append(cfg.Options, f[1:]...)
		}
	}
	return cfg
}

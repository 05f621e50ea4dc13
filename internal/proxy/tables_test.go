package proxy

import (
	"fmt"
	"strings"
	"testing"
)

func TestIsProxyTable(t *testing.T) {
	for name, want := range map[string]bool{
		TableName: true, ShardTable(0): true, ShardTable(31): true, ShardTable(255): true,
		"berth-proxy-": false, "berth-proxy-x": false, "berth-proxy-1a": false, "berth-proxyx": false, "kube-proxy": false, "": false,
	} {
		if got := IsProxyTable(name); got != want {
			t.Errorf("IsProxyTable(%q) = %v, want %v", name, got, want)
		}
	}
}

// Every Service's chains, sets and verdict-map elements are in its shard table, its
// no-endpoint elements in the main table; each shard has the fixed DNAT part and no
// filter chain (those see every packet: they are in the main table only); the main
// table has the no-endpoint checks and the masquerade.
func TestServicesSpreadOverShards(t *testing.T) {
	c := manyServices(40)
	dump := fullDump(t, c, testParams)
	perTable := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(dump), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 || f[1] == "table" {
			continue
		}
		table, name := f[3], f[4]
		if !IsProxyTable(table) {
			t.Fatalf("line of another table: %q", l)
		}
		if strings.HasPrefix(name, "no-endpoint-") || strings.HasPrefix(name, "reject-") || name == hairpinSet || name == endpointsCheckChain || name == rejectChain || name == masqueradingChain ||
			strings.HasPrefix(name, "filter-") || name == "nat-postrouting" {
			if table != TableName {
				t.Errorf("%q is not in the main table", l)
			}
			continue
		}
		// The Service a line belongs to: by its chain or set name, or the chain an
		// element sends to.
		var key string
		if i := strings.Index(l, "default/svc-"); i >= 0 {
			key = "default/" + strings.SplitN(l[i+len("default/"):], "/", 2)[0]
		}
		switch {
		case key != "":
			if want := ShardTable(shardOf(key, testShards)); table != want {
				t.Errorf("%q of %s is in %s, want %s", l, key, table, want)
			}
			perTable[table]++
		case table == TableName && name != nodePortIPsSet:
			t.Errorf("%q: a shard's object in the main table", l)
		}
	}
	if len(perTable) != testShards {
		t.Errorf("Services in %d shards, want all %d: %v", len(perTable), testShards, perTable)
	}
	for i := range testShards {
		for _, want := range []string{
			fmt.Sprintf("add chain ip %s nat-prerouting { type nat hook prerouting priority -100 ; }", ShardTable(i)),
			fmt.Sprintf("add rule ip %s nat-output jump services", ShardTable(i)),
			fmt.Sprintf("add rule ip %s services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports", ShardTable(i)),
			fmt.Sprintf("add rule ip %s mark-for-masquerade mark set mark or 0x00004000", ShardTable(i)),
		} {
			if !strings.Contains(dump, want+"\n") {
				t.Errorf("no %q", want)
			}
		}
		if strings.Contains(dump, fmt.Sprintf("add chain ip %s filter-", ShardTable(i))) {
			t.Errorf("shard %d has a filter chain", i)
		}
	}
	for _, want := range []string{
		"add rule ip berth-proxy filter-forward ct state new jump endpoints-check",
		"add rule ip berth-proxy nat-postrouting jump masquerading",
		"add rule ip berth-proxy endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports",
	} {
		if !strings.Contains(dump, want+"\n") {
			t.Errorf("no %q", want)
		}
	}
}

// The shard of a Service depends only on its key and the number of shards, and the
// Services spread evenly.
func TestShardOf(t *testing.T) {
	const n, shards = 10000, 32
	counts := make([]int, shards)
	for i := range n {
		key := fmt.Sprintf("ns-%d/svc-%d", i%17, i)
		s := shardOf(key, shards)
		if s != shardOf(key, shards) || s < 0 || s >= shards {
			t.Fatalf("shardOf(%q) = %d", key, s)
		}
		counts[s]++
	}
	for i, c := range counts {
		if c < n/shards*3/4 || c > n/shards*5/4 {
			t.Errorf("shard %d holds %d of %d Services: %v", i, c, n, counts)
		}
	}
	if shardOf("a/b", 1) != 0 {
		t.Error("one shard: not 0")
	}
}

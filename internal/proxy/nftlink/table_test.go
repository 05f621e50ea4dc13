package nftlink

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/berth/berth/internal/netns"
)

// The rule forms the proxy writes, and a few neighbours of theirs.
var rules = []string{
	"ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade",
	"ip daddr 10.43.0.11 udp dport 53 ip saddr != 10.42.0.0/16 jump mark-for-masquerade",
	"ip daddr 10.43.0.12 sctp dport 9 jump mark-for-masquerade",
	"jump mark-for-masquerade",
	"goto c1",
	"ip saddr 10.42.0.0/16 goto c1",
	"ip saddr != 10.32.0.0/12 goto c1",
	"ip saddr 10.42.128.0/17 goto c1",
	"ip saddr 10.0.0.0/8 goto c1",
	"ip saddr 10.42.0.5/32 goto c1",
	"fib saddr type local jump mark-for-masquerade",
	"fib saddr type local goto c1",
	"fib daddr type local return",
	"numgen random mod 1 vmap { 0 : goto c1 }",
	"numgen random mod 2 == 0 goto c1",
	"numgen random mod 3 == 2 jump mark-for-masquerade",
	"numgen random mod 16 1 goto c1",
	"numgen random mod 3 vmap { 0 : goto c1 , 1 : goto mark-for-masquerade , 2 : goto c1 }",
	"ip saddr @aff goto c1",
	"ip saddr != @aff drop",
	"ip saddr 10.42.0.5 jump mark-for-masquerade",
	"update @aff { ip saddr }",
	"meta l4proto tcp dnat to 10.42.0.5:8080",
	"numgen random mod 2 == 0 meta l4proto tcp dnat to 10.42.0.5:8080",
	"meta l4proto udp dnat to 10.42.0.5:53",
	"meta l4proto sctp dnat to 10.42.0.5",
	"udp dport != 53 drop",
	"tcp sport 1024 accept",
}

// twins are one table written through nft only and one through a Table, in one
// network namespace, so that the kernel's copies can be compared.
type twins struct {
	t                *testing.T
	ns               string
	viaExec, netlink knftables.Interface
	table            *Table
}

const (
	execTable    = "via-exec"
	netlinkTable = "via-netlink"
)

func newTwins(t *testing.T) *twins {
	t.Helper()
	ns := testNetNS(t)
	viaExec, err := netns.NFTables(ns, knftables.IPv4Family, execTable)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := netns.NFTables(ns, knftables.IPv4Family, netlinkTable)
	if err != nil {
		t.Fatal(err)
	}
	tw := &twins{t: t, ns: ns, viaExec: viaExec, table: New(exec, ns)}
	tw.netlink = tw.table
	t.Cleanup(func() {
		if err := tw.table.Close(); err != nil {
			t.Error(err)
		}
	})
	return tw
}

// run runs the transaction fill writes on both tables.
func (tw *twins) run(what string, fill func(*knftables.Transaction)) {
	tw.t.Helper()
	for _, nft := range []knftables.Interface{tw.viaExec, tw.netlink} {
		tx := nft.NewTransaction()
		fill(tx)
		if err := nft.Run(context.Background(), tx); err != nil {
			tw.t.Fatalf("%s: %v\n%s", what, err, tx)
		}
	}
}

var (
	handleRE = regexp.MustCompile(`(?m)^(ip \S+ \S+)( \d+)+$`)
	anonRE   = regexp.MustCompile(`__(map|set)\d+`)
	handleNo = regexp.MustCompile(` # handle \d+`)
)

// list is `nft list table` and the netlink expressions nft decodes (--debug=netlink),
// with the table name, handles and anonymous set numbers elided.
func (tw *twins) list(table string) string {
	tw.t.Helper()
	var out strings.Builder
	for _, args := range [][]string{{"list", "table", "ip", table}, {"--debug=netlink", "list", "table", "ip", table}} {
		cmd := exec.Command("ip", append([]string{"netns", "exec", nsName(tw.ns), "nft"}, args...)...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			tw.t.Fatalf("nft %v: %v: %s", args, err, b)
		}
		out.Write(b)
	}
	s := strings.ReplaceAll(out.String(), table, "TABLE")
	s = handleRE.ReplaceAllString(s, "$1")
	s = handleNo.ReplaceAllString(s, "")
	return sortElementRuns(anonRE.ReplaceAllString(s, "__${1}N"))
}

// sortElementRuns sorts each run of element lines of --debug=netlink output: a hash
// set lists its elements in no particular order.
func sortElementRuns(s string) string {
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && strings.HasPrefix(lines[j], "\telement ") {
			j++
		}
		slices.Sort(lines[i:j])
		i = max(j, i+1)
	}
	return strings.Join(lines, "\n")
}

func (tw *twins) checkSame(step string) {
	tw.t.Helper()
	want, got := tw.list(execTable), tw.list(netlinkTable)
	if want != got {
		tw.t.Fatalf("%s: the table written over netlink differs from the one nft wrote:\n%s", step, diffLines(want, got))
	}
}

func setup(tx *knftables.Transaction) {
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("test")})
	for _, c := range []string{"a", "c1", "mark-for-masquerade"} {
		tx.Add(&knftables.Chain{Name: c})
	}
	tx.Add(&knftables.Map{Name: "ips", Type: "ipv4_addr . inet_proto . inet_service : verdict", Comment: knftables.PtrTo("m")})
	tx.Add(&knftables.Map{Name: "ports", Type: "inet_proto . inet_service : verdict"})
	tx.Add(&knftables.Set{Name: "addrs", Type: "ipv4_addr"})
	// The proxy's class maps (nft writes them: typeof).
	tx.Add(&knftables.Map{Name: "svc-ip-2", TypeOf: "ip daddr . meta l4proto . th dport . numgen random mod 2 : ip daddr . th dport"})
	tx.Add(&knftables.Map{Name: "svc-nodeport-3", TypeOf: "meta l4proto . th dport . numgen random mod 3 : ip daddr . th dport"})
}

// Every rule form, set and element operation lands in the kernel exactly as nft would
// put it there, and only the setup (a table, maps, comments) goes through nft.
func TestNetlinkWritesWhatNftWrites(t *testing.T) {
	tw := newTwins(t)
	tw.run("setup", setup)
	tw.run("add", func(tx *knftables.Transaction) {
		tx.Add(&knftables.Set{Name: "aff", Type: "ipv4_addr", Flags: []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag}, Timeout: knftables.PtrTo(3 * time.Minute)})
		tx.Add(&knftables.Chain{Name: "x"})
		tx.Flush(&knftables.Chain{Name: "x"})
		for _, r := range rules {
			tx.Add(&knftables.Rule{Chain: "a", Rule: r})
		}
		tx.Add(&knftables.Element{Map: "ips", Key: []string{"10.43.0.10", "tcp", "80"}, Value: []string{"goto c1"}})
		tx.Add(&knftables.Element{Map: "ips", Key: []string{"10.43.0.11", "udp", "53"}, Value: []string{"drop"}})
		tx.Add(&knftables.Element{Map: "ips", Key: []string{"10.43.0.12", "sctp", "9"}, Value: []string{"jump x"}})
		tx.Add(&knftables.Element{Map: "ports", Key: []string{"tcp", "30080"}, Value: []string{"goto x"}})
		tx.Add(&knftables.Element{Set: "addrs", Key: []string{"192.168.1.1"}})
		tx.Add(&knftables.Element{Map: "svc-ip-2", Key: []string{"10.43.0.10", "tcp", "80", "0"}, Value: []string{"10.42.0.5", "8080"}})
		tx.Add(&knftables.Element{Map: "svc-ip-2", Key: []string{"10.43.0.10", "tcp", "80", "1"}, Value: []string{"10.42.1.7", "8080"}})
		tx.Add(&knftables.Element{Map: "svc-ip-2", Key: []string{"10.43.0.11", "udp", "53", "1"}, Value: []string{"10.42.1.8", "53"}})
		for i := range 3 {
			tx.Add(&knftables.Element{Map: "svc-nodeport-3", Key: []string{"sctp", "30080", fmt.Sprint(i)}, Value: []string{fmt.Sprintf("10.42.0.%d", i+2), "9"}})
		}
	})
	tw.checkSame("after adding")
	tw.run("change", func(tx *knftables.Transaction) {
		tx.Add(&knftables.Chain{Name: "a"})
		tx.Flush(&knftables.Chain{Name: "a"})
		tx.Delete(&knftables.Element{Map: "ips", Key: []string{"10.43.0.11", "udp", "53"}})
		tx.Delete(&knftables.Element{Map: "ips", Key: []string{"10.43.0.12", "sctp", "9"}})
		tx.Delete(&knftables.Element{Set: "addrs", Key: []string{"192.168.1.1"}})
		tx.Delete(&knftables.Set{Name: "aff"})
		tx.Add(&knftables.Set{Name: "aff", Type: "ipv4_addr", Flags: []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag}, Timeout: knftables.PtrTo(time.Minute)})
		tx.Add(&knftables.Rule{Chain: "a", Rule: "update @aff { ip saddr }"})
		tx.Add(&knftables.Element{Map: "ips", Key: []string{"10.43.0.11", "udp", "53"}, Value: []string{"goto c1"}})
		tx.Delete(&knftables.Element{Map: "svc-ip-2", Key: []string{"10.43.0.10", "tcp", "80", "1"}})
		tx.Add(&knftables.Element{Map: "svc-ip-2", Key: []string{"10.43.0.10", "tcp", "80", "1"}, Value: []string{"10.42.1.9", "8081"}})
		tx.Delete(&knftables.Element{Map: "svc-nodeport-3", Key: []string{"sctp", "30080", "2"}})
	})
	tw.checkSame("after changing")
	tw.run("delete", func(tx *knftables.Transaction) {
		tx.Flush(&knftables.Chain{Name: "x"})
		tx.Delete(&knftables.Element{Map: "ports", Key: []string{"tcp", "30080"}})
		tx.Delete(&knftables.Chain{Name: "x"})
	})
	tw.checkSame("after deleting")
	if st := tw.table.Stats(); st != (Stats{Netlink: 3, Exec: 1}) {
		t.Fatalf("transactions: %+v, want the setup through nft and 3 over netlink", st)
	}
}

// A netlink transaction that fails changes nothing, like one nft runs.
func TestFailedTransactionChangesNothing(t *testing.T) {
	tw := newTwins(t)
	tw.run("setup", setup)
	before := tw.list(netlinkTable)
	tx := tw.table.NewTransaction()
	tx.Add(&knftables.Chain{Name: "new"})
	tx.Add(&knftables.Rule{Chain: "a", Rule: "goto new"})
	tx.Add(&knftables.Element{Map: "ips", Key: []string{"10.43.0.10", "tcp", "80"}, Value: []string{"goto new"}})
	tx.Delete(&knftables.Element{Map: "ips", Key: []string{"10.9.9.9", "tcp", "1"}}) // not there
	if err := tw.table.Run(context.Background(), tx); err == nil {
		t.Fatal("deleting a missing element succeeded")
	}
	if after := tw.list(netlinkTable); after != before {
		t.Fatalf("a failed transaction changed the table:\n%s", diffLines(before, after))
	}
	if st := tw.table.Stats(); st.Netlink != 1 {
		t.Fatalf("transactions: %+v, want the failed one over netlink", st)
	}
	// The types are forgotten after a failure: element operations go to nft until a
	// transaction creates the maps again.
	tx = tw.table.NewTransaction()
	tx.Add(&knftables.Element{Map: "ips", Key: []string{"10.43.0.10", "tcp", "80"}, Value: []string{"goto c1"}})
	if err := tw.table.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	if st := tw.table.Stats(); st.Exec != 2 {
		t.Fatalf("transactions: %+v, want the element through nft", st)
	}
}

// A batch larger than a socket's default send buffer still goes in one transaction.
func TestLargeBatch(t *testing.T) {
	tw := newTwins(t)
	tw.run("setup", setup)
	const n = 6000 // ≈100 bytes each: past the 200 KiB default
	tx := tw.table.NewTransaction()
	for i := range n {
		tx.Add(&knftables.Element{Map: "ips", Key: []string{fmt.Sprintf("10.43.%d.%d", i/250, i%250+1), "tcp", "80"}, Value: []string{"goto c1"}})
	}
	if err := tw.table.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	if st := tw.table.Stats(); st.Netlink != 1 {
		t.Fatalf("transactions: %+v, want the large one over netlink", st)
	}
	els, err := tw.table.ListElements(context.Background(), "map", "ips")
	if err != nil {
		t.Fatal(err)
	}
	if len(els) != n {
		t.Fatalf("map holds %d elements, want %d", len(els), n)
	}
}

// A batch with more failures than the socket can queue answers still fails, and the
// next transaction works (on a fresh connection).
func TestManyFailures(t *testing.T) {
	tw := newTwins(t)
	tw.run("setup", setup)
	tx := tw.table.NewTransaction()
	for i := range 6000 {
		tx.Delete(&knftables.Element{Map: "ips", Key: []string{fmt.Sprintf("10.43.%d.%d", i/250, i%250+1), "tcp", "80"}})
	}
	err := tw.table.Run(context.Background(), tx)
	if err == nil {
		t.Fatal("deleting 6000 missing elements succeeded")
	}
	t.Logf("error: %v", err)
	tw.run("setup again", setup) // the failure made the Table forget the maps' types
	tx = tw.table.NewTransaction()
	tx.Add(&knftables.Element{Map: "ips", Key: []string{"10.43.0.1", "tcp", "80"}, Value: []string{"goto c1"}})
	if err := tw.table.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	if st := tw.table.Stats(); st.Netlink != 2 {
		t.Fatalf("transactions: %+v, want both over netlink", st)
	}
}

func testNetNS(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the kernel's nftables: skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace and nftables")
	}
	for _, bin := range []string{"nft", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s", bin)
		}
	}
	name := fmt.Sprintf("berth-nftlink-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	if len(name) > 60 {
		name = name[:60]
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete: %v: %s", err, out)
		}
	})
	return netns.Path(name)
}

func nsName(path string) string { return strings.TrimPrefix(path, "/run/netns/") }

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

// One transaction may write to several tables, atomically; Tables lists them.
func TestSeveralTables(t *testing.T) {
	ns := testNetNS(t)
	exec, err := netns.NFTables(ns, "", "")
	if err != nil {
		t.Fatal(err)
	}
	tb := New(exec, ns)
	t.Cleanup(func() { tb.Close() })
	ctx := context.Background()
	tx := tb.NewTransaction()
	for _, table := range []string{"one", "two"} {
		tx.Add(&knftables.Table{Family: knftables.IPv4Family, Name: table})
		tx.Add(&knftables.Chain{Family: knftables.IPv4Family, Table: table, Name: "c"})
		tx.Add(&knftables.Map{Family: knftables.IPv4Family, Table: table, Name: "m", Type: "ipv4_addr . inet_proto . inet_service : verdict"})
	}
	if err := tb.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	element := func(table, ip string) *knftables.Element {
		return &knftables.Element{Family: knftables.IPv4Family, Table: table, Map: "m", Key: []string{ip, "tcp", "80"}, Value: []string{"goto c"}}
	}
	tx = tb.NewTransaction()
	for _, table := range []string{"one", "two"} {
		tx.Add(&knftables.Rule{Family: knftables.IPv4Family, Table: table, Chain: "c", Rule: "meta l4proto tcp dnat to 10.42.0.5:8080"})
		tx.Add(element(table, "10.43.0.1"))
	}
	if err := tb.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	// A failure in the second table undoes the first table's part too.
	tx = tb.NewTransaction()
	tx.Add(element("one", "10.43.0.2"))
	tx.Delete(element("two", "10.9.9.9"))
	if err := tb.Run(ctx, tx); err == nil {
		t.Fatal("deleting a missing element succeeded")
	}
	if st := tb.Stats(); st != (Stats{Netlink: 2, Exec: 1}) {
		t.Fatalf("transactions: %+v, want the tables through nft and 2 over netlink", st)
	}
	for _, table := range []string{"one", "two"} {
		out, err := execIn(ns, "nft", "list", "table", "ip", table)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "10.43.0.1 . tcp . 80 : goto c") || strings.Contains(out, "10.43.0.2") || !strings.Contains(out, "dnat to 10.42.0.5:8080") {
			t.Fatalf("table %s:\n%s", table, out)
		}
	}
	names, err := tb.Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"one", "two"}) {
		t.Fatalf("Tables = %q, want [one two]", names)
	}
}

func execIn(ns string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", nsName(ns)}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %v: %s", args, err, out)
	}
	return string(out), nil
}

// What translate takes and what it leaves to nft (no kernel needed).
func TestTranslate(t *testing.T) {
	tb := New(nil, "")
	tb.types[setRef{"t", "m"}] = setType{key: []string{"ipv4_addr", "inet_proto", "inet_service"}, verdict: true}
	tb.learn("add map ip t d { typeof ip daddr . meta l4proto . th dport . numgen random mod 2 : ip daddr . th dport ; }\n")
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{"add chain ip t c", true},
		{"flush chain ip t c", true},
		{"delete chain ip t c", true},
		{"add rule ip t c " + rules[0], true},
		{"add element ip t m { 10.0.0.1 . tcp . 80 : goto c }", true},
		{"delete element ip t m { 10.0.0.1 . tcp . 80 }", true},
		{"add set ip t s { type ipv4_addr ; flags dynamic,timeout ; timeout 10s ; }", true},
		{"delete set ip t s", true},

		{"add element ip t d { 10.0.0.1 . tcp . 80 . 1 : 10.42.0.5 . 8080 }", true},
		{"delete element ip t d { 10.0.0.1 . tcp . 80 . 1 }", true},
		{"delete map ip t d", true},

		{"add chain ip other c", true},
		{"add element ip t m { 10.0.0.1 . tcp . 80 : goto c }\nadd chain ip other c", true},

		{"add table ip t", false},
		{"add chain ip t c { type nat hook output priority -100 ; }", false},
		{"add element ip other m { 10.0.0.1 . tcp . 80 : goto c }", false}, // m of another table
		{"add chain ip6 t c", false},
		{"add map ip t m2 { type ipv4_addr : verdict ; }", false},
		{"add rule ip t c masquerade fully-random", false},
		{"add rule ip t c mark set mark or 0x4000", false},
		{"add rule ip t c ip daddr . meta l4proto . th dport vmap @m", false},
		{"add rule ip t c goto c drop", false},
		{"add rule ip t c ip saddr 10.0.0.0/33 drop", false},
		{"add rule ip t c handle 4 drop", false},
		{"add element ip t unknown { 10.0.0.1 }", false},
		{"add element ip t m { 10.0.0.1 . tcp : goto c }", false},
		{"add element ip t m { 10.0.0.1 . tcp . 80 }", false},
		{`add element ip t m { 10.0.0.1 . tcp . 80 comment "x" : goto c }`, false},
		{"add set ip t s { type ipv4_addr . inet_service ; }", false},
		{"add set ip t s { type ipv4_addr ; flags interval ; }", false},
		{"add element ip t d { 10.0.0.1 . tcp . 80 . 1 }", false},
		{"add element ip t d { 10.0.0.1 . tcp . 80 : 10.42.0.5 . 8080 }", false},
		{"add element ip t d { 10.0.0.1 . tcp . 80 . 1 : goto c }", false},
		{"add map ip t d2 { typeof ip daddr . numgen random mod 2 : ip daddr . th dport ; }\nadd rule ip t c meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . numgen random mod 2 map @d2", false},
	} {
		_, err := tb.translate(tc.line + "\n")
		if ok := err == nil; ok != tc.ok {
			t.Errorf("%q: translated = %v (%v), want %v", tc.line, ok, err, tc.ok)
		}
	}
}

package nftlink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// Table is a knftables.Interface for the tables of the ip family of one network
// namespace (one transaction may write to several). Run sends a transaction over
// netlink when it can translate every operation in it, and otherwise hands it to exec
// (the nft binary); the List and Check methods always use exec.
type Table struct {
	exec  knftables.Interface
	netns string

	mu sync.Mutex // one transaction at a time, like knftables' own
	// conn is kept open between transactions: closing a netlink socket of nf_tables
	// waits for the previous transaction's deferred cleanup (an RCU grace period,
	// several ms), which would otherwise be part of every sync.
	conn *netlink.Conn
	// types are the key and data types of the table's sets and maps, learned from the
	// transactions that created them (element operations need them to encode keys);
	// a set not known here sends its transaction to nft.
	types map[setRef]setType
	stats Stats
}

// Stats counts the transactions Run sent each way.
type Stats struct {
	// Netlink transactions went straight to the kernel; Exec ones through nft.
	Netlink, Exec int
}

// New returns the Table of the network namespace at netnsPath (the caller's own when
// empty); exec must be a knftables.Interface for the same namespace (it runs what
// netlink here does not), for one table or, with no default table, for any.
func New(exec knftables.Interface, netnsPath string) *Table {
	return &Table{exec: exec, netns: netnsPath, types: map[setRef]setType{}}
}

// Stats says how many transactions went each way so far.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

func (t *Table) NewTransaction() *knftables.Transaction { return t.exec.NewTransaction() }

// Run applies tx atomically, over netlink if it can (see the package comment).
func (t *Table) Run(ctx context.Context, tx *knftables.Transaction) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	text := tx.String()
	if b, err := t.translate(text); err == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := t.send(b); !errors.Is(err, errNotSent) {
			t.stats.Netlink++
			if err != nil {
				clear(t.types) // the table's state is not known any more: learn it again
				return fmt.Errorf("nftables transaction over netlink: %w", err)
			}
			for ref := range b.removed {
				delete(t.types, ref)
			}
			for ref, typ := range b.added {
				t.types[ref] = typ
			}
			return nil
		}
		// Nothing was applied: nft may still manage (a batch too big for the socket, say).
	}
	t.stats.Exec++
	if err := t.exec.Run(ctx, tx); err != nil {
		clear(t.types)
		return err
	}
	t.learn(text)
	return nil
}

// send runs the batch on the table's connection, dialled in its network namespace
// when there is none; after anything but an error the kernel reported for the batch,
// the connection is closed (the next transaction dials again).
func (t *Table) send(b *batch) error {
	if t.conn == nil {
		conn, err := t.dial()
		if err != nil {
			return fmt.Errorf("%w: %v", errNotSent, err)
		}
		t.conn = conn
	}
	err := b.send(t.conn)
	var kerr *kernelError
	if err != nil && !errors.As(err, &kerr) {
		t.conn.Close()
		t.conn = nil
	}
	return err
}

func (t *Table) dial() (*netlink.Conn, error) {
	cfg := &netlink.Config{}
	if t.netns != "" {
		fd, err := unix.Open(t.netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open netns %s: %w", t.netns, err)
		}
		defer unix.Close(fd)
		cfg.NetNS = fd
	}
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, fmt.Errorf("dial netlink: %w", err)
	}
	return conn, nil
}

// Close closes the netlink connection (which keeps the network namespace alive). The
// Table stays usable: a later transaction dials again.
func (t *Table) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	return err
}

var errUnsupported = errors.New("not translated to netlink")

// translate turns the text of a transaction (one nft command a line, as knftables
// writes it) into a netlink batch, or fails if any line is outside what it knows:
// regular chains (add, flush, delete), named sets of the key types in keyTypes (add,
// delete), elements of known sets and verdict maps (add, delete), rules parseRule
// knows (add).
func (t *Table) translate(text string) (*batch, error) {
	if strings.ContainsAny(text, "\"#") { // comments, or a transaction with an error
		return nil, errUnsupported
	}
	b := newBatch()
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if err := t.translateLine(b, strings.Fields(line)); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", errUnsupported, line, err)
		}
	}
	return b, nil
}

func (t *Table) translateLine(b *batch, f []string) error {
	// verb object family table name …
	if len(f) < 5 || f[2] != "ip" {
		return errors.New("not an operation on a table of the ip family")
	}
	verb, object, name, rest := f[0], f[1], f[4], f[5:]
	b.table = f[3]
	ref := setRef{f[3], name}
	switch {
	case object == "chain" && len(rest) == 0:
		switch verb {
		case "add":
			return b.addChain(name)
		case "flush":
			return b.flushChain(name)
		case "delete":
			return b.delChain(name)
		}
		return errors.New("unsupported verb")
	case object == "set" && verb == "add":
		spec, err := parseSetSpec(rest)
		if err != nil {
			return err
		}
		if len(spec.typ.key) > 1 {
			return errors.New("concatenated set keys are left to nft")
		}
		def, err := spec.def(name)
		if err != nil {
			return err
		}
		if _, err := b.addSet(def); err != nil {
			return err
		}
		b.added[ref] = spec.typ
		delete(b.removed, ref)
	case (object == "set" || object == "map") && verb == "delete" && len(rest) == 0:
		if err := b.delSet(name); err != nil {
			return err
		}
		delete(b.added, ref)
		b.removed[ref] = true
	case object == "element" && (verb == "add" || verb == "delete"):
		return t.element(b, verb, ref, rest)
	case object == "rule" && verb == "add" && len(rest) > 0 && rest[0] != "index" && rest[0] != "handle":
		exprs, err := parseRule(strings.Join(rest, " "), b)
		if err != nil {
			return err
		}
		return b.addRule(name, exprs)
	default:
		return errors.New("unsupported operation")
	}
	return nil
}

// element adds or deletes one element: { K1 . K2 … [: VERDICT] }.
func (t *Table) element(b *batch, verb string, ref setRef, f []string) error {
	name := ref.name
	typ, ok := b.added[ref]
	if !ok && !b.removed[ref] {
		typ, ok = t.types[ref]
	}
	if !ok {
		return errors.New("type of the set is not known")
	}
	if len(f) < 3 || f[0] != "{" || f[len(f)-1] != "}" {
		return errors.New("element syntax")
	}
	body := strings.Join(f[1:len(f)-1], " ")
	keyText, value, hasValue := strings.Cut(body, " : ")
	key, err := typ.encodeKey(strings.Split(keyText, " . "))
	if err != nil {
		return err
	}
	elem := element{key: key}
	switch {
	case verb == "delete" && !hasValue:
		return b.elements(false, name, 0, []element{elem})
	case verb == "add" && hasValue == typ.isMap():
		switch {
		case typ.verdict:
			if elem.verdict, err = parseVerdict(value); err != nil {
				return err
			}
		case hasValue:
			if elem.data, err = typ.encodeData(strings.Split(value, " . ")); err != nil {
				return err
			}
		}
		return b.elements(true, name, 0, []element{elem})
	}
	return errors.New("element does not fit its set")
}

// learn records the types of the sets and maps a transaction that nft ran created
// (and forgets a table's when it deleted the table).
func (t *Table) learn(text string) {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != "ip" {
			continue
		}
		switch {
		case f[0] == "delete" && f[1] == "table":
			for ref := range t.types {
				if ref.table == f[3] {
					delete(t.types, ref)
				}
			}
		case len(f) >= 5 && f[0] == "delete" && (f[1] == "set" || f[1] == "map"):
			delete(t.types, setRef{f[3], f[4]})
		case len(f) >= 8 && f[0] == "add" && (f[1] == "set" || f[1] == "map") && f[5] == "{" && (f[6] == "type" || f[6] == "typeof"):
			typeText, _, _ := strings.Cut(strings.Join(f[7:], " "), " ;")
			parse := parseSetType
			if f[6] == "typeof" {
				parse = parseTypeOf
			}
			if typ, err := parse(typeText); err == nil {
				t.types[setRef{f[3], f[4]}] = typ
			} else {
				delete(t.types, setRef{f[3], f[4]})
			}
		}
	}
}

func (t *Table) Check(ctx context.Context, tx *knftables.Transaction) error {
	return t.exec.Check(ctx, tx)
}

func (t *Table) ListAll(ctx context.Context) (map[string][]string, error) {
	return t.exec.ListAll(ctx)
}

func (t *Table) List(ctx context.Context, objectType string) ([]string, error) {
	return t.exec.List(ctx, objectType)
}

func (t *Table) ListRules(ctx context.Context, chain string) ([]*knftables.Rule, error) {
	return t.exec.ListRules(ctx, chain)
}

func (t *Table) ListElements(ctx context.Context, objectType, name string) ([]*knftables.Element, error) {
	return t.exec.ListElements(ctx, objectType, name)
}

func (t *Table) ListCounters(ctx context.Context) ([]*knftables.Counter, error) {
	return t.exec.ListCounters(ctx)
}

var _ knftables.Interface = (*Table)(nil)

// Tables lists the names of the namespace's tables of the ip family, over netlink.
func (t *Table) Tables(ctx context.Context) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.conn == nil {
		conn, err := t.dial()
		if err != nil {
			return nil, err
		}
		t.conn = conn
	}
	if err := t.conn.SetReadDeadline(time.Now().Add(ackTimeout)); err != nil {
		return nil, err
	}
	replies, err := t.conn.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETTABLE), Flags: netlink.Request | netlink.Dump},
		Data:   nfgenmsg(unix.NFPROTO_IPV4, 0),
	})
	if err != nil {
		t.conn.Close()
		t.conn = nil
		return nil, fmt.Errorf("list tables over netlink: %w", err)
	}
	var names []string
	for _, m := range replies {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return nil, err
		}
		for ad.Next() {
			if ad.Type() == unix.NFTA_TABLE_NAME {
				names = append(names, ad.String())
			}
		}
		if err := ad.Err(); err != nil {
			return nil, err
		}
	}
	return names, nil
}
